package ops

import (
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Optional ops (ONNX operator docs, opsets 15 and 18): an optional value
// holds a tensor, a sequence, or nothing. At run time one that holds a
// value is that value itself, and an empty one is a tensor.Dense with
// None set; its type has onnx.Type.Optional. Opset 18 lets
// OptionalHasElement and OptionalGetElement take plain tensors and
// sequences too (always present), and HasElement a missing input (absent).

func init() {
	register(
		&Op{Name: "Optional", Since: 15, Containers: true, Infer: optionalInfer, Run: optionalRun},
		&Op{Name: "OptionalHasElement", Since: 15, Containers: true, Infer: optHasInfer, Run: optHasRun},
		&Op{Name: "OptionalGetElement", Since: 15, Containers: true, Infer: optGetInfer, Run: optGetRun},
	)
}

// optionalType returns the type an Optional node makes: from its input,
// or from its type attribute when it has none.
func optionalType(c *InferCtx) (onnx.Type, error) {
	if t, ok := c.Input(0); ok {
		if t.Optional {
			return t, shapeError(c.Node, "input is already optional (%s)", t)
		}
		t.Optional = true
		return t, nil
	}
	a := c.Node.Attr("type")
	if a == nil || a.TP == nil {
		return onnx.Type{}, onnx.NodeErrorf(c.Node, "an Optional without an input needs its type attribute")
	}
	t := *a.TP
	t.Optional = true
	return t, nil
}

func optionalInfer(c *InferCtx) ([]onnx.Type, error) {
	t, err := optionalType(c)
	if err != nil {
		return nil, err
	}
	return []onnx.Type{t}, nil
}

func optionalRun(c *RunCtx) ([]*tensor.Dense, error) {
	if x := c.Input(0); x != nil {
		return []*tensor.Dense{x}, nil
	}
	dt := tensor.Undefined
	if a := c.Node.Attr("type"); a != nil && a.TP != nil {
		dt = a.TP.DType
	} else {
		return nil, onnx.NodeErrorf(c.Node, "an Optional without an input needs its type attribute")
	}
	return []*tensor.Dense{{DType: dt, None: true}}, nil
}

// optCheckInput refuses a plain tensor or sequence before opset 18.
func optCheckInput(c *InferCtx) error {
	t, ok := c.Input(0)
	if ok && !t.Optional && c.Opset < 18 && (t.DType != tensor.Undefined || t.HasShape || t.Seq) {
		return shapeError(c.Node, "input %s is not optional (opset %d; opset 18 takes tensors and sequences too)", t, c.Opset)
	}
	return nil
}

func optHasInfer(c *InferCtx) ([]onnx.Type, error) {
	if err := optCheckInput(c); err != nil {
		return nil, err
	}
	return []onnx.Type{onnx.ShapeOf(tensor.Bool)}, nil
}

func optHasRun(c *RunCtx) ([]*tensor.Dense, error) {
	out := tensor.New(tensor.Bool)
	if x := c.Input(0); x != nil && !x.None {
		out.I64[0] = 1
	}
	return []*tensor.Dense{out}, nil
}

func optGetInfer(c *InferCtx) ([]onnx.Type, error) {
	if err := optCheckInput(c); err != nil {
		return nil, err
	}
	t, _ := c.Input(0)
	t.Optional = false
	return []onnx.Type{t}, nil
}

func optGetRun(c *RunCtx) ([]*tensor.Dense, error) {
	x := c.Input(0)
	if x == nil || x.None {
		return nil, onnx.NodeErrorf(c.Node, "the optional input is empty")
	}
	return []*tensor.Dense{x}, nil
}
