package exec

import (
	"fmt"
	"math"
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// residualCase is one residual block shape for residualModel.
type residualCase struct {
	x       []int  // input N, C, H, W
	swap    bool   // Add(r, conv) instead of Add(conv, r)
	act     string // "Relu", "Clip" or "" after the Add
	project bool   // the skip is a 1×1 Conv too (a projection shortcut)
	gate    bool   // the skip is a per-channel [1, C, 1, 1] constant: the Add broadcasts
	depth   bool   // the block's conv is depthwise (another kernel path)
}

func (c residualCase) String() string {
	return fmt.Sprintf("x%v swap=%v act=%q project=%v gate=%v depth=%v", c.x, c.swap, c.act, c.project, c.gate, c.depth)
}

// residualModel is x → Relu → a 3×3 Conv (bias), whose output an Add
// sums with the skip (the Relu's output, a 1×1 Conv of it, or a
// constant), then act and a Neg, so that no value of the block is a graph
// output.
func residualModel(c residualCase) (*onnx.Model, *tensor.Dense) {
	g := onnx.NewGraph("g")
	fill := func(d *tensor.Dense, s float64) *tensor.Dense {
		for i := range d.F32 {
			d.F32[i] = float32(math.Sin(float64(i)*0.377) * s)
		}
		return d
	}
	ch := c.x[1]
	x := fill(tensor.New(tensor.Float32, c.x...), 2)
	in, _ := g.AddInput("x", onnx.ShapeOf(tensor.Float32, c.x...))
	h := g.AddNode("Relu", "", "relu0", []*onnx.Value{in}, []string{"h"}).Outputs[0]
	w := fill(tensor.New(tensor.Float32, ch, ch, 3, 3), 0.3)
	attrs := []*onnx.Attr{onnx.IntsAttr("pads", 1, 1, 1, 1)}
	if c.depth {
		w = fill(tensor.New(tensor.Float32, ch, 1, 3, 3), 0.3)
		attrs = append(attrs, onnx.IntAttr("group", int64(ch)))
	}
	b := fill(tensor.New(tensor.Float32, ch), 0.5)
	y := g.AddNode("Conv", "", "conv", []*onnx.Value{h, g.AddConst("w", w), g.AddConst("b", b)}, []string{"y"}, attrs...).Outputs[0]
	skip := h
	switch {
	case c.project:
		ws := fill(tensor.New(tensor.Float32, ch, ch, 1, 1), 0.7)
		skip = g.AddNode("Conv", "", "shortcut", []*onnx.Value{h, g.AddConst("ws", ws)}, []string{"s"}).Outputs[0]
	case c.gate:
		skip = g.AddConst("gate", fill(tensor.New(tensor.Float32, 1, ch, 1, 1), 1))
	}
	ins := []*onnx.Value{y, skip}
	if c.swap {
		ins = []*onnx.Value{skip, y}
	}
	z := g.AddNode("Add", "", "add", ins, []string{"z"}).Outputs[0]
	switch c.act {
	case "Relu":
		z = g.AddNode("Relu", "", "act", []*onnx.Value{z}, []string{"a"}).Outputs[0]
	case "Clip":
		lo, hi := tensor.New(tensor.Float32), tensor.New(tensor.Float32)
		lo.F32[0], hi.F32[0] = -0.5, 1.5
		z = g.AddNode("Clip", "", "act", []*onnx.Value{z, g.AddConst("lo", lo), g.AddConst("hi", hi)}, []string{"a"}).Outputs[0]
	}
	out := g.AddNode("Neg", "", "neg", []*onnx.Value{z}, []string{"out"}).Outputs[0]
	g.Outputs = append(g.Outputs, out)
	return onnx.NewModel(g, 17), x
}

// TestFusedResidual checks that the Add closing a residual block (and the
// Relu or Clip after it) runs inside the Conv before it, bit for bit as
// the unfused nodes, on every thread count and on both sides of a band
// split; that the skip's storage is released when the fused step has
// read it; and that the Add stays unfused where its output is requested.
func TestFusedResidual(t *testing.T) {
	var cases []residualCase
	for _, x := range [][]int{{1, 16, 32, 32}, {1, 5, 9, 7}, {3, 8, 14, 14}, {1, 64, 8, 8}} {
		for _, act := range []string{"", "Relu", "Clip"} {
			cases = append(cases, residualCase{x: x, act: act}, residualCase{x: x, act: act, swap: true})
		}
		cases = append(cases, residualCase{x: x, act: "Relu", project: true}, residualCase{x: x, act: "Relu", depth: true},
			residualCase{x: x, act: "Relu", gate: true})
	}
	for _, c := range cases {
		m, x := residualModel(c)
		for _, threads := range []int{1, 2, 3} {
			p, err := Compile(m)
			if err != nil {
				t.Fatal(err)
			}
			p.Threads = threads
			fusedAt := -1
			for i := range p.steps {
				if p.steps[i].residual >= 0 {
					fusedAt = i
				}
			}
			// The projection shortcut runs after the block's conv, so the
			// shortcut takes the Add, reading the block conv's output.
			want := 1
			if c.project {
				want = 2
			}
			if fusedAt != want {
				t.Fatalf("%v: the Add was planned into step %d, want %d", c, fusedAt, want)
			}
			in := map[string]*tensor.Dense{"x": x}
			var fs, us RunStats
			fused, err := p.Run(in, RunOptions{Stats: &fs})
			if err != nil {
				t.Fatal(err)
			}
			all, err := p.Run(in, RunOptions{All: true, Stats: &us})
			if err != nil {
				t.Fatal(err)
			}
			if !tensor.Equal(fused["out"], all["out"]) {
				t.Fatalf("%v threads %d: fused differs from unfused (max %.3g)", c, threads, maxAbsDiff(t, fused["out"], all["out"]))
			}
			if fs.NodesRun != us.NodesRun {
				t.Errorf("%v: nodes run fused %d, unfused %d", c, fs.NodesRun, us.NodesRun)
			}
			// Skip, conv output and sum are never live all at once when
			// fused: the peak is below the unfused run's.
			if !c.gate && fs.PeakLiveBytes >= us.PeakLiveBytes {
				t.Errorf("%v: peak live bytes fused %d, unfused %d", c, fs.PeakLiveBytes, us.PeakLiveBytes)
			}
			both, err := p.Run(in, RunOptions{Outputs: []string{"z", "out"}})
			if err != nil {
				t.Fatal(err)
			}
			if !tensor.Equal(both["out"], all["out"]) || !tensor.Equal(both["z"], all["z"]) {
				t.Fatalf("%v: with the Add's output requested, the run differs", c)
			}
		}
	}
}
