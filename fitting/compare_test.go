package fitting

import (
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ml/graft/data"
	"github.com/graft-ml/graft/feed"
	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// TestStatsSub checks that the sub-blocks of one joint accumulator equal
// the statistics of the pair accumulated alone, to rounding (the merges
// happen in the same order, so 1e-12 relative).
func TestStatsSub(t *testing.T) {
	rng := newRand(7)
	const rows, w = 300, 6
	z := gaussian(rng, rows, w, 2, 1)
	joint, err := newJoint(w)
	if err != nil {
		t.Fatal(err)
	}
	for r0 := 0; r0 < rows; r0 += 70 { // batches of 70, the last 20
		r1 := min(rows, r0+70)
		if err := joint.Add(z[r0*w:r1*w], nil); err != nil {
			t.Fatal(err)
		}
	}
	x, y := []int{4, 1}, []int{1, 5, 0}
	sub, err := joint.Sub(x, y)
	if err != nil {
		t.Fatal(err)
	}
	pick := func(cols []int) []float32 {
		out := make([]float32, 0, rows*len(cols))
		for r := range rows {
			for _, c := range cols {
				out = append(out, z[r*w+c])
			}
		}
		return out
	}
	direct := statsOf(t, pick(x), pick(y), len(x), len(y))
	if sub.N() != direct.N() || relDiff(sub.mean, direct.mean) > 1e-12 || relDiff(sub.m, direct.m) > 1e-12 {
		t.Errorf("Sub differs from the pair accumulated alone: n %d/%d, means %v/%v", sub.N(), direct.N(), sub.mean, direct.mean)
	}
	for _, bad := range [][2][]int{{{}, {0}}, {{0}, {6}}, {{-1}, {0}}} {
		if _, err := joint.Sub(bad[0], bad[1]); err == nil {
			t.Errorf("Sub(%v, %v): no error", bad[0], bad[1])
		}
	}
}

// TestPairScoresUndefined checks the reasons for scores that do not exist,
// and that a column constant up to rounding of its mean counts as
// constant.
func TestPairScoresUndefined(t *testing.T) {
	const rows = 50
	x := make([]float32, rows*2)
	zero := make([]float32, rows)
	tenth := make([]float32, rows)
	for i := range rows {
		x[2*i], x[2*i+1] = float32(i%7), float32(i%3)
		tenth[i] = 0.1
	}
	wide := gaussian(newRand(3), rows, 60, 0, 1)
	cases := []struct {
		name          string
		s             *Stats
		cka, dist, r2 string // wanted reasons; "" means defined
	}{
		{"y_zero", statsOf(t, x, zero, 2, 1), "B is constant", "B is constant", "B is constant over the data: it has no variance to explain"},
		{"y_constant_rounded", statsOf(t, x, tenth, 2, 1), "B is constant", "B is constant", "no variance"},
		{"x_constant", statsOf(t, tenth, x, 1, 2), "A is constant", "A is constant", ""},
		{"more_features_than_rows", statsOf(t, wide, x, 60, 2), "", "", "50 sample rows for the 60 features of A: the fit needs at least 61"},
		{"defined", statsOf(t, x, x, 2, 2), "", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cka, dist, r2 := pairScores(c.s, "A", "B")
			for _, m := range []struct {
				name string
				got  Score
				want string
			}{{"cka", cka, c.cka}, {"distance", dist, c.dist}, {"r2", r2, c.r2}} {
				if m.want == "" {
					if !m.got.Defined() || math.IsNaN(m.got.Value) {
						t.Errorf("%s: %+v, want a value", m.name, m.got)
					}
					continue
				}
				if m.got.Defined() || !strings.Contains(m.got.Undefined, m.want) {
					t.Errorf("%s: %+v, want undefined with %q", m.name, m.got, m.want)
				}
			}
		})
	}
	b, err := json.Marshal([]Score{{Value: 0.5}, {Undefined: "why"}})
	if err != nil || string(b) != "[0.5,null]" {
		t.Errorf("JSON %s, %v; want [0.5,null]", b, err)
	}
}

func fmnistModel(t *testing.T, name string) *onnx.Model {
	t.Helper()
	m, err := onnx.Load(filepath.Join(fixtures.Dir(), "fmnist", name))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestSimilarityMatchesPairs compares conv1, pool2 and fc1 of the two
// bundled models, as the issue did (it printed NaN and took minutes), and
// checks every score against the same measure computed from a Stats of
// that pair alone, filled from the activations held in memory: the
// joint accumulation changes nothing but rounding (1e-9). auto compares
// conv1 with conv1 and pool2 with pool2 by pixels and pools the rest.
func TestSimilarityMatchesPairs(t *testing.T) {
	src, err := data.Open(filepath.Join(fixtures.Dir(), "fmnist", "t10k-images-1k-idx3-ubyte.gz"), data.Options{Mean: []float64{0.2860}, Std: []float64{0.3530}})
	if err != nil {
		t.Fatal(err)
	}
	layers := []string{"conv1", "pool2", "fc1"}
	a, b := fmnistModel(t, "a.onnx"), fmnistModel(t, "b.onnx")
	const limit = 80 // in batches of 32: two full and one short
	r, err := Similarity(a, layers, b, layers, src, SimilarityOptions{Feed: feed.Options{Batch: 32, Limit: limit}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Samples != limit || len(r.Undefined) != 0 {
		t.Fatalf("samples %d, undefined %v", r.Samples, r.Undefined)
	}
	wantModes := [][]FeatureMode{{"pixels", "pool", "pool"}, {"pool", "pixels", "pool"}, {"pool", "pool", "flatten"}}
	// The reference: whole activations of the first limit samples.
	x, _, err := src.Batch(0, limit)
	if err != nil {
		t.Fatal(err)
	}
	acts := func(m *onnx.Model) []*tensor.Dense {
		fm, err := feed.Compile(m, 0)
		if err != nil {
			t.Fatal(err)
		}
		var out []*tensor.Dense
		for _, l := range layers {
			v, err := m.Graph.Resolve(l)
			if err != nil {
				t.Fatal(err)
			}
			d, err := fm.Value(x, v.Name)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, d)
		}
		return out
	}
	xa, xb := acts(a), acts(b)
	for i := range layers {
		for j := range layers {
			if r.Features[i][j] != wantModes[i][j] {
				t.Errorf("%s × %s compared as %s, want %s", layers[i], layers[j], r.Features[i][j], wantModes[i][j])
			}
			fa, fb := refFeatures(t, xa[i], r.Features[i][j]), refFeatures(t, xb[j], r.Features[i][j])
			s := statsOf(t, fa.F32, fb.F32, fa.Shape[1], fb.Shape[1])
			cka, _ := CKA(s)
			d, _ := ProcrustesDistance(s)
			r2, _ := R2(s)
			for _, m := range []struct {
				name      string
				got       Score
				want, tol float64
			}{{"cka", r.CKA[i][j], cka, 1e-9}, {"distance", r.Procrustes[i][j], d, 1e-9}, {"r2", r.R2[i][j], r2, 1e-7}} {
				if !m.got.Defined() || math.Abs(m.got.Value-m.want) > m.tol {
					t.Errorf("%s × %s %s: %+v, pair alone %v", layers[i], layers[j], m.name, m.got, m.want)
				}
			}
		}
	}
}

// refFeatures turns a whole activation into rows as the mode says:
// pixels (Pixels), the mean over space of NCHW, or itself.
func refFeatures(t *testing.T, x *tensor.Dense, mode FeatureMode) *tensor.Dense {
	t.Helper()
	switch {
	case mode == FeaturesPixels:
		p, err := Pixels(x)
		if err != nil {
			t.Fatal(err)
		}
		return p
	case x.Rank() == 4:
		n, c, hw := x.Shape[0], x.Shape[1], x.Shape[2]*x.Shape[3]
		out := tensor.New(tensor.Float32, n, c)
		for i := range n * c {
			var s float64
			for _, v := range x.F32[i*hw : (i+1)*hw] {
				s += float64(v)
			}
			out.F32[i] = float32(s / float64(hw))
		}
		return out
	}
	return x
}

// TestSimilaritySelfAndErrors: one model against itself shares its
// activations (CKA 1 on the diagonal), and bad requests are errors.
func TestSimilaritySelfAndErrors(t *testing.T) {
	src, err := data.Open(filepath.Join(fixtures.Dir(), "fmnist", "input8.npy"), data.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := fmnistModel(t, "a.onnx")
	r, err := Similarity(a, []string{"pool2", "relu3"}, a, []string{"pool2", "relu3"}, src, SimilarityOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if c := r.CKA[i][i]; !c.Defined() || math.Abs(c.Value-1) > 1e-9 {
			t.Errorf("layer %d with itself: CKA %+v", i, c)
		}
	}
	for _, c := range []struct {
		name   string
		la, lb []string
		o      SimilarityOptions
		want   string
	}{
		{"pixels_of_different_sizes", []string{"pool1"}, []string{"pool2"}, SimilarityOptions{Features: FeaturesPixels}, "pixels as samples needs NCHW activations of equal height and width"},
		{"bad_mode", []string{"pool1"}, []string{"pool2"}, SimilarityOptions{Features: "cubes"}, `"cubes": want auto, pixels, pool or flatten`},
		{"no_such_layer", []string{"pool9"}, []string{"pool2"}, SimilarityOptions{}, "model A"},
		{"no_layers", nil, []string{"pool2"}, SimilarityOptions{}, "want at least one"},
	} {
		if _, err := Similarity(a, c.la, a, c.lb, src, c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
}
