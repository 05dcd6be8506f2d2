package ops

import (
	"math"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// OneHot (ONNX operator docs, opset 9 and 11): inputs indices, depth (a
// one-element tensor) and values = [off, on]. The output inserts an axis
// of size depth at axis (default -1, the last) and holds on where the
// position along it equals the index, off elsewhere. Indices in
// [-depth, -1] count from the end (opset 11); others out of range give a
// row of off. Fractional indices (float inputs) are truncated.

func init() {
	register(&Op{Name: "OneHot", Since: 9, Infer: oneHotInfer, Run: oneHotRun,
		NoGrad: "the indices are integers and exporters make the on/off values constants"})
}

func oneHotInfer(c *InferCtx) ([]onnx.Type, error) {
	n := c.Node
	idx, _ := c.Input(0)
	vals, ok := c.Input(2)
	if !ok || len(n.Inputs) != 3 {
		return nil, shapeError(n, "want inputs indices, depth and values")
	}
	out := onnx.Type{DType: vals.DType}
	if !idx.HasShape {
		return []onnx.Type{out}, nil
	}
	axis, err := normAxis(n, attrInt(n, "axis", -1), len(idx.Dims)+1)
	if err != nil {
		return nil, err
	}
	depth := onnx.UnknownDim
	if d := c.ConstInput(1); d != nil && d.Len() == 1 {
		depth = onnx.Dim{Value: int64(d.Float64s()[0])}
	}
	dims := append([]onnx.Dim{}, idx.Dims[:axis]...)
	dims = append(dims, depth)
	dims = append(dims, idx.Dims[axis:]...)
	out.HasShape, out.Dims = true, dims
	return []onnx.Type{out}, nil
}

func oneHotRun(c *RunCtx) ([]*tensor.Dense, error) {
	n := c.Node
	idx, err := shapeInput(c, 0)
	if err != nil {
		return nil, err
	}
	dt, err := shapeInput(c, 1)
	if err != nil {
		return nil, err
	}
	vals, err := shapeInput(c, 2)
	if err != nil {
		return nil, err
	}
	if dt.Len() != 1 {
		return nil, onnx.NodeErrorf(n, "depth: want one element, got shape %v", dt.Shape)
	}
	if vals.Len() != 2 {
		return nil, onnx.NodeErrorf(n, "values: want two elements [off, on], got shape %v", vals.Shape)
	}
	dv := dt.Float64s()[0]
	if !(dv >= 1) || dv > math.MaxInt32 {
		return nil, onnx.NodeErrorf(n, "depth %v, want a positive size", dv)
	}
	depth := int(dv)
	axis, err := normAxis(n, attrInt(n, "axis", -1), idx.Rank()+1)
	if err != nil {
		return nil, err
	}
	shape := append([]int{}, idx.Shape[:axis]...)
	shape = append(shape, depth)
	shape = append(shape, idx.Shape[axis:]...)
	out, err := shapeNew(n, vals.DType, shape)
	if err != nil {
		return nil, err
	}
	outer, inner := shapeProd(idx.Shape[:axis]), shapeProd(idx.Shape[axis:])
	// hot[j] is the position along the new axis of index j, or -1.
	hot := make([]int, idx.Len())
	for j, v := range idx.Float64s() {
		k := int64(v)
		if k < 0 {
			k += int64(depth)
		}
		hot[j] = -1
		if k >= 0 && k < int64(depth) {
			hot[j] = int(k)
		}
	}
	switch s, _ := shapeStore(vals.DType); s {
	case shapeF32:
		oneHotKernel(out.F32, hot, vals.F32[0], vals.F32[1], outer, depth, inner)
	case shapeF64:
		oneHotKernel(out.F64, hot, vals.F64[0], vals.F64[1], outer, depth, inner)
	default:
		oneHotKernel(out.I64, hot, vals.I64[0], vals.I64[1], outer, depth, inner)
	}
	return []*tensor.Dense{out}, nil
}

// oneHotKernel fills the outer×depth×inner output.
func oneHotKernel[T any](dst []T, hot []int, off, on T, outer, depth, inner int) {
	for o := range outer {
		for k := range depth {
			for i := range inner {
				v := off
				if hot[o*inner+i] == k {
					v = on
				}
				dst[(o*depth+k)*inner+i] = v
			}
		}
	}
}
