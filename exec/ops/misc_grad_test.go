package ops_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/graft-ml/graft/exec"
	"github.com/graft-ml/graft/exec/ops"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

func TestGradMisc(t *testing.T) {
	x := randn(71, []int{2, 5})
	cases := []gradCase{
		{name: "Identity", op: "Identity", in: []*tensor.Dense{x}},
		{name: "Dropout_inference", op: "Dropout", opset: 13, in: []*tensor.Dense{x}},
		// Swin's attention dropout exports as ratio 0 with training_mode
		// true; a constant false training_mode is inference too.
		{name: "Dropout_ratio0_training", op: "Dropout", opset: 13, in: []*tensor.Dense{x, f64s(0), boolScalar(true)}, consts: []int{1}},
		{name: "Dropout_training_false", op: "Dropout", opset: 13, in: []*tensor.Dense{x, f64s(0.5), boolScalar(false)}, consts: []int{1}},
		{name: "Cast_float_to_float", op: "Cast", attrs: []*onnx.Attr{onnx.IntAttr("to", int64(tensor.Float64))}, in: []*tensor.Dense{x}},
	}
	runGradCases(t, cases)
}

func boolScalar(b bool) *tensor.Dense {
	d := tensor.New(tensor.Bool)
	if b {
		d.I64[0] = 1
	}
	return d
}

// TestGradDropoutTraining: a Dropout that may drop (ratio not constant 0,
// training_mode not constant false) has no gradient rule, and says so.
func TestGradDropoutTraining(t *testing.T) {
	g := onnx.NewGraph("g")
	x, _ := g.AddInput("x", onnx.ShapeOf(tensor.Float32, 2, 3))
	ratio := g.AddConst("ratio", tensor.FromF32(nil, []float32{0.5}))
	mode := g.AddConst("mode", boolScalar(true))
	n := g.AddNode("Dropout", "", "drop", []*onnx.Value{x, ratio, mode}, []string{"y"})
	g.Outputs = append(g.Outputs, n.Outputs[0])
	_, err := exec.Gradient(onnx.NewModel(g, 13), nil, []string{"x"})
	if err == nil || !errors.Is(err, ops.ErrUnsupported) || !strings.Contains(err.Error(), "training_mode") {
		t.Fatalf("got error %v, want ErrUnsupported about training_mode", err)
	}
}
