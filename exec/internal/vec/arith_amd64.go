//go:build !purego

package vec

// The vector kernels do the first n elements, n a positive multiple of 8:
// dst = a op b, and dst = x op s (or s op x for the Scalar… forms).
//
//go:noescape
func addAVX(dst, a, b *float32, n int)

//go:noescape
func subAVX(dst, a, b *float32, n int)

//go:noescape
func divAVX(dst, a, b *float32, n int)

//go:noescape
func addScalarAVX(dst, x *float32, n int, s float32)

//go:noescape
func divScalarAVX(dst, x *float32, n int, s float32)

//go:noescape
func scalarSubAVX(dst, x *float32, n int, s float32)

//go:noescape
func scalarDivAVX(dst, x *float32, n int, s float32)

// arithBlocks and arithScalarBlocks do a prefix of an arithmetic row with
// vector instructions and return its length.
func arithBlocks(op arithOp, dst, a, b []float32) int {
	n := len(dst) / 8 * 8
	if !haveAVX2 || n == 0 {
		return 0
	}
	switch op {
	case opAdd:
		addAVX(&dst[0], &a[0], &b[0], n)
	case opSub:
		subAVX(&dst[0], &a[0], &b[0], n)
	case opDiv:
		divAVX(&dst[0], &a[0], &b[0], n)
	default:
		return 0
	}
	return n
}

func arithScalarBlocks(op arithOp, dst, x []float32, s float32) int {
	n := len(dst) / 8 * 8
	if !haveAVX2 || n == 0 {
		return 0
	}
	switch op {
	case opAdd:
		addScalarAVX(&dst[0], &x[0], n, s)
	case opDiv:
		divScalarAVX(&dst[0], &x[0], n, s)
	case opScalarSub:
		scalarSubAVX(&dst[0], &x[0], n, s)
	case opScalarDiv:
		scalarDivAVX(&dst[0], &x[0], n, s)
	default:
		return 0
	}
	return n
}

//go:noescape
func scaleShiftAVX(dst, src *float32, n int, m, a float32)

func scaleShiftBlocks(dst, src []float32, m, a float32) int {
	n := len(dst) / 8 * 8
	if !haveAVX2 || n == 0 {
		return 0
	}
	scaleShiftAVX(&dst[0], &src[0], n, m, a)
	return n
}
