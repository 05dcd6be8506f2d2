package ops

import (
	"github.com/graft-ml/graft/onnx"
)

// Gradients of the misc family: Identity and inference-mode Dropout pass
// dy through; a float-to-float Cast casts dy back. Constants and shape
// arithmetic carry no gradient.

func init() {
	pass := func(c *GradCtx) ([]*onnx.Value, error) { return []*onnx.Value{c.DY[0]}, nil }
	setGrad("Identity", pass)
	setGrad("Dropout", func(c *GradCtx) ([]*onnx.Value, error) {
		if c.Opset >= 12 && c.In(2) != nil && !dropoutIdentity(c) {
			return nil, c.Unsupportedf("training_mode input not constant false, ratio not constant 0 (graft differentiates inference graphs)")
		}
		return pass(c)
	})
	cast := func(c *GradCtx) ([]*onnx.Value, error) {
		dt := c.In(0).Type.DType
		if !dt.IsFloat() {
			return nil, nil
		}
		return []*onnx.Value{gradCast(c, c.DY[0], dt)}, nil
	}
	setGrad("Cast", cast)
	setGrad("CastLike", cast)
	setNoGrad("a constant", "Constant", "ConstantOfShape", "Range")
}

// dropoutIdentity reports whether a Dropout with a training_mode input
// (opset 12+) passes its input through: training_mode a constant false,
// or ratio a constant 0 (torchvision's Swin exports attention dropout as
// Dropout(ratio=0, training_mode=true)).
func dropoutIdentity(c *GradCtx) bool {
	if m := c.ConstInput(2); m != nil && m.Len() == 1 && m.I64 != nil && m.I64[0] == 0 {
		return true
	}
	r := c.ConstInput(1)
	return r != nil && r.Len() == 1 && r.DType.IsFloat() && r.Float64s()[0] == 0
}
