package ops

import (
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// CumSum (ONNX operator docs, opset 11): running sums of x along the axis
// given by the scalar input 1. exclusive=1 leaves each element out of its
// own sum (the first is 0); reverse=1 sums from the end. The sum is
// linear, and its adjoint runs the other way: the gradient is CumSum of dy
// with the same exclusive and reverse flipped.

func init() {
	register(&Op{Name: "CumSum", Since: 11, Infer: cumSumInfer, Run: cumSumRun, Grad: cumSumGrad})
}

// cumSumFlags reads exclusive and reverse.
func cumSumFlags(n *onnx.Node) (exclusive, reverse bool, err error) {
	for _, name := range []string{"exclusive", "reverse"} {
		if v := attrInt(n, name, 0); v != 0 && v != 1 {
			return false, false, onnx.NodeErrorf(n, "attribute %q: want 0 or 1, got %d", name, v)
		}
	}
	return attrInt(n, "exclusive", 0) == 1, attrInt(n, "reverse", 0) == 1, nil
}

func cumSumInfer(c *InferCtx) ([]onnx.Type, error) {
	if _, _, err := cumSumFlags(c.Node); err != nil {
		return nil, err
	}
	x, ok := c.Input(0)
	if _, hasAxis := c.Input(1); !ok || !hasAxis {
		return nil, shapeError(c.Node, "want inputs x and axis")
	}
	return []onnx.Type{x}, nil
}

func cumSumRun(c *RunCtx) ([]*tensor.Dense, error) {
	n := c.Node
	exclusive, reverse, err := cumSumFlags(n)
	if err != nil {
		return nil, err
	}
	x, err := shapeInput(c, 0)
	if err != nil {
		return nil, err
	}
	at, err := indexInput(c, 1, "axis")
	if err != nil {
		return nil, err
	}
	if at.Len() != 1 {
		return nil, onnx.NodeErrorf(n, "axis: want a scalar, got shape %v", at.Shape)
	}
	if x.Rank() == 0 {
		return nil, shapeError(n, "input is a scalar")
	}
	axis, err := normAxis(n, at.I64[0], x.Rank())
	if err != nil {
		return nil, err
	}
	out := tensor.New(x.DType, x.Shape...)
	outer, d, inner := shapeProd(x.Shape[:axis]), x.Shape[axis], shapeProd(x.Shape[axis+1:])
	switch s, _ := shapeStore(x.DType); s {
	case shapeF32:
		cumSumKernel(out.F32, x.F32, outer, d, inner, exclusive, reverse)
	case shapeF64:
		cumSumKernel(out.F64, x.F64, outer, d, inner, exclusive, reverse)
	default:
		cumSumKernel(out.I64, x.I64, outer, d, inner, exclusive, reverse)
	}
	elemNarrow(out)
	return []*tensor.Dense{out}, nil
}

// cumSumKernel sums along the middle axis of an outer×d×inner array,
// accumulating in T's own precision (PyTorch's float32 cumsum does too).
func cumSumKernel[T scatterNumber](dst, src []T, outer, d, inner int, exclusive, reverse bool) {
	for o := range outer {
		for in := range inner {
			var acc T
			for s := range d {
				k := s
				if reverse {
					k = d - 1 - s
				}
				p := (o*d+k)*inner + in
				if exclusive {
					dst[p] = acc
					acc += src[p]
				} else {
					acc += src[p]
					dst[p] = acc
				}
			}
		}
	}
}

func cumSumGrad(c *GradCtx) ([]*onnx.Value, error) {
	n := c.Node
	_, reverse, err := cumSumFlags(n)
	if err != nil {
		return nil, err
	}
	rev := int64(1)
	if reverse {
		rev = 0
	}
	res := make([]*onnx.Value, 2)
	res[0] = c.Emit("CumSum", []*onnx.Value{c.DY[0], c.In(1)},
		onnx.IntAttr("exclusive", attrInt(n, "exclusive", 0)), onnx.IntAttr("reverse", rev))
	return res, nil
}
