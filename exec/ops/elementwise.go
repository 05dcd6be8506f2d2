package ops

import (
	"math"

	"github.com/graft-ml/graft/exec/internal/vec"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Elementwise family: binary arithmetic, comparison and logic with ONNX
// multidirectional broadcasting, the variadic Max/Min/Sum/Mean, Where,
// Clip, PRelu and the unary activations and math functions.
//
// Broadcasting runs through elemPlan, which folds the output shape into as
// few dims as possible and walks it row by row: the innermost row of every
// input is either contiguous or a single repeated element, so the kernels
// are tight loops over slices (same shape, scalar operand, [N,C,H,W] +
// [C,1,1] bias and [B,T,D] + [D] all reduce to one or two such loops) and
// multi-dim indices are updated once per row, never per element.
//
// Float16 and bfloat16 compute in float32 and are rounded back to their own
// precision; narrow integers compute in int64 and wrap to their width, so
// uint8 arithmetic wraps like numpy's.

func init() {
	register(
		&Op{Name: "Add", Since: 7, Fuses: true, Infer: elemArithInfer, Run: elemArithRun(elemAdd), Symbolic: elemArithSymbolic(elemAdd)},
		&Op{Name: "Sub", Since: 7, Fuses: true, Infer: elemArithInfer, Run: elemArithRun(elemSub), Symbolic: elemArithSymbolic(elemSub)},
		&Op{Name: "Mul", Since: 7, Fuses: true, Infer: elemArithInfer, Run: elemArithRun(elemMul), Symbolic: elemArithSymbolic(elemMul)},
		&Op{Name: "Div", Since: 7, Fuses: true, Infer: elemArithInfer, Run: elemArithRun(elemDiv), Symbolic: elemArithSymbolic(elemDiv)},
		&Op{Name: "Pow", Since: 7, Infer: powInfer, Run: powRun},
		&Op{Name: "Mod", Since: 10, Infer: elemArithInfer, Run: modRun},
		&Op{Name: "Equal", Since: 7, Infer: elemBoolInfer, Run: elemCompareRun(elemEq), Symbolic: elemArithSymbolic(elemEq)},
		&Op{Name: "Less", Since: 7, Infer: elemBoolInfer, Run: elemCompareRun(elemLt)},
		&Op{Name: "Greater", Since: 7, Infer: elemBoolInfer, Run: elemCompareRun(elemGt)},
		&Op{Name: "LessOrEqual", Since: 12, Infer: elemBoolInfer, Run: elemCompareRun(elemLe)},
		&Op{Name: "GreaterOrEqual", Since: 12, Infer: elemBoolInfer, Run: elemCompareRun(elemGe)},
		&Op{Name: "And", Since: 7, Infer: elemBoolInfer, Run: elemLogicRun(elemAnd)},
		&Op{Name: "Or", Since: 7, Infer: elemBoolInfer, Run: elemLogicRun(elemOr)},
		&Op{Name: "Xor", Since: 7, Infer: elemBoolInfer, Run: elemLogicRun(elemXor)},
		&Op{Name: "Not", Since: 1, Infer: elemUnaryInfer, Run: notRun},
		&Op{Name: "Max", Since: 8, Infer: elemVariadicInfer, Run: elemVariadicRun(elemMax, false)},
		&Op{Name: "Min", Since: 8, Infer: elemVariadicInfer, Run: elemVariadicRun(elemMin, false)},
		&Op{Name: "Sum", Since: 8, Infer: elemVariadicInfer, Run: elemVariadicRun(elemAdd, false)},
		&Op{Name: "Mean", Since: 8, Infer: elemVariadicInfer, Run: elemVariadicRun(elemAdd, true)},
		&Op{Name: "Where", Since: 9, Infer: whereInfer, Run: whereRun, Symbolic: whereSymbolic},
		&Op{Name: "Clip", Since: 6, Infer: elemUnaryInfer, Run: clipRun},
		&Op{Name: "PRelu", Since: 7, Infer: preluInfer, Run: preluRun},
		&Op{Name: "IsNaN", Since: 9, Infer: elemIsInfer, Run: elemIsRun(false)},
		&Op{Name: "IsInf", Since: 10, Infer: elemIsInfer, Run: elemIsRun(true)},
	)
	for i := range elemUnaryOps {
		u := &elemUnaryOps[i]
		register(&Op{Name: u.name, Since: u.since, Infer: elemUnaryInfer, Run: u.run})
	}
}

// elemOp names a binary operation.
type elemOp int

const (
	elemAdd elemOp = iota
	elemSub
	elemMul
	elemDiv
	elemMax
	elemMin
	elemEq
	elemLt
	elemGt
	elemLe
	elemGe
	elemAnd
	elemOr
	elemXor
)

// elemNum covers the storage slices' element types, and uint64 for the
// unsigned views of uint64 tensors.
type elemNum interface {
	~float32 | ~float64 | ~int64 | ~uint64
}

// elemMinChunk is the number of elements below which a goroutine costs
// more than the work it would take over.
const elemMinChunk = 1 << 15

// ---------------------------------------------------------------------------
// Broadcast plans

// elemPlan is an output shape with the strides at which each input is read
// along it (0 where the input is broadcast). Unit dims are dropped and
// neighbouring dims merged wherever every input allows, so the innermost
// dim is as long as possible.
type elemPlan struct {
	dims    []int
	strides [][]int // per input, per dim
}

// elemNewPlan plans reading inputs of the given shapes broadcast to out;
// every input shape must broadcast to out.
func elemNewPlan(out []int, ins ...[]int) *elemPlan {
	r := len(out)
	full := make([][]int, len(ins))
	for j, s := range ins {
		st := make([]int, r)
		acc := 1
		for k := len(s) - 1; k >= 0; k-- {
			if s[k] != 1 {
				st[r-len(s)+k] = acc
			}
			acc *= s[k]
		}
		full[j] = st
	}
	p := &elemPlan{strides: make([][]int, len(ins))}
	for k, n := range out {
		if n == 1 {
			continue
		}
		if last := len(p.dims) - 1; last >= 0 && p.mergeable(full, k, n) {
			p.dims[last] *= n
			for j := range p.strides {
				p.strides[j][last] = full[j][k]
			}
			continue
		}
		p.dims = append(p.dims, n)
		for j := range p.strides {
			p.strides[j] = append(p.strides[j], full[j][k])
		}
	}
	return p
}

// mergeable reports whether output dim k (of size n) continues the plan's
// last dim for every input: contiguous after it, or broadcast in both.
func (p *elemPlan) mergeable(full [][]int, k, n int) bool {
	last := len(p.dims) - 1
	for j := range p.strides {
		if p.strides[j][last] != full[j][k]*n {
			return false
		}
	}
	return true
}

// inner returns input j's stride along the innermost dim: 1 (contiguous)
// or 0 (one element repeated). A scalar plan has one element everywhere.
func (p *elemPlan) inner(j int) int {
	if len(p.dims) == 0 {
		return 1
	}
	return p.strides[j][len(p.dims)-1]
}

// each calls row(o, off, n) for every run of n output elements starting at
// output offset o, with off[j] the offset of input j's first element;
// rows are shared among up to threads goroutines.
func (p *elemPlan) each(threads int, row func(o int, off []int, n int)) {
	r, k := len(p.dims), len(p.strides)
	if r == 0 {
		row(0, make([]int, k), 1)
		return
	}
	n := p.dims[r-1]
	if r == 1 {
		// One long run: split it.
		parallelFor(threads, n, elemMinChunk, func(lo, hi int) {
			off := make([]int, k)
			for j := range off {
				off[j] = lo * p.strides[j][0]
			}
			row(lo, off, hi-lo)
		})
		return
	}
	outer := p.dims[:r-1]
	rows := 1
	for _, d := range outer {
		rows *= d
	}
	parallelFor(threads, rows, max(1, elemMinChunk/n), func(lo, hi int) {
		idx := make([]int, len(outer))
		off := make([]int, k)
		rem := lo
		for d := len(outer) - 1; d >= 0; d-- {
			idx[d] = rem % outer[d]
			rem /= outer[d]
			for j := range off {
				off[j] += idx[d] * p.strides[j][d]
			}
		}
		for i := lo; i < hi; i++ {
			row(i*n, off, n)
			for d := len(outer) - 1; d >= 0; d-- {
				idx[d]++
				for j := range off {
					off[j] += p.strides[j][d]
				}
				if idx[d] < outer[d] {
					break
				}
				idx[d] = 0
				for j := range off {
					off[j] -= p.strides[j][d] * outer[d]
				}
			}
		}
	})
}

// elemRowFunc computes one row: len(out) elements, reading a and b at
// strides sa and sb, each 0 or 1.
type elemRowFunc[A, B, O any] func(out []O, a []A, b []B, sa, sb int)

// elemBroadcast2 runs row over out (of the given shape) with a and b
// broadcast to it.
func elemBroadcast2[A, B, O any](threads int, out []O, shape []int, a []A, aShape []int, b []B, bShape []int, row elemRowFunc[A, B, O]) {
	if len(out) == 0 {
		return
	}
	p := elemNewPlan(shape, aShape, bShape)
	sa, sb := p.inner(0), p.inner(1)
	p.each(threads, func(o int, off []int, n int) {
		row(out[o:o+n], a[off[0]:], b[off[1]:], sa, sb)
	})
}

// elemMapRow turns a scalar function into a row kernel, for the ops that
// are too rare or too costly per element for a dedicated loop to matter.
func elemMapRow[A, B, O any](f func(A, B) O) elemRowFunc[A, B, O] {
	return func(out []O, a []A, b []B, sa, sb int) {
		ia, ib := 0, 0
		for i := range out {
			out[i] = f(a[ia], b[ib])
			ia += sa
			ib += sb
		}
	}
}

// elemArithRow is the row kernel of the hot arithmetic ops. A plan's
// innermost dim always has a contiguous input, so the layouts are
// (1,1), (1,0) and (0,1); a one-element row may read (0,0) as any of them.
func elemArithRow[T elemNum](op elemOp, out, a, b []T, sa, sb int) {
	n := len(out)
	switch {
	case sa == 1 && sb == 1:
		a, b = a[:n], b[:n]
		switch op {
		case elemAdd:
			for i := range out {
				out[i] = a[i] + b[i]
			}
		case elemSub:
			for i := range out {
				out[i] = a[i] - b[i]
			}
		case elemMul:
			for i := range out {
				out[i] = a[i] * b[i]
			}
		case elemDiv:
			for i := range out {
				out[i] = a[i] / b[i]
			}
		case elemMax:
			for i := range out {
				out[i] = max(a[i], b[i])
			}
		case elemMin:
			for i := range out {
				out[i] = min(a[i], b[i])
			}
		}
	case sb == 0:
		a, s := a[:n], b[0]
		switch op {
		case elemAdd:
			for i := range out {
				out[i] = a[i] + s
			}
		case elemSub:
			for i := range out {
				out[i] = a[i] - s
			}
		case elemMul:
			for i := range out {
				out[i] = a[i] * s
			}
		case elemDiv:
			for i := range out {
				out[i] = a[i] / s
			}
		case elemMax:
			for i := range out {
				out[i] = max(a[i], s)
			}
		case elemMin:
			for i := range out {
				out[i] = min(a[i], s)
			}
		}
	default:
		s, b := a[0], b[:n]
		switch op {
		case elemAdd:
			for i := range out {
				out[i] = s + b[i]
			}
		case elemSub:
			for i := range out {
				out[i] = s - b[i]
			}
		case elemMul:
			for i := range out {
				out[i] = s * b[i]
			}
		case elemDiv:
			for i := range out {
				out[i] = s / b[i]
			}
		case elemMax:
			for i := range out {
				out[i] = max(s, b[i])
			}
		case elemMin:
			for i := range out {
				out[i] = min(s, b[i])
			}
		}
	}
}

// ---------------------------------------------------------------------------
// Dtype helpers

// elemNarrow rounds a float16/bfloat16 result to its dtype's precision
// and wraps a narrow integer result to its width, in place.
func elemNarrow(t *tensor.Dense) {
	switch t.DType {
	case tensor.Float16, tensor.BFloat16:
		t.RoundToDType()
	case tensor.Int8:
		for i, v := range t.I64 {
			t.I64[i] = int64(int8(v))
		}
	case tensor.Uint8:
		for i, v := range t.I64 {
			t.I64[i] = int64(uint8(v))
		}
	case tensor.Int16:
		for i, v := range t.I64 {
			t.I64[i] = int64(int16(v))
		}
	case tensor.Uint16:
		for i, v := range t.I64 {
			t.I64[i] = int64(uint16(v))
		}
	case tensor.Int32:
		for i, v := range t.I64 {
			t.I64[i] = int64(int32(v))
		}
	case tensor.Uint32:
		for i, v := range t.I64 {
			t.I64[i] = int64(uint32(v))
		}
	}
}

// elemUnsigned reports whether dt is an unsigned integer type. Only
// uint64 needs unsigned arithmetic (the others fit int64 as non-negative
// values), but Abs, Relu and Sign treat them all as never negative.
func elemUnsigned(dt tensor.DType) bool {
	return dt == tensor.Uint8 || dt == tensor.Uint16 || dt == tensor.Uint32 || dt == tensor.Uint64
}

// elemB2I converts a truth value to its bool tensor element.
func elemB2I(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// elemRunInputs returns the node's n inputs (n < 0: at least one, any
// number), all present and of a dtype graft stores.
func elemRunInputs(c *RunCtx, n int) ([]*tensor.Dense, error) {
	if (n >= 0 && len(c.In) != n) || len(c.In) == 0 {
		return nil, onnx.NodeErrorf(c.Node, "want %d inputs, got %d", max(n, 1), len(c.In))
	}
	for i := range c.In {
		if _, err := shapeInput(c, i); err != nil {
			return nil, err
		}
	}
	return c.In, nil
}

// elemSameDType checks that the inputs share a dtype.
func elemSameDType(n *onnx.Node, ins ...*tensor.Dense) error {
	for _, t := range ins[1:] {
		if t.DType != ins[0].DType {
			return onnx.NodeErrorf(n, "inputs have different dtypes %s and %s", ins[0].DType, t.DType)
		}
	}
	return nil
}

// elemBroadcastRun computes the broadcast output shape of the inputs.
func elemBroadcastRun(n *onnx.Node, ins ...*tensor.Dense) ([]int, error) {
	shapes := make([][]int, len(ins))
	for i, t := range ins {
		shapes[i] = t.Shape
	}
	s, err := broadcastShapes(shapes...)
	if err != nil {
		return nil, shapeError(n, "%v", err)
	}
	return s, nil
}

// elemIntZero reports an integer division by zero, which has no defined
// result (and would panic in Go).
func elemIntZero(n *onnx.Node, b *tensor.Dense) error {
	for _, v := range b.I64 {
		if v == 0 {
			return onnx.NodeErrorf(n, "integer division by zero")
		}
	}
	return nil
}

// ---------------------------------------------------------------------------
// Inference

// elemInferInputs returns the types of the node's inputs, checking that
// there are want of them (want < 0: at least one) and that all are present.
func elemInferInputs(c *InferCtx, want int) ([]onnx.Type, error) {
	n := len(c.Node.Inputs)
	if (want >= 0 && n != want) || n == 0 {
		return nil, shapeError(c.Node, "want %d inputs, got %d", max(want, 1), n)
	}
	ts := make([]onnx.Type, n)
	for i := range ts {
		t, ok := c.Input(i)
		if !ok {
			return nil, shapeError(c.Node, "input %d missing", i)
		}
		ts[i] = t
	}
	return ts, nil
}

// elemCommonDType returns the dtype shared by ts, ignoring unknown ones.
func elemCommonDType(n *onnx.Node, ts ...onnx.Type) (tensor.DType, error) {
	dt := tensor.Undefined
	for _, t := range ts {
		switch {
		case t.DType == tensor.Undefined:
		case dt == tensor.Undefined:
			dt = t.DType
		case t.DType != dt:
			return 0, shapeError(n, "inputs have different dtypes %s and %s", dt, t.DType)
		}
	}
	return dt, nil
}

// elemBroadcastInfer broadcasts the types' shapes and gives the result dt.
func elemBroadcastInfer(n *onnx.Node, dt tensor.DType, ts ...onnx.Type) ([]onnx.Type, error) {
	t, err := broadcastTypes(ts...)
	if err != nil {
		return nil, shapeError(n, "%v", err)
	}
	t.DType = dt
	return []onnx.Type{t}, nil
}

func elemArithInfer(c *InferCtx) ([]onnx.Type, error) {
	ts, err := elemInferInputs(c, 2)
	if err != nil {
		return nil, err
	}
	dt, err := elemCommonDType(c.Node, ts...)
	if err != nil {
		return nil, err
	}
	return elemBroadcastInfer(c.Node, dt, ts...)
}

// elemBoolInfer is for comparisons and logic: same-typed inputs, a bool
// output.
func elemBoolInfer(c *InferCtx) ([]onnx.Type, error) {
	ts, err := elemInferInputs(c, 2)
	if err != nil {
		return nil, err
	}
	if _, err := elemCommonDType(c.Node, ts...); err != nil {
		return nil, err
	}
	return elemBroadcastInfer(c.Node, tensor.Bool, ts...)
}

func elemVariadicInfer(c *InferCtx) ([]onnx.Type, error) {
	ts, err := elemInferInputs(c, -1)
	if err != nil {
		return nil, err
	}
	dt, err := elemCommonDType(c.Node, ts...)
	if err != nil {
		return nil, err
	}
	return elemBroadcastInfer(c.Node, dt, ts...)
}

// elemUnaryInfer gives the output input 0's type (Clip's optional bounds
// are scalars and do not affect it).
func elemUnaryInfer(c *InferCtx) ([]onnx.Type, error) {
	t, ok := c.Input(0)
	if !ok {
		return nil, shapeError(c.Node, "input 0 missing")
	}
	return []onnx.Type{t}, nil
}

// ---------------------------------------------------------------------------
// Add, Sub, Mul, Div, Max, Min, Sum, Mean

func elemArithRun(op elemOp) func(c *RunCtx) ([]*tensor.Dense, error) {
	return func(c *RunCtx) ([]*tensor.Dense, error) {
		in, err := elemRunInputs(c, 2)
		if err != nil {
			return nil, err
		}
		a, b := in[0], in[1]
		if err := elemSameDType(c.Node, a, b); err != nil {
			return nil, err
		}
		shape, err := elemBroadcastRun(c.Node, a, b)
		if err != nil {
			return nil, err
		}
		out := tensor.NewUninit(a.DType, shape...) // elemArith writes every element
		if err := elemArith(c, op, out, a, b); err != nil {
			return nil, err
		}
		elemNarrow(out)
		return []*tensor.Dense{out}, nil
	}
}

// elemArith sets out = a op b, broadcasting both to out's shape. out may
// be a itself (the variadic ops accumulate in place: each element is read
// before it is written).
func elemArith(c *RunCtx, op elemOp, out, a, b *tensor.Dense) error {
	th := c.Threads
	switch k, _ := shapeStore(out.DType); k {
	case shapeF32:
		if elemRowScalarF32(c, op, out, a, b) {
			return nil
		}
		elemBroadcast2(th, out.F32, out.Shape, a.F32, a.Shape, b.F32, b.Shape, func(o, x, y []float32, sx, sy int) {
			if !elemVecRowF32(op, o, x, y, sx, sy) {
				elemArithRow(op, o, x, y, sx, sy)
			}
			c.applyClamp(o)
		})
	case shapeF64:
		elemBroadcast2(th, out.F64, out.Shape, a.F64, a.Shape, b.F64, b.Shape, func(o, x, y []float64, sx, sy int) {
			elemArithRow(op, o, x, y, sx, sy)
		})
	default:
		if out.DType == tensor.Bool {
			return unsupportedf(c.Node, "arithmetic on bool")
		}
		if op == elemDiv {
			if err := elemIntZero(c.Node, b); err != nil {
				return err
			}
		}
		if out.DType == tensor.Uint64 && (op == elemDiv || op == elemMax || op == elemMin) {
			elemBroadcast2(th, out.I64, out.Shape, a.I64, a.Shape, b.I64, b.Shape, elemMapRow(elemUint64Func(op)))
			return nil
		}
		elemBroadcast2(th, out.I64, out.Shape, a.I64, a.Shape, b.I64, b.Shape, func(o, x, y []int64, sx, sy int) {
			elemArithRow(op, o, x, y, sx, sy)
		})
	}
	return nil
}

// elemRowScalarF32 computes out = a op b where one operand holds one value
// per row of the other (a feature map times a per-channel gate, [N, C, 1,
// 1] against [N, C, H, W], or plus a per-channel bias) with one call per
// thread (vec.ScaleRows, vec.AddRows) instead of one per row: with 7×7
// maps, EfficientNet's gates spent more in the per-row calls than in the
// multiplications. It reports whether it did.
func elemRowScalarF32(c *RunCtx, op elemOp, out, a, b *tensor.Dense) bool {
	if op != elemMul && op != elemAdd {
		return false
	}
	p := elemNewPlan(out.Shape, a.Shape, b.Shape)
	if len(p.dims) != 2 {
		return false
	}
	rows, n := p.dims[0], p.dims[1]
	full, scalars := a.F32, b.F32
	switch sa, sb := p.strides[0], p.strides[1]; {
	case sa[0] == n && sa[1] == 1 && sb[0] == 1 && sb[1] == 0:
	case sb[0] == n && sb[1] == 1 && sa[0] == 1 && sa[1] == 0:
		full, scalars = b.F32, a.F32
	default:
		return false
	}
	// Split from 4096 floats a thread, as GlobalAveragePool: the gate's
	// feature map usually comes from a convolution that left each
	// thread's channels in its cache (1152×7×7: 40 -> 9 us with the
	// one-call rows).
	parallelFor(c.Threads, rows, max(1, (1<<12)/n), func(lo, hi int) {
		o := out.F32[lo*n : hi*n]
		if op == elemMul {
			vec.ScaleRows(o, full[lo*n:hi*n], scalars[lo:hi], n)
		} else {
			vec.AddRows(o, full[lo*n:hi*n], scalars[lo:hi], n)
		}
		c.applyClamp(o)
	})
	return true
}

// elemVecRowF32 does a float32 Add, Sub, Mul or Div row with vector
// instructions (vec.Mul, or vec.Scale where one side is broadcast, as in
// a squeeze-excitation gate; vec.Add and its kin) and reports whether it
// did: Max and Min stay with elemArithRow, whose NaN handling the vector
// instructions do not share.
func elemVecRowF32(op elemOp, out, a, b []float32, sa, sb int) bool {
	switch {
	case sa == 1 && sb == 1:
		switch op {
		case elemAdd:
			vec.Add(out, a, b)
		case elemSub:
			vec.Sub(out, a, b)
		case elemMul:
			vec.Mul(out, a, b)
		case elemDiv:
			vec.Div(out, a, b)
		default:
			return false
		}
	case sb == 0:
		switch op {
		case elemAdd:
			vec.AddScalar(out, a, b[0])
		case elemSub:
			vec.AddScalar(out, a, -b[0])
		case elemMul:
			vec.Scale(out, a, b[0])
		case elemDiv:
			vec.DivScalar(out, a, b[0])
		default:
			return false
		}
	default:
		switch op {
		case elemAdd:
			vec.AddScalar(out, b, a[0])
		case elemSub:
			vec.ScalarSub(out, a[0], b)
		case elemMul:
			vec.Scale(out, b, a[0])
		case elemDiv:
			vec.ScalarDiv(out, a[0], b)
		default:
			return false
		}
	}
	return true
}

// elemUint64Func is the unsigned form of the ops where uint64's sign bit
// matters (Add, Sub and Mul wrap the same either way).
func elemUint64Func(op elemOp) func(x, y int64) int64 {
	switch op {
	case elemDiv:
		return func(x, y int64) int64 { return int64(uint64(x) / uint64(y)) }
	case elemMax:
		return func(x, y int64) int64 { return int64(max(uint64(x), uint64(y))) }
	default:
		return func(x, y int64) int64 { return int64(min(uint64(x), uint64(y))) }
	}
}

// elemVariadicRun folds the inputs left to right into one output of the
// broadcast shape; Mean divides the sum by the input count.
func elemVariadicRun(op elemOp, mean bool) func(c *RunCtx) ([]*tensor.Dense, error) {
	return func(c *RunCtx) ([]*tensor.Dense, error) {
		in, err := elemRunInputs(c, -1)
		if err != nil {
			return nil, err
		}
		if err := elemSameDType(c.Node, in...); err != nil {
			return nil, err
		}
		if mean && !in[0].DType.IsFloat() {
			return nil, unsupportedf(c.Node, "Mean of %s", in[0].DType)
		}
		shape, err := elemBroadcastRun(c.Node, in...)
		if err != nil {
			return nil, err
		}
		if len(in) == 1 {
			return []*tensor.Dense{in[0].Clone()}, nil
		}
		out := tensor.New(in[0].DType, shape...)
		if err := elemArith(c, op, out, in[0], in[1]); err != nil {
			return nil, err
		}
		for _, x := range in[2:] {
			if err := elemArith(c, op, out, out, x); err != nil {
				return nil, err
			}
		}
		if mean {
			k := len(in)
			for i := range out.F32 {
				out.F32[i] /= float32(k)
			}
			for i := range out.F64 {
				out.F64[i] /= float64(k)
			}
		}
		elemNarrow(out)
		return []*tensor.Dense{out}, nil
	}
}

// ---------------------------------------------------------------------------
// Pow and Mod

// powInfer: the exponent may have another numeric type than the base;
// the output has the base's.
func powInfer(c *InferCtx) ([]onnx.Type, error) {
	ts, err := elemInferInputs(c, 2)
	if err != nil {
		return nil, err
	}
	return elemBroadcastInfer(c.Node, ts[0].DType, ts...)
}

func powRun(c *RunCtx) ([]*tensor.Dense, error) {
	in, err := elemRunInputs(c, 2)
	if err != nil {
		return nil, err
	}
	a, b := in[0], in[1]
	if a.DType == tensor.Bool || b.DType == tensor.Bool {
		return nil, unsupportedf(c.Node, "Pow on bool")
	}
	shape, err := elemBroadcastRun(c.Node, a, b)
	if err != nil {
		return nil, err
	}
	out := tensor.New(a.DType, shape...)
	th := c.Threads
	switch k, _ := shapeStore(a.DType); k {
	case shapeF32:
		e := elemAsF32(b)
		if len(e) == 1 && powScalarF32(th, out.F32, a.F32, e[0]) {
			break
		}
		elemBroadcast2(th, out.F32, shape, a.F32, a.Shape, e, b.Shape, elemMapRow(func(x, y float32) float32 {
			return float32(math.Pow(float64(x), float64(y)))
		}))
	case shapeF64:
		elemBroadcast2(th, out.F64, shape, a.F64, a.Shape, elemAsF64(b), b.Shape, elemMapRow(math.Pow))
	default:
		if b.I64 != nil {
			elemBroadcast2(th, out.I64, shape, a.I64, a.Shape, b.I64, b.Shape, elemMapRow(elemIntPow))
			break
		}
		// An integer base with a float exponent truncates like C's
		// conversion of pow's result.
		elemBroadcast2(th, out.I64, shape, a.I64, a.Shape, elemAsF64(b), b.Shape, elemMapRow(func(x int64, y float64) int64 {
			return int64(math.Pow(float64(x), y))
		}))
	}
	elemNarrow(out)
	return []*tensor.Dense{out}, nil
}

// powScalarF32 handles the exponents that exported graphs use most (x² in
// variance computations) without math.Pow; it reports false for others.
// A one-element exponent leaves the base's elements in order.
func powScalarF32(threads int, out, a []float32, y float32) bool {
	var f func(dst, src []float32)
	switch y {
	case 1:
		f = func(dst, src []float32) { copy(dst, src) }
	case 2:
		f = func(dst, src []float32) {
			src = src[:len(dst)]
			for i, x := range src {
				dst[i] = x * x
			}
		}
	case 3:
		f = func(dst, src []float32) {
			src = src[:len(dst)]
			for i, x := range src {
				v := float64(x)
				dst[i] = float32(v * v * v)
			}
		}
	default:
		return false
	}
	parallelFor(threads, len(out), elemMinChunk, func(lo, hi int) { f(out[lo:hi], a[lo:hi]) })
	return true
}

// elemIntPow raises x to an integer power by squaring, wrapping on
// overflow. Negative powers truncate 1/x^-y toward zero as C would (0 for
// x = 0 too, where C has no answer).
func elemIntPow(x, y int64) int64 {
	if y < 0 {
		switch {
		case x == 1:
			return 1
		case x == -1 && y%2 == 0:
			return 1
		case x == -1:
			return -1
		}
		return 0
	}
	r := int64(1)
	for y > 0 {
		if y&1 == 1 {
			r *= x
		}
		x *= x
		y >>= 1
	}
	return r
}

// elemAsF32 returns t's elements as float32, converting if needed.
func elemAsF32(t *tensor.Dense) []float32 {
	if t.F32 != nil {
		return t.F32
	}
	f := t.Float64s()
	out := make([]float32, len(f))
	for i, v := range f {
		out[i] = float32(v)
	}
	return out
}

// elemAsF64 returns t's elements as float64, converting if needed.
func elemAsF64(t *tensor.Dense) []float64 {
	if t.F64 != nil {
		return t.F64
	}
	return t.Float64s()
}

// modRun: fmod=1 takes the sign of the dividend (C's fmod); fmod=0 the
// sign of the divisor (Python's %), which ONNX defines for integers and
// numpy's mod extends to floats.
func modRun(c *RunCtx) ([]*tensor.Dense, error) {
	in, err := elemRunInputs(c, 2)
	if err != nil {
		return nil, err
	}
	a, b := in[0], in[1]
	if err := elemSameDType(c.Node, a, b); err != nil {
		return nil, err
	}
	shape, err := elemBroadcastRun(c.Node, a, b)
	if err != nil {
		return nil, err
	}
	fmod := attrInt(c.Node, "fmod", 0) != 0
	out := tensor.New(a.DType, shape...)
	th := c.Threads
	floatMod := func(x, y float64) float64 {
		r := math.Mod(x, y)
		if !fmod && r != 0 && (r < 0) != (y < 0) {
			r += y
		}
		return r
	}
	switch k, _ := shapeStore(a.DType); k {
	case shapeF32:
		elemBroadcast2(th, out.F32, shape, a.F32, a.Shape, b.F32, b.Shape, elemMapRow(func(x, y float32) float32 {
			return float32(floatMod(float64(x), float64(y)))
		}))
	case shapeF64:
		elemBroadcast2(th, out.F64, shape, a.F64, a.Shape, b.F64, b.Shape, elemMapRow(floatMod))
	default:
		if a.DType == tensor.Bool {
			return nil, unsupportedf(c.Node, "Mod on bool")
		}
		if err := elemIntZero(c.Node, b); err != nil {
			return nil, err
		}
		f := func(x, y int64) int64 {
			r := x % y
			if !fmod && r != 0 && (r < 0) != (y < 0) {
				r += y
			}
			return r
		}
		if a.DType == tensor.Uint64 {
			f = func(x, y int64) int64 { return int64(uint64(x) % uint64(y)) }
		}
		elemBroadcast2(th, out.I64, shape, a.I64, a.Shape, b.I64, b.Shape, elemMapRow(f))
	}
	elemNarrow(out)
	return []*tensor.Dense{out}, nil
}

// ---------------------------------------------------------------------------
// Comparison and logic

// elemCompareFunc returns the comparison op as a bool-element function.
func elemCompareFunc[T elemNum](op elemOp) func(x, y T) int64 {
	switch op {
	case elemEq:
		return func(x, y T) int64 { return elemB2I(x == y) }
	case elemLt:
		return func(x, y T) int64 { return elemB2I(x < y) }
	case elemGt:
		return func(x, y T) int64 { return elemB2I(x > y) }
	case elemLe:
		return func(x, y T) int64 { return elemB2I(x <= y) }
	default:
		return func(x, y T) int64 { return elemB2I(x >= y) }
	}
}

func elemCompareRun(op elemOp) func(c *RunCtx) ([]*tensor.Dense, error) {
	return func(c *RunCtx) ([]*tensor.Dense, error) {
		in, err := elemRunInputs(c, 2)
		if err != nil {
			return nil, err
		}
		a, b := in[0], in[1]
		if err := elemSameDType(c.Node, a, b); err != nil {
			return nil, err
		}
		shape, err := elemBroadcastRun(c.Node, a, b)
		if err != nil {
			return nil, err
		}
		out := tensor.New(tensor.Bool, shape...)
		th := c.Threads
		switch k, _ := shapeStore(a.DType); {
		case k == shapeF32:
			elemBroadcast2(th, out.I64, shape, a.F32, a.Shape, b.F32, b.Shape, elemMapRow(elemCompareFunc[float32](op)))
		case k == shapeF64:
			elemBroadcast2(th, out.I64, shape, a.F64, a.Shape, b.F64, b.Shape, elemMapRow(elemCompareFunc[float64](op)))
		case a.DType == tensor.Uint64:
			f := elemCompareFunc[uint64](op)
			elemBroadcast2(th, out.I64, shape, a.I64, a.Shape, b.I64, b.Shape, elemMapRow(func(x, y int64) int64 {
				return f(uint64(x), uint64(y))
			}))
		default:
			elemBroadcast2(th, out.I64, shape, a.I64, a.Shape, b.I64, b.Shape, elemMapRow(elemCompareFunc[int64](op)))
		}
		return []*tensor.Dense{out}, nil
	}
}

func elemLogicRun(op elemOp) func(c *RunCtx) ([]*tensor.Dense, error) {
	var f func(x, y int64) int64
	switch op {
	case elemAnd:
		f = func(x, y int64) int64 { return elemB2I(x != 0 && y != 0) }
	case elemOr:
		f = func(x, y int64) int64 { return elemB2I(x != 0 || y != 0) }
	default:
		f = func(x, y int64) int64 { return elemB2I((x != 0) != (y != 0)) }
	}
	return func(c *RunCtx) ([]*tensor.Dense, error) {
		in, err := elemRunInputs(c, 2)
		if err != nil {
			return nil, err
		}
		a, b := in[0], in[1]
		if a.DType != tensor.Bool || b.DType != tensor.Bool {
			return nil, onnx.NodeErrorf(c.Node, "want bool inputs, got %s and %s", a.DType, b.DType)
		}
		shape, err := elemBroadcastRun(c.Node, a, b)
		if err != nil {
			return nil, err
		}
		out := tensor.New(tensor.Bool, shape...)
		elemBroadcast2(c.Threads, out.I64, shape, a.I64, a.Shape, b.I64, b.Shape, elemMapRow(f))
		return []*tensor.Dense{out}, nil
	}
}

func notRun(c *RunCtx) ([]*tensor.Dense, error) {
	in, err := elemRunInputs(c, 1)
	if err != nil {
		return nil, err
	}
	x := in[0]
	if x.DType != tensor.Bool {
		return nil, onnx.NodeErrorf(c.Node, "want a bool input, got %s", x.DType)
	}
	out := tensor.New(tensor.Bool, x.Shape...)
	for i, v := range x.I64 {
		out.I64[i] = elemB2I(v == 0)
	}
	return []*tensor.Dense{out}, nil
}

// elemIsInfer: IsNaN and IsInf give a bool tensor of the input's shape.
func elemIsInfer(c *InferCtx) ([]onnx.Type, error) {
	t, ok := c.Input(0)
	if !ok {
		return nil, shapeError(c.Node, "input 0 missing")
	}
	t.DType = tensor.Bool
	return []onnx.Type{t}, nil
}

// elemIsRun is IsNaN (inf false) or IsInf, which can skip either sign
// through detect_negative and detect_positive. Integers are never either.
func elemIsRun(inf bool) func(c *RunCtx) ([]*tensor.Dense, error) {
	return func(c *RunCtx) ([]*tensor.Dense, error) {
		in, err := elemRunInputs(c, 1)
		if err != nil {
			return nil, err
		}
		x := in[0]
		neg := attrInt(c.Node, "detect_negative", 1) != 0
		pos := attrInt(c.Node, "detect_positive", 1) != 0
		test := func(v float64) bool {
			if !inf {
				return v != v
			}
			return (pos && v > math.MaxFloat64) || (neg && v < -math.MaxFloat64)
		}
		out := tensor.New(tensor.Bool, x.Shape...)
		for i, v := range x.F32 {
			out.I64[i] = elemB2I(test(float64(v)))
		}
		for i, v := range x.F64 {
			out.I64[i] = elemB2I(test(v))
		}
		return []*tensor.Dense{out}, nil
	}
}

// ---------------------------------------------------------------------------
// Where

func whereInfer(c *InferCtx) ([]onnx.Type, error) {
	ts, err := elemInferInputs(c, 3)
	if err != nil {
		return nil, err
	}
	if dt := ts[0].DType; dt != tensor.Undefined && dt != tensor.Bool {
		return nil, shapeError(c.Node, "condition has dtype %s, want bool", dt)
	}
	dt, err := elemCommonDType(c.Node, ts[1], ts[2])
	if err != nil {
		return nil, err
	}
	return elemBroadcastInfer(c.Node, dt, ts...)
}

func whereRun(c *RunCtx) ([]*tensor.Dense, error) {
	in, err := elemRunInputs(c, 3)
	if err != nil {
		return nil, err
	}
	cond, x, y := in[0], in[1], in[2]
	if cond.DType != tensor.Bool {
		return nil, onnx.NodeErrorf(c.Node, "condition has dtype %s, want bool", cond.DType)
	}
	if err := elemSameDType(c.Node, x, y); err != nil {
		return nil, err
	}
	shape, err := elemBroadcastRun(c.Node, cond, x, y)
	if err != nil {
		return nil, err
	}
	out := tensor.New(x.DType, shape...)
	if out.Len() == 0 {
		return []*tensor.Dense{out}, nil
	}
	p := elemNewPlan(shape, cond.Shape, x.Shape, y.Shape)
	switch k, _ := shapeStore(x.DType); k {
	case shapeF32:
		whereSelect(c.Threads, p, out.F32, cond.I64, x.F32, y.F32)
	case shapeF64:
		whereSelect(c.Threads, p, out.F64, cond.I64, x.F64, y.F64)
	default:
		whereSelect(c.Threads, p, out.I64, cond.I64, x.I64, y.I64)
	}
	return []*tensor.Dense{out}, nil
}

// whereSelect runs Where over a three-input plan. Any of the inputs may be
// the broadcast one along a row, so the row loop steps all three.
func whereSelect[T any](threads int, p *elemPlan, out []T, cond []int64, x, y []T) {
	sc, sx, sy := p.inner(0), p.inner(1), p.inner(2)
	p.each(threads, func(o int, off []int, n int) {
		ic, ix, iy := off[0], off[1], off[2]
		for i := o; i < o+n; i++ {
			if cond[ic] != 0 {
				out[i] = x[ix]
			} else {
				out[i] = y[iy]
			}
			ic += sc
			ix += sx
			iy += sy
		}
	})
}

// ---------------------------------------------------------------------------
// Clip and PRelu

// clipRun clamps to [min, max]: attributes before opset 11, optional
// one-element inputs from then on. With min > max every element becomes
// max, as min(max(x, lo), hi) gives; NaNs stay NaN.
// elemClamp32 limits v to [lo, hi]; a NaN v stays NaN. The builtin min
// and max compile without branches: compare-and-branch code mispredicts
// on real activations and measured six times slower (see Clamp.Apply).
func elemClamp32(v, lo, hi float32) float32 {
	return min(max(v, lo), hi)
}

func clipRun(c *RunCtx) ([]*tensor.Dense, error) {
	x := c.Input(0)
	if x == nil || len(c.In) > 3 {
		return nil, onnx.NodeErrorf(c.Node, "want an input and at most two bounds, got %d inputs", len(c.In))
	}
	if _, err := shapeInput(c, 0); err != nil {
		return nil, err
	}
	out := tensor.New(x.DType, x.Shape...)
	k, _ := shapeStore(x.DType)
	lo, hi := math.Inf(-1), math.Inf(1) // float bounds
	ilo, ihi := int64(math.MinInt64), int64(math.MaxInt64)
	if c.Opset < 11 {
		if k == shapeI64 {
			return nil, unsupportedf(c.Node, "Clip of %s before opset 11", x.DType)
		}
		lo = float64(attrFloat(c.Node, "min", -math.MaxFloat32))
		hi = float64(attrFloat(c.Node, "max", math.MaxFloat32))
	} else {
		for i, bound := range []*float64{&lo, &hi} {
			t := c.Input(i + 1)
			if t == nil {
				continue
			}
			if t.DType != x.DType || t.Len() != 1 {
				return nil, onnx.NodeErrorf(c.Node, "bound %d must be a single %s, got %s%v", i+1, x.DType, t.DType, t.Shape)
			}
			*bound = t.Float64s()[0]
			if k == shapeI64 {
				if i == 0 {
					ilo = t.I64[0]
				} else {
					ihi = t.I64[0]
				}
			}
		}
	}
	switch {
	case k == shapeF32:
		l, h := float32(lo), float32(hi)
		parallelFor(c.Threads, len(out.F32), elemMinChunk, func(a, b int) {
			vec.Clamp(out.F32[a:b], x.F32[a:b], l, h)
		})
		elemNarrow(out)
	case k == shapeF64:
		for i, v := range x.F64 {
			out.F64[i] = min(max(v, lo), hi)
		}
	case x.DType == tensor.Uint64:
		if c.Input(1) == nil {
			ilo = 0
		}
		if c.Input(2) == nil {
			ihi = -1 // all bits set: the largest uint64
		}
		for i, v := range x.I64 {
			out.I64[i] = int64(min(max(uint64(v), uint64(ilo)), uint64(ihi)))
		}
	default:
		for i, v := range x.I64 {
			out.I64[i] = min(max(v, ilo), ihi)
		}
	}
	return []*tensor.Dense{out}, nil
}

// preluInfer: slope broadcasts to X (unidirectionally), so Y is X's type.
func preluInfer(c *InferCtx) ([]onnx.Type, error) {
	ts, err := elemInferInputs(c, 2)
	if err != nil {
		return nil, err
	}
	if _, err := elemCommonDType(c.Node, ts...); err != nil {
		return nil, err
	}
	x, slope := ts[0], ts[1]
	if x.HasShape && slope.HasShape {
		t, err := broadcastTypes(x, slope)
		if err != nil {
			return nil, shapeError(c.Node, "%v", err)
		}
		for i, d := range t.Dims {
			if i >= len(x.Dims) || (d.Known() && x.Dims[i].Known() && d != x.Dims[i]) {
				return nil, shapeError(c.Node, "slope %s does not broadcast to X %s", slope.ShapeString(), x.ShapeString())
			}
		}
	}
	return []onnx.Type{x}, nil
}

func preluRun(c *RunCtx) ([]*tensor.Dense, error) {
	in, err := elemRunInputs(c, 2)
	if err != nil {
		return nil, err
	}
	x, s := in[0], in[1]
	if err := elemSameDType(c.Node, x, s); err != nil {
		return nil, err
	}
	shape, err := elemBroadcastRun(c.Node, x, s)
	if err != nil {
		return nil, err
	}
	if !tensor.SameShape(shape, x.Shape) {
		return nil, shapeError(c.Node, "slope %v does not broadcast to X %v", s.Shape, x.Shape)
	}
	out := tensor.New(x.DType, shape...)
	switch k, _ := shapeStore(x.DType); k {
	case shapeF32:
		elemBroadcast2(c.Threads, out.F32, shape, x.F32, x.Shape, s.F32, s.Shape, preluRow[float32])
	case shapeF64:
		elemBroadcast2(c.Threads, out.F64, shape, x.F64, x.Shape, s.F64, s.Shape, preluRow[float64])
	default:
		elemBroadcast2(c.Threads, out.I64, shape, x.I64, x.Shape, s.I64, s.Shape, preluRow[int64])
	}
	elemNarrow(out)
	return []*tensor.Dense{out}, nil
}

// preluRow: X has the output's shape, so it is always contiguous; the
// slope is per element or one value per row (a channel, typically).
func preluRow[T elemNum](out, x, s []T, _, ss int) {
	x = x[:len(out)]
	if ss == 0 {
		v := s[0]
		for i, xi := range x {
			out[i] = max(xi, 0) + v*min(xi, 0)
		}
		return
	}
	s = s[:len(out)]
	for i, xi := range x {
		out[i] = max(xi, 0) + s[i]*min(xi, 0)
	}
}

// ---------------------------------------------------------------------------
// Unary ops

// elemParams holds a unary op's attributes, read once per run.
type elemParams struct {
	alpha, beta, gamma float64
	tanh               bool // Gelu's approximate="tanh"
}

// elemUnary describes a unary op. f64 defines it (float64 tensors use it,
// and float32 ones when there is no f32 kernel); f32 is the fast path for
// ops common in networks; i64, if set, handles integer dtypes.
type elemUnary struct {
	name   string
	since  int
	params func(n *onnx.Node) (elemParams, error)
	f64    func(x float64, p *elemParams) float64
	f32    func(dst, src []float32, p *elemParams)
	i64    func(dst, src []int64, dt tensor.DType)
}

// elemAlphaBeta reads the alpha and beta attributes with their defaults.
func elemAlphaBeta(alpha, beta float32) func(n *onnx.Node) (elemParams, error) {
	return func(n *onnx.Node) (elemParams, error) {
		return elemParams{alpha: float64(attrFloat(n, "alpha", alpha)), beta: float64(attrFloat(n, "beta", beta))}, nil
	}
}

// ONNX's Selu defaults, as the float32 values the spec gives.
const (
	seluAlpha = 1.67326319217681884765625
	seluGamma = 1.05070102214813232421875
)

var elemUnaryOps = []elemUnary{
	{name: "Relu", since: 6,
		f64: func(x float64, _ *elemParams) float64 { return max(x, 0) },
		f32: func(dst, src []float32, _ *elemParams) {
			vec.Clamp(dst, src, 0, float32(math.Inf(1)))
		},
		i64: func(dst, src []int64, dt tensor.DType) {
			if elemUnsigned(dt) {
				copy(dst, src)
				return
			}
			for i, x := range src {
				dst[i] = max(x, 0)
			}
		}},
	{name: "LeakyRelu", since: 6, params: elemAlphaBeta(0.01, 0),
		f64: func(x float64, p *elemParams) float64 { return max(x, 0) + p.alpha*min(x, 0) },
		f32: func(dst, src []float32, p *elemParams) {
			a := float32(p.alpha)
			src = src[:len(dst)]
			for i, x := range src {
				dst[i] = max(x, 0) + a*min(x, 0)
			}
		}},
	{name: "Sigmoid", since: 6,
		f64: func(x float64, _ *elemParams) float64 { return 1 / (1 + math.Exp(-x)) },
		f32: func(dst, src []float32, _ *elemParams) { vec.Sigmoid(dst, src) }},
	{name: "Tanh", since: 6,
		f64: func(x float64, _ *elemParams) float64 { return math.Tanh(x) },
		f32: func(dst, src []float32, _ *elemParams) { vec.Tanh(dst, src) }},
	{name: "Erf", since: 9,
		f64: func(x float64, _ *elemParams) float64 { return math.Erf(x) },
		f32: func(dst, src []float32, _ *elemParams) { vec.Erf(dst, src) }},
	{name: "Exp", since: 6,
		f64: func(x float64, _ *elemParams) float64 { return math.Exp(x) },
		f32: func(dst, src []float32, _ *elemParams) { vec.Exp(dst, src) }},
	{name: "Sqrt", since: 6,
		f64: func(x float64, _ *elemParams) float64 { return math.Sqrt(x) },
		f32: func(dst, src []float32, _ *elemParams) {
			src = src[:len(dst)]
			for i, x := range src {
				dst[i] = float32(math.Sqrt(float64(x)))
			}
		}},
	{name: "Log", since: 6, f64: func(x float64, _ *elemParams) float64 { return math.Log(x) }},
	{name: "Neg", since: 6,
		f64: func(x float64, _ *elemParams) float64 { return -x },
		f32: func(dst, src []float32, _ *elemParams) {
			src = src[:len(dst)]
			for i, x := range src {
				dst[i] = -x
			}
		},
		i64: func(dst, src []int64, _ tensor.DType) {
			for i, x := range src {
				dst[i] = -x
			}
		}},
	{name: "Abs", since: 6,
		f64: func(x float64, _ *elemParams) float64 { return math.Abs(x) },
		f32: func(dst, src []float32, _ *elemParams) {
			src = src[:len(dst)]
			for i, x := range src {
				dst[i] = math.Float32frombits(math.Float32bits(x) &^ (1 << 31))
			}
		},
		i64: func(dst, src []int64, dt tensor.DType) {
			if elemUnsigned(dt) {
				copy(dst, src)
				return
			}
			for i, x := range src {
				if x < 0 {
					x = -x
				}
				dst[i] = x
			}
		}},
	{name: "Reciprocal", since: 6,
		f64: func(x float64, _ *elemParams) float64 { return 1 / x },
		f32: func(dst, src []float32, _ *elemParams) {
			src = src[:len(dst)]
			for i, x := range src {
				dst[i] = 1 / x
			}
		}},
	{name: "Floor", since: 6, f64: func(x float64, _ *elemParams) float64 { return math.Floor(x) }},
	{name: "Ceil", since: 6, f64: func(x float64, _ *elemParams) float64 { return math.Ceil(x) }},
	{name: "Round", since: 11, f64: func(x float64, _ *elemParams) float64 { return math.RoundToEven(x) }},
	{name: "Sign", since: 9,
		f64: func(x float64, _ *elemParams) float64 {
			switch {
			case x > 0:
				return 1
			case x < 0:
				return -1
			}
			return x // zero or NaN
		},
		i64: func(dst, src []int64, dt tensor.DType) {
			for i, x := range src {
				if elemUnsigned(dt) {
					dst[i] = elemB2I(x != 0)
				} else {
					dst[i] = elemB2I(x > 0) - elemB2I(x < 0)
				}
			}
		}},
	{name: "Sin", since: 7, f64: func(x float64, _ *elemParams) float64 { return math.Sin(x) }},
	{name: "Cos", since: 7, f64: func(x float64, _ *elemParams) float64 { return math.Cos(x) }},
	{name: "Elu", since: 6, params: elemAlphaBeta(1, 0),
		f64: func(x float64, p *elemParams) float64 {
			if x < 0 {
				return p.alpha * math.Expm1(x)
			}
			return x
		}},
	{name: "Selu", since: 6,
		params: func(n *onnx.Node) (elemParams, error) {
			return elemParams{alpha: float64(attrFloat(n, "alpha", seluAlpha)), gamma: float64(attrFloat(n, "gamma", seluGamma))}, nil
		},
		f64: func(x float64, p *elemParams) float64 {
			if x <= 0 {
				return p.gamma * p.alpha * math.Expm1(x)
			}
			return p.gamma * x
		}},
	{name: "Softplus", since: 1,
		f64: func(x float64, _ *elemParams) float64 {
			// log(1+e^x) without overflow for large x.
			if x > 0 {
				return x + math.Log1p(math.Exp(-x))
			}
			return math.Log1p(math.Exp(x))
		}},
	{name: "HardSigmoid", since: 6, params: elemAlphaBeta(0.2, 0.5),
		f64: func(x float64, p *elemParams) float64 { return min(max(p.alpha*x+p.beta, 0), 1) },
		f32: func(dst, src []float32, p *elemParams) {
			a, b := float32(p.alpha), float32(p.beta)
			src = src[:len(dst)]
			for i, x := range src {
				dst[i] = elemClamp32(a*x+b, 0, 1)
			}
		}},
	{name: "HardSwish", since: 14,
		f64: func(x float64, _ *elemParams) float64 { return x * min(max(x/6+0.5, 0), 1) },
		f32: func(dst, src []float32, _ *elemParams) {
			const sixth = float32(1.0 / 6)
			src = src[:len(dst)]
			for i, x := range src {
				dst[i] = x * elemClamp32(sixth*x+0.5, 0, 1)
			}
		}},
	{name: "Gelu", since: 20,
		params: func(n *onnx.Node) (elemParams, error) {
			switch a := attrString(n, "approximate", "none"); a {
			case "none":
				return elemParams{}, nil
			case "tanh":
				return elemParams{tanh: true}, nil
			default:
				return elemParams{}, unsupportedf(n, "Gelu approximate=%q", a)
			}
		},
		f64: func(x float64, p *elemParams) float64 {
			if p.tanh {
				return 0.5 * x * (1 + math.Tanh(geluTanhScale*(x+0.044715*x*x*x)))
			}
			return 0.5 * x * (1 + math.Erf(x/math.Sqrt2))
		},
		f32: func(dst, src []float32, p *elemParams) {
			if p.tanh {
				elemVia64(dst, src, geluTanhBlock)
				return
			}
			elemVia64(dst, src, geluBlock)
		}},
}

// geluTanhScale is √(2/π), the tanh approximation's scale.
var geluTanhScale = math.Sqrt(2 / math.Pi)

// geluBlock sets y = x/2·(1 + erf(x/√2)).
func geluBlock(y, x []float64) {
	elemErfBlock(y, x, 1/math.Sqrt2)
	for i, v := range x {
		y[i] = 0.5 * v * (1 + y[i])
	}
}

// geluTanhBlock sets y = x/2·(1 + tanh(√(2/π)·(x + 0.044715x³))).
func geluTanhBlock(y, x []float64) {
	var ub [elemBlock]float64
	u := ub[:len(x)]
	for i, v := range x {
		u[i] = geluTanhScale * (v + 0.044715*v*v*v)
	}
	elemTanhBlock(y, u)
	for i, v := range x {
		y[i] = 0.5 * v * (1 + y[i])
	}
}

func (u *elemUnary) run(c *RunCtx) ([]*tensor.Dense, error) {
	in, err := elemRunInputs(c, 1)
	if err != nil {
		return nil, err
	}
	x := in[0]
	var p elemParams
	if u.params != nil {
		if p, err = u.params(c.Node); err != nil {
			return nil, err
		}
	}
	out := tensor.New(x.DType, x.Shape...)
	switch k, _ := shapeStore(x.DType); k {
	case shapeF32:
		f32 := u.f32
		if f32 == nil {
			f32 = func(dst, src []float32, p *elemParams) {
				elemVia64(dst, src, func(y, x []float64) {
					for i, v := range x {
						y[i] = u.f64(v, p)
					}
				})
			}
		}
		parallelFor(c.Threads, len(out.F32), elemMinChunk, func(lo, hi int) {
			f32(out.F32[lo:hi], x.F32[lo:hi], &p)
		})
	case shapeF64:
		parallelFor(c.Threads, len(out.F64), elemMinChunk, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				out.F64[i] = u.f64(x.F64[i], &p)
			}
		})
	default:
		if u.i64 == nil || x.DType == tensor.Bool {
			return nil, unsupportedf(c.Node, "%s of %s", u.name, x.DType)
		}
		u.i64(out.I64, x.I64, x.DType)
	}
	elemNarrow(out)
	return []*tensor.Dense{out}, nil
}

// ---------------------------------------------------------------------------
// Float32-accurate transcendental functions
//
// math.Exp, math.Tanh and math.Erf are accurate to float64 precision and
// cost 10-35 ns each, which in transformer GELUs (Erf) and sigmoid gates
// adds up. The kernels below evaluate in float64 arithmetic to about 1e-11
// relative error, far below float32's 6e-8 rounding step, so their results
// rounded to float32 match math's to within an ulp (TestElemMathAccuracy)
// at a fraction of the cost.
//
// They work on float64 blocks converted from float32 all at once. Converting
// each element just before its use would make every element wait for the
// previous one: CVTSS2SD merges into its destination register, which holds
// the previous result, and that serialises the whole loop.

// elemBlock is the length of the float64 blocks (two fit in L1 easily).
const elemBlock = 256

// elemVia64 computes dst from src a block at a time: f sets y from x.
func elemVia64(dst, src []float32, f func(y, x []float64)) {
	var xb, yb [elemBlock]float64
	for len(src) > 0 {
		n := min(len(src), elemBlock)
		x, y := xb[:n], yb[:n]
		for i, v := range src[:n] {
			x[i] = float64(v)
		}
		f(y, x)
		d := dst[:n]
		for i, v := range y {
			d[i] = float32(v)
		}
		src, dst = src[n:], dst[n:]
	}
}

// elemExpTable holds the bits of 2^(j/32), j = 0..31.
var elemExpTable = func() (t [32]uint64) {
	for j := range t {
		t[j] = math.Float64bits(math.Exp2(float64(j) / 32))
	}
	return t
}()

// elemExpBlock sets y = e^x, for results bound for float32: arguments are
// clamped to [-708, 709], beyond which float32 has long since rounded to 0
// or overflowed to +Inf. y and x may be the same slice.
func elemExpBlock(y, x []float64) {
	const (
		shift = 0x1.8p52 // adding it rounds to an integer
		scale = 32 / math.Ln2
		step  = math.Ln2 / 32
	)
	y = y[:len(x)]
	for i, v := range x {
		if v < -708 {
			v = -708
		}
		if v > 709 {
			v = 709
		}
		// v = (32m + j)·ln2/32 + r with |r| <= ln2/64, so
		// e^v = 2^m · 2^(j/32) · e^r; 2^m goes straight into the exponent.
		t := v*scale + shift
		k := int64(math.Float64bits(t) - math.Float64bits(shift))
		r := v - (t-shift)*step
		// Taylor series to degree 4: the remainder at ln2/64 is 1.2e-12.
		p := 1 + r*(1+r*(1.0/2+r*(1.0/6+r*(1.0/24))))
		y[i] = p * math.Float64frombits(elemExpTable[k&31]+uint64(k>>5)<<52)
	}
}

// elemTanhBlock sets y = tanh x; y must not be x.
func elemTanhBlock(y, x []float64) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] = 2 * math.Abs(v)
	}
	elemExpBlock(y, y)
	for i, v := range x {
		if math.Abs(v) < 0.0625 {
			// Near zero 1 - 2/(e^2|x|+1) cancels; the series does not
			// (its remainder is below 1e-15 here).
			z := v * v
			y[i] = v * (1 + z*(-1.0/3+z*(2.0/15+z*(-17.0/315+z*(62.0/2835)))))
			continue
		}
		y[i] = math.Copysign(1-2/(y[i]+1), v)
	}
}

// Erf is a Taylor expansion of degree erfDegree about the middle of each
// 1/8-wide interval of |x| from 0 to 4, except the first, expanded about
// 0 so that erf's relative accuracy holds for tiny x. Past 4 erf rounds to
// ±1 in float32, and the last interval extended to 4 gives just that.
// The coefficients are derived at start-up from erf's derivatives,
// (2/√π)·(-1)^(n-1)·H_(n-1)(c)·e^(-c²) with H the Hermite polynomials.
const (
	erfParts  = 32
	erfWidth  = 0.125
	erfDegree = 10 // remainder below 1e-12 relative on every interval
)

var erfCenter, erfTaylor = erfTables()

func erfTables() (center [erfParts]float64, taylor [erfParts][erfDegree + 1]float64) {
	k := 2 / math.Sqrt(math.Pi)
	for j := range taylor {
		c := (float64(j) + 0.5) * erfWidth
		if j == 0 {
			c = 0
		}
		center[j] = c
		t := &taylor[j]
		t[0] = math.Erf(c)
		g := k * math.Exp(-c*c)
		hPrev, h := 0.0, 1.0 // H_(n-2)(c), H_(n-1)(c)
		fact := 1.0
		for n := 1; n <= erfDegree; n++ {
			fact *= float64(n)
			t[n] = g * h / fact
			if n%2 == 0 {
				t[n] = -t[n]
			}
			hPrev, h = h, 2*c*h-2*float64(n-1)*hPrev
		}
	}
	return center, taylor
}

// elemErfBlock sets y = erf(scale·x); y and x may be the same slice.
func elemErfBlock(y, x []float64, scale float64) {
	y = y[:len(x)]
	for i, v := range x {
		v *= scale
		a := math.Abs(v)
		if !(a < 4) {
			a = 4 // and NaN, fixed below
		}
		j := min(int(a*(1/erfWidth)), erfParts-1)
		t := &erfTaylor[j]
		d := a - erfCenter[j]
		// Estrin's scheme: shorter dependency chains than Horner's.
		d2 := d * d
		d4 := d2 * d2
		p := (t[0] + t[1]*d) + d2*(t[2]+t[3]*d) +
			d4*((t[4]+t[5]*d)+d2*(t[6]+t[7]*d)) +
			d4*d4*((t[8]+t[9]*d)+d2*t[10])
		p = math.Copysign(p, v)
		if v != v {
			p = v
		}
		y[i] = p
	}
}

// ---------------------------------------------------------------------------
// Symbolic contents
//
// PyTorch's exported shape chains do arithmetic on Shape outputs (batch*T,
// D/heads, Where(Equal(shape, -1), 1, shape)); following the contents
// through these ops keeps a symbolic batch dim symbolic downstream.

// elemContents returns input i's contents if known and the input is a
// scalar or a vector.
func elemContents(c *InferCtx, i int) []onnx.Dim {
	if i < len(c.In) && c.In[i].HasShape && len(c.In[i].Dims) > 1 {
		return nil
	}
	return shapeContents(c, i)
}

// elemContentsLen is the broadcast length of contents lists: a
// one-element list repeats; -1 if the lengths conflict.
func elemContentsLen(ls ...[]onnx.Dim) int {
	n := 1
	for _, l := range ls {
		switch {
		case len(l) == n || len(l) == 1:
		case n == 1:
			n = len(l)
		default:
			return -1
		}
	}
	return n
}

// elemAt is entry i of a broadcast contents list.
func elemAt(l []onnx.Dim, i int) onnx.Dim {
	if len(l) == 1 {
		return l[0]
	}
	return l[i]
}

func elemArithSymbolic(op elemOp) func(c *InferCtx) []onnx.Dim {
	return func(c *InferCtx) []onnx.Dim {
		a, b := elemContents(c, 0), elemContents(c, 1)
		if a == nil || b == nil || len(c.Node.Inputs) != 2 {
			return nil
		}
		n := elemContentsLen(a, b)
		if n < 0 {
			return nil
		}
		out := make([]onnx.Dim, n)
		for i := range out {
			out[i] = elemSymbolicOp(op, elemAt(a, i), elemAt(b, i))
		}
		return out
	}
}

// elemSymbolicOp combines two contents entries; an entry whose value
// cannot be derived is unknown (Param shapeUnknown).
func elemSymbolicOp(op elemOp, x, y onnx.Dim) onnx.Dim {
	xk, yk := x.Param == "", y.Param == ""
	if xk && yk {
		switch op {
		case elemAdd:
			return onnx.Dim{Value: x.Value + y.Value}
		case elemSub:
			return onnx.Dim{Value: x.Value - y.Value}
		case elemMul:
			return onnx.Dim{Value: x.Value * y.Value}
		case elemDiv:
			if y.Value != 0 {
				return onnx.Dim{Value: x.Value / y.Value}
			}
		case elemEq:
			return onnx.Dim{Value: elemB2I(x.Value == y.Value)}
		}
		return onnx.Dim{Param: shapeUnknown}
	}
	// The same symbol twice is the same (unknown) value.
	same := x == y && x.Param != shapeUnknown
	switch op {
	case elemAdd:
		if yk && y.Value == 0 {
			return x
		}
		if xk && x.Value == 0 {
			return y
		}
	case elemSub:
		if yk && y.Value == 0 {
			return x
		}
		if same {
			return onnx.Dim{Value: 0}
		}
	case elemMul:
		if yk && y.Value == 1 {
			return x
		}
		if xk && x.Value == 1 {
			return y
		}
		if (xk && x.Value == 0) || (yk && y.Value == 0) {
			return onnx.Dim{Value: 0}
		}
	case elemDiv:
		if yk && y.Value == 1 {
			return x
		}
	case elemEq:
		if same {
			return onnx.Dim{Value: 1}
		}
		// A named symbol is a tensor's size, never negative: torch's
		// expand(n, -1, -1) compares [batch, -1, -1] with -1.
		if xk && x.Value < 0 && y.Param != shapeUnknown || yk && y.Value < 0 && x.Param != shapeUnknown {
			return onnx.Dim{Value: 0}
		}
	}
	return onnx.Dim{Param: shapeUnknown}
}

// whereSymbolic picks entries from the branches when the condition's
// contents are all known.
func whereSymbolic(c *InferCtx) []onnx.Dim {
	cond, x, y := elemContents(c, 0), elemContents(c, 1), elemContents(c, 2)
	if cond == nil || x == nil || y == nil || len(c.Node.Inputs) != 3 {
		return nil
	}
	n := elemContentsLen(cond, x, y)
	if n < 0 {
		return nil
	}
	out := make([]onnx.Dim, n)
	for i := range out {
		ci := elemAt(cond, i)
		if ci.Param != "" {
			return nil
		}
		if ci.Value != 0 {
			out[i] = elemAt(x, i)
		} else {
			out[i] = elemAt(y, i)
		}
	}
	return out
}
