package train

import (
	"context"
	"math"
	"testing"
)

// TestFinetune checks Finetune's before and after scores against
// independent evaluations of the model before and after the run, and
// that the before score reaches Progress ahead of the first step.
func TestFinetune(t *testing.T) {
	src := fmnistData(t, "train-images-2k-idx3-ubyte.gz", 256)
	val := fmnistData(t, "t10k-images-1k-idx3-ubyte.gz", 200)
	tm, err := Prepare(loadFMNIST(t), Config{Params: []string{"fc2"}})
	if err != nil {
		t.Fatal(err)
	}
	o, err := NewOptimizer(OptimizerConfig{Name: "sgd", Momentum: 0.9, WeightDecay: math.NaN()})
	if err != nil {
		t.Fatal(err)
	}
	want, err := tm.Evaluate(val, 100)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []EventKind
	opts := Options{Epochs: 2, Batch: 32, Optimizer: o, Schedule: Constant(0.05), Val: val, KeepBest: true,
		Progress: func(e Event) {
			if len(kinds) == 0 || kinds[len(kinds)-1] != e.Kind {
				kinds = append(kinds, e.Kind)
			}
		}}
	fr, err := Finetune(context.Background(), tm, src, opts)
	if err != nil {
		t.Fatal(err)
	}
	if fr.Before != want {
		t.Errorf("before: %+v, an evaluation gives %+v", fr.Before, want)
	}
	if len(kinds) == 0 || kinds[0] != Evaluated {
		t.Errorf("events %v: want Evaluated first", kinds)
	}
	after, err := tm.Evaluate(val, 100)
	if err != nil {
		t.Fatal(err)
	}
	if fr.Kept != fr.BestEpoch || fr.After.Samples != val.Len() || fr.After.Top1 != after.Top1 {
		t.Errorf("after: %+v (kept epoch %d, best %d), an evaluation gives %+v", fr.After, fr.Kept, fr.BestEpoch, after)
	}
}
