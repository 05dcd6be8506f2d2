package exec

import (
	"strings"
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// TestRunKeepsCallerInputs: an Identity hands the caller's input storage
// to a value that dies mid-run; the run must not give that storage back
// to the allocator, where the next node's output would overwrite the
// caller's tensor.
func TestRunKeepsCallerInputs(t *testing.T) {
	const n = 8192 // above the allocator's pooling threshold
	g := onnx.NewGraph("identity_input")
	x, err := g.AddInput("x", onnx.ShapeOf(tensor.Float32, n))
	if err != nil {
		t.Fatal(err)
	}
	view := g.AddNode("Identity", "", "view", []*onnx.Value{x}, []string{"view"}).Outputs[0]
	a := g.AddNode("Relu", "", "relu", []*onnx.Value{view}, []string{"a"}).Outputs[0]
	b := g.AddNode("Neg", "", "neg", []*onnx.Value{a}, []string{"b"}).Outputs[0]
	c := g.AddNode("Neg", "", "neg2", []*onnx.Value{b}, []string{"c"}).Outputs[0]
	c.Type = onnx.ShapeOf(tensor.Float32, n)
	g.Outputs = []*onnx.Value{c}
	p, err := Compile(onnx.NewModel(g, 13))
	if err != nil {
		t.Fatal(err)
	}
	in := make([]float32, n)
	for i := range in {
		in[i] = float32(i%7) - 3
	}
	xd := tensor.FromF32([]int{n}, append([]float32(nil), in...))
	for run := 0; run < 3; run++ {
		if _, err := p.Run(map[string]*tensor.Dense{"x": xd}, RunOptions{}); err != nil {
			t.Fatal(err)
		}
		for i, v := range xd.F32 {
			if v != in[i] {
				t.Fatalf("run %d changed the caller's input: x[%d] = %v, was %v", run, i, v, in[i])
			}
		}
	}
}

// TestInferRejectsExtraOutputs: a node declaring more outputs than its op
// has is an error at shape inference (what check runs) naming the node,
// and a run says the same.
func TestInferRejectsExtraOutputs(t *testing.T) {
	g := onnx.NewGraph("extra_output")
	x, err := g.AddInput("x", onnx.ShapeOf(tensor.Float32, 2))
	if err != nil {
		t.Fatal(err)
	}
	n := g.AddNode("Relu", "", "relu_two", []*onnx.Value{x}, []string{"y", "z"})
	g.Outputs = []*onnx.Value{n.Outputs[0]}
	m := onnx.NewModel(g, 13)
	err = InferShapes(m)
	if err == nil || !strings.Contains(err.Error(), `"relu_two"`) || !strings.Contains(err.Error(), "declares 2 outputs") {
		t.Fatalf("InferShapes: %v; want an error naming relu_two and its 2 outputs", err)
	}
	p, err := Compile(m)
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Run(map[string]*tensor.Dense{"x": tensor.FromF32([]int{2}, []float32{1, -1})}, RunOptions{})
	if err == nil || !strings.Contains(err.Error(), "declares 2 outputs") {
		t.Errorf("Run: %v; want the declared output count named", err)
	}
}
