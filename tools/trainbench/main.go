// Command trainbench times one training step (forward, loss, backward,
// Adam update) in graft and in PyTorch on the same models, batch and
// thread count, in one run, and prints milliseconds per step and their
// ratio (above 1: graft is faster).
//
//	go run ./tools/trainbench [-threads 2] [-iters 30] [-batch 64]
//
// The cases are the bundled Fashion-MNIST CNN stitched at pool1 with a
// 1×1 adapter, training the adapter alone (both models frozen), and the
// CNN itself with every parameter trained. PyTorch runs
// fixtures/finetune_ref.py --bench, which builds the same graph from the
// same ONNX file as torch operations, under Debian's /usr/bin/python3.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"time"

	"github.com/graft-ml/graft/data"
	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/runlog"
	"github.com/graft-ml/graft/train"
)

func main() {
	threads := flag.Int("threads", 2, "threads for both")
	iters := flag.Int("iters", 30, "timed steps per measurement")
	batch := flag.Int("batch", 64, "samples per step")
	flag.Parse()
	if err := compare(*threads, *iters, *batch); err != nil {
		fmt.Fprintln(os.Stderr, "trainbench:", err)
		os.Exit(1)
	}
}

type benchCase struct {
	name, model, train string
}

func compare(threads, iters, batch int) error {
	root := filepath.Dir(fixtures.Dir())
	fm := filepath.Join(root, "fixtures", "fmnist")
	images := filepath.Join(fm, "train-images-2k-idx3-ubyte.gz")
	labels := filepath.Join(fm, "train-labels-2k-idx1-ubyte.gz")
	tmp, err := os.MkdirTemp("", "trainbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	stitched := filepath.Join(tmp, "ab.onnx")
	stitch := exec.Command("go", "run", "./cmd/graft", "stitch", filepath.Join(fm, "a.onnx"), "--at", "pool1",
		filepath.Join(fm, "b.onnx"), "--from", "pool1", "--fit", "linear", "--data", images,
		"--mean", "0.2860", "--std", "0.3530", "--no-record", "-o", stitched)
	stitch.Dir = root
	if out, err := stitch.CombinedOutput(); err != nil {
		return fmt.Errorf("stitch: %v: %s", err, out)
	}
	cases := []benchCase{
		{"stitched adapter (1x1 conv, pool1)", stitched, "adapter"},
		{"fmnist CNN, all parameters", filepath.Join(fm, "a.onnx"), "*"},
	}
	fmt.Printf("machine: %s, GOMAXPROCS %d, threads %d, batch %d, %d steps (median ms per step)\n", cpuName(), runtime.GOMAXPROCS(0), threads, batch, iters)
	fmt.Printf("%-36s %10s %10s %12s\n", "case", "graft ms", "torch ms", "torch/graft")
	for _, c := range cases {
		g, err := graftStep(c, images, threads, iters, batch)
		if err != nil {
			return fmt.Errorf("%s: graft: %w", c.name, err)
		}
		t, err := torchStep(root, c, images, labels, threads, iters, batch)
		if err != nil {
			return fmt.Errorf("%s: torch: %w", c.name, err)
		}
		fmt.Printf("%-36s %10.2f %10.2f %11.2fx\n", c.name, g, t, t/g)
	}
	return nil
}

// graftStep returns the median milliseconds of a step on the first batch.
func graftStep(c benchCase, images string, threads, iters, batch int) (float64, error) {
	m, err := onnx.Load(c.model)
	if err != nil {
		return 0, err
	}
	tm, err := train.Prepare(m, train.Config{Params: []string{c.train}, Threads: threads})
	if err != nil {
		return 0, err
	}
	opt, err := train.NewOptimizer(train.OptimizerConfig{Name: "adam"})
	if err != nil {
		return 0, err
	}
	src, err := data.Open(images, data.Options{Mean: []float64{0.2860}, Std: []float64{0.3530}})
	if err != nil {
		return 0, err
	}
	x, y, err := src.Batch(0, batch)
	if err != nil {
		return 0, err
	}
	idx := make([]int, batch)
	var times []float64
	for i := 0; i < iters+3; i++ {
		start := time.Now()
		if _, err := tm.Step(x, idx, y); err != nil {
			return 0, err
		}
		if err := opt.Step(tm.Params, 1e-3); err != nil {
			return 0, err
		}
		if i >= 3 {
			times = append(times, float64(time.Since(start).Microseconds())/1e3)
		}
	}
	sort.Float64s(times)
	return times[len(times)/2], nil
}

func torchStep(root string, c benchCase, images, labels string, threads, iters, batch int) (float64, error) {
	cmd := exec.Command(fixtures.Python, filepath.Join(root, "fixtures", "finetune_ref.py"), c.model,
		"--train", c.train, "--data", images, "--labels", labels, "--mean", "0.2860", "--std", "0.3530",
		"--batch", strconv.Itoa(batch), "--bench", strconv.Itoa(iters), "--threads", strconv.Itoa(threads))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("%v: %s", err, stderr.String())
	}
	var r struct {
		MS float64 `json:"ms_per_step"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return 0, fmt.Errorf("%v: %s", err, out)
	}
	return r.MS, nil
}

func cpuName() string {
	if s := runlog.CPUModel(); s != "" {
		return s
	}
	return runtime.GOARCH
}
