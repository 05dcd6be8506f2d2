package vec

// The arithmetic of ONNX's Add, Sub and Div on float32 rows, the forms a
// broadcast plan produces: two rows, or a row and one broadcast scalar on
// either side. (Mul and Scale are in mul.go.) IEEE arithmetic rounds the
// same in every instruction, so the vector kernels and their one-element
// twins agree bit for bit. Each function writes len(dst) elements; the
// rows read must be at least that long, and dst may be one of them.

// Add sets dst[i] = a[i] + b[i].
func Add(dst, a, b []float32) {
	a, b = a[:len(dst)], b[:len(dst)]
	n := arithBlocks(opAdd, dst, a, b)
	for i := n; i < len(dst); i++ {
		dst[i] = a[i] + b[i]
	}
}

// Sub sets dst[i] = a[i] − b[i].
func Sub(dst, a, b []float32) {
	a, b = a[:len(dst)], b[:len(dst)]
	n := arithBlocks(opSub, dst, a, b)
	for i := n; i < len(dst); i++ {
		dst[i] = a[i] - b[i]
	}
}

// Div sets dst[i] = a[i] / b[i].
func Div(dst, a, b []float32) {
	a, b = a[:len(dst)], b[:len(dst)]
	n := arithBlocks(opDiv, dst, a, b)
	for i := n; i < len(dst); i++ {
		dst[i] = a[i] / b[i]
	}
}

// AddScalar sets dst[i] = a[i] + s. (a − s is AddScalar(dst, a, −s):
// IEEE defines x − y as x + (−y), so the results are the same.)
func AddScalar(dst, a []float32, s float32) {
	a = a[:len(dst)]
	n := arithScalarBlocks(opAdd, dst, a, s)
	for i := n; i < len(dst); i++ {
		dst[i] = a[i] + s
	}
}

// ScalarSub sets dst[i] = s − b[i].
func ScalarSub(dst []float32, s float32, b []float32) {
	b = b[:len(dst)]
	n := arithScalarBlocks(opScalarSub, dst, b, s)
	for i := n; i < len(dst); i++ {
		dst[i] = s - b[i]
	}
}

// DivScalar sets dst[i] = a[i] / s.
func DivScalar(dst, a []float32, s float32) {
	a = a[:len(dst)]
	n := arithScalarBlocks(opDiv, dst, a, s)
	for i := n; i < len(dst); i++ {
		dst[i] = a[i] / s
	}
}

// ScalarDiv sets dst[i] = s / b[i].
func ScalarDiv(dst []float32, s float32, b []float32) {
	b = b[:len(dst)]
	n := arithScalarBlocks(opScalarDiv, dst, b, s)
	for i := n; i < len(dst); i++ {
		dst[i] = s / b[i]
	}
}

// arithOp names the operation of an arithmetic kernel.
type arithOp int

const (
	opAdd arithOp = iota
	opSub
	opDiv
	opScalarSub // s − x
	opScalarDiv // s / x
)

// ScaleShift sets dst[i] = src[i]·m + a, the product rounded before the
// sum (no fused multiply-add), as a per-channel affine map such as an
// inference-mode BatchNormalization computes it.
func ScaleShift(dst, src []float32, m, a float32) {
	src = src[:len(dst)]
	n := scaleShiftBlocks(dst, src, m, a)
	for i := n; i < len(dst); i++ {
		dst[i] = src[i]*m + a
	}
}
