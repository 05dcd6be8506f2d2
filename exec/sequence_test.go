package exec

import (
	"strings"
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// TestSequenceIntoTensorOp checks that a sequence fed to an op that takes
// tensors is refused at shape inference, naming the node, instead of
// reaching a kernel that would read a tensor's elements.
func TestSequenceIntoTensorOp(t *testing.T) {
	g := onnx.NewGraph("seq")
	x, err := g.AddInput("x", onnx.ShapeOf(tensor.Float32, 4, 3))
	if err != nil {
		t.Fatal(err)
	}
	s := g.AddNode("SplitToSequence", "", "split", []*onnx.Value{x}, []string{"parts"}).Outputs[0]
	y := g.AddNode("Relu", "", "relu", []*onnx.Value{s}, []string{"y"}).Outputs[0]
	g.Outputs = append(g.Outputs, y)
	m := onnx.NewModel(g, 13)
	err = InferShapes(m)
	if err == nil || !strings.Contains(err.Error(), "is a sequence; Relu takes tensors") {
		t.Fatalf("got %v, want a sequence-input error", err)
	}
	// Compile leaves inference errors to the run, which must refuse
	// the sequence before the kernel reads it.
	p, err := Compile(m)
	if err != nil {
		return
	}
	_, err = p.Run(map[string]*tensor.Dense{"x": tensor.New(tensor.Float32, 4, 3)}, RunOptions{})
	if err == nil || !strings.Contains(err.Error(), "is a sequence of 4 float32 tensors; Relu takes tensors") {
		t.Fatalf("run: got %v, want a sequence-input error", err)
	}
}
