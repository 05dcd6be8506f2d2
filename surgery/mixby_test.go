package surgery

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/graft-ml/graft/feed"
	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// TestMixByImportance mixes the three models of fixtures/prune by
// magnitude and by MAAV. Each mixed weight must be the formula
// Σ Wᵢ·sᵢ / Σ sᵢ, computed here from the loaded weights and graft's own
// scores, bit for bit; the inputs to Mix must be left as they were (the
// scores are never written into any weight). Against NumPy's mix
// (gen_prune.py), the magnitude mix is bit for bit too (the same float64
// operations in the same order), and the MAAV mix agrees to 1e-6
// relative: its scores come from graft's activations there and
// PyTorch's here (see TestWeightScoresMatchPyTorch). The MAAV bound is
// relative to the largest weight: a relative error ε in the scores moves
// Σ Wᵢ·sᵢ / Σ sᵢ by at most about 2ε·max|Wᵢ|, however much the Wᵢ cancel.
func TestMixByImportance(t *testing.T) {
	for _, by := range []string{ByMagnitude, ByMAAV} {
		t.Run(by, func(t *testing.T) {
			var models []*onnx.Model
			var scores []map[string]*tensor.Dense
			orig := map[string][]*tensor.Dense{}
			for i := range 3 {
				m, src := pruneFixture(t, []string{"mix_0.onnx", "mix_1.onnx", "mix_2.onnx"}[i])
				s, err := ImportanceScores(m, by, src, feed.Options{Batch: 6})
				if err != nil {
					t.Fatal(err)
				}
				for _, v := range m.Graph.Initializers {
					d, _ := v.Const.Dense()
					orig[v.Name] = append(orig[v.Name], d.Clone())
				}
				models = append(models, m)
				scores = append(scores, s)
			}
			r, err := Mix(models, MixOptions{Scores: scores})
			if err != nil {
				t.Fatal(err)
			}
			wantScored := 8
			if by == ByMAAV {
				wantScored = 4 // the weights; the biases get the plain mean
			}
			if r.Scored != wantScored || r.Mixed != 8 {
				t.Errorf("report %+v, want %d of 8 scored", r, wantScored)
			}
			ref, err := tensor.LoadNPZ(filepath.Join(fixtures.Dir(), "prune", "mix_"+by+".npz"))
			if err != nil {
				t.Fatal(err)
			}
			for name, ws := range orig {
				got, err := models[0].Graph.Value(name).Const.Dense()
				if err != nil {
					t.Fatal(err)
				}
				for i := 1; i < 3; i++ {
					d, _ := models[i].Graph.Value(name).Const.Dense()
					if !tensor.Equal(d, ws[i]) {
						t.Errorf("%s of model %d changed", name, i+1)
					}
				}
				for j, g := range got.F32 {
					num, den, plain := 0.0, 0.0, 0.0
					for i, w := range ws {
						x := float64(w.F32[j])
						s := 1.0
						if sc := scores[i][name]; sc != nil {
							s = sc.F64[j]
						}
						num += float64(x * s)
						den += s
						plain += x
					}
					want := float32(num / den)
					if den == 0 {
						want = float32(float64(plain * (1.0 / 3)))
					}
					if g != want {
						t.Fatalf("%s[%d] = %g, formula %g", name, j, g, want)
					}
				}
				np := ref[name]
				if np == nil {
					t.Fatalf("no reference for %s", name)
				}
				scale := 0.0 // the largest weight of the three models
				for _, w := range ws {
					for _, x := range w.F32 {
						scale = math.Max(scale, math.Abs(float64(x)))
					}
				}
				for j, x := range np.F32 {
					g := got.F32[j]
					if by == ByMagnitude && g != x {
						t.Fatalf("%s[%d] = %g, NumPy %g", name, j, g, x)
					}
					if d := math.Abs(float64(g - x)); d > 1e-6*scale {
						t.Fatalf("%s[%d] = %g, NumPy %g", name, j, g, x)
					}
				}
			}
		})
	}
}

// TestMixScoresErrors: scores that do not fit are errors.
func TestMixScoresErrors(t *testing.T) {
	a, _ := pruneFixture(t, "mix_0.onnx")
	b, _ := pruneFixture(t, "mix_1.onnx")
	neg := tensor.New(tensor.Float64, 16, 288)
	neg.F64[3] = -1
	cases := map[string]MixOptions{
		"count":    {Scores: []map[string]*tensor.Dense{{}}},
		"shape":    {Scores: []map[string]*tensor.Dense{{"fc1.weight": tensor.New(tensor.Float64, 3)}, {"fc1.weight": tensor.New(tensor.Float64, 3)}}},
		"negative": {Scores: []map[string]*tensor.Dense{{"fc1.weight": neg}, {"fc1.weight": neg}}},
		"layers":   {Scores: []map[string]*tensor.Dense{{}, {}}, Layers: map[string]float64{"fc1": 1}},
	}
	for name, opt := range cases {
		if _, err := Mix([]*onnx.Model{a, b}, opt); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
