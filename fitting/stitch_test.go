package fitting_test

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ml/graft/data"
	"github.com/graft-ml/graft/eval"
	"github.com/graft-ml/graft/exec"
	"github.com/graft-ml/graft/feed"
	"github.com/graft-ml/graft/fitting"
	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

func fmnist(name string) string { return filepath.Join(fixtures.Dir(), "fmnist", name) }

func load(t testing.TB, path string) *onnx.Model {
	t.Helper()
	m, err := onnx.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// images opens a bundled Fashion-MNIST image file, normalised as the
// models were trained.
func images(t testing.TB, name string) data.Source {
	t.Helper()
	src, err := data.Open(fmnist(name), data.Options{Mean: []float64{0.2860}, Std: []float64{0.3530}})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func loadNPY(t testing.TB, name string) *tensor.Dense {
	t.Helper()
	d, err := tensor.LoadNPY(fmnist(name))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func relDiff(a, b []float64) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var num, den float64
	for i := range a {
		num += (a[i] - b[i]) * (a[i] - b[i])
		den += b[i] * b[i]
	}
	return math.Sqrt(num / den)
}

// TestStitchMethods stitches A.pool2 → B.pool2 with every method. The
// linear fit on the 2000 bundled training images is the README's
// adapter: it must match gen_fmnist.py's float64 solution of the same
// normal equations (the activations differ between the runtimes by
// float32 rounding, about 1e-6 relative, which the 64×64 system amplifies
// by its condition number, about 1e3, so 1e-2 relative), score PyTorch's
// stitched 0.903 on the 1000 test images exactly and reproduce its logits
// on the reference images within 1e-2. The other methods, fitted on 200
// images to keep the race-detector run short, must give a working adapter
// (B alone scores about 0.9, chance 0.1); under the race detector the
// linear fit is one of them.
func TestStitchMethods(t *testing.T) {
	x8, ref := loadNPY(t, "input8.npy"), loadNPY(t, "logits_stitch.npy")
	test := images(t, "t10k-images-1k-idx3-ubyte.gz")
	for _, method := range []string{"linear", "lowrank:16", "procrustes", "procrustes:unscaled"} {
		t.Run(method, func(t *testing.T) {
			m, err := fitting.ParseMethod(method)
			if err != nil {
				t.Fatal(err)
			}
			linear := method == "linear" && !raceEnabled
			o := fitting.StitchOptions{Method: m, Feed: feed.Options{Batch: 500, Limit: 200}}
			var progress [][2]int
			if linear {
				o.Feed.Limit = 0
				o.Feed.Progress = func(done, total int) { progress = append(progress, [2]int{done, total}) }
			}
			a := load(t, fmnist("a.onnx"))
			r, err := fitting.Stitch(a, "pool2", load(t, fmnist("b.onnx")), "pool2", images(t, "train-images-2k-idx3-ubyte.gz"), o)
			if err != nil {
				t.Fatal(err)
			}
			samples := 200
			if linear {
				samples = 2000
			}
			if r.Samples != samples || r.Rows != samples*49 || r.Fit.In != 64 || r.Fit.Out != 64 || r.ResizedFrom != [2]int{} || r.Stitch.AType != r.Stitch.BType {
				t.Errorf("samples %d rows %d map %d → %d resized %v joints %s, %s; want %d, %d, 64 → 64, none, equal",
					r.Samples, r.Rows, r.Fit.In, r.Fit.Out, r.ResizedFrom, r.Stitch.AType, r.Stitch.BType, samples, samples*49)
			}
			eo := eval.Options{}
			if !linear {
				eo.Feed.Limit = 200
			}
			acc, err := eval.Accuracy(a, test, eo)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: R² %.4f, stitched top-1 %.3f", method, r.Fit.R2, *acc.Top1)
			if *acc.Top1 < 0.5 {
				t.Errorf("stitched top-1 %.3f: the adapter does not work", *acc.Top1)
			}
			if !linear {
				return
			}
			if len(progress) != 5 || progress[4] != [2]int{2000, 2000} {
				t.Errorf("progress %v, want 0, 500, …, 2000 of 2000", progress)
			}
			w, b := loadNPY(t, "ref_adapter_w.npy"), loadNPY(t, "ref_adapter_b.npy")
			if d := relDiff(r.Fit.W, w.Float64s()); d > 1e-2 {
				t.Errorf("W differs from PyTorch's by %.3g relative", d)
			}
			if d := relDiff(r.Fit.B, b.Float64s()); d > 1e-2 {
				t.Errorf("B differs from PyTorch's by %.3g relative", d)
			}
			if *acc.Top1 != 0.903 {
				t.Errorf("stitched top-1 %.3f, PyTorch's stitch with its own least-squares adapter scores 0.903", *acc.Top1)
			}
			p, err := exec.Compile(a)
			if err != nil {
				t.Fatal(err)
			}
			out, err := p.Run(map[string]*tensor.Dense{"input": x8}, exec.RunOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got := out["logits"].Float64s()
			worst := 0.0
			for i, v := range ref.Float64s() {
				worst = math.Max(worst, math.Abs(got[i]-v))
			}
			if worst > 1e-2 {
				t.Errorf("stitched logits differ from PyTorch's stitch by %.3g", worst)
			}
		})
	}
}

// TestFitAdapterResize joins A's pool1 (32×14×14) to B's pool2 (64×7×7):
// the adapter resizes bilinearly, then fits a 3×3 conv.
func TestFitAdapterResize(t *testing.T) {
	r, err := fitting.FitAdapter(load(t, fmnist("a.onnx")), "pool1", load(t, fmnist("b.onnx")), "pool2", images(t, "train-images-2k-idx3-ubyte.gz"),
		fitting.StitchOptions{Kernel: 3, Feed: feed.Options{Limit: 200}})
	if err != nil {
		t.Fatal(err)
	}
	if r.ResizedFrom != [2]int{14, 14} || r.ResizedTo != [2]int{7, 7} || r.Fit.In != 288 || r.Fit.Out != 64 || r.Rows != 200*49 {
		t.Errorf("resized %v → %v, map %d → %d, rows %d; want 14x14 → 7x7, 288 → 64, 9800", r.ResizedFrom, r.ResizedTo, r.Fit.In, r.Fit.Out, r.Rows)
	}
	ops := map[string]bool{}
	for _, n := range r.Adapter.Graph.Nodes {
		ops[n.OpType] = true
	}
	if !ops["Resize"] || !ops["Conv"] {
		t.Errorf("adapter ops %v, want a Resize and a Conv", ops)
	}
}

func TestFitAdapterErrors(t *testing.T) {
	train := images(t, "train-images-2k-idx3-ubyte.gz")
	cases := []struct {
		name     string
		at, from string
		o        fitting.StitchOptions
		want     string
	}{
		{"no_such_layer", "pool9", "pool2", fitting.StitchOptions{}, "model A"},
		{"ranks_differ", "pool2", "fc1", fitting.StitchOptions{}, "adapters map (N, C) to (N, C) or NCHW to NCHW"},
		{"even_kernel_resize", "pool1", "pool2", fitting.StitchOptions{Kernel: 2}, "even kernel"},
		// 8 samples × 49 pixels = 392 rows, fewer than a 3×3 kernel's 576
		// inputs.
		{"too_few_samples", "pool2", "pool2", fitting.StitchOptions{Kernel: 3, Feed: feed.Options{Limit: 8}}, "samples"},
		{"negative_batch", "pool2", "pool2", fitting.StitchOptions{Feed: feed.Options{Batch: -1}}, "batch -1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := fitting.FitAdapter(load(t, fmnist("a.onnx")), c.at, load(t, fmnist("b.onnx")), c.from, train, c.o)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one with %q", err, c.want)
			}
		})
	}
}
