package nern

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"testing"
)

// TestResume trains 6 steps (2 reconstruction-only, then the whole
// objective) straight, and again stopped after step 3 through a cancelled
// context (which writes the checkpoint) and resumed in a new Run: with
// one thread the predictor, the optimizer's trajectory and the
// evaluations are bit-identical, since each step's batch and kernel
// sample depend only on the seed and the step, and the checkpoint holds
// the optimizer's whole state.
func TestResume(t *testing.T) {
	o := DefaultOptions()
	o.Hidden, o.Batch, o.KernelBatch, o.Levels, o.Steps, o.WarmupRecSteps = 8, 2, 256, 4, 6, 2
	o.EvalEvery, o.Threads, o.Seed = 2, 1, 3
	m := loadFixture(t)
	src := fmnist(t, "train-images-2k-idx3-ubyte.gz")
	newRun := func() *Run {
		r, err := NewRun(m, "", src, nil, o)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	straight := newRun()
	if err := straight.Train(context.Background(), ""); err != nil {
		t.Fatal(err)
	}

	ckpt := filepath.Join(t.TempDir(), "checkpoint.npz")
	first := newRun()
	ctx, cancel := context.WithCancel(context.Background())
	first.Progress = func(e Event) {
		if e.Step == 3 {
			cancel()
		}
	}
	if err := first.Train(ctx, ckpt); !errors.Is(err, context.Canceled) {
		t.Fatalf("stopped run: %v; want context.Canceled", err)
	}
	resumed := newRun()
	if err := resumed.LoadCheckpoint(ckpt); err != nil {
		t.Fatal(err)
	}
	if resumed.Step != 3 {
		t.Fatalf("resumed at step %d; want 3", resumed.Step)
	}
	if err := resumed.Train(context.Background(), ckpt); err != nil {
		t.Fatal(err)
	}
	a, b := straight.Pred.tensors(), resumed.Pred.tensors()
	for name, d := range a {
		for i, v := range d.F32 {
			if math.Float32bits(v) != math.Float32bits(b[name].F32[i]) {
				t.Fatalf("%s[%d]: straight %v, resumed %v", name, i, v, b[name].F32[i])
			}
		}
	}
	hs, hr := straight.History(), resumed.History()
	if len(hs) != 3 || len(hr) != len(hs) {
		t.Fatalf("evaluations: straight %d, resumed %d; want 3", len(hs), len(hr))
	}
	for i := range hs {
		if hs[i].Step != hr[i].Step || hs[i].RMSE != hr[i].RMSE || !math.IsNaN(hr[i].Top1) {
			t.Errorf("evaluation %d: straight %+v, resumed %+v", i, hs[i], hr[i])
		}
	}
}
