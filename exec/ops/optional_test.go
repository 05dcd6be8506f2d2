package ops

import (
	"strings"
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// TestOptionalOps checks wrapping, testing and unwrapping optional values,
// and the errors for an empty one and a missing type.
func TestOptionalOps(t *testing.T) {
	x := tensor.FromF32([]int{2}, []float32{1, 2})
	seqT := onnx.Type{DType: tensor.Float32, Seq: true}
	empty := &tensor.Dense{DType: tensor.Float32, None: true}

	out, err := seqRun(t, shapeTestNode("Optional", []string{"x"}, 1), x)
	if err != nil || out[0] != x {
		t.Fatalf("Optional(x): %v, %v; want x itself", out, err)
	}
	typed := shapeTestNode("Optional", nil, 1, &onnx.Attr{Name: "type", Type: onnx.AttrTypeProto, TP: &seqT})
	out, err = seqRun(t, typed)
	if err != nil || !out[0].None {
		t.Fatalf("Optional() with a type: %v, %v; want an empty optional", out, err)
	}
	if _, err := seqRun(t, shapeTestNode("Optional", nil, 1)); err == nil || !strings.Contains(err.Error(), "type attribute") {
		t.Errorf("Optional() without a type: %v", err)
	}
	for _, c := range []struct {
		in   *tensor.Dense
		want int64
	}{{x, 1}, {empty, 0}} {
		n := shapeTestNode("OptionalHasElement", []string{"o"}, 1)
		op, _ := Resolve(n, 18)
		res, err := op.Run(&RunCtx{Node: n, Opset: 18, In: []*tensor.Dense{c.in}, Threads: 1})
		if err != nil || res[0].I64[0] != c.want {
			t.Errorf("HasElement(%s): %v, %v; want %d", c.in, res, err, c.want)
		}
	}
	get := shapeTestNode("OptionalGetElement", []string{"o"}, 1)
	op, _ := Resolve(get, 15)
	if res, err := op.Run(&RunCtx{Node: get, Opset: 15, In: []*tensor.Dense{x}, Threads: 1}); err != nil || res[0] != x {
		t.Errorf("GetElement(x): %v, %v", res, err)
	}
	if _, err := op.Run(&RunCtx{Node: get, Opset: 15, In: []*tensor.Dense{empty}, Threads: 1}); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("GetElement(empty): %v, want an error saying it is empty", err)
	}
	// Before opset 18 the input must be optional.
	ic := &InferCtx{Node: get, Opset: 15, In: []onnx.Type{onnx.ShapeOf(tensor.Float32, 2)}, Const: make([]*tensor.Dense, 1)}
	if _, err := op.Infer(ic); err == nil || !strings.Contains(err.Error(), "not optional") {
		t.Errorf("GetElement of a tensor at opset 15: %v", err)
	}
}
