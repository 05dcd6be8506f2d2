package ops

import (
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Gradients of the reductions: dy, with the reduced axes restored as 1
// when keepdims=0, is expanded back to x's shape and scaled per element:
//
//	ReduceSum 1, ReduceMean 1/N, ReduceSumSquare 2x, ReduceL2 x/y,
//	ReduceLogSumExp exp(x-y), ReduceMax and ReduceMin [x == y]
//
// The axes must be constant (attribute, initializer or Constant node).

func init() {
	setGrad("ReduceSum", reduceGrad(reduceSum, 13))
	setGrad("ReduceMean", reduceGrad(reduceMean, 18))
	setGrad("ReduceSumSquare", reduceGrad(reduceSumSquare, 18))
	setGrad("ReduceL2", reduceGrad(reduceL2, 18))
	setGrad("ReduceLogSumExp", reduceGrad(reduceLogSumExp, 18))
	setGrad("ReduceMax", reduceGrad(reduceMax, 18))
	setGrad("ReduceMin", reduceGrad(reduceMin, 18))
	setNoGrad("integer results", "ArgMax", "ArgMin")
}

// ConstInts returns the contents of input i if it is constant: an
// initializer that is not a graph input, or a Constant node's output.
func (c *GradCtx) ConstInts(i int) ([]int64, bool) {
	v := c.In(i)
	if v == nil {
		return nil, false
	}
	if p := v.Producer(); p != nil && p.OpType == "Constant" {
		if a := p.Attr("value_ints"); a != nil {
			return a.Ints, true
		} else if a := p.Attr("value_int"); a != nil {
			return []int64{a.I}, true
		}
	}
	d := c.ConstInput(i)
	if d == nil || d.I64 == nil {
		return nil, false
	}
	return d.I64, true
}

// ConstInput returns input i's data if it is constant (as for ConstInts,
// the value attribute of a Constant node), or nil.
func (c *GradCtx) ConstInput(i int) *tensor.Dense {
	v := c.In(i)
	if v == nil {
		return nil
	}
	var d *tensor.Dense
	switch {
	case v.Const != nil:
		for _, in := range c.Graph.Inputs {
			if in == v {
				return nil
			}
		}
		d, _ = v.Const.Dense()
	case v.Producer() != nil && v.Producer().OpType == "Constant":
		if a := v.Producer().Attr("value"); a != nil && a.T != nil {
			d, _ = a.T.Dense()
		}
	}
	return d
}

func reduceGrad(kind reduceKind, axesInput int) GradRule {
	return func(c *GradCtx) ([]*onnx.Value, error) {
		n := c.Node
		x, y, dy := c.In(0), c.Out(0), c.DY[0]
		r := x.Type.Rank()
		if r < 0 {
			return nil, c.Errorf("needs the rank of X, got %s", x.Type)
		}
		var axes []int64
		if c.Opset < axesInput {
			axes = attrInts(n, "axes")
		} else if c.In(1) != nil {
			a, ok := c.ConstInts(1)
			if !ok {
				return nil, c.Unsupportedf("axes computed at run time")
			}
			axes = a
		}
		if len(axes) == 0 {
			if reduceNoop(n, c.Opset, axesInput) {
				return []*onnx.Value{dy}, nil
			}
			for i := range r {
				axes = append(axes, int64(i))
			}
		}
		norm, err := shapeNormAxes(n, axes, r)
		if err != nil {
			return nil, err
		}
		sorted := make([]int64, 0, len(norm))
		mask := make([]bool, r)
		for _, a := range norm {
			mask[a] = true
		}
		count := 1
		for i := range r {
			if mask[i] {
				sorted = append(sorted, int64(i))
				d := x.Type.Dims[i]
				if !d.Known() {
					count = -1
				} else if count > 0 {
					count *= int(d.Value)
				}
			}
		}
		if attrInt(n, "keepdims", 1) == 0 && len(sorted) > 0 {
			dy = c.Unsqueeze(dy, sorted...)
			y = c.Unsqueeze(y, sorted...)
		}
		e := c.Op1("Expand", dy, c.Shape(x))
		switch kind {
		case reduceSum:
			return []*onnx.Value{e}, nil
		case reduceMean:
			if count < 0 {
				// A symbolic size (a batch axis): the count is
				// Size(x)/Size(y), read at run time.
				cast := func(v *onnx.Value) *onnx.Value {
					return c.Emit("Cast", []*onnx.Value{c.Op1("Size", v)}, onnx.IntAttr("to", int64(c.DType())))
				}
				return []*onnx.Value{c.Op1("Mul", e, c.Op1("Div", cast(y), cast(x)))}, nil
			}
			if count == 0 {
				return []*onnx.Value{e}, nil
			}
			return []*onnx.Value{c.Op1("Mul", e, c.Scalar(1/float64(count)))}, nil
		case reduceSumSquare:
			return []*onnx.Value{c.Op1("Mul", e, c.Op1("Mul", x, c.Scalar(2)))}, nil
		case reduceL2:
			return []*onnx.Value{c.Op1("Mul", e, c.Op1("Div", x, y))}, nil
		case reduceLogSumExp:
			return []*onnx.Value{c.Op1("Mul", e, c.Op1("Exp", c.Op1("Sub", x, y)))}, nil
		case reduceMax, reduceMin:
			return []*onnx.Value{c.Where(c.Op1("Equal", x, y), e, c.Scalar(0))}, nil
		}
		return nil, c.Unsupportedf("reduction")
	}
}
