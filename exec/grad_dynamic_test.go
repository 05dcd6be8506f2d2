package exec

import (
	"math"
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// TestGradReduceMeanSymbolicBatch: the mean over a symbolic batch axis
// divides by the batch size of each run (Size(y)/Size(x)), so one
// gradient graph serves every batch size.
func TestGradReduceMeanSymbolicBatch(t *testing.T) {
	g := onnx.NewGraph("mean")
	x, err := g.AddInput("x", onnx.Type{DType: tensor.Float32, HasShape: true, Dims: []onnx.Dim{{Param: "batch"}, {Value: 3}}})
	if err != nil {
		t.Fatal(err)
	}
	y := g.AddNode("ReduceMean", "", "mean", []*onnx.Value{x}, []string{"y"}, onnx.IntsAttr("axes", 0), onnx.IntAttr("keepdims", 0)).Outputs[0]
	g.Outputs = []*onnx.Value{y}
	gr, err := Gradient(onnx.NewModel(g, 13), nil, []string{"x"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(gr.Model)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, 4, 7} {
		out, err := p.Run(map[string]*tensor.Dense{"x": tensor.New(tensor.Float32, n, 3), gr.Seeds[0]: tensor.FromF32([]int{3}, []float32{1, 2, 3})}, RunOptions{Outputs: gr.Grads})
		if err != nil {
			t.Fatal(err)
		}
		d := out[gr.Grads[0]]
		for i, v := range d.F32 {
			if want := float32(i%3+1) / float32(n); math.Abs(float64(v-want)) > 1e-7 {
				t.Fatalf("batch %d: dx[%d] = %v, want %v", n, i, v, want)
			}
		}
	}
}
