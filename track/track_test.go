package track

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/graft-ml/graft/data"
	"github.com/graft-ml/graft/feed"
	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

func checkpoints(t *testing.T) ([]*onnx.Model, data.Source) {
	t.Helper()
	dir := filepath.Join(fixtures.Dir(), "prune")
	var ms []*onnx.Model
	for k := range 4 {
		m, err := onnx.Load(filepath.Join(dir, fmt.Sprintf("track_%d.onnx", k)))
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	src, err := data.Open(filepath.Join(dir, "input.npy"), data.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return ms, src
}

// TestTrackMatchesNumPy compares the distances over four checkpoints
// (gen_prune.py: a random walk from fixtures/prune/model.onnx) with
// NumPy's on PyTorch's activations of the same layers. Tolerance 1e-6
// absolute: the activations are graft's float32 here and PyTorch's there,
// equal to about 1e-7 relative, and d moves by about that much. Batches
// of 6 over 20 samples check that the sums add up across batches.
func TestTrackMatchesNumPy(t *testing.T) {
	ms, src := checkpoints(t)
	ref, err := tensor.LoadNPZ(filepath.Join(fixtures.Dir(), "prune", "track.npz"))
	if err != nil {
		t.Fatal(err)
	}
	for _, layers := range [][]string{nil, {"conv1", "conv2", "fc1", "fc2"}} {
		r, err := Track(ms, src, Options{Layers: layers, Feed: feed.Options{Batch: 6}})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(r.Layers) != "[conv1 conv2 fc1 fc2]" || r.Samples != 20 || r.Checkpoints != 4 {
			t.Fatalf("layers %v, %d samples, %d checkpoints", r.Layers, r.Samples, r.Checkpoints)
		}
		cons, last := ref["consecutive"].Float64s(), ref["to_last"].Float64s()
		for l, name := range r.Layers {
			for k, d := range r.Consecutive[l] {
				if d.Undefined != "" || math.Abs(d.Value-cons[l*3+k]) > 1e-6 {
					t.Errorf("%s %d→%d: %+v, NumPy %g", name, k+1, k+2, d, cons[l*3+k])
				}
			}
			for k, d := range r.ToLast[l] {
				if d.Undefined != "" || math.Abs(d.Value-last[l*4+k]) > 1e-6 {
					t.Errorf("%s %d→last: %+v, NumPy %g", name, k+1, d, last[l*4+k])
				}
			}
		}
	}
}

// TestTrackErrors: too few checkpoints, an unknown layer and mismatched
// architectures are errors, not panics.
func TestTrackErrors(t *testing.T) {
	ms, src := checkpoints(t)
	if _, err := Track(ms[:1], src, Options{}); err == nil {
		t.Error("one checkpoint: no error")
	}
	if _, err := Track(ms, src, Options{Layers: []string{"nosuch"}}); err == nil {
		t.Error("unknown layer: no error")
	}
	other, err := onnx.Load(filepath.Join(fixtures.Dir(), "mlp", "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Track([]*onnx.Model{ms[0], other}, src, Options{Layers: []string{"fc1"}}); err == nil {
		t.Error("another architecture: no error")
	}
}

// TestCosineUndefined: an all-zero activation gives a reason, not NaN.
func TestCosineUndefined(t *testing.T) {
	d := cosine(0, 0, 4, "fc1", 0, 1)
	if d.Undefined == "" || math.IsNaN(d.Value) {
		t.Errorf("%+v", d)
	}
	if d := cosine(2, 4, 1, "fc1", 0, 1); d.Undefined != "" || d.Value != 0 {
		t.Errorf("parallel activations: %+v", d)
	}
}
