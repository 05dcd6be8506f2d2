package surgery

import (
	"github.com/graft-ml/graft/fixtures"
	"strings"
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// TestReplaceWithItself replaces a residual block by the same block cut out
// with Extract: the outputs must not change.
func TestReplaceWithItself(t *testing.T) {
	fx, m, x := load(t, "resnet_small")
	want := runOne(t, m, map[string]*tensor.Dense{fx.Inputs[0].Name: x})
	_, block, _ := load(t, "resnet_small")
	if _, err := Extract(block, []string{"maxpool"}, []string{"layer1.0"}); err != nil {
		t.Fatal(err)
	}
	r, err := Replace(m, "layer1.0", block)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Inputs) != 1 || len(r.Outputs) != 1 || r.Removed == 0 || r.Added != r.Removed {
		t.Errorf("report %+v", r)
	}
	in := fx.Inputs[0].Name
	if d := maxDiff(runOne(t, m, map[string]*tensor.Dense{in: x}), want); d > 1e-6 {
		t.Errorf("graft: output changed by %.3g", d)
	}
	if d := maxDiff(fixtures.ORTOutput(t, m, in, x), want); d > tol {
		t.Errorf("onnxruntime: output differs by %.3g", d)
	}
	if _, err := m.Graph.Resolve("layer1.0"); err != nil {
		t.Errorf("replaced module no longer resolves: %v", err)
	}
}

func TestReplaceErrors(t *testing.T) {
	_, m, _ := load(t, "resnet_small")
	_, sub, _ := load(t, "resnet_small")
	if _, err := Replace(m, "layer1.0", sub); err == nil || !strings.Contains(err.Error(), "does not fit") {
		t.Errorf("shape mismatch: got %v", err)
	}
	_, pair, _ := load(t, "resnet_small")
	if err := Truncate(pair, "layer1", "layer2"); err != nil {
		t.Fatal(err)
	}
	if _, err := Replace(m, "layer1.0", pair); err == nil || !strings.Contains(err.Error(), "replacement has") {
		t.Errorf("interface mismatch: got %v", err)
	}
	if _, err := Replace(m, "layer7", sub); err == nil || !strings.Contains(err.Error(), "layer") {
		t.Errorf("unknown module: got %v", err)
	}

	// x → /m/A → y → /other/B → z → /m/C(y, z): module m cannot become one
	// block, since B both depends on it and feeds it.
	g := onnx.NewGraph("loop")
	x, _ := g.AddInput("x", onnx.ShapeOf(tensor.Float32, 4))
	a := g.AddNode("Relu", "", "/m/A/Relu", []*onnx.Value{x}, []string{"y"})
	b := g.AddNode("Neg", "", "/other/B/Neg", []*onnx.Value{a.Outputs[0]}, []string{"z"})
	c := g.AddNode("Add", "", "/m/C/Add", []*onnx.Value{a.Outputs[0], b.Outputs[0]}, []string{"out"})
	g.Outputs = []*onnx.Value{c.Outputs[0]}
	cyc := onnx.NewModel(g, 13)
	if _, err := Replace(cyc, "m", sub); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("non-contiguous part: got %v", err)
	}
}

// TestRemoveDeadUnitsExact zeroes some hidden units' weights in the MLP;
// removing them (folding positive constants into the next layer's bias)
// must leave the outputs unchanged and shrink the parameter count.
func TestRemoveDeadUnitsExact(t *testing.T) {
	fx, m, x := load(t, "mlp")
	in := fx.Inputs[0].Name
	g := m.Graph
	layers := prunableLayers(g, nil)
	first := layers[0]
	w, _ := first.weight.Const.Dense()
	w = w.Clone()
	dead := []int{1, 5, 6, 30}
	for _, u := range dead {
		forUnit(w.Shape, first.unit, u, func(i int) { w.F32[i] = 0 })
	}
	first.weight.SetConst(w)
	if b := layerBias(first); b != nil {
		bd, _ := b.Const.Dense()
		bd = bd.Clone()
		bd.F32[1], bd.F32[5] = 0.7, -0.4 // one unit passes a constant on, one is cut by ReLU
		b.SetConst(bd)
	}
	want := runOne(t, m, map[string]*tensor.Dense{in: x})
	before, _ := countParams(g)
	r, err := RemoveDeadUnits(m)
	if err != nil {
		t.Fatal(err)
	}
	if r.Removed != len(dead) || r.Kept != 0 {
		t.Fatalf("removed %d kept %d (%v), want %d removed", r.Removed, r.Kept, r.Reasons, len(dead))
	}
	after, _ := countParams(g)
	if after >= before {
		t.Errorf("parameters %d → %d", before, after)
	}
	if d := maxDiff(runOne(t, m, map[string]*tensor.Dense{in: x}), want); d > 1e-5 {
		t.Errorf("graft: output changed by %.3g", d)
	}
	if d := maxDiff(fixtures.ORTOutput(t, m, in, x), want); d > tol {
		t.Errorf("onnxruntime: output differs by %.3g", d)
	}
}

// TestPrune runs each pruning mode on CNN fixtures: the written model
// checks, runs in ONNX Runtime as in graft, and has fewer nonzero
// parameters; structured pruning also removes units.
func TestPrune(t *testing.T) {
	cases := []struct {
		fixture string
		opt     PruneOptions
	}{
		{"cnn_bn", PruneOptions{Sparsity: 0.5}},
		{"resnet_small", PruneOptions{Sparsity: 0.6, Global: true}},
		{"mlp", PruneOptions{Sparsity: 0.25, Structured: true, Criterion: ByL2}},
		{"cnn_bn", PruneOptions{Sparsity: 0.5, Structured: true, Criterion: ByL1}},
		{"mobilenet_small", PruneOptions{Sparsity: 0.3, Structured: true, Criterion: ByMeanAbs}},
	}
	for _, c := range cases {
		t.Run(c.fixture, func(t *testing.T) {
			fx, m, x := load(t, c.fixture)
			in := fx.Inputs[0].Name
			if c.opt.Criterion == ByMeanAbs {
				st, err := MeasureUnitStats(m, x, nil, 1, nil)
				if err != nil {
					t.Fatal(err)
				}
				c.opt.Stats = st
			}
			r, err := Prune(m, c.opt)
			if err != nil {
				t.Fatal(err)
			}
			if r.NonzeroAfter >= r.NonzeroBefore {
				t.Errorf("nonzero parameters %d → %d", r.NonzeroBefore, r.NonzeroAfter)
			}
			if c.opt.Structured && r.UnitsZeroed == 0 {
				t.Errorf("no units zeroed: %+v", r)
			}
			got := runOne(t, m, map[string]*tensor.Dense{in: x})
			if d := maxDiff(fixtures.ORTOutput(t, m, in, x), got); d > tol {
				t.Errorf("onnxruntime and graft differ by %.3g on the pruned model", d)
			}
			t.Logf("%s: params %d → %d, nonzero %d → %d, units zeroed %d removed %d kept %d",
				c.fixture, r.ParamsBefore, r.ParamsAfter, r.NonzeroBefore, r.NonzeroAfter, r.UnitsZeroed, r.UnitsRemoved, r.UnitsKept)
		})
	}
}

func TestMix(t *testing.T) {
	fx, a, x := load(t, "mlp")
	in := fx.Inputs[0].Name
	want := runOne(t, a, map[string]*tensor.Dense{in: x})
	_, b, _ := load(t, "mlp")
	if _, err := Mix([]*onnx.Model{a, b}, MixOptions{Weights: []float64{0.7, 0.3}}); err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(runOne(t, a, map[string]*tensor.Dense{in: x}), want); d > 1e-5 {
		t.Errorf("mixing a model with itself changed its output by %.3g", d)
	}

	// Per layer: fc1 entirely from B (weights doubled), the rest from A.
	_, a, _ = load(t, "mlp")
	_, b, _ = load(t, "mlp")
	var fc1 *onnx.Value
	for _, v := range b.Graph.Initializers {
		if initializerModule(v) == "fc1" && len(v.Const.Shape) == 2 {
			fc1 = v
		}
	}
	if fc1 == nil {
		t.Fatal("no fc1 weight in the mlp fixture")
	}
	d, _ := fc1.Const.Dense()
	doubled := d.Clone()
	for i := range doubled.F32 {
		doubled.F32[i] *= 2
	}
	fc1.SetConst(doubled)
	r, err := Mix([]*onnx.Model{a, b}, MixOptions{Weights: []float64{1, 0}, Layers: map[string]float64{"fc1": 1}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Override == 0 {
		t.Errorf("no per-layer override applied: %+v", r)
	}
	got, _ := a.Graph.Value(fc1.Name).Const.Dense()
	if maxDiff(got, doubled) != 0 {
		t.Errorf("fc1 not taken from B")
	}
	if _, err := Mix([]*onnx.Model{a, b}, MixOptions{Layers: map[string]float64{"fc9": 1}}); err == nil {
		t.Errorf("unknown layer: no error")
	}
	_, c, _ := load(t, "cnn_bn")
	if _, err := Mix([]*onnx.Model{a, c}, MixOptions{}); err == nil || !strings.Contains(err.Error(), "differs") {
		t.Errorf("different architectures: got %v", err)
	}
}
