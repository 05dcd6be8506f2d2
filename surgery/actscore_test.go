package surgery

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/graft-ml/graft/data"
	"github.com/graft-ml/graft/feed"
	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// pruneFixture loads a model of fixtures/prune (gen_prune.py) and its
// 20 input samples as a data source.
func pruneFixture(t *testing.T, name string) (*onnx.Model, data.Source) {
	t.Helper()
	dir := filepath.Join(fixtures.Dir(), "prune")
	m, err := onnx.Load(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	src, err := data.Open(filepath.Join(dir, "input.npy"), data.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return m, src
}

// TestWeightScoresMatchPyTorch compares MAV and MAAV with the scores
// gen_prune.py computes from their definitions (products w·x over
// samples and, for the Convs, over output positions through F.unfold) on
// a strided padded Conv, a dilated grouped Conv and two Gemms. Batches of
// 7 over 20 samples check that the statistics add up across batches.
// Tolerance 1e-6 relative to each layer's largest score: the inputs of
// the later layers are graft's float32 activations here and PyTorch's
// there, which differ in the last bits.
func TestWeightScoresMatchPyTorch(t *testing.T) {
	m, src := pruneFixture(t, "model.onnx")
	ref, err := tensor.LoadNPZ(filepath.Join(fixtures.Dir(), "prune", "scores.npz"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := MeasureInputStats(m, nil, src, feed.Options{Batch: 7})
	if err != nil {
		t.Fatal(err)
	}
	for _, crit := range []string{ByMAV, ByMAAV} {
		got, err := WeightScores(m, crit, st, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, layer := range []string{"conv1", "conv2", "fc1", "fc2"} {
			t.Run(crit+"/"+layer, func(t *testing.T) {
				want := ref[layer+"."+crit]
				g := got[layer+".weight"]
				if want == nil || g == nil {
					t.Fatalf("missing scores: reference %v, graft %v", want != nil, g != nil)
				}
				if !tensor.SameShape(g.Shape, want.Shape) {
					t.Fatalf("shape %v, reference %v", g.Shape, want.Shape)
				}
				w := want.Float64s()
				scale := 0.0
				for _, x := range w {
					scale = math.Max(scale, math.Abs(x))
				}
				worst := 0.0
				for i, x := range g.F64 {
					worst = math.Max(worst, math.Abs(x-w[i])/scale)
				}
				t.Logf("worst relative difference %.3g", worst)
				if worst > 1e-6 {
					t.Errorf("relative difference %.3g from PyTorch", worst)
				}
			})
		}
	}
}

// TestPruneByActivation: each unstructured criterion zeroes exactly the
// asked fraction of the lowest-scored weights of every layer but the
// final one, which --include-last prunes too; --global ranks together.
func TestPruneByActivation(t *testing.T) {
	cases := []struct {
		name string
		opt  PruneOptions
	}{
		{"magnitude", PruneOptions{Sparsity: 0.7}},
		{"mav", PruneOptions{Sparsity: 0.7, Criterion: ByMAV}},
		{"maav", PruneOptions{Sparsity: 0.7, Criterion: ByMAAV}},
		{"maav_global", PruneOptions{Sparsity: 0.5, Criterion: ByMAAV, Global: true}},
		{"maav_last", PruneOptions{Sparsity: 0.9, Criterion: ByMAAV, IncludeLast: true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, src := pruneFixture(t, "model.onnx")
			st, err := MeasureInputStats(m, nil, src, feed.Options{})
			if err != nil {
				t.Fatal(err)
			}
			scores, err := WeightScores(m, c.opt.Criterion, st, nil)
			if err != nil {
				t.Fatal(err)
			}
			c.opt.Inputs = st
			r, err := Prune(m, c.opt)
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Graph.Validate(); err != nil {
				t.Fatal(err)
			}
			if want := !c.opt.IncludeLast; (len(r.FinalSkipped) == 1 && r.FinalSkipped[0] == "fc2") != want {
				t.Errorf("final layers skipped %v", r.FinalSkipped)
			}
			pruned, zeroed := 0, 0
			for _, layer := range []string{"conv1", "conv2", "fc1", "fc2"} {
				w, err := m.Graph.Value(layer + ".weight").Const.Dense()
				if err != nil {
					t.Fatal(err)
				}
				s := scores[layer+".weight"].F64
				z, maxZero, minKept := 0, -1.0, math.Inf(1)
				for i, x := range w.F32 {
					if x == 0 {
						z++
						maxZero = math.Max(maxZero, s[i])
					} else {
						minKept = math.Min(minKept, s[i])
					}
				}
				if layer == "fc2" && !c.opt.IncludeLast {
					if z != 0 {
						t.Errorf("fc2: %d weights zeroed in the final layer", z)
					}
					continue
				}
				pruned += len(w.F32)
				zeroed += z
				if !c.opt.Global {
					if want := int(c.opt.Sparsity * float64(len(w.F32))); z != want {
						t.Errorf("%s: %d of %d zeroed, want %d", layer, z, len(w.F32), want)
					}
					if maxZero > minKept {
						t.Errorf("%s: a zeroed weight scores %g, above a kept one's %g", layer, maxZero, minKept)
					}
				}
			}
			if want := int(c.opt.Sparsity * float64(pruned)); c.opt.Global && zeroed != want {
				t.Errorf("%d of %d zeroed, want %d", zeroed, pruned, want)
			}
		})
	}
}

// TestMeasureInputStatsErrors: a wrong-sized dataset is an error naming
// the layer, not a panic.
func TestMeasureInputStatsErrors(t *testing.T) {
	m, _ := pruneFixture(t, "model.onnx")
	dir := t.TempDir()
	path := filepath.Join(dir, "x.npy")
	if err := tensor.SaveNPY(path, tensor.New(tensor.Float32, 3, 3, 7, 7)); err != nil {
		t.Fatal(err)
	}
	src, err := data.Open(path, data.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := MeasureInputStats(m, nil, src, feed.Options{}); err == nil {
		t.Error("7×7 images for a model of 12×12 ones: no error")
	}
	if _, err := Prune(m, PruneOptions{Sparsity: 0.5, Criterion: ByMAV}); err == nil {
		t.Error("mav without statistics: no error")
	}
}
