package nern

import (
	"math"
	"testing"
)

// TestPredictorRebuildMatchesRun checks Predictor.Rebuild (the exported
// predictor model run by the executor, as `graft nern rebuild` does)
// against Run.Rebuilt (the training graph's own prediction) on every
// represented kernel: two graphs computing the same MLP over the same
// embeddings, so they agree to float32 rounding (1e-5 of the layer's
// largest weight).
func TestPredictorRebuildMatchesRun(t *testing.T) {
	o := DefaultOptions()
	o.Hidden, o.Batch, o.KernelBatch, o.Levels = 6, 2, 256, 8
	r, err := NewRun(loadFixture(t), "", fmnist(t, "train-images-2k-idx3-ubyte.gz"), nil, o)
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := r.Rebuilt()
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Pred.Rebuild(r.Orig, r.Layers, r.Perms, o.Levels, o.Base)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range r.Layers {
		wv, gv := want.Graph.Value(l.Name), got.Graph.Value(l.Name)
		if wv == nil || gv == nil || wv.Const == nil || gv.Const == nil {
			t.Fatalf("layer %s: weights missing", l.Name)
		}
		w, err := wv.Const.Dense()
		if err != nil {
			t.Fatal(err)
		}
		g, err := gv.Const.Dense()
		if err != nil {
			t.Fatal(err)
		}
		if len(w.F32) == 0 || len(w.F32) != len(g.F32) {
			t.Fatalf("layer %s: %d weights rebuilt, %d from the training graph", l.Name, len(g.F32), len(w.F32))
		}
		scale := 0.0
		for _, v := range w.F32 {
			scale = max(scale, math.Abs(float64(v)))
		}
		for i := range w.F32 {
			if d := math.Abs(float64(w.F32[i] - g.F32[i])); d > 1e-5*scale {
				t.Fatalf("layer %s element %d: rebuilt %v, training graph %v", l.Name, i, g.F32[i], w.F32[i])
			}
		}
	}
}
