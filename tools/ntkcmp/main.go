// Command ntkcmp times graft's empirical NTK against functorch's
// Jacobian-contraction NTK (vmap over jacrev, then einsum) on the residual
// CNN fixture, same sample counts and thread count, in one run, and
// prints the ratio (above 1: graft is faster).
//
//	go run ./tools/ntkcmp [-n 64,256] [-threads 2]
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
	"strconv"
	"strings"
	"time"

	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/ntk"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

func main() {
	sizes := flag.String("n", "64,256", "sample counts")
	threads := flag.Int("threads", 2, "threads for both")
	reps := flag.Int("reps", 3, "repetitions (the minimum is reported)")
	flag.Parse()
	if err := run(*sizes, *threads, *reps); err != nil {
		fmt.Fprintln(os.Stderr, "ntkcmp:", err)
		os.Exit(1)
	}
}

func run(sizes string, threads, reps int) error {
	runtime.GOMAXPROCS(threads)
	m, err := onnx.Load(filepath.Join(fixtures.Dir(), "ntk", "rescnn", "model.onnx"))
	if err != nil {
		return err
	}
	fmt.Printf("machine: %s, %d threads, residual CNN fixture (%s), trace NTK, best of %d\n", cpuName(), threads, "fixtures/ntk/rescnn", reps)
	fmt.Printf("%6s %12s %14s %12s\n", "N", "graft ms", "functorch ms", "ratio")
	for _, f := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return err
		}
		x := tensor.New(tensor.Float32, n, 3, 8, 8)
		r := rand.New(rand.NewPCG(1, 2))
		for i := range x.F32 {
			x.F32[i] = float32(r.NormFloat64())
		}
		best := time.Duration(1 << 62)
		var peak int64
		for range reps {
			start := time.Now()
			res, err := ntk.Compute(m, x, ntk.Options{Mode: ntk.Mode{Kind: ntk.Trace}, Threads: threads})
			if err != nil {
				return err
			}
			best = min(best, time.Since(start))
			peak = res.PeakBytes
		}
		out, err := exec.Command("/usr/bin/python3", filepath.Join(fixtures.Dir(), "gen_ntk.py"), "--bench", strconv.Itoa(n)).Output()
		if err != nil {
			return fmt.Errorf("functorch: %v", err)
		}
		var ref struct {
			MS float64 `json:"functorch_ms"`
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &ref); err != nil {
			return fmt.Errorf("functorch output %q: %v", out, err)
		}
		g := float64(best.Microseconds()) / 1e3
		fmt.Printf("%6d %12.1f %14.1f %11.2fx   (graft held %.1f MB of gradients)\n", n, g, ref.MS, ref.MS/g, float64(peak)/1e6)
	}
	return nil
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
