package exec

import (
	"math"
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// TestFoldedWeightRuns checks products whose weight is a value folded
// from an initializer (PyTorch's exporter shares a repeated layer's
// weights through Identity nodes; a Transpose of a weight folds too),
// which the kernels keep packed across runs (ops.RunCtx.ConstIn): each
// run, with a new input, against the product in float64.
func TestFoldedWeightRuns(t *testing.T) {
	const m, k, n = 5, 24, 40
	w := tensor.New(tensor.Float32, k, n)
	for i := range w.F32 {
		w.F32[i] = float32(math.Sin(float64(i) * 0.31))
	}
	g := onnx.NewGraph("g")
	x, _ := g.AddInput("x", onnx.ShapeOf(tensor.Float32, m, k))
	shared := g.AddNode("Identity", "", "share", []*onnx.Value{g.AddConst("w", w)}, []string{"w1"}).Outputs[0]
	y := g.AddNode("MatMul", "", "mm", []*onnx.Value{x, shared}, []string{"y"}).Outputs[0]
	g.Outputs = append(g.Outputs, y)
	p, err := Compile(onnx.NewModel(g, 17))
	if err != nil {
		t.Fatal(err)
	}
	for run := range 3 {
		in := tensor.New(tensor.Float32, m, k)
		for i := range in.F32 {
			in.F32[i] = float32(math.Cos(float64(i*(run+2)) * 0.17))
		}
		out, err := p.Run(map[string]*tensor.Dense{"x": in}, RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got := out["y"]
		for i := range m {
			for j := range n {
				want := 0.0
				for l := range k {
					want += float64(in.F32[i*k+l]) * float64(w.F32[l*n+j])
				}
				if d := math.Abs(float64(got.F32[i*n+j]) - want); d > 1e-5*(1+math.Abs(want)) {
					t.Fatalf("run %d: y[%d,%d] = %v, want %v", run, i, j, got.F32[i*n+j], want)
				}
			}
		}
	}
}
