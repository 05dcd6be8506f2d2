package ops

import "github.com/graft-ml/graft/onnx"

// Gradients of Softmax and LogSoftmax:
//
//	Softmax:    dx = y·(dy - Σ dy·y)
//	LogSoftmax: dx = dy - exp(y)·Σ dy
//
// with the sums over the normalized axes, kept: the axis alone from opset
// 13, and before it every axis from axis on (the 2-D coercion of opset 1
// to 11, which normalizes over the flattened trailing block).

func init() {
	setGrad("Softmax", softmaxGrad(false))
	setGrad("LogSoftmax", softmaxGrad(true))
	setNoGrad("piecewise constant: the gradient is zero almost everywhere", "Hardmax")
}

func softmaxGrad(log bool) GradRule {
	return func(c *GradCtx) ([]*onnx.Value, error) {
		y, dy := c.Out(0), c.DY[0]
		r := y.Type.Rank()
		if r < 1 {
			return nil, c.Errorf("needs the rank of the input, got %s", y.Type)
		}
		axis, err := softmaxAxis(c.Node, c.Opset, r)
		if err != nil {
			return nil, err
		}
		axes := []int64{int64(axis)}
		if c.Opset < 13 {
			axes = axes[:0]
			for i := axis; i < r; i++ {
				axes = append(axes, int64(i))
			}
		}
		if log {
			s := c.ReduceSum(dy, axes, true)
			return []*onnx.Value{c.Op1("Sub", dy, c.Op1("Mul", c.Op1("Exp", y), s))}, nil
		}
		s := c.ReduceSum(c.Op1("Mul", dy, y), axes, true)
		return []*onnx.Value{c.Op1("Mul", y, c.Op1("Sub", dy, s))}, nil
	}
}
