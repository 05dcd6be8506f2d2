// Command sparsebench times pruned models in graft with sparse execution
// on and off, and in ONNX Runtime on the same (dense) file, side by side in
// one run, and prints the latency ratios.
//
//	go run ./tools/sparsebench [-threads 1,2] [-iters 30] [-sparsities 0.5,0.7,0.8,0.9,0.95] [-batches 1,32] [-models mlp,cnn] [-keep DIR]
//
// The models: "mlp", a 784-2048-2048-10 MLP (Gemm + Relu, random normal
// weights with PyTorch's default Linear scale, fixed seed), and "cnn", the
// bundled Fashion-MNIST CNN fixtures/fmnist/a.onnx. Each is pruned per
// layer by magnitude: the given fraction of every Gemm and Conv weight
// with the smallest absolute values is zeroed (biases stay dense), and
// saved densely for ONNX Runtime. graft's sparse column forces every layer
// sparse (SparseOn), so that the sweep shows where sparse stops paying;
// "auto" says which layers exec's default would run sparse.
//
// graft dense and graft sparse are timed in alternating blocks of runs,
// so that the machine's load (shared cores) falls on both alike while
// each runs back to back as a served model does (timeGraft); ONNX
// Runtime runs in its own process (tools/ort, npm ci --ignore-scripts
// there) right after. Each time is the median of its runs, and the
// minimum is shown too: on a machine shared with other work the minimum
// is the time when both threads got a core. The load average before and
// after says how busy the machine was, and rel.diff how far the sparse
// output is from the dense one: max |sparse−dense| / (|dense| + mean
// |dense|).
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	gexec "github.com/graft-ml/graft/exec"
	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/runlog"
	"github.com/graft-ml/graft/tensor"
)

func main() {
	threads := flag.String("threads", "2", "threads for both runtimes (a list runs each)")
	iters := flag.Int("iters", 30, "timed runs of each runtime per measurement")
	sparsities := flag.String("sparsities", "0.5,0.7,0.8,0.9,0.95", "fractions of each weight pruned")
	batches := flag.String("batches", "1,32", "batch sizes")
	models := flag.String("models", "mlp,cnn", "models: mlp (784-2048-2048-10), cnn (fixtures/fmnist/a.onnx)")
	noORT := flag.Bool("no-ort", false, "skip ONNX Runtime")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	keep := flag.String("keep", "", "folder to keep the pruned models in (MODEL_SPARSITY.onnx)")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "sparsebench:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if err := bench(strings.Split(*models, ","), floats(*sparsities), ints(*batches), ints(*threads), *iters, !*noORT, *keep); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "sparsebench:", err)
		os.Exit(1)
	}
}

func floats(s string) []float64 {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || v < 0 || v >= 1 {
			fmt.Fprintf(os.Stderr, "sparsebench: sparsity %q: want a number in [0, 1)\n", f)
			os.Exit(2)
		}
		out = append(out, v)
	}
	return out
}

func ints(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(f)
		if err != nil || v < 1 {
			fmt.Fprintf(os.Stderr, "sparsebench: %q: want a positive integer\n", f)
			os.Exit(2)
		}
		out = append(out, v)
	}
	return out
}

func bench(models []string, sparsities []float64, batches, threadCounts []int, iters int, withORT bool, keep string) error {
	var runner []string
	if withORT {
		var err error
		if runner, err = fixtures.ORTRunner(); err != nil {
			return err
		}
	}
	tmp, err := os.MkdirTemp("", "sparsebench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if keep != "" {
		if err := os.MkdirAll(keep, 0o755); err != nil {
			return err
		}
		tmp = keep
	}
	fmt.Printf("machine: %s, GOMAXPROCS %d, median of %d runs (ms), load average %s\n", cpuName(), runtime.GOMAXPROCS(0), iters, loadAvg())
	defer func() { fmt.Printf("load average after: %s\n", loadAvg()) }()
	fmt.Printf("%-5s %8s %5s %7s %17s %17s %17s %11s %9s %8s  %s\n", "model", "sparsity", "batch", "threads", "dense (min)", "sparse (min)", "ORT (min)", "dense/sprs", "ORT/sprs", "rel.diff", "auto")
	for _, name := range models {
		for _, s := range sparsities {
			m, err := model(name)
			if err != nil {
				return err
			}
			prune(m, s)
			path := filepath.Join(tmp, fmt.Sprintf("%s_%g.onnx", name, s))
			if err := m.Save(path); err != nil {
				return err
			}
			auto, err := gexec.CompileWith(m, gexec.Options{})
			if err != nil {
				return err
			}
			autoNote := fmt.Sprintf("%d of %d layers sparse", len(auto.SparseLayers()), countLayers(m))
			for _, batch := range batches {
				for _, threads := range threadCounts {
					x := randomInput(m.Graph.Inputs[0], batch)
					xPath := filepath.Join(tmp, "x.npy")
					if err := tensor.SaveNPY(xPath, x); err != nil {
						return err
					}
					dense, sparse, diff, err := timeGraft(m, x, threads, iters)
					if err != nil {
						return fmt.Errorf("%s: graft: %w", name, err)
					}
					ort := [2]float64{math.NaN(), math.NaN()}
					if withORT {
						if ort, err = timeORT(runner, path, m.Graph.Inputs[0].Name, xPath, threads, iters); err != nil {
							return fmt.Errorf("%s: onnxruntime: %w", name, err)
						}
					}
					cell := func(t [2]float64) string { return fmt.Sprintf("%.3f (%.3f)", t[0], t[1]) }
					fmt.Printf("%-5s %7.0f%% %5d %7d %17s %17s %17s %10.2fx %8.2fx %8.1e  %s\n", name, 100*s, batch, threads, cell(dense), cell(sparse), cell(ort),
						dense[0]/sparse[0], ort[0]/sparse[0], diff, autoNote)
				}
			}
		}
	}
	return nil
}

// model builds or loads a model by name.
func model(name string) (*onnx.Model, error) {
	switch name {
	case "mlp":
		return mlp([]int{784, 2048, 2048, 10}, 1), nil
	case "cnn":
		return onnx.Load(filepath.Join(fixtures.Dir(), "fmnist", "a.onnx"))
	}
	return nil, fmt.Errorf("unknown model %q (want mlp or cnn)", name)
}

// mlp returns Gemm(transB)+Relu layers of the given widths with weights
// and biases uniform in ±1/√fan_in, PyTorch's nn.Linear default.
func mlp(widths []int, seed int64) *onnx.Model {
	rng := rand.New(rand.NewSource(seed))
	g := onnx.NewGraph("mlp")
	x, _ := g.AddInput("input", onnx.Type{DType: tensor.Float32, HasShape: true, Dims: []onnx.Dim{{Param: "batch"}, {Value: int64(widths[0])}}})
	for i := 1; i < len(widths); i++ {
		in, out := widths[i-1], widths[i]
		bound := 1 / math.Sqrt(float64(in))
		w := tensor.New(tensor.Float32, out, in)
		b := tensor.New(tensor.Float32, out)
		for j := range w.F32 {
			w.F32[j] = float32((2*rng.Float64() - 1) * bound)
		}
		for j := range b.F32 {
			b.F32[j] = float32((2*rng.Float64() - 1) * bound)
		}
		wv := g.AddConst(fmt.Sprintf("fc%d.weight", i), w)
		bv := g.AddConst(fmt.Sprintf("fc%d.bias", i), b)
		x = g.AddNode("Gemm", "", fmt.Sprintf("/fc%d/Gemm", i), []*onnx.Value{x, wv, bv}, []string{fmt.Sprintf("/fc%d/Gemm_output_0", i)}, onnx.IntAttr("transB", 1)).Outputs[0]
		if i < len(widths)-1 {
			x = g.AddNode("Relu", "", fmt.Sprintf("/relu%d/Relu", i), []*onnx.Value{x}, []string{fmt.Sprintf("/relu%d/Relu_output_0", i)}).Outputs[0]
		}
	}
	x.Type = onnx.Type{DType: tensor.Float32, HasShape: true, Dims: []onnx.Dim{{Param: "batch"}, {Value: int64(widths[len(widths)-1])}}}
	g.Outputs = []*onnx.Value{x}
	return onnx.NewModel(g, 13)
}

// prune zeroes the fraction s of each Gemm and Conv weight with the
// smallest magnitudes.
func prune(m *onnx.Model, s float64) {
	for _, n := range m.Graph.Nodes {
		if (n.OpType != "Gemm" && n.OpType != "Conv") || len(n.Inputs) < 2 || n.Inputs[1] == nil || n.Inputs[1].Const == nil {
			continue
		}
		d, err := n.Inputs[1].Const.Dense()
		if err != nil {
			continue
		}
		w := d.Clone()
		mags := make([]float64, len(w.F32))
		for i, v := range w.F32 {
			mags[i] = math.Abs(float64(v))
		}
		slices.Sort(mags)
		cut := int(s * float64(len(mags)))
		if cut == 0 {
			continue
		}
		th := mags[cut-1]
		zeroed := 0
		for i, v := range w.F32 {
			// Ties at the threshold are zeroed until the count is met.
			if a := math.Abs(float64(v)); a < th || (a == th && zeroed < cut) {
				w.F32[i] = 0
				zeroed++
			}
		}
		n.Inputs[1].SetConst(w)
	}
}

func countLayers(m *onnx.Model) int {
	n := 0
	for _, node := range m.Graph.Nodes {
		if node.OpType == "Gemm" || node.OpType == "Conv" || node.OpType == "MatMul" {
			n++
		}
	}
	return n
}

func randomInput(v *onnx.Value, batch int) *tensor.Dense {
	shape := make([]int, len(v.Type.Dims))
	for i, d := range v.Type.Dims {
		shape[i] = int(d.Value)
		if !d.Known() {
			shape[i] = batch
		}
	}
	x := tensor.New(tensor.Float32, shape...)
	rng := rand.New(rand.NewSource(1))
	for i := range x.F32 {
		x.F32[i] = float32(rng.NormFloat64())
	}
	return x
}

// timeGraft returns the median and minimum times of m dense (SparseOff)
// and with every layer sparse (SparseOn). The two alternate in blocks of
// runs, the first of each block untimed: back to back, as a model serves
// requests, a program finds its weights in the caches where the other
// one's runs would have evicted them (the dense MLP streams 23 MB).
func timeGraft(m *onnx.Model, x *tensor.Dense, threads, iters int) (dense, sparse [2]float64, diff float64, err error) {
	progs := make([]*gexec.Program, 2)
	for i, mode := range []gexec.SparseMode{gexec.SparseOff, gexec.SparseOn} {
		if progs[i], err = gexec.CompileWith(m, gexec.Options{Sparse: mode}); err != nil {
			return dense, sparse, diff, err
		}
		progs[i].Threads = threads
	}
	in := map[string]*tensor.Dense{m.Graph.Inputs[0].Name: x}
	const block = 5
	times := [2][]float64{}
	for len(times[1]) < iters {
		for i, p := range progs {
			for r := range block {
				start := time.Now()
				if _, err := p.Run(in, gexec.RunOptions{}); err != nil {
					return dense, sparse, diff, err
				}
				if r > 0 {
					times[i] = append(times[i], float64(time.Since(start).Nanoseconds())/1e6)
				}
			}
		}
	}
	var outs [2]*tensor.Dense
	for i, p := range progs {
		res, err := p.Run(in, gexec.RunOptions{})
		if err != nil {
			return dense, sparse, diff, err
		}
		outs[i] = res[m.Graph.Outputs[0].Name]
	}
	return stats(times[0]), stats(times[1]), relDiff(outs[1].F32, outs[0].F32), nil
}

// relDiff returns the largest |got−want| / (|want| + mean |want|): the
// sparse output's difference from the dense one, relative to each
// element with the mean standing in for elements near zero (as exec's
// tests measure it).
func relDiff(got, want []float32) float64 {
	var mean float64
	for _, w := range want {
		mean += math.Abs(float64(w))
	}
	mean /= float64(max(1, len(want)))
	var d float64
	for i, w := range want {
		d = max(d, math.Abs(float64(got[i])-float64(w))/(math.Abs(float64(w))+mean))
	}
	return d
}

// stats returns the median and the minimum.
func stats(t []float64) [2]float64 {
	sort.Float64s(t)
	return [2]float64{t[len(t)/2], t[0]}
}

func timeORT(runner []string, model, input, xPath string, threads, iters int) ([2]float64, error) {
	var res [2]float64
	args := append(append([]string{}, runner[1:]...), "--model", model, "--threads", strconv.Itoa(threads),
		"--bench", strconv.Itoa(iters), "--warmup", "3", input+"="+xPath)
	cmd := exec.Command(runner[0], args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return res, fmt.Errorf("%v: %s", err, stderr.String())
	}
	var r struct {
		Median float64 `json:"median_ms"`
		Min    float64 `json:"min_ms"`
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		return res, fmt.Errorf("parsing %q: %w", out, err)
	}
	return [2]float64{r.Median, r.Min}, nil
}

// loadAvg returns the 1-, 5- and 15-minute load averages, or "?" where
// the system does not say.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "?"
}

func cpuName() string {
	if s := runlog.CPUModel(); s != "" {
		return s
	}
	return runtime.GOARCH
}
