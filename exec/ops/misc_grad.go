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
		if c.Opset >= 12 && c.In(2) != nil {
			return nil, c.Unsupportedf("training_mode input (graft differentiates inference graphs)")
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
