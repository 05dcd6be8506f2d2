package exec

import (
	"errors"
	"math"
	"os"
	"slices"
	"testing"

	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// chainCase is an inverted residual block's expansion and depthwise
// layer for chainModel.
type chainCase struct {
	x    []int // input N, C, H, W
	m    int   // expanded channels
	s    int   // the depthwise stride
	silu bool  // SiLU (Sigmoid, Mul) after the expansion instead of Clip(0, 6)
	band bool  // large enough to run in bands (ops.convChainPlan)
	// folded: the depthwise weight reaches the Conv through an Identity,
	// a value folded at Compile rather than an initializer
	folded bool
	name   string // for messages
}

// chainModel is x → 1×1 Conv (bias) → Clip(0, 6) or SiLU → depthwise
// 3×3 Conv (bias, padding 1, stride s) → Clip(0, 6) → Neg, so that no
// value of the pair is a graph output.
func chainModel(c chainCase) (*onnx.Model, *tensor.Dense) {
	g := onnx.NewGraph("g")
	fill := chainFill
	x := fill(tensor.New(tensor.Float32, c.x...), 2)
	in, _ := g.AddInput("x", onnx.ShapeOf(tensor.Float32, c.x...))
	w1 := fill(tensor.New(tensor.Float32, c.m, c.x[1], 1, 1), 0.4)
	b1 := fill(tensor.New(tensor.Float32, c.m), 0.5)
	h := g.AddNode("Conv", "", "expand", []*onnx.Value{in, g.AddConst("w1", w1), g.AddConst("b1", b1)}, []string{"h"}).Outputs[0]
	lo, hi := tensor.New(tensor.Float32), tensor.New(tensor.Float32)
	lo.F32[0], hi.F32[0] = 0, 6
	clo, chi := g.AddConst("lo", lo), g.AddConst("hi", hi)
	if c.silu {
		sg := g.AddNode("Sigmoid", "", "sig", []*onnx.Value{h}, []string{"sg"}).Outputs[0]
		h = g.AddNode("Mul", "", "silu", []*onnx.Value{h, sg}, []string{"a"}).Outputs[0]
	} else {
		h = g.AddNode("Clip", "", "act1", []*onnx.Value{h, clo, chi}, []string{"a"}).Outputs[0]
	}
	w2 := g.AddConst("w2", fill(tensor.New(tensor.Float32, c.m, 1, 3, 3), 0.3))
	if c.folded {
		w2 = g.AddNode("Identity", "", "share", []*onnx.Value{w2}, []string{"w2s"}).Outputs[0]
	}
	b2 := fill(tensor.New(tensor.Float32, c.m), 0.2)
	y := g.AddNode("Conv", "", "dw", []*onnx.Value{h, w2, g.AddConst("b2", b2)}, []string{"y"},
		onnx.IntAttr("group", int64(c.m)), onnx.IntsAttr("pads", 1, 1, 1, 1), onnx.IntsAttr("strides", int64(c.s), int64(c.s))).Outputs[0]
	z := g.AddNode("Clip", "", "act2", []*onnx.Value{y, clo, chi}, []string{"z"}).Outputs[0]
	out := g.AddNode("Neg", "", "neg", []*onnx.Value{z}, []string{"out"}).Outputs[0]
	g.Outputs = append(g.Outputs, out)
	return onnx.NewModel(g, 17), x
}

// chainFill fills d with a fixed pattern of magnitude scale.
func chainFill(d *tensor.Dense, scale float64) *tensor.Dense {
	for i := range d.F32 {
		d.F32[i] = float32(math.Sin(float64(i)*0.377) * scale)
	}
	return d
}

// chainRuns runs p on input x twice, paired and with every value
// requested (the nodes one by one), and fails unless "out" agrees bit
// for bit; it returns both runs' outputs and stats.
func chainRuns(t *testing.T, p *Program, x *tensor.Dense, prof *Profile) (paired, all map[string]*tensor.Dense, fs, us RunStats) {
	t.Helper()
	in := map[string]*tensor.Dense{"x": x}
	paired, err := p.Run(in, RunOptions{Stats: &fs, Profile: prof})
	if err != nil {
		t.Fatal(err)
	}
	all, err = p.Run(in, RunOptions{All: true, Stats: &us})
	if err != nil {
		t.Fatal(err)
	}
	if !tensor.Equal(paired["out"], all["out"]) {
		t.Fatalf("paired differs from the nodes one by one (max %.3g)", maxAbsDiff(t, paired["out"], all["out"]))
	}
	return paired, all, fs, us
}

// chainMatchesORT holds got to ONNX Runtime's output of m on x (see
// chainCloseTo), skipping outside CI where ONNX Runtime is not installed.
func chainMatchesORT(t *testing.T, m *onnx.Model, x, got *tensor.Dense) {
	t.Helper()
	want, err := fixtures.RunORTModel(m, "x", x)
	if errors.Is(err, fixtures.ErrNoORT) && os.Getenv("CI") == "" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	chainCloseTo(t, got, want)
}

// TestDepthwiseChain checks that a pointwise Conv and the depthwise Conv
// reading its activation run as one step (planDepthwise), band by band
// where the expansion is large: bit for bit as the nodes one by one (a
// run requesting every value), within float32 rounding of ONNX Runtime,
// with the expanded tensor never live; and that requesting the
// expansion's output runs the nodes one by one.
func TestDepthwiseChain(t *testing.T) {
	cases := []chainCase{
		{x: []int{8, 16, 64, 64}, m: 64, s: 2, band: true, name: "banded s2"},
		{x: []int{8, 8, 48, 96}, m: 96, s: 1, silu: true, band: true, name: "banded s1 SiLU"},
		{x: []int{1, 8, 20, 20}, m: 24, s: 1, name: "small"},
		{x: []int{8, 16, 64, 64}, m: 64, s: 2, band: true, folded: true, name: "banded, folded weight"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, x := chainModel(c)
			if err := InferShapes(m); err != nil {
				t.Fatal(err)
			}
			p, err := Compile(m)
			if err != nil {
				t.Fatal(err)
			}
			if p.steps[0].dw == nil {
				t.Fatal("the expansion was not paired with the depthwise Conv")
			}
			prof := &Profile{}
			fused, all, fs, us := chainRuns(t, p, x, prof)
			if fs.NodesRun != us.NodesRun {
				t.Errorf("nodes run paired %d, one by one %d", fs.NodesRun, us.NodesRun)
			}
			if !slices.ContainsFunc(prof.Nodes(), func(s NodeStat) bool { return s.Op == "Conv"+depthwiseMark }) {
				t.Errorf("the profile shows no %q step", "Conv"+depthwiseMark)
			}
			if c.band && fs.PeakLiveBytes >= us.PeakLiveBytes {
				t.Errorf("peak live bytes paired %d, one by one %d: the expansion was stored", fs.PeakLiveBytes, us.PeakLiveBytes)
			}
			both, err := p.Run(map[string]*tensor.Dense{"x": x}, RunOptions{Outputs: []string{"a", "out"}})
			if err != nil {
				t.Fatal(err)
			}
			if !tensor.Equal(both["out"], all["out"]) || !tensor.Equal(both["a"], all["a"]) {
				t.Fatal("with the expansion's output requested, the run differs")
			}
			chainMatchesORT(t, m, x, fused["out"])
		})
	}
}

// chainCloseTo holds got to ONNX Runtime's output within 1e-5 of the
// largest magnitude: both sum the same float32 products (16 and 8 of the
// expansion, 9 of the window) in different orders and with or without
// fused multiply-adds.
func chainCloseTo(t *testing.T, got, want *tensor.Dense) {
	t.Helper()
	if !slices.Equal(got.Shape, want.Shape) {
		t.Fatalf("shape %v, ONNX Runtime %v", got.Shape, want.Shape)
	}
	scale := 0.0
	for _, v := range want.F32 {
		scale = math.Max(scale, math.Abs(float64(v)))
	}
	for i, v := range want.F32 {
		if d := math.Abs(float64(got.F32[i]) - float64(v)); d > 1e-5*scale {
			t.Fatalf("element %d = %v, ONNX Runtime %v (scale %v)", i, got.F32[i], v, scale)
		}
	}
}

// TestDepthwiseChainSamePadding runs the pair in bands where the
// depthwise Conv pads itself (auto_pad SAME_UPPER and SAME_LOWER, an even
// window height, so the padding above and below differ), without biases,
// at strides 1 and 2: bit for bit the nodes one by one, and ONNX
// Runtime's output within 1e-5 of the largest magnitude.
func TestDepthwiseChainSamePadding(t *testing.T) {
	fill := chainFill
	x := fill(tensor.New(tensor.Float32, 8, 8, 50, 61), 2)
	for _, autoPad := range []string{"SAME_UPPER", "SAME_LOWER"} {
		for _, s := range []int64{1, 2} {
			g := onnx.NewGraph("g")
			in, _ := g.AddInput("x", onnx.ShapeOf(tensor.Float32, x.Shape...))
			h := g.AddNode("Conv", "", "expand", []*onnx.Value{in, g.AddConst("w1", fill(tensor.New(tensor.Float32, 96, 8, 1, 1), 0.4))}, []string{"h"}).Outputs[0]
			h = g.AddNode("Relu", "", "act", []*onnx.Value{h}, []string{"a"}).Outputs[0]
			y := g.AddNode("Conv", "", "dw", []*onnx.Value{h, g.AddConst("w2", fill(tensor.New(tensor.Float32, 96, 1, 4, 3), 0.3))}, []string{"y"},
				onnx.IntAttr("group", 96), onnx.StringAttr("auto_pad", autoPad), onnx.IntsAttr("strides", s, s)).Outputs[0]
			out := g.AddNode("Neg", "", "neg", []*onnx.Value{y}, []string{"out"}).Outputs[0]
			g.Outputs = append(g.Outputs, out)
			m := onnx.NewModel(g, 13)
			if err := InferShapes(m); err != nil {
				t.Fatal(err)
			}
			p, err := Compile(m)
			if err != nil {
				t.Fatal(err)
			}
			paired, _, fs, us := chainRuns(t, p, x, nil)
			if fs.PeakLiveBytes >= us.PeakLiveBytes {
				t.Errorf("%s stride %d: the expansion was stored (peak %d, one by one %d)", autoPad, s, fs.PeakLiveBytes, us.PeakLiveBytes)
			}
			chainMatchesORT(t, m, x, paired["out"])
		}
	}
}
