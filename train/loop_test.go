package train

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/graft-ml/graft/data"
	"github.com/graft-ml/graft/exec"
	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// fmnistData opens the first n bundled Fashion-MNIST training images,
// normalised as the models were trained.
func fmnistData(t *testing.T, file string, n int) data.Source {
	t.Helper()
	src, err := data.Open(filepath.Join("..", "fixtures", "fmnist", file), data.Options{Mean: []float64{0.2860}, Std: []float64{0.3530}})
	if err != nil {
		t.Fatal(err)
	}
	if n < src.Len() {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		if src, err = data.Subset(src, idx); err != nil {
			t.Fatal(err)
		}
	}
	return src
}

func loadFMNIST(t *testing.T) *onnx.Model {
	t.Helper()
	m, err := onnx.Load(filepath.Join("..", "fixtures", "fmnist", "a.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// trainRun trains conv3 and fc2 of the Fashion-MNIST model on 300 images
// with one thread, so that runs are bit for bit repeatable.
type trainRun struct {
	t        *testing.T
	schedule func() Schedule
	src      data.Source
}

func (r trainRun) fit(ctx context.Context, opt Options) (*Model, *Result) {
	r.t.Helper()
	tm, err := Prepare(loadFMNIST(r.t), Config{Params: []string{"conv3", "fc2"}, Threads: 1})
	if err != nil {
		r.t.Fatal(err)
	}
	o, err := NewOptimizer(OptimizerConfig{Name: "adam", WeightDecay: 1e-4})
	if err != nil {
		r.t.Fatal(err)
	}
	opt.Optimizer, opt.Schedule, opt.Batch, opt.Seed = o, r.schedule(), 64, 7
	res, err := Fit(ctx, tm, r.src, opt)
	if err != nil {
		r.t.Fatal(err)
	}
	return tm, res
}

func sameParams(t *testing.T, a, b *Model) {
	t.Helper()
	for i, p := range a.Params {
		if !tensor.Equal(p.Value, b.Params[i].Value) {
			t.Fatalf("parameter %s differs after resuming", p.Name)
		}
	}
}

// TestResume trains 2 epochs, stops, resumes to 5, and expects exactly
// the weights of 5 epochs in one go (one thread: the kernels' sums run in
// one order).
func TestResume(t *testing.T) {
	r := trainRun{t: t, src: fmnistData(t, "train-images-2k-idx3-ubyte.gz", 300), schedule: func() Schedule { return Constant(1e-3) }}
	whole, res := r.fit(context.Background(), Options{Epochs: 5})
	if len(res.Epochs) != 5 || res.Steps != 25 {
		t.Fatalf("5 epochs of 300 samples in batches of 64: got %d epochs, %d steps", len(res.Epochs), res.Steps)
	}
	ckpt := filepath.Join(t.TempDir(), "ckpt.onnx")
	r.fit(context.Background(), Options{Epochs: 2, Checkpoint: ckpt})
	resumed, res2 := r.fit(context.Background(), Options{Epochs: 5, Resume: ckpt})
	sameParams(t, whole, resumed)
	if len(res2.Epochs) != 5 || res2.Epochs[4].Loss != res.Epochs[4].Loss {
		t.Errorf("resumed history %+v, want %+v", res2.Epochs, res.Epochs)
	}
	if res.Epochs[4].Loss >= res.Epochs[0].Loss {
		t.Errorf("training did not lower the loss: %+v", res.Epochs)
	}
}

// TestInterrupt cancels a run in the middle of an epoch under a cosine
// schedule, resumes it from the checkpoint the interruption wrote, and
// expects the weights of an uninterrupted run.
func TestInterrupt(t *testing.T) {
	r := trainRun{t: t, src: fmnistData(t, "train-images-2k-idx3-ubyte.gz", 300), schedule: func() Schedule {
		s, err := NewSchedule(ScheduleConfig{Name: "cosine", LR: 2e-3, Total: 15, Warmup: 3})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}}
	whole, _ := r.fit(context.Background(), Options{Epochs: 3})
	ckpt := filepath.Join(t.TempDir(), "ckpt.onnx")
	ctx, cancel := context.WithCancel(context.Background())
	_, res := r.fit(ctx, Options{Epochs: 3, Checkpoint: ckpt, Progress: func(e Event) {
		if e.Kind == StepDone && e.GlobalStep == 7 {
			cancel()
		}
	}})
	if !res.Interrupted || res.Steps != 7 {
		t.Fatalf("interrupted: %v after %d steps, want true after 7", res.Interrupted, res.Steps)
	}
	resumed, _ := r.fit(context.Background(), Options{Epochs: 3, Resume: ckpt})
	sameParams(t, whole, resumed)
}

func TestResumeMismatch(t *testing.T) {
	r := trainRun{t: t, src: fmnistData(t, "train-images-2k-idx3-ubyte.gz", 100), schedule: func() Schedule { return Constant(1e-3) }}
	ckpt := filepath.Join(t.TempDir(), "ckpt.onnx")
	r.fit(context.Background(), Options{Epochs: 1, Checkpoint: ckpt})
	tm, err := Prepare(loadFMNIST(t), Config{Params: []string{"conv3", "fc2"}, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	o, _ := NewOptimizer(OptimizerConfig{Name: "adam", WeightDecay: math.NaN()})
	_, err = Fit(context.Background(), tm, r.src, Options{Epochs: 2, Batch: 32, Seed: 7, Optimizer: o, Schedule: Constant(1e-3), Resume: ckpt})
	if err == nil {
		t.Fatal("resumed with another batch size")
	}
	t.Log(err)
	_, err = Fit(context.Background(), tm, r.src, Options{Epochs: 2, Batch: 64, Seed: 7, Optimizer: o, Schedule: Constant(1e-3), Resume: filepath.Join(t.TempDir(), "missing.onnx")})
	if err == nil {
		t.Fatal("resumed from a missing checkpoint")
	}
	t.Log(err)
}

// TestExportRuns checks that a trained model is valid ONNX (onnx.checker)
// and that ONNX Runtime computes what graft computes with the new
// weights, and that validation, keep-best and the top-1 bookkeeping agree
// with an independent evaluation.
func TestExportRuns(t *testing.T) {
	src := fmnistData(t, "train-images-2k-idx3-ubyte.gz", 256)
	val := fmnistData(t, "t10k-images-1k-idx3-ubyte.gz", 200)
	tm, err := Prepare(loadFMNIST(t), Config{Params: []string{"fc1", "fc2"}})
	if err != nil {
		t.Fatal(err)
	}
	o, err := NewOptimizer(OptimizerConfig{Name: "sgd", Momentum: 0.9, WeightDecay: math.NaN()})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Fit(context.Background(), tm, src, Options{Epochs: 3, Batch: 32, Optimizer: o, Schedule: Constant(0.05), Val: val, KeepBest: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.BestEpoch < 1 {
		t.Fatalf("no best epoch: %+v", res)
	}
	m, err := tm.Export()
	if err != nil {
		t.Fatal(err)
	}
	// The exported model scores what the kept epoch scored.
	check, err := Prepare(m, Config{Params: []string{"fc2"}})
	if err != nil {
		t.Fatal(err)
	}
	e, err := check.Evaluate(val, 50)
	if err != nil {
		t.Fatal(err)
	}
	if best := res.Epochs[res.BestEpoch-1]; e.Top1 != best.ValTop1 {
		t.Errorf("exported model top-1 %v, best epoch's %v", e.Top1, best.ValTop1)
	}
	path := filepath.Join(t.TempDir(), "trained.onnx")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	if err := fixtures.CheckModel(path); err != nil {
		t.Fatal(err)
	}
	x, _, err := val.Batch(0, 8)
	if err != nil {
		t.Fatal(err)
	}
	p, err := exec.Compile(m)
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Run(map[string]*tensor.Dense{"input": x}, exec.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := out["logits"]
	want := fixtures.ORTOutput(t, m, "input", x)
	for i := range want.F32 {
		// float32 kernels with different summation orders.
		if d := math.Abs(float64(got.F32[i] - want.F32[i])); d > 1e-4*max(1, math.Abs(float64(want.F32[i]))) {
			t.Fatalf("logit %d: graft %v, ONNX Runtime %v", i, got.F32[i], want.F32[i])
		}
	}
}

func TestFitErrors(t *testing.T) {
	src := fmnistData(t, "train-images-2k-idx3-ubyte.gz", 10)
	tm, err := Prepare(loadFMNIST(t), Config{Params: []string{"fc2"}})
	if err != nil {
		t.Fatal(err)
	}
	o, _ := NewOptimizer(OptimizerConfig{Name: "adam", WeightDecay: math.NaN()})
	sgd, _ := NewOptimizer(OptimizerConfig{Name: "sgd", WeightDecay: math.NaN()})
	cases := map[string]Options{
		"no_epochs":       {Batch: 4, Optimizer: o, Schedule: Constant(1e-3)},
		"no_batch":        {Epochs: 1, Optimizer: o, Schedule: Constant(1e-3)},
		"no_optimizer":    {Epochs: 1, Batch: 4, Schedule: Constant(1e-3)},
		"no_schedule":     {Epochs: 1, Batch: 4, Optimizer: o},
		"keep_best_alone": {Epochs: 1, Batch: 4, Optimizer: o, Schedule: Constant(1e-3), KeepBest: true},
		"diverges":        {Epochs: 3, Batch: 4, Optimizer: sgd, Schedule: Constant(1e37)}, // logits overflow float32
	}
	for name, opt := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := Fit(context.Background(), tm, src, opt); err == nil {
				t.Fatal("Fit accepted it")
			} else {
				t.Log(err)
			}
		})
	}
}

func TestRangeTest(t *testing.T) {
	src := fmnistData(t, "train-images-2k-idx3-ubyte.gz", 512)
	tm, err := Prepare(loadFMNIST(t), Config{Params: []string{"fc2"}})
	if err != nil {
		t.Fatal(err)
	}
	before := cloneValues(tm.Params)
	o, _ := NewOptimizer(OptimizerConfig{Name: "sgd", WeightDecay: math.NaN()})
	res, err := RangeTest(context.Background(), tm, src, RangeTestOptions{MinLR: 1e-5, MaxLR: 100, Steps: 60, Batch: 32, Optimizer: o})
	if err != nil {
		t.Fatal(err)
	}
	if !(res.Suggested > 1e-5 && res.Suggested < 100) || len(res.LRs) != len(res.Losses) {
		t.Fatalf("suggested %v from %d rates", res.Suggested, len(res.LRs))
	}
	if !res.Diverged {
		t.Errorf("sgd at lr 100 did not diverge: last loss %v", res.Losses[len(res.Losses)-1])
	}
	for i, p := range tm.Params {
		if !tensor.Equal(p.Value, before[i]) {
			t.Fatalf("the range test left %s changed", p.Name)
		}
	}
}
