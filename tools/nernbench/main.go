// Command nernbench times NeRN training steps in graft and in the PyTorch
// reference (fixtures/gen_nern.py) on this machine, in one run, and
// exports the inputs of a matched comparison: the same initial predictor,
// data batches and kernel samples for both.
//
//	go run ./tools/nernbench [-threads 1] [-iters 20] [-batch 64] [-kernel-batch 4096] [-hidden 180]
//	go run ./tools/nernbench -export in.npz -steps 1500 [-batch 64] [-seed 0] [-perm crossfilter] [-eval-every 250]
//
// The speed mode trains both on the fixture ResNet20 (fixtures/nern) with
// the Fashion-MNIST 2k subset, Ranger and NeRN's settings, and prints the
// median seconds per step (forward, the three losses, backward, update)
// and their ratio (above 1: graft is faster). The PyTorch side runs
// gen_nern.py train (NERN_THREADS threads) on an exported file.
//
// The export mode writes what `gen_nern.py train` reads for a run of
// -steps steps that matches `graft nern train` with the same settings
// (seed, batch, kernel batch, hidden, perm; --warmup-rec 0): the initial
// predictor, the normalised training images, each step's sample indices
// and kernel positions, and the 1k validation subset.
package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"syscall"
	"time"

	"github.com/graft-ml/graft/data"
	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/nern"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/runlog"
	"github.com/graft-ml/graft/tensor"
)

func main() {
	threads := flag.Int("threads", 1, "threads for both")
	iters := flag.Int("iters", 20, "timed steps (speed mode; at least 2)")
	batch := flag.Int("batch", 64, "images per step")
	kbatch := flag.Int("kernel-batch", 4096, "kernels in L_rec per step")
	hidden := flag.Int("hidden", 180, "predictor width")
	export := flag.String("export", "", "write the matched-run inputs for gen_nern.py train to this .npz")
	steps := flag.Int("steps", 1500, "steps of the exported run")
	seed := flag.Int("seed", 0, "seed of the predictor and the samples")
	perm := flag.String("perm", nern.PermCrossfilter, "permutation")
	evalEvery := flag.Int("eval-every", 250, "steps between the reference's evaluations (export)")
	flag.Parse()
	root := filepath.Dir(fixtures.Dir())
	o := nern.DefaultOptions()
	o.Batch, o.KernelBatch, o.Hidden, o.Perm, o.Seed, o.Threads = *batch, *kbatch, *hidden, *perm, uint64(*seed), *threads
	o.EvalEvery, o.KeepBest = 0, false
	var err error
	if *export != "" {
		o.Steps = *steps
		err = exportRun(root, o, *export, *evalEvery)
	} else {
		err = speed(root, o, *iters)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "nernbench:", err)
		os.Exit(1)
	}
}

func paths(root string) (model, train, val, valLabels string) {
	fm := filepath.Join(root, "fixtures", "fmnist")
	return filepath.Join(root, "fixtures", "nern", "resnet20.onnx"), filepath.Join(fm, "train-images-2k-idx3-ubyte.gz"),
		filepath.Join(fm, "t10k-images-1k-idx3-ubyte.gz"), filepath.Join(fm, "t10k-labels-1k-idx1-ubyte.gz")
}

func open(path string) (data.Source, error) {
	return data.Open(path, data.Options{Mean: []float64{0.2860}, Std: []float64{0.3530}})
}

func newRun(root string, o nern.Options) (*nern.Run, error) {
	model, trainPath, _, _ := paths(root)
	m, err := onnx.Load(model)
	if err != nil {
		return nil, err
	}
	src, err := open(trainPath)
	if err != nil {
		return nil, err
	}
	return nern.NewRun(m, "", src, nil, o)
}

// exportRun writes the inputs of gen_nern.py train for o's run.
func exportRun(root string, o nern.Options, path string, evalEvery int) error {
	r, err := newRun(root, o)
	if err != nil {
		return err
	}
	model, trainPath, valPath, valLabels := paths(root)
	abs, err := filepath.Abs(model)
	if err != nil {
		return err
	}
	f := func(v float64) *tensor.Dense { return tensor.FromF64(nil, []float64{v}) }
	in := map[string]*tensor.Dense{
		"model": bytesU8(abs), "perm": bytesU8(o.Perm),
		"levels": f(float64(o.Levels)), "base": f(o.Base),
		"lambda_fm": f(o.LambdaFM), "lambda_kd": f(o.LambdaKD),
		"lr": f(o.LR), "min_lr": f(o.MinLR), "beta1": f(o.Beta1), "beta2": f(o.Beta2), "eps": f(o.Eps),
		"weight_decay": f(o.WeightDecay), "k": f(6), "alpha": f(0.5),
		"layers": f(float64(len(r.Pred.Weights))), "steps": f(float64(o.Steps)), "warmup_rec": f(float64(o.WarmupRecSteps)),
		"eval_every": f(float64(evalEvery)),
	}
	for i := range r.Pred.Weights {
		in["w"+strconv.Itoa(i)] = r.Pred.Weights[i]
		in["b"+strconv.Itoa(i)] = r.Pred.Biases[i]
	}
	src, err := open(trainPath)
	if err != nil {
		return err
	}
	if in["data_x"], _, err = src.Batch(0, src.Len()); err != nil {
		return err
	}
	var samples, positions []int64
	for t := 0; t < o.Steps; t++ {
		s := r.Sample(t)
		for _, i := range s.Samples {
			samples = append(samples, int64(i))
		}
		if len(s.Positions) != o.KernelBatch {
			return fmt.Errorf("step %d: %d positions; want %d", t, len(s.Positions), o.KernelBatch)
		}
		positions = append(positions, s.Positions...)
	}
	in["samples"] = tensor.FromI64([]int{o.Steps, o.Batch}, samples)
	in["positions"] = tensor.FromI64([]int{o.Steps, o.KernelBatch}, positions)
	val, err := data.Open(valPath, data.Options{Mean: []float64{0.2860}, Std: []float64{0.3530}, Labels: valLabels})
	if err != nil {
		return err
	}
	vx, vy, err := val.Batch(0, val.Len())
	if err != nil {
		return err
	}
	in["val_x"], in["val_y"] = vx, tensor.FromI64([]int{len(vy)}, vy)
	return tensor.SaveNPZ(path, in)
}

func bytesU8(s string) *tensor.Dense {
	v := make([]int64, len(s))
	for i := range s {
		v[i] = int64(s[i])
	}
	return tensor.FromI64([]int{len(v)}, v)
}

// speed times iters steps (after 2 untimed) of each and prints the ratio.
func speed(root string, o nern.Options, iters int) error {
	const warm = 2
	o.Steps = warm + iters
	r, err := newRun(root, o)
	if err != nil {
		return err
	}
	var times []float64
	var cpu0, cpu1 float64
	last := time.Duration(0)
	r.Progress = func(e nern.Event) {
		times = append(times, (e.ElapsedSinceResumed - last).Seconds())
		last = e.ElapsedSinceResumed
		switch e.Step {
		case warm:
			cpu0 = cpuSeconds()
		case warm + iters - 1: // the last step also evaluates
			cpu1 = cpuSeconds()
		}
	}
	if err := r.Train(context.Background(), ""); err != nil {
		return err
	}
	g, gc := median(times[warm:]), (cpu1-cpu0)/float64(iters-1)

	tmp, err := os.MkdirTemp("", "nernbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	in, out := filepath.Join(tmp, "in.npz"), filepath.Join(tmp, "out.npz")
	if err := exportRun(root, o, in, 0); err != nil {
		return err
	}
	cmd := exec.Command(fixtures.Python, filepath.Join(root, "fixtures", "gen_nern.py"), "train", in, out)
	cmd.Env = append(os.Environ(), "NERN_THREADS="+strconv.Itoa(max(o.Threads, 1)))
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("gen_nern.py train: %v: %s", err, b)
	}
	res, err := tensor.LoadNPZ(out)
	if err != nil {
		return err
	}
	t := median(res["step_seconds"].Float64s()[warm:])
	var tc float64
	for _, v := range res["step_cpu_seconds"].Float64s()[warm:] {
		tc += v / float64(iters)
	}
	fmt.Printf("machine: %s, GOMAXPROCS %d, threads %d; ResNet20 (fixtures/nern), h %d, batch %d, kernel batch %d, %s, Ranger; median of %d steps\n",
		cpuName(), runtime.GOMAXPROCS(0), o.Threads, o.Hidden, o.Batch, o.KernelBatch, o.Perm, iters)
	fmt.Printf("%-10s %14s %16s\n", "", "wall s/step", "CPU s/step")
	fmt.Printf("%-10s %14.3f %16.3f\n%-10s %14.3f %16.3f\n", "graft", g, gc, "pytorch", t, tc)
	fmt.Printf("pytorch/graft: %.2fx wall, %.2fx CPU (above 1: graft is faster; PyTorch's linear: %s)\n", t/g, tc/gc, linearName())
	return nil
}

// cpuSeconds returns the CPU time this process has used (user + system):
// less sensitive to other jobs on the machine than wall time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return math.NaN()
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func linearName() string {
	if os.Getenv("NERN_LINEAR") == "onednn" {
		return "oneDNN (NERN_LINEAR=onednn)"
	}
	return "F.linear (this torch's BLAS)"
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func cpuName() string {
	if s := runlog.CPUModel(); s != "" {
		return s
	}
	return runtime.GOARCH
}
