package exec

import (
	"math"
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// TestFusedConcatBatchNorm checks that a BatchNormalization reading a
// Concat along channels (with a Relu, a Clip or nothing after it) runs
// inside the Concat, one step for the two or three nodes, and gives bit
// for bit what the unfused kernels give; and that it stays unfused when
// the Concat's output is requested.
func TestFusedConcatBatchNorm(t *testing.T) {
	fill := func(d *tensor.Dense, s, phase float64) *tensor.Dense {
		for i := range d.F32 {
			d.F32[i] = float32(math.Sin(float64(i)*0.613+phase) * s)
		}
		return d
	}
	for _, act := range []string{"", "Relu", "Clip"} {
		t.Run("act="+act, func(t *testing.T) {
			g := onnx.NewGraph("g")
			a := fill(tensor.New(tensor.Float32, 2, 3, 4, 5), 3, 0)
			b := fill(tensor.New(tensor.Float32, 2, 2, 4, 5), 2, 1)
			va, _ := g.AddInput("a", onnx.ShapeOf(tensor.Float32, a.Shape...))
			vb, _ := g.AddInput("b", onnx.ShapeOf(tensor.Float32, b.Shape...))
			cat := g.AddNode("Concat", "", "cat", []*onnx.Value{va, vb}, []string{"c"}, onnx.IntAttr("axis", 1)).Outputs[0]
			scale := fill(tensor.New(tensor.Float32, 5), 1.5, 2)
			bias := fill(tensor.New(tensor.Float32, 5), 0.5, 3)
			mean := fill(tensor.New(tensor.Float32, 5), 0.7, 4)
			vr := tensor.New(tensor.Float32, 5)
			for i := range vr.F32 {
				vr.F32[i] = 0.3 + float32(i)
			}
			y := g.AddNode("BatchNormalization", "", "bn", []*onnx.Value{cat, g.AddConst("scale", scale), g.AddConst("B", bias),
				g.AddConst("mean", mean), g.AddConst("var", vr)}, []string{"y"}, onnx.FloatAttr("epsilon", 1e-3)).Outputs[0]
			nodes := 2
			switch act {
			case "Relu":
				y = g.AddNode("Relu", "", "relu", []*onnx.Value{y}, []string{"z"}).Outputs[0]
				nodes++
			case "Clip":
				lo := g.AddConst("lo", tensor.FromF32([]int{}, []float32{0}))
				hi := g.AddConst("hi", tensor.FromF32([]int{}, []float32{1.25}))
				y = g.AddNode("Clip", "", "clip", []*onnx.Value{y, lo, hi}, []string{"z"}).Outputs[0]
				nodes++
			}
			g.Outputs = append(g.Outputs, y)
			p, err := Compile(onnx.NewModel(g, 17))
			if err != nil {
				t.Fatal(err)
			}
			if s := p.steps[0]; s.fuse == nil || s.clamp == nil || s.clamp.Norm == nil || (act != "") != (s.also != nil) {
				t.Fatalf("the BatchNormalization after the Concat was not planned as fused")
			}
			in := map[string]*tensor.Dense{"a": a, "b": b}
			var fs, ps RunStats
			prof := &Profile{}
			fused, err := p.Run(in, RunOptions{Stats: &fs, Profile: prof})
			if err != nil {
				t.Fatal(err)
			}
			all, err := p.Run(in, RunOptions{All: true, Stats: &ps})
			if err != nil {
				t.Fatal(err)
			}
			if !tensor.Equal(fused[y.Name], all[y.Name]) {
				t.Fatalf("fused Concat and BatchNormalization differ from the unfused nodes (max %.3g)", maxAbsDiff(t, fused[y.Name], all[y.Name]))
			}
			if len(prof.Events) != 1 {
				t.Errorf("fused run called %d kernels, want 1", len(prof.Events))
			}
			if fs.NodesRun != nodes || ps.NodesRun != nodes {
				t.Errorf("nodes run: fused %d, unfused %d, want %d", fs.NodesRun, ps.NodesRun, nodes)
			}
			both, err := p.Run(in, RunOptions{Outputs: []string{"c", y.Name}})
			if err != nil {
				t.Fatal(err)
			}
			if !tensor.Equal(both[y.Name], all[y.Name]) || !tensor.Equal(both["c"], all["c"]) {
				t.Fatalf("with the Concat's output requested, the run differs")
			}
		})
	}
}
