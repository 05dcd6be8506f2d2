// Command benchcmp times graft and ONNX Runtime on the same models, inputs
// and thread count in one run, and prints each model's latency ratio.
//
//	go run ./tools/benchcmp [-threads 2] [-iters 20] [-rounds 1] [-models resnet18,mobilenet_v2,mlp_big|all] [-batches 1,8]
//
// With -rounds N each measurement alternates N times between graft and
// ONNX Runtime (iters runs each), and the table gives the medians of the
// rounds' medians and of their ratios, which a shared machine's changing
// load skews less than one long run of each, and then the fastest round
// of each and their ratio (the closest to an idle machine). The machine's load average
// (/proc/loadavg) is printed before and after, and the geometric mean of
// the ratios per batch size at the end.
//
// The models come from fixtures/gen_big.py (exported on first use); ONNX
// Runtime runs through tools/ort/run.js (npm ci --ignore-scripts there).
// Before timing a model, benchcmp runs graft on the model's batch-1 input
// from gen_big.py and fails unless the output matches PyTorch's (within
// 1e-3 of the output's largest magnitude), so that a faster kernel that
// got something wrong cannot go unnoticed. -models all takes every model
// gen_big.py knows: the torchvision CNNs (resnet18, mobilenet_v2,
// efficientnet_b0, shufflenet_v2_x1_0, squeezenet1_1, densenet121), the
// CIFAR ResNet-20 (resnet20), a 2-layer nn.TransformerEncoder on a
// 64-token sequence (transformer_encoder) and an MLP (mlp_big). A name
// ending in .onnx is a model file, timed as it is (its symbolic dims set
// to the batch, fixed ones kept) and checked against PyTorch when
// input.npy and output.npy lie beside it (the fixtures/ops and
// fixtures/quant layouts):
//
//	go run ./tools/benchcmp -models fixtures/ops/lstm/model.onnx,fixtures/quant/qop.onnx -batches 1
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"

	gexec "github.com/graft-ml/graft/exec"
	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/runlog"
	"github.com/graft-ml/graft/tensor"
)

func main() {
	threads := flag.Int("threads", 2, "threads for both runtimes")
	iters := flag.Int("iters", 20, "timed iterations per measurement")
	rounds := flag.Int("rounds", 1, "alternations between graft and ONNX Runtime per measurement")
	models := flag.String("models", "resnet18,mobilenet_v2,mlp_big", "gen_big.py model names or .onnx files, or all")
	batches := flag.String("batches", "1,8", "batch sizes")
	flag.Parse()
	if *models == "all" {
		*models = "resnet18,mobilenet_v2,efficientnet_b0,shufflenet_v2_x1_0,squeezenet1_1,densenet121,resnet20,transformer_encoder,mlp_big"
	}
	if err := compare(strings.Split(*models, ","), strings.Split(*batches, ","), *threads, *iters, max(1, *rounds)); err != nil {
		fmt.Fprintln(os.Stderr, "benchcmp:", err)
		os.Exit(1)
	}
}

func compare(models, batches []string, threads, iters, rounds int) error {
	runner, err := fixtures.ORTRunner()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "benchcmp")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	fmt.Printf("machine: %s, GOMAXPROCS %d, threads %d, %d iterations × %d rounds (median ms), load average %s\n",
		cpuName(), runtime.GOMAXPROCS(0), threads, iters, rounds, loadAvg())
	logRatios := map[int][]float64{}
	fmt.Printf("%-28s %5s %10s %10s %8s %10s %10s %8s\n", "model", "batch", "graft ms", "ORT ms", "ORT/graft", "best graft", "best ORT", "ratio")
	for _, name := range models {
		path, err := modelPath(name)
		if err != nil {
			return err
		}
		if strings.HasSuffix(name, ".onnx") {
			name = filepath.Base(filepath.Dir(name)) + "/" + filepath.Base(name)
		}
		if err := checkOutput(path); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		for _, bs := range batches {
			batch, err := strconv.Atoi(bs)
			if err != nil {
				return fmt.Errorf("batch %q: %w", bs, err)
			}
			m, err := onnx.Load(path)
			if err != nil {
				return err
			}
			input := m.Graph.Inputs[0]
			inputs, err := gexec.RandomInputs(m.Graph, batch, 1)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			x := inputs[input.Name]
			xPath := filepath.Join(tmp, "x.npy")
			if err := tensor.SaveNPY(xPath, x); err != nil {
				return err
			}
			p, err := gexec.Compile(m)
			if err != nil {
				return fmt.Errorf("%s: graft: %w", name, err)
			}
			p.Threads = threads
			var gs, ots, rs []float64
			for range rounds {
				res, err := gexec.Bench(p, inputs, gexec.BenchOptions{Warmup: 3, Iters: iters})
				g := float64(res.Median().Nanoseconds()) / 1e6
				if err != nil {
					return fmt.Errorf("%s: graft: %w", name, err)
				}
				o, err := timeORT(runner, path, input.Name, xPath, threads, iters)
				if err != nil {
					return fmt.Errorf("%s: onnxruntime: %w", name, err)
				}
				gs, ots, rs = append(gs, g), append(ots, o), append(rs, o/g)
			}
			g, o, r := median(gs), median(ots), median(rs)
			gMin, oMin := slices.Min(gs), slices.Min(ots)
			logRatios[batch] = append(logRatios[batch], math.Log(r))
			fmt.Printf("%-28s %5d %10.3f %10.3f %8.2fx %10.3f %10.3f %8.2fx\n", name, batch, g, o, r, gMin, oMin, oMin/gMin)
		}
	}
	for _, bs := range batches {
		b, _ := strconv.Atoi(bs)
		if l := logRatios[b]; len(l) > 0 {
			sum := 0.0
			for _, v := range l {
				sum += v
			}
			fmt.Printf("geometric mean, batch %d: %.2fx\n", b, math.Exp(sum/float64(len(l))))
		}
	}
	fmt.Printf("load average after: %s\n", loadAvg())
	return nil
}

// modelPath is a model file's path: name itself when it is an .onnx file,
// else gen_big.py's export of that name.
func modelPath(name string) (string, error) {
	if strings.HasSuffix(name, ".onnx") {
		_, err := os.Stat(name)
		return name, err
	}
	return fixtures.Big(name)
}

// checkOutput runs graft on the NAME.input.npy beside the model and
// compares the result with PyTorch's NAME.output.npy.
func checkOutput(path string) error {
	base := strings.TrimSuffix(path, ".onnx")
	inPath, outPath := base+".input.npy", base+".output.npy"
	if _, err := os.Stat(inPath); err != nil {
		// A fixture folder: input.npy, and PyTorch's output as output.npy
		// (fixtures/ops) or torch.npy (fixtures/quant).
		dir := filepath.Dir(path)
		inPath, outPath = filepath.Join(dir, "input.npy"), filepath.Join(dir, "output.npy")
		if _, err := os.Stat(outPath); err != nil {
			outPath = filepath.Join(dir, "torch.npy")
		}
		if _, err := os.Stat(outPath); err != nil {
			fmt.Printf("%s: no PyTorch output beside it, not checked\n", path)
			return nil
		}
	}
	x, err := tensor.LoadNPY(inPath)
	if err != nil {
		return err
	}
	want, err := tensor.LoadNPY(outPath)
	if err != nil {
		return err
	}
	m, err := onnx.Load(path)
	if err != nil {
		return err
	}
	p, err := gexec.Compile(m)
	if err != nil {
		return err
	}
	out, err := p.Run(map[string]*tensor.Dense{m.Graph.Inputs[0].Name: x}, gexec.RunOptions{})
	if err != nil {
		return err
	}
	got := out[m.Graph.Outputs[0].Name]
	if got.Len() != want.Len() {
		return fmt.Errorf("output has %d elements, PyTorch's %d", got.Len(), want.Len())
	}
	g, w := got.Float64s(), want.Float64s()
	scale, worst := 0.0, 0.0
	for i := range w {
		scale = max(scale, math.Abs(w[i]))
		worst = max(worst, math.Abs(g[i]-w[i]))
	}
	if !(worst <= 1e-3*scale) {
		return fmt.Errorf("output differs from PyTorch's by %.3g (largest magnitude %.3g)", worst, scale)
	}
	return nil
}

// median returns the middle of v (the upper one of an even count).
func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// loadAvg returns the 1, 5 and 15 minute load averages, or "?".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func timeORT(runner []string, model, input, xPath string, threads, iters int) (float64, error) {
	args := append(append([]string{}, runner[1:]...), "--model", model, "--threads", strconv.Itoa(threads),
		"--bench", strconv.Itoa(iters), "--warmup", "3", input+"="+xPath)
	cmd := exec.Command(runner[0], args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("%v: %s", err, stderr.String())
	}
	var r struct {
		Median float64 `json:"median_ms"`
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		return 0, fmt.Errorf("parsing %q: %w", out, err)
	}
	return r.Median, nil
}

func cpuName() string {
	if s := runlog.CPUModel(); s != "" {
		return s
	}
	return runtime.GOARCH
}
