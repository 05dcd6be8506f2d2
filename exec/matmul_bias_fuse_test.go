package exec

import (
	"math"
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// linearModel is x (shape) MatMul a constant 7×9 weight, then Add of a
// constant bias of 9 (the bias first, as PyTorch exports nn.Linear on
// 3-D inputs, or second), then act ("" for none) and a Neg, so that no
// value of the chain is a graph output.
func linearModel(shape []int, biasFirst bool, act string) (*onnx.Model, *tensor.Dense) {
	g := onnx.NewGraph("g")
	fill := func(d *tensor.Dense, s float64) *tensor.Dense {
		for i := range d.F32 {
			d.F32[i] = float32(math.Sin(float64(i)*0.613) * s)
		}
		return d
	}
	x := fill(tensor.New(tensor.Float32, shape...), 2)
	in, _ := g.AddInput("x", onnx.ShapeOf(tensor.Float32, shape...))
	w := g.AddConst("w", fill(tensor.New(tensor.Float32, 7, 9), 1))
	b := g.AddConst("b", fill(tensor.New(tensor.Float32, 9), 3))
	y := g.AddNode("MatMul", "", "mm", []*onnx.Value{in, w}, []string{"y"}).Outputs[0]
	ins := []*onnx.Value{y, b}
	if biasFirst {
		ins = []*onnx.Value{b, y}
	}
	z := g.AddNode("Add", "", "add", ins, []string{"z"}).Outputs[0]
	if act != "" {
		z = g.AddNode(act, "", "act", []*onnx.Value{z}, []string{"a"}).Outputs[0]
	}
	out := g.AddNode("Neg", "", "neg", []*onnx.Value{z}, []string{"out"}).Outputs[0]
	g.Outputs = append(g.Outputs, out)
	return onnx.NewModel(g, 17), x
}

// TestFusedMatMulBias checks that a MatMul by a constant followed by the
// Add of a bias vector (and a Relu or Tanh after it) runs as one step,
// bit for bit as the unfused nodes (the same float32 additions), and
// unfused when the product is requested or the bias supplied.
func TestFusedMatMulBias(t *testing.T) {
	// The taller inputs take the row-block path (ops.matmulFusedBlocks):
	// rows not a multiple of the block, and one or several blocks a thread.
	for _, shape := range [][]int{{5, 7}, {2, 3, 7}, {37, 7}, {3, 29, 7}, {9001, 7}} {
		for _, biasFirst := range []bool{false, true} {
			for _, act := range []string{"", "Relu", "Tanh"} {
				m, x := linearModel(shape, biasFirst, act)
				p, err := Compile(m)
				if err != nil {
					t.Fatal(err)
				}
				s := p.steps[0]
				if s.fuse == nil || s.clamp == nil || len(s.clamp.RowBias) != 9 || (act != "") != (s.also != nil) {
					t.Fatalf("%v biasFirst=%v act=%q: the bias Add was not planned as fused", shape, biasFirst, act)
				}
				in := map[string]*tensor.Dense{"x": x}
				var fs RunStats
				fused, err := p.Run(in, RunOptions{Stats: &fs})
				if err != nil {
					t.Fatal(err)
				}
				all, err := p.Run(in, RunOptions{All: true})
				if err != nil {
					t.Fatal(err)
				}
				if !tensor.Equal(fused["out"], all["out"]) {
					t.Fatalf("%v biasFirst=%v act=%q: fused differs from unfused (max %.3g)", shape, biasFirst, act, maxAbsDiff(t, fused["out"], all["out"]))
				}
				// The bias supplied at run: added as given, unfused.
				b := tensor.New(tensor.Float32, 9)
				for i := range b.F32 {
					b.F32[i] = 100
				}
				got, err := p.Run(map[string]*tensor.Dense{"x": x, "b": b}, RunOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if act == "" {
					y, out := all["y"].F32, got["out"].F32
					for i := range out {
						if out[i] != -(y[i] + 100) {
							t.Fatalf("%v biasFirst=%v: with the bias supplied, out[%d] = %v, want %v", shape, biasFirst, i, out[i], -(y[i] + 100))
						}
					}
				}
			}
		}
	}
}
