package exec

import (
	"math"
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// siluModel is producer → Sigmoid, Mul(x, σ) (or Mul(σ, x) if swap), the
// way PyTorch exports nn.SiLU, after a Conv (stride 1 or 2, any groups),
// a Gemm or an Add.
func siluModel(t *testing.T, producer string, swap bool) (*onnx.Model, *tensor.Dense) {
	t.Helper()
	g := onnx.NewGraph("g")
	var x *tensor.Dense
	var y *onnx.Value
	fill := func(d *tensor.Dense, s float64) *tensor.Dense {
		for i := range d.F32 {
			d.F32[i] = float32(math.Sin(float64(i)*0.731) * s)
		}
		return d
	}
	switch producer {
	case "Conv", "ConvDepthwise5x5s2":
		x = fill(tensor.New(tensor.Float32, 2, 6, 11, 13), 3)
		in, _ := g.AddInput("x", onnx.ShapeOf(tensor.Float32, x.Shape...))
		w := fill(tensor.New(tensor.Float32, 10, 6, 3, 3), 1)
		attrs := []*onnx.Attr{onnx.IntsAttr("pads", 1, 1, 1, 1)}
		if producer != "Conv" {
			w = fill(tensor.New(tensor.Float32, 6, 1, 5, 5), 1)
			attrs = []*onnx.Attr{onnx.IntsAttr("pads", 2, 2, 2, 2), onnx.IntsAttr("strides", 2, 2), onnx.IntAttr("group", 6)}
		}
		b := fill(tensor.New(tensor.Float32, w.Shape[0]), 0.5)
		y = g.AddNode("Conv", "", "conv", []*onnx.Value{in, g.AddConst("w", w), g.AddConst("b", b)}, []string{"y"}, attrs...).Outputs[0]
	case "Gemm":
		x = fill(tensor.New(tensor.Float32, 5, 7), 3)
		in, _ := g.AddInput("x", onnx.ShapeOf(tensor.Float32, x.Shape...))
		w := fill(tensor.New(tensor.Float32, 7, 9), 1)
		y = g.AddNode("Gemm", "", "gemm", []*onnx.Value{in, g.AddConst("w", w)}, []string{"y"}).Outputs[0]
	case "Add":
		x = fill(tensor.New(tensor.Float32, 3, 37), 40)
		in, _ := g.AddInput("x", onnx.ShapeOf(tensor.Float32, x.Shape...))
		y = g.AddNode("Add", "", "add", []*onnx.Value{in, in}, []string{"y"}).Outputs[0]
	}
	s := g.AddNode("Sigmoid", "", "sig", []*onnx.Value{y}, []string{"s"}).Outputs[0]
	ins := []*onnx.Value{y, s}
	if swap {
		ins = []*onnx.Value{s, y}
	}
	z := g.AddNode("Mul", "", "mul", ins, []string{"z"}).Outputs[0]
	g.Outputs = append(g.Outputs, z)
	return onnx.NewModel(g, 17), x
}

// TestFusedSiLU checks that a Sigmoid and Mul reading a fusable op's
// output run inside it (one step for three nodes) and give bit for bit
// what the three unfused nodes give (vec.SiLU is Sigmoid then a product),
// and that they stay unfused when the Sigmoid's output is requested.
func TestFusedSiLU(t *testing.T) {
	for _, producer := range []string{"Conv", "ConvDepthwise5x5s2", "Gemm", "Add"} {
		for _, swap := range []bool{false, true} {
			name := producer
			if swap {
				name += "/swapped"
			}
			t.Run(name, func(t *testing.T) {
				m, x := siluModel(t, producer, swap)
				p, err := Compile(m)
				if err != nil {
					t.Fatal(err)
				}
				if s := p.steps[0]; s.also == nil || s.fuse == nil || s.clamp == nil || !s.clamp.SiLU {
					t.Fatalf("the SiLU after %s was not planned as fused", producer)
				}
				in := map[string]*tensor.Dense{"x": x}
				var fs, ps RunStats
				fused, err := p.Run(in, RunOptions{Stats: &fs})
				if err != nil {
					t.Fatal(err)
				}
				all, err := p.Run(in, RunOptions{All: true, Stats: &ps})
				if err != nil {
					t.Fatal(err)
				}
				if !tensor.Equal(fused["z"], all["z"]) {
					t.Fatalf("fused SiLU differs from Sigmoid then Mul (max %.3g)", maxAbsDiff(t, fused["z"], all["z"]))
				}
				if fs.NodesRun != 3 || ps.NodesRun != 3 {
					t.Errorf("nodes run: fused %d, unfused %d, want 3", fs.NodesRun, ps.NodesRun)
				}
				both, err := p.Run(in, RunOptions{Outputs: []string{"s", "z"}})
				if err != nil {
					t.Fatal(err)
				}
				if !tensor.Equal(both["z"], all["z"]) || !tensor.Equal(both["s"], all["s"]) {
					t.Fatalf("with the Sigmoid's output requested, the run differs")
				}
			})
		}
	}
}

// TestFusedSigmoidTanh checks that a Sigmoid or Tanh that alone reads a
// Conv's or Gemm's output runs inside it (the squeeze-excitation gate's
// Sigmoid after its last 1×1 Conv; an MLP's Tanh after its Gemm), bit for
// bit as the unfused node.
func TestFusedSigmoidTanh(t *testing.T) {
	for _, producer := range []string{"Conv", "Gemm"} {
		for _, act := range []string{"Sigmoid", "Tanh"} {
			t.Run(producer+"/"+act, func(t *testing.T) {
				m, x := siluModel(t, producer, false)
				g := m.Graph
				// Rewire: the activation reads the producer's output alone.
				y := g.Nodes[0].Outputs[0]
				for _, n := range append([]*onnx.Node(nil), g.Nodes[1:]...) {
					g.Remove(n)
				}
				z := g.AddNode(act, "", "act", []*onnx.Value{y}, []string{"a"}).Outputs[0]
				g.Outputs = []*onnx.Value{z}
				p, err := Compile(m)
				if err != nil {
					t.Fatal(err)
				}
				if s := p.steps[0]; s.fuse == nil || s.clamp == nil || s.clamp.Func == nil {
					t.Fatalf("the %s after %s was not planned as fused", act, producer)
				}
				in := map[string]*tensor.Dense{"x": x}
				fused, err := p.Run(in, RunOptions{})
				if err != nil {
					t.Fatal(err)
				}
				all, err := p.Run(in, RunOptions{All: true})
				if err != nil {
					t.Fatal(err)
				}
				if !tensor.Equal(fused["a"], all["a"]) {
					t.Fatalf("fused %s differs from the unfused node (max %.3g)", act, maxAbsDiff(t, fused["a"], all["a"]))
				}
			})
		}
	}
}
