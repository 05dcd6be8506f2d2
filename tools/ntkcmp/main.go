// Command ntkcmp times graft's empirical NTK against functorch's
// Jacobian-contraction NTK (vmap over jacrev, then einsum) on one model,
// same sample counts and thread count, in one run, and prints the ratio
// (above 1: graft is faster). The models are the residual CNN fixture
// (rescnn, 3×8×8 inputs, fixtures/gen_ntk.py) and the VGG-style
// Fashion-MNIST CNN (vgg, 1×28×28 inputs, six convs and a Gemm, 298k
// parameters, fixtures/gen_ntk_vgg.py).
//
// Both are timed reps times; the minimum and median wall times and the
// mean CPU time (user and system, all threads) per run are printed, with
// the load average before and after, since a shared machine's load moves
// wall times far more than CPU times. Debian's torch calls whichever
// libblas.so.3 the loader finds, the reference BLAS unless OpenBLAS is
// installed: -blas DIR puts DIR first on the script's LD_LIBRARY_PATH
// (a folder holding OpenBLAS's libblas.so.3, say, extracted from the
// libopenblas0-pthread package with `apt-get download` and `dpkg-deb -x`).
// The BLAS torch loaded is printed.
//
//	go run ./tools/ntkcmp [-model rescnn|vgg] [-n 64,256] [-threads 2] [-reps 3] [-blas DIR]
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/ntk"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// benchModel is a model ntkcmp can time: its fixture folder, one sample's
// shape and the script that times functorch on it.
type benchModel struct {
	dir    string
	sample []int
	script string
}

var models = map[string]benchModel{
	"rescnn": {"rescnn", []int{3, 8, 8}, "gen_ntk.py"},
	"vgg":    {"vgg", []int{1, 28, 28}, "gen_ntk_vgg.py"},
}

func main() {
	model := flag.String("model", "rescnn", "model: rescnn or vgg")
	sizes := flag.String("n", "", "sample counts (default 64,256 for rescnn, 32 for vgg)")
	threads := flag.Int("threads", 2, "threads for both")
	reps := flag.Int("reps", 3, "repetitions (the minimum and median are reported)")
	blas := flag.String("blas", "", "folder put first on functorch's LD_LIBRARY_PATH (another libblas.so.3)")
	flag.Parse()
	if err := run(*model, *sizes, *threads, *reps, *blas); err != nil {
		fmt.Fprintln(os.Stderr, "ntkcmp:", err)
		os.Exit(1)
	}
}

func run(model, sizes string, threads, reps int, blas string) error {
	bm, ok := models[model]
	if !ok {
		return fmt.Errorf("unknown model %q: want rescnn or vgg", model)
	}
	if sizes == "" {
		sizes = map[string]string{"rescnn": "64,256", "vgg": "32"}[model]
	}
	runtime.GOMAXPROCS(threads)
	m, err := onnx.Load(filepath.Join(fixtures.Dir(), "ntk", bm.dir, "model.onnx"))
	if err != nil {
		return err
	}
	fmt.Printf("machine: %s, %d threads, %s (fixtures/ntk/%s), trace NTK, %d reps, load average %s\n",
		cpuName(), threads, model, bm.dir, reps, loadAvg())
	fmt.Printf("%4s | %9s %9s %7s %7s | %9s %9s %7s | %6s %6s %6s\n", "N", "graft min", "median", "cpu s", "sys s", "torch min", "median", "cpu s", "min", "median", "cpu")
	for _, f := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return err
		}
		x := tensor.New(tensor.Float32, append([]int{n}, bm.sample...)...)
		r := rand.New(rand.NewPCG(1, 2))
		for i := range x.F32 {
			x.F32[i] = float32(r.NormFloat64())
		}
		var times []float64
		var peak int64
		user0, sys0 := cpuTime()
		for range reps {
			start := time.Now()
			res, err := ntk.Compute(m, x, ntk.Options{Mode: ntk.Mode{Kind: ntk.Trace}, Threads: threads})
			if err != nil {
				return err
			}
			times = append(times, float64(time.Since(start).Microseconds())/1e3)
			peak = res.PeakBytes
		}
		user1, sys1 := cpuTime()
		sys := (sys1 - sys0).Seconds() / float64(reps)
		cpu := sys + (user1-user0).Seconds()/float64(reps)
		cmd := exec.Command("/usr/bin/python3", filepath.Join(fixtures.Dir(), bm.script), "--bench", strconv.Itoa(n), strconv.Itoa(reps))
		if blas != "" {
			cmd.Env = append(os.Environ(), "LD_LIBRARY_PATH="+blas+":"+os.Getenv("LD_LIBRARY_PATH"), fmt.Sprintf("OPENBLAS_NUM_THREADS=%d", threads))
		}
		out, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("functorch: %v", err)
		}
		var ref struct {
			MS     float64 `json:"functorch_ms"`
			Median float64 `json:"functorch_median_ms"`
			CPU    float64 `json:"cpu_s"`
			BLAS   string  `json:"blas"`
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &ref); err != nil {
			return fmt.Errorf("functorch output %q: %v", out, err)
		}
		if ref.Median == 0 {
			ref.Median = ref.MS
		}
		slices.Sort(times)
		g, gm := times[0], times[len(times)/2]
		fmt.Printf("%4d | %9.1f %9.1f %7.2f %7.2f | %9.1f %9.1f %7.2f | %5.2fx %5.2fx %5.2fx\n",
			n, g, gm, cpu, sys, ref.MS, ref.Median, ref.CPU, ref.MS/g, ref.Median/gm, ref.CPU/cpu)
		fmt.Printf("     (times in ms, CPU per run in s; ratios functorch/graft; graft held %.1f MB of factors; torch's BLAS: %s)\n", float64(peak)/1e6, ref.BLAS)
	}
	fmt.Printf("load average after: %s\n", loadAvg())
	return nil
}

// cpuTime is the user and system CPU time this process has used.
func cpuTime() (user, sys time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func cpuName() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "model name") {
			if _, v, ok := strings.Cut(line, ":"); ok {
				return strings.TrimSpace(v)
			}
		}
	}
	return runtime.GOARCH
}
