package ops

import (
	"math"

	"github.com/graft-ml/graft/exec/internal/vec"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Reduce family: ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd,
// ReduceL1, ReduceL2, ReduceSumSquare, ReduceLogSum, ReduceLogSumExp,
// ArgMax and ArgMin.
//
// A reduction first drops size-1 axes and merges neighbouring axes that are
// both reduced or both kept (reducePlan). The common cases then become one
// of two loops over contiguous memory: each output is the reduction of
// contiguous runs (last-axis means of LayerNorm, spatial means of NCHW), or
// each output row accumulates whole input rows (reducing a middle axis).
// No per-element index arithmetic is left in either loop.
//
// Float inputs accumulate in float64, with several independent partial sums
// in the contiguous case: the result is then exact to float32 precision
// whatever the order, and the independent chains keep the adds pipelined.

// reduceKind is what a Reduce* op computes.
type reduceKind int

const (
	reduceSum reduceKind = iota
	reduceMean
	reduceSumSquare
	reduceL1
	reduceL2
	reduceLogSum
	reduceLogSumExp
	reduceProd
	reduceMax
	reduceMin
)

func init() {
	// axesInput is the opset from which axes is an input instead of an
	// attribute; noop_with_empty_axes arrived with it.
	for _, r := range []struct {
		name      string
		kind      reduceKind
		axesInput int
	}{
		{"ReduceSum", reduceSum, 13},
		{"ReduceMean", reduceMean, 18},
		{"ReduceSumSquare", reduceSumSquare, 18},
		{"ReduceL1", reduceL1, 18},
		{"ReduceL2", reduceL2, 18},
		{"ReduceLogSum", reduceLogSum, 18},
		{"ReduceLogSumExp", reduceLogSumExp, 18},
		{"ReduceProd", reduceProd, 18},
		{"ReduceMax", reduceMax, 18},
		{"ReduceMin", reduceMin, 18},
	} {
		// Opset 1's semantics are today's; later versions added negative
		// axes, dtypes and the axes input, all handled here.
		register(&Op{
			Name:  r.name,
			Since: 1,
			Infer: func(c *InferCtx) ([]onnx.Type, error) { return reduceInfer(c, r.axesInput) },
			Run:   func(c *RunCtx) ([]*tensor.Dense, error) { return reduceRun(c, r.kind, r.axesInput) },
		})
	}
	register(
		// Opset 11 added negative axes, 12 select_last_index.
		&Op{Name: "ArgMax", Since: 1, Infer: argInfer, Run: func(c *RunCtx) ([]*tensor.Dense, error) { return argRun(c, false) }},
		&Op{Name: "ArgMin", Since: 1, Infer: argInfer, Run: func(c *RunCtx) ([]*tensor.Dense, error) { return argRun(c, true) }},
	)
}

// reduceGrain is the least number of input elements worth a goroutine.
const reduceGrain = 1 << 16

// ---------------------------------------------------------------------------
// Axes and shapes

// reduceMask marks the reduced axes of a rank-r input: the given axes, all
// axes when there are none, or none at all when noop is set.
func reduceMask(n *onnx.Node, axes []int64, rank int, noop bool) ([]bool, error) {
	mask := make([]bool, rank)
	if len(axes) == 0 {
		for i := range mask {
			mask[i] = !noop
		}
		return mask, nil
	}
	ax, err := shapeNormAxes(n, axes, rank)
	if err != nil {
		return nil, err
	}
	for _, a := range ax {
		mask[a] = true
	}
	return mask, nil
}

// reduceNoop reports noop_with_empty_axes, which exists only from the opset
// that made axes an input.
func reduceNoop(n *onnx.Node, opset, axesInput int) bool {
	return opset >= axesInput && attrInt(n, "noop_with_empty_axes", 0) != 0
}

// reduceDims returns the output dims: reduced axes become 1 or vanish.
func reduceDims[D any](in []D, mask []bool, keep bool) []D {
	out := make([]D, 0, len(in))
	for i, d := range in {
		switch {
		case !mask[i]:
			out = append(out, d)
		case keep:
			out = append(out, shapeOne[D]())
		}
	}
	return out
}

func reduceInfer(c *InferCtx, axesInput int) ([]onnx.Type, error) {
	n := c.Node
	x, _ := c.Input(0)
	out := onnx.Type{DType: x.DType}
	keep := attrInt(n, "keepdims", 1) != 0
	noop := reduceNoop(n, c.Opset, axesInput)
	axes, ok := shapeAxes(c, axesInput, 1)
	if !ok {
		// Contents unknown; an axes input of static length 0 is still
		// known to be empty.
		k := shapeVectorLen(c, 1)
		if k != 0 {
			switch {
			case !x.HasShape:
			case keep:
				out.HasShape, out.Dims = true, shapeUnknownDims(len(x.Dims))
			case k > 0 && k <= len(x.Dims):
				out.HasShape, out.Dims = true, shapeUnknownDims(len(x.Dims)-k)
			}
			return []onnx.Type{out}, nil
		}
		axes = nil
	}
	if len(axes) == 0 && noop {
		return []onnx.Type{x}, nil
	}
	if !x.HasShape {
		if len(axes) == 0 && !keep {
			out.HasShape = true // everything reduced: a scalar
		}
		return []onnx.Type{out}, nil
	}
	mask, err := reduceMask(n, axes, len(x.Dims), noop)
	if err != nil {
		return nil, err
	}
	out.HasShape, out.Dims = true, reduceDims(x.Dims, mask, keep)
	return []onnx.Type{out}, nil
}

// ---------------------------------------------------------------------------
// The loop plan

// reducePlan lays a reduction out for the kernels. Output unit u is one
// output element when the innermost merged axis is reduced, and a row of
// inner output elements when it is kept; for every offset off in red, the
// input run x[base(u)+off : base(u)+off+inner] contributes to it.
type reducePlan struct {
	keptDims    []int // merged kept axes outside the innermost one
	keptStrides []int // their input strides
	red         []int // offsets of the reduced positions outside the innermost axis
	inner       int   // length of the innermost merged axis
	innerRed    bool  // whether the innermost merged axis is reduced
	units       int   // output units
	count       int   // input elements reduced into each output element
}

func reducePlanOf(shape []int, mask []bool) *reducePlan {
	p := &reducePlan{inner: 1, units: 1, count: 1}
	outLen := 1
	for i, d := range shape {
		if mask[i] {
			p.count *= d
		} else {
			outLen *= d
		}
	}
	if p.count == 0 || outLen == 0 {
		// Nothing to read: every output (if any) is the empty reduction.
		p.units = outLen
		return p
	}
	type axis struct {
		n   int
		red bool
	}
	var axes []axis
	for i, d := range shape {
		if d == 1 {
			continue
		}
		if k := len(axes) - 1; k >= 0 && axes[k].red == mask[i] {
			axes[k].n *= d
			continue
		}
		axes = append(axes, axis{d, mask[i]})
	}
	if len(axes) == 0 {
		axes = []axis{{1, false}}
	}
	last := axes[len(axes)-1]
	p.inner, p.innerRed = last.n, last.red
	p.red = []int{0}
	stride := last.n
	for i := len(axes) - 2; i >= 0; i-- {
		a := axes[i]
		if a.red {
			// The outer axis varies slowest, so offsets stay ascending.
			offs := make([]int, 0, len(p.red)*a.n)
			for j := range a.n {
				for _, o := range p.red {
					offs = append(offs, j*stride+o)
				}
			}
			p.red = offs
		} else {
			p.keptDims = append([]int{a.n}, p.keptDims...)
			p.keptStrides = append([]int{stride}, p.keptStrides...)
			p.units *= a.n
		}
		stride *= a.n
	}
	return p
}

// base returns the input offset of unit u.
func (p *reducePlan) base(u int) int {
	b := 0
	for i := len(p.keptDims) - 1; i >= 0; i-- {
		d := p.keptDims[i]
		b += (u % d) * p.keptStrides[i]
		u /= d
	}
	return b
}

// ---------------------------------------------------------------------------
// Reduce* kernels

func reduceRun(c *RunCtx, k reduceKind, axesInput int) ([]*tensor.Dense, error) {
	n := c.Node
	x, err := shapeInput(c, 0)
	if err != nil {
		return nil, err
	}
	axes, err := shapeRunAxes(c, axesInput, 1)
	if err != nil {
		return nil, err
	}
	keep := attrInt(n, "keepdims", 1) != 0
	noop := reduceNoop(n, c.Opset, axesInput)
	mask, err := reduceMask(n, axes, len(x.Shape), noop)
	if err != nil {
		return nil, err
	}
	out := tensor.New(x.DType, reduceDims(x.Shape, mask, keep)...)
	p := reducePlanOf(x.Shape, mask)
	switch {
	case x.F32 != nil:
		reduceFloats(p, k, x.F32, out.F32, c.Threads)
	case x.F64 != nil:
		reduceFloats(p, k, x.F64, out.F64, c.Threads)
	default:
		if err := reduceIntCheck(n, k, x.DType); err != nil {
			return nil, err
		}
		reduceInts(p, k, x.I64, out.I64, c.Threads)
	}
	return []*tensor.Dense{out}, nil
}

type reduceFloat interface{ ~float32 | ~float64 }

// reduceFloats computes a float reduction. ReduceLogSumExp takes two
// passes: the maximum of each group, then the sum of exp(x - max).
func reduceFloats[T reduceFloat](p *reducePlan, k reduceKind, x, out []T, threads int) {
	if k != reduceLogSumExp {
		reduceFloatPass(p, k, x, out, nil, threads)
		return
	}
	m := make([]float64, len(out))
	reduceFloatPass(p, reduceMax, x, m, nil, threads)
	reduceFloatPass(p, k, x, out, m, threads)
}

// reduceFloatPass runs one pass of a float reduction. m holds each
// output's maximum for reduceLogSumExp and is nil otherwise.
func reduceFloatPass[T, O reduceFloat](p *reducePlan, k reduceKind, x []T, out []O, m []float64, threads int) {
	maxOf := func(i int) float64 {
		if m == nil {
			return 0
		}
		return m[i]
	}
	if len(out) == 0 {
		return
	}
	init := reduceInit(k)
	switch {
	case p.count == 1:
		// Only size-1 axes are reduced (or none, with noop): out[i] is
		// the reduction of x[i] alone.
		parallelFor(threads, len(out), reduceGrain, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				out[i] = O(reduceFinal(k, reduceSeg(k, x[i:i+1], maxOf(i)), 1, maxOf(i)))
			}
		})

	case p.innerRed && p.units == 1 && len(p.red) == 1 && min(threads, p.inner/reduceGrain) > 1:
		// Everything is one contiguous run: split it, then combine.
		parts := make([]float64, min(threads, p.inner/reduceGrain))
		chunk := (p.inner + len(parts) - 1) / len(parts)
		parallelFor(len(parts), len(parts), 1, func(lo, hi int) {
			for t := lo; t < hi; t++ {
				a, b := min(t*chunk, p.inner), min((t+1)*chunk, p.inner)
				parts[t] = reduceSeg(k, x[a:b], maxOf(0))
			}
		})
		acc := init
		for _, v := range parts {
			acc = reduceCombine(k, acc, v)
		}
		out[0] = O(reduceFinal(k, acc, p.count, maxOf(0)))

	case p.innerRed:
		grain := max(1, reduceGrain/p.count)
		parallelFor(threads, p.units, grain, func(lo, hi int) {
			for u := lo; u < hi; u++ {
				b, mu := p.base(u), maxOf(u)
				acc := init
				for _, off := range p.red {
					acc = reduceCombine(k, acc, reduceSeg(k, x[b+off:b+off+p.inner], mu))
				}
				out[u] = O(reduceFinal(k, acc, p.count, mu))
			}
		})

	default:
		// Rows: split each unit's row into column chunks as well when
		// there are fewer units than threads (reducing the leading axis).
		cols := 1
		if p.units < threads {
			cols = min((threads+p.units-1)/p.units, max(1, p.inner/64))
		}
		width := (p.inner + cols - 1) / cols
		grain := max(1, reduceGrain/max(1, p.count*width))
		parallelFor(threads, p.units*cols, grain, func(lo, hi int) {
			acc := make([]float64, width)
			for w := lo; w < hi; w++ {
				u, c0 := w/cols, (w%cols)*width
				c1 := min(c0+width, p.inner)
				if c0 >= c1 {
					continue
				}
				b, o := p.base(u)+c0, u*p.inner+c0
				a := acc[:c1-c0]
				var mu []float64
				if m != nil {
					mu = m[o : o+len(a)]
				}
				for i := range a {
					a[i] = init
				}
				for _, off := range p.red {
					reduceRow(k, a, x[b+off:b+off+len(a)], mu)
				}
				for i, v := range a {
					out[o+i] = O(reduceFinal(k, v, p.count, maxOf(o+i)))
				}
			}
		})
	}
}

// reduceInit is the accumulator of an empty reduction.
func reduceInit(k reduceKind) float64 {
	switch k {
	case reduceProd:
		return 1
	case reduceMax:
		return math.Inf(-1)
	case reduceMin:
		return math.Inf(1)
	}
	return 0
}

// reduceCombine merges two partial accumulators. Max and Min propagate
// NaN, as numpy (ONNX's reference) does.
func reduceCombine(k reduceKind, a, b float64) float64 {
	switch k {
	case reduceProd:
		return a * b
	case reduceMax:
		if b > a || b != b {
			return b
		}
		return a
	case reduceMin:
		if b < a || b != b {
			return b
		}
		return a
	}
	return a + b
}

// reduceFinal turns an accumulator over count elements into the output
// value; m is the group's maximum for reduceLogSumExp.
func reduceFinal(k reduceKind, acc float64, count int, m float64) float64 {
	switch k {
	case reduceMean:
		return acc / float64(count)
	case reduceL2:
		return math.Sqrt(acc)
	case reduceLogSum:
		return math.Log(acc)
	case reduceLogSumExp:
		if math.IsInf(m, 0) || m != m {
			// All -Inf (or empty), some +Inf, or NaN: exp(x - m) is
			// meaningless, and m is the answer.
			return m
		}
		return m + math.Log(acc)
	}
	return acc
}

// reduceSeg reduces a contiguous run to a partial accumulator.
func reduceSeg[T reduceFloat](k reduceKind, x []T, m float64) float64 {
	switch k {
	case reduceSumSquare, reduceL2:
		return reduceSumSq(x)
	case reduceL1:
		return reduceSumAbs(x)
	case reduceLogSumExp:
		s := 0.0
		for _, v := range x {
			s += math.Exp(float64(v) - m)
		}
		return s
	case reduceProd:
		p := 1.0
		for _, v := range x {
			p *= float64(v)
		}
		return p
	case reduceMax:
		return reduceMaxOf(x)
	case reduceMin:
		return reduceMinOf(x)
	}
	return reduceSumOf(x)
}

// reduceMaxOf and reduceMinOf return the extreme element, or NaN if there
// is one; an empty run gives reduceInit's value.
func reduceMaxOf[T reduceFloat](x []T) float64 {
	m := T(math.Inf(-1))
	for _, v := range x {
		if v > m {
			m = v
		} else if v != v {
			return math.NaN()
		}
	}
	return float64(m)
}

func reduceMinOf[T reduceFloat](x []T) float64 {
	m := T(math.Inf(1))
	for _, v := range x {
		if v < m {
			m = v
		} else if v != v {
			return math.NaN()
		}
	}
	return float64(m)
}

// reduceSumOf, reduceSumSq and reduceSumAbs keep four partial sums so that
// consecutive adds do not wait on each other; reduceSumOf hands float32
// runs of 16 or more to vec.Sum (ReduceMean over a 56×56 map 4.8×
// faster, BenchmarkReduce; softmax rows' sums too).
func reduceSumOf[T reduceFloat](x []T) float64 {
	if xs, ok := any(x).([]float32); ok && len(xs) >= 16 {
		// The AVX2 float64 sum (GlobalAveragePool's), within float64
		// rounding of the loop below.
		return vec.Sum(xs)
	}
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += float64(x[i])
		s1 += float64(x[i+1])
		s2 += float64(x[i+2])
		s3 += float64(x[i+3])
	}
	for ; i < len(x); i++ {
		s0 += float64(x[i])
	}
	return (s0 + s1) + (s2 + s3)
}

func reduceSumSq[T reduceFloat](x []T) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		a, b, c, d := float64(x[i]), float64(x[i+1]), float64(x[i+2]), float64(x[i+3])
		s0 += a * a
		s1 += b * b
		s2 += c * c
		s3 += d * d
	}
	for ; i < len(x); i++ {
		a := float64(x[i])
		s0 += a * a
	}
	return (s0 + s1) + (s2 + s3)
}

func reduceSumAbs[T reduceFloat](x []T) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += math.Abs(float64(x[i]))
		s1 += math.Abs(float64(x[i+1]))
		s2 += math.Abs(float64(x[i+2]))
		s3 += math.Abs(float64(x[i+3]))
	}
	for ; i < len(x); i++ {
		s0 += math.Abs(float64(x[i]))
	}
	return (s0 + s1) + (s2 + s3)
}

// reduceRow folds one input row into a row of accumulators; m holds the
// maxima for reduceLogSumExp.
func reduceRow[T reduceFloat](k reduceKind, acc []float64, x []T, m []float64) {
	x = x[:len(acc)]
	switch k {
	case reduceSumSquare, reduceL2:
		for i, v := range x {
			acc[i] += float64(v) * float64(v)
		}
	case reduceL1:
		for i, v := range x {
			acc[i] += math.Abs(float64(v))
		}
	case reduceLogSumExp:
		m = m[:len(acc)]
		for i, v := range x {
			acc[i] += math.Exp(float64(v) - m[i])
		}
	case reduceProd:
		for i, v := range x {
			acc[i] *= float64(v)
		}
	case reduceMax:
		for i, v := range x {
			if f := float64(v); f > acc[i] || f != f {
				acc[i] = f
			}
		}
	case reduceMin:
		for i, v := range x {
			if f := float64(v); f < acc[i] || f != f {
				acc[i] = f
			}
		}
	default:
		for i, v := range x {
			acc[i] += float64(v)
		}
	}
}

// reduceIntCheck rejects integer reductions graft does not compute exactly.
func reduceIntCheck(n *onnx.Node, k reduceKind, dt tensor.DType) error {
	switch {
	case k == reduceL2 || k == reduceLogSum || k == reduceLogSumExp:
		return unsupportedf(n, "dtype %s (integer results of a float function)", dt)
	case dt == tensor.Bool && k != reduceMax && k != reduceMin:
		return unsupportedf(n, "dtype bool")
	case dt == tensor.Uint64 && (k == reduceMax || k == reduceMin):
		return unsupportedf(n, "dtype uint64 (compared as signed)")
	}
	return nil
}

// reduceInts computes an integer reduction in int64 arithmetic (wrapping on
// overflow, as C and ONNX Runtime do). Integer tensors are shape arithmetic
// and small, so this favours brevity over speed.
func reduceInts(p *reducePlan, k reduceKind, x, out []int64, threads int) {
	init := int64(0)
	switch k {
	case reduceProd:
		init = 1
	case reduceMax:
		init = math.MinInt64
	case reduceMin:
		init = math.MaxInt64
	}
	step := func(acc, v int64) int64 {
		switch k {
		case reduceSumSquare:
			return acc + v*v
		case reduceL1:
			if v < 0 {
				v = -v
			}
			return acc + v
		case reduceProd:
			return acc * v
		case reduceMax:
			return max(acc, v)
		case reduceMin:
			return min(acc, v)
		}
		return acc + v
	}
	final := func(acc int64) int64 {
		if k == reduceMean && p.count > 0 {
			return acc / int64(p.count)
		}
		return acc
	}
	width := p.inner
	if p.innerRed {
		width = 1
	}
	parallelFor(threads, p.units, max(1, reduceGrain/max(1, p.count*width)), func(lo, hi int) {
		for u := lo; u < hi; u++ {
			b := p.base(u)
			if p.innerRed {
				acc := init
				for _, off := range p.red {
					for _, v := range x[b+off : b+off+p.inner] {
						acc = step(acc, v)
					}
				}
				out[u] = final(acc)
				continue
			}
			o := out[u*width : (u+1)*width]
			for i := range o {
				o[i] = init
			}
			for _, off := range p.red {
				for i, v := range x[b+off : b+off+width] {
					o[i] = step(o[i], v)
				}
			}
			for i := range o {
				o[i] = final(o[i])
			}
		}
	})
}

// ---------------------------------------------------------------------------
// ArgMax and ArgMin

// argAxis returns the normalized axis and keepdims of an ArgMax/ArgMin.
func argAxis(n *onnx.Node, rank int) (int, bool, error) {
	ax, err := normAxis(n, attrInt(n, "axis", 0), rank)
	return ax, attrInt(n, "keepdims", 1) != 0, err
}

func argInfer(c *InferCtx) ([]onnx.Type, error) {
	x, _ := c.Input(0)
	out := onnx.Type{DType: tensor.Int64}
	if !x.HasShape {
		return []onnx.Type{out}, nil
	}
	ax, keep, err := argAxis(c.Node, len(x.Dims))
	if err != nil {
		return nil, err
	}
	mask := make([]bool, len(x.Dims))
	mask[ax] = true
	out.HasShape, out.Dims = true, reduceDims(x.Dims, mask, keep)
	return []onnx.Type{out}, nil
}

func argRun(c *RunCtx, isMin bool) ([]*tensor.Dense, error) {
	n := c.Node
	x, err := shapeInput(c, 0)
	if err != nil {
		return nil, err
	}
	if x.DType == tensor.Uint64 {
		return nil, unsupportedf(n, "dtype uint64 (compared as signed)")
	}
	ax, keep, err := argAxis(n, len(x.Shape))
	if err != nil {
		return nil, err
	}
	mask := make([]bool, len(x.Shape))
	mask[ax] = true
	out := tensor.New(tensor.Int64, reduceDims(x.Shape, mask, keep)...)
	outer, dim, inner := shapeProd(x.Shape[:ax]), x.Shape[ax], shapeProd(x.Shape[ax+1:])
	if len(out.I64) == 0 {
		return []*tensor.Dense{out}, nil
	}
	if dim == 0 {
		return nil, shapeError(n, "axis %d of %v is empty: no index to return", ax, x.Shape)
	}
	last := attrInt(n, "select_last_index", 0) != 0
	switch {
	case x.F32 != nil:
		argKernel(x.F32, out.I64, outer, dim, inner, isMin, last, c.Threads)
	case x.F64 != nil:
		argKernel(x.F64, out.I64, outer, dim, inner, isMin, last, c.Threads)
	default:
		argKernel(x.I64, out.I64, outer, dim, inner, isMin, last, c.Threads)
	}
	return []*tensor.Dense{out}, nil
}

// argBetter reports whether v displaces the current best b. NaN beats
// every number, as in numpy; ties go to the first or, with last, the last
// index.
func argBetter[T reduceFloat | ~int64](v, b T, isMin, last bool) bool {
	switch {
	case v != v:
		return last || b == b
	case isMin && last:
		return v <= b
	case isMin:
		return v < b
	case last:
		return v >= b
	}
	return v > b
}

// argKernel writes, for each (o, i) of x viewed as [outer, dim, inner],
// the index along dim of the best element to idx[o*inner+i].
func argKernel[T reduceFloat | ~int64](x []T, idx []int64, outer, dim, inner int, isMin, last bool, threads int) {
	parallelFor(threads, outer, max(1, reduceGrain/(dim*inner)), func(lo, hi int) {
		var best []T
		if inner > 1 {
			best = make([]T, inner)
		}
		for o := lo; o < hi; o++ {
			src := x[o*dim*inner : (o+1)*dim*inner]
			if inner == 1 {
				bi, b := 0, src[0]
				for j, v := range src {
					if argBetter(v, b, isMin, last) {
						bi, b = j, v
					}
				}
				idx[o] = int64(bi)
				continue
			}
			// Scan whole rows so that memory is read in order.
			row := idx[o*inner : (o+1)*inner]
			copy(best, src[:inner])
			clear(row)
			for j := 1; j < dim; j++ {
				for i, v := range src[j*inner : (j+1)*inner] {
					if argBetter(v, best[i], isMin, last) {
						best[i], row[i] = v, int64(j)
					}
				}
			}
		}
	})
}
