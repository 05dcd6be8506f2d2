package ops

import (
	"github.com/graft-ml/graft/exec/internal/vec"
	"math"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Softmax family: Softmax, LogSoftmax and Hardmax.
//
// Before opset 13 these ops coerce the input to 2-D at axis (default 1) and
// normalise each row of the flattened trailing block; from 13 they
// normalise along axis alone (default -1). Both are the view
// [outer, dim, inner], with inner 1 before opset 13.
//
// Each group subtracts its maximum before exponentiating, so nothing
// overflows, and sums accumulate in float64. float32 exponentials come from
// softmaxExp32, a polynomial several times faster than math.Exp: attention
// softmax is exp-bound. float64 uses math.Exp.

type softmaxMode int

const (
	softmaxPlain softmaxMode = iota
	softmaxLog
	softmaxHard
)

func init() {
	// Opset 1's semantics are opset 11's; 13 changed the axis handling,
	// which softmaxView follows.
	register(
		&Op{Name: "Softmax", Since: 1, Infer: softmaxInfer, Run: func(c *RunCtx) ([]*tensor.Dense, error) { return softmaxRun(c, softmaxPlain) }},
		&Op{Name: "LogSoftmax", Since: 1, Infer: softmaxInfer, Run: func(c *RunCtx) ([]*tensor.Dense, error) { return softmaxRun(c, softmaxLog) }},
		&Op{Name: "Hardmax", Since: 1, Infer: softmaxInfer, Run: func(c *RunCtx) ([]*tensor.Dense, error) { return softmaxRun(c, softmaxHard) }},
	)
}

// softmaxGrain is the least number of elements worth a goroutine: with
// the vector passes an element costs about a nanosecond, and the
// transformer's 4×64×64 attention weights (16K elements) ran on one
// thread at 1 << 14 (its two Softmax nodes 58 → 41 µs at 1 << 12).
const softmaxGrain = 1 << 12

// softmaxBlock is how many columns are normalised together when the axis
// is not the innermost: enough for long contiguous reads, few enough that
// the per-column state stays in L1.
const softmaxBlock = 256

// softmaxAxis returns the normalized axis for the node's opset.
func softmaxAxis(n *onnx.Node, opset, rank int) (int, error) {
	def := int64(-1)
	if opset < 13 {
		def = 1
	}
	return normAxis(n, attrInt(n, "axis", def), rank)
}

// softmaxView returns shape viewed as [outer, dim, inner], normalising
// along dim.
func softmaxView(n *onnx.Node, opset int, shape []int) (outer, dim, inner int, err error) {
	ax, err := softmaxAxis(n, opset, len(shape))
	if err != nil {
		return 0, 0, 0, err
	}
	if opset < 13 {
		return shapeProd(shape[:ax]), shapeProd(shape[ax:]), 1, nil
	}
	return shapeProd(shape[:ax]), shape[ax], shapeProd(shape[ax+1:]), nil
}

func softmaxInfer(c *InferCtx) ([]onnx.Type, error) {
	x, _ := c.Input(0)
	if x.HasShape {
		if _, err := softmaxAxis(c.Node, c.Opset, len(x.Dims)); err != nil {
			return nil, err
		}
	}
	return []onnx.Type{x}, nil
}

func softmaxRun(c *RunCtx, mode softmaxMode) ([]*tensor.Dense, error) {
	n := c.Node
	x, err := shapeInput(c, 0)
	if err != nil {
		return nil, err
	}
	if !x.DType.IsFloat() {
		return nil, unsupportedf(n, "dtype %s", x.DType)
	}
	outer, dim, inner, err := softmaxView(n, c.Opset, x.Shape)
	if err != nil {
		return nil, err
	}
	// Softmax writes every element; Hardmax only its ones.
	out := tensor.NewUninit(x.DType, x.Shape...)
	if mode == softmaxHard {
		out = tensor.New(x.DType, x.Shape...)
	}
	if out.Len() == 0 {
		return []*tensor.Dense{out}, nil
	}
	switch {
	case mode == softmaxHard && x.F32 != nil:
		hardmaxKernel(out.F32, x.F32, outer, dim, inner, c.Threads)
	case mode == softmaxHard:
		hardmaxKernel(out.F64, x.F64, outer, dim, inner, c.Threads)
	case x.F32 != nil:
		softmaxKernel(out.F32, x.F32, outer, dim, inner, mode == softmaxLog, c.Threads)
	default:
		softmaxKernel(out.F64, x.F64, outer, dim, inner, mode == softmaxLog, c.Threads)
	}
	return []*tensor.Dense{out}, nil
}

// softmaxKernel normalises src viewed as [outer, dim, inner] along dim.
func softmaxKernel[T float32 | float64](dst, src []T, outer, dim, inner int, log bool, threads int) {
	if inner == 1 {
		parallelFor(threads, outer, max(1, softmaxGrain/dim), func(lo, hi int) {
			for o := lo; o < hi; o++ {
				softmaxRow(dst[o*dim:(o+1)*dim], src[o*dim:(o+1)*dim], log)
			}
		})
		return
	}
	// The axis is strided: take blocks of columns, reading whole rows.
	blk := min(inner, softmaxBlock)
	nb := (inner + blk - 1) / blk
	parallelFor(threads, outer*nb, max(1, softmaxGrain/(dim*blk)), func(lo, hi int) {
		m, s := make([]T, blk), make([]float64, blk)
		for w := lo; w < hi; w++ {
			o, c0 := w/nb, (w%nb)*blk
			at := o*dim*inner + c0
			width := min(blk, inner-c0)
			softmaxCols(dst[at:], src[at:], dim, inner, m[:width], s[:width], log)
		}
	})
}

// softmaxRow normalises one contiguous group.
func softmaxRow[T float32 | float64](dst, src []T, log bool) {
	if d32, ok := any(dst).([]float32); ok && !log {
		softmaxRow32(d32, any(src).([]float32))
		return
	}
	m := src[0]
	for _, v := range src {
		if v > m {
			m = v
		}
	}
	// A NaN in src makes its exp, the sum and so every output NaN, as in
	// the reference.
	softmaxExp(dst, src, m)
	sum := reduceSumOf(dst)
	if log {
		l := T(math.Log(sum))
		for i, v := range src {
			dst[i] = (v - m) - l
		}
		return
	}
	r := T(1 / sum)
	for i := range dst {
		dst[i] *= r
	}
}

// softmaxRow32 is softmaxRow for float32 in vector passes: the maximum
// (vec.Max),
// e^(x−m) (the difference rounded to float32, then vec.Exp, within an ulp
// of the exact exponential of that difference), the sum in float64, and
// the scaling.
func softmaxRow32(dst, src []float32) {
	// With a NaN in src every output is NaN, whichever maximum vec.Max
	// then returns.
	m := vec.Max(src)
	vec.AddScalar(dst, src, -m)
	vec.Exp(dst, dst)
	vec.Scale(dst, dst, float32(1/vec.Sum(dst)))
}

// softmaxCols normalises len(m) adjacent columns of a [dim, inner] slab
// along dim; dst and src start at the first column. m and s are scratch
// for the columns' maxima and sums.
func softmaxCols[T float32 | float64](dst, src []T, dim, inner int, m []T, s []float64, log bool) {
	w := len(m)
	copy(m, src[:w])
	for j := 1; j < dim; j++ {
		for i, v := range src[j*inner : j*inner+w] {
			if v > m[i] {
				m[i] = v
			}
		}
	}
	clear(s)
	for j := range dim {
		d := dst[j*inner : j*inner+w]
		for i, v := range src[j*inner : j*inner+w] {
			d[i] = v - m[i]
		}
		softmaxExp(d, d, 0)
		for i, e := range d {
			s[i] += float64(e)
		}
	}
	if log {
		for i := range s {
			s[i] = math.Log(s[i])
		}
		for j := range dim {
			d := dst[j*inner : j*inner+w]
			for i, v := range src[j*inner : j*inner+w] {
				d[i] = (v - m[i]) - T(s[i])
			}
		}
		return
	}
	for i := range s {
		s[i] = 1 / s[i]
	}
	for j := range dim {
		d := dst[j*inner : j*inner+w]
		for i := range d {
			d[i] *= T(s[i])
		}
	}
}

// softmaxExp sets dst[i] = e^(src[i]-m); dst may be src.
func softmaxExp[T float32 | float64](dst, src []T, m T) {
	if d32, ok := any(dst).([]float32); ok {
		softmaxExp32(d32, any(src).([]float32), float32(m))
		return
	}
	src = src[:len(dst)]
	for i, x := range src {
		dst[i] = T(math.Exp(float64(x - m)))
	}
}

// softmaxExp32 sets dst[i] = e^(src[i]-m) to float32 precision, with the
// subtraction fused in to save a pass over the row. It splits
// x = k·ln2 + r with |r| <= ln2/2, takes e^r from its degree-7 Taylor
// polynomial (relative error below 8e-9, an eighth of float32's rounding
// step) and scales by 2^k through the exponent bits. math.Floor is a call
// on amd64 before v2 and a Horner chain is long, so k is rounded by adding
// 1.5·2^52 (whose low mantissa bits then hold k) and the polynomial is
// evaluated in independent pairs (Estrin's scheme): this makes it two to
// three times as fast as math.Exp.
func softmaxExp32(dst, src []float32, m float32) {
	const round = 0x1.8p52
	src = src[:len(dst)]
	m64 := float64(m)
	for i, f := range src {
		x := float64(f) - m64
		if !(x > -104 && x < 89) {
			// e^-104 rounds to 0 in float32 and e^89 overflows it; NaN
			// stays NaN.
			switch {
			case x <= -104:
				dst[i] = 0
			case x >= 89:
				dst[i] = float32(math.Inf(1))
			default:
				dst[i] = float32(x)
			}
			continue
		}
		t := x*math.Log2E + round
		k := t - round
		r := x - k*math.Ln2
		r2 := r * r
		p := (1 + r) + r2*(1.0/2+r*(1.0/6)) + r2*r2*((1.0/24+r*(1.0/120))+r2*(1.0/720+r*(1.0/5040)))
		// -151 <= k <= 128, so k+1023 (wrapped into the low 12 bits)
		// is a valid exponent field.
		scale := math.Float64frombits((math.Float64bits(t) + 1023) << 52)
		dst[i] = float32(p * scale)
	}
}

// hardmaxKernel writes 1 at the first maximum of each group along dim.
func hardmaxKernel[T float32 | float64](dst, src []T, outer, dim, inner, threads int) {
	idx := make([]int64, outer*inner)
	argKernel(src, idx, outer, dim, inner, false, false, threads)
	for o := range outer {
		for i := range inner {
			dst[(o*dim+int(idx[o*inner+i]))*inner+i] = 1
		}
	}
}
