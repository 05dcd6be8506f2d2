package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/graft-ml/graft/exec"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

func newBenchCmd() *cli.Command {
	return &cli.Command{
		Name:      "bench",
		Usage:     "time a model on random inputs",
		ArgsUsage: "<model.onnx>",
		Description: "Builds random inputs (symbolic dims such as the batch set to --batch), runs --warmup\n" +
			"untimed iterations, then times --iters runs and prints the median and minimum latency.\n" +
			"--profile times every kernel of the timed runs and prints where the time goes: per op\n" +
			"type its nodes, calls, mean time, share of the run and GFLOP/s (Conv, Gemm, MatMul), the\n" +
			"time outside kernels, and the slowest --top nodes; --trace writes a trace to open in\n" +
			"Perfetto. The profile's clock reads add a little to each kernel.\n\n" +
			"--sparse chooses which Gemm, MatMul and Conv layers with a constant weight run as\n" +
			"sparse products: auto (default) those whose weight is at most " + sparseCrossoverText + "\n" +
			"nonzero, on every one that can, off none. The layers that run sparse are listed, and\n" +
			"--profile shows them as \"Gemm (sparse)\" etc. with their density. A pointwise Conv that\n" +
			"ran with the depthwise Conv reading it (see the README) shows as \"Conv + depthwise Conv\";\n" +
			"ops that ran on the blocked channel layout (NCHW16c, on AVX-512 machines) as\n" +
			"\"Conv (blocked)\", \"Concat (blocked)\" etc., with the shapes of their NCHW values.\n\n" +
			"Examples:\n" +
			"  $ graft bench fixtures/resnet_small/model.onnx --profile --top 5\n" +
			"  $ graft bench fixtures/resnet_small/model.onnx --batch 8 --threads 2\n" +
			"  $ graft bench resnet18.onnx --iters 50 --json\n" +
			"  $ graft bench pruned.onnx --sparse off --batch 32   # the dense baseline",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "batch", Value: 1, Usage: "size for symbolic dims"},
			&cli.IntFlag{Name: "iters", Value: 20, Usage: "timed iterations"},
			&cli.IntFlag{Name: "warmup", Value: 3, Usage: "untimed iterations first"},
			threadsFlag(),
			&cli.BoolFlag{Name: "json", Usage: `print one JSON line with "median_ms" and "min_ms"`},
			&cli.BoolFlag{Name: "mem", Usage: "also measure memory: weights, peak live activations, peak heap during a run"},
			&cli.BoolFlag{Name: "profile", Usage: "time every kernel: a table per op type (share, GFLOP/s) and the slowest nodes"},
			&cli.IntFlag{Name: "top", Value: 10, Usage: "with --profile, how many nodes to list"},
			&cli.StringFlag{Name: "trace", Usage: "write one run's kernels as a Chrome trace-event JSON file (Perfetto, chrome://tracing)"},
			sparseFlag,
		},
		Action: func(c *cli.Context) error {
			path, err := oneArg(c, "model")
			if err != nil {
				return err
			}
			if c.Int("iters") < 1 || c.Int("batch") < 1 {
				return usagef("--iters and --batch must be at least 1")
			}
			m, err := onnx.Load(path)
			if err != nil {
				return err
			}
			inputs, err := exec.RandomInputs(m.Graph, c.Int("batch"), 1)
			if err != nil {
				return fmt.Errorf("%w; use `graft run` with an input file", err)
			}
			mode, err := sparseMode(c)
			if err != nil {
				return err
			}
			p, err := exec.CompileWith(m, exec.Options{Sparse: mode})
			if err != nil {
				return err
			}
			if t := c.Int("threads"); t > 0 {
				p.Threads = t
			}
			var loaded uint64
			if c.Bool("mem") {
				loaded = heapBytes()
			}
			var prof *exec.Profile
			if c.Bool("profile") || c.String("trace") != "" {
				prof = &exec.Profile{}
			}
			res, err := exec.Bench(p, inputs, exec.BenchOptions{Warmup: c.Int("warmup"), Iters: c.Int("iters"), Profile: prof})
			if err != nil {
				return err
			}
			median, minimum := ms(res.Median()), ms(res.Min())
			report := map[string]any{
				"model": path, "batch": c.Int("batch"), "threads": p.Threads, "iters": len(res.Times),
				"median_ms": median, "min_ms": minimum, "sparse": mode.String(), "sparse_layers": sparseReport(p),
			}
			var mem memReport
			if c.Bool("mem") {
				if mem, err = measureMemory(p, m, inputs, loaded); err != nil {
					return err
				}
				report["weights_mb"], report["peak_live_mb"], report["peak_heap_mb"] = mem.WeightsMB, mem.PeakLiveMB, mem.PeakHeapMB
			}
			if prof != nil {
				report["profile"] = profileReport(prof, c.Int("top"))
				if t := c.String("trace"); t != "" {
					if err := tensor.WriteFileAtomic(t, prof.WriteTrace); err != nil {
						return err
					}
				}
			}
			if c.Bool("json") {
				return json.NewEncoder(c.App.Writer).Encode(report)
			}
			fmt.Fprintf(c.App.Writer, "%s batch %d, %d threads: median %.3f ms, min %.3f ms over %d runs\n",
				path, c.Int("batch"), p.Threads, median, minimum, len(res.Times))
			printSparse(c.App.Writer, p, mode)
			if c.Bool("profile") {
				if folded, memo := p.FoldedNodes(); folded+memo > 0 {
					fmt.Fprintf(c.App.Writer, "done once: %d constant nodes folded at compile, %d shape nodes reused while shapes stay the same\n", folded, memo)
				}
				printProfile(c.App.Writer, prof, c.Int("top"))
			}
			if t := c.String("trace"); t != "" {
				fmt.Fprintf(c.App.Writer, "wrote %s (open in https://ui.perfetto.dev or chrome://tracing)\n", t)
			}
			if c.Bool("mem") {
				fmt.Fprintf(c.App.Writer, "memory: weights %.1f MB, peak live activations %.1f MB, peak heap during a run %.1f MB (bound weights + 2×live = %.1f MB)\n",
					mem.WeightsMB, mem.PeakLiveMB, mem.PeakHeapMB, mem.WeightsMB+2*mem.PeakLiveMB)
			}
			return nil
		},
	}
}

// ms is d in milliseconds.
func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

type memReport struct{ WeightsMB, PeakLiveMB, PeakHeapMB float64 }

// heapBytes returns the Go heap's live and not yet collected bytes after
// a full collection.
func heapBytes() uint64 {
	runtime.GC()
	return heapNow()
}

func heapNow() uint64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	return sample[0].Value.Uint64()
}

// measureMemory runs p once more while sampling the Go heap. loaded is the
// heap with the model loaded and compiled, before any run; everything
// above it at the peak (fresh allocations, uncollected garbage, storage
// kept for reuse from earlier runs) is what running took, beyond the
// weights.
func measureMemory(p *exec.Program, m *onnx.Model, inputs map[string]*tensor.Dense, loaded uint64) (memReport, error) {
	var r memReport
	for _, v := range m.Graph.Initializers {
		r.WeightsMB += float64(v.Const.NumElems()*v.Const.DType.Size()) / 1e6
	}
	runtime.GC() // start from a heap without earlier runs' garbage
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(200 * time.Microsecond)
		defer t.Stop()
		for {
			if h := heapNow(); h > peak.Load() {
				peak.Store(h)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	var st exec.RunStats
	_, err := p.Run(inputs, exec.RunOptions{Stats: &st})
	close(stop)
	<-done
	if err != nil {
		return r, err
	}
	if h := heapNow(); h > peak.Load() {
		peak.Store(h)
	}
	// loaded already holds the model with its weights; count the weights
	// once, as the bound does, plus everything the runs added.
	r.PeakLiveMB = float64(st.PeakLiveBytes) / 1e6
	r.PeakHeapMB = r.WeightsMB + float64(peak.Load()-min(loaded, peak.Load()))/1e6
	return r, nil
}

// profileReport is a Profile as JSON: per op type, per node (the top
// ones), and the time outside kernels, all per run.
func profileReport(pr *exec.Profile, top int) map[string]any {
	runs := float64(max(pr.Runs, 1))
	var ops []map[string]any
	for _, o := range pr.Ops() {
		ops = append(ops, map[string]any{"op": o.Op, "nodes": o.Nodes, "calls_per_run": float64(o.Calls) / runs,
			"ms_per_run": o.Total.Seconds() * 1e3 / runs, "mean_us": o.MeanMicros, "share": o.Share, "gflops": o.GFLOPS})
	}
	var nodes []map[string]any
	for i, n := range pr.Nodes() {
		if i == top {
			break
		}
		node := map[string]any{"node": n.Node, "op": n.Op, "ms_per_run": n.Total.Seconds() * 1e3 / runs, "inputs": n.Shapes}
		if n.Flops > 0 && n.Total > 0 {
			node["gflops"] = n.Flops / n.Total.Seconds() / 1e9
		}
		if n.Sparse {
			node["sparse"], node["density"] = true, n.Density
		}
		nodes = append(nodes, node)
	}
	return map[string]any{"runs": pr.Runs, "wall_ms_per_run": pr.Wall.Seconds() * 1e3 / runs,
		"outside_kernels_ms_per_run": (pr.Wall - pr.Kernels()).Seconds() * 1e3 / runs, "ops": ops, "nodes": nodes}
}

// printProfile prints where a run's time goes.
func printProfile(w io.Writer, pr *exec.Profile, top int) {
	runs := float64(max(pr.Runs, 1))
	perRun := func(d time.Duration) float64 { return d.Seconds() * 1e3 / runs }
	fmt.Fprintf(w, "\nprofile over %d runs, %.3f ms per run:\n", pr.Runs, perRun(pr.Wall))
	fmt.Fprintf(w, "  %-24s %6s %8s %10s %10s %7s %9s\n", "op", "nodes", "calls", "ms/run", "mean µs", "share", "GFLOP/s")
	for _, o := range pr.Ops() {
		gf := ""
		if o.GFLOPS > 0 {
			gf = fmt.Sprintf("%.1f", o.GFLOPS)
		}
		fmt.Fprintf(w, "  %-24s %6d %8.0f %10.3f %10.1f %6.1f%% %9s\n", o.Op, o.Nodes, float64(o.Calls)/runs, perRun(o.Total), o.MeanMicros, 100*o.Share, gf)
	}
	outside := pr.Wall - pr.Kernels()
	fmt.Fprintf(w, "  %-24s %6s %8s %10.3f %10s %6.1f%%\n", "(outside kernels)", "", "", perRun(outside), "", 100*float64(outside)/float64(max(pr.Wall, 1)))
	fmt.Fprintf(w, "slowest nodes:\n")
	for i, n := range pr.Nodes() {
		if i == top {
			break
		}
		op := n.Op
		if n.Sparse {
			op = fmt.Sprintf("%s (sparse, %.1f%% nonzero)", n.Op, 100*n.Density)
		}
		gf := ""
		if n.Flops > 0 && n.Total > 0 {
			gf = fmt.Sprintf("%6.1f GFLOP/s", n.Flops/n.Total.Seconds()/1e9)
		}
		fmt.Fprintf(w, "  %8.3f ms  %-18s %14s  %q  %s\n", perRun(n.Total), op, gf, n.Node, n.Shapes)
	}
}

// sparseFlag is --sparse, shared by run and bench.
var sparseFlag = &cli.StringFlag{Name: "sparse", Value: "auto", Usage: "sparse products for pruned Gemm/MatMul/Conv weights: auto (by density), on or off"}

// sparseCrossoverText gives exec's crossover densities as percentages.
var sparseCrossoverText = fmt.Sprintf("%.0f %% (Gemm, MatMul) or %.0f %% (Conv)", 100*exec.SparseCrossoverGemm, 100*exec.SparseCrossoverConv)

// sparseMode reads --sparse.
func sparseMode(c *cli.Context) (exec.SparseMode, error) {
	m, err := exec.ParseSparseMode(c.String("sparse"))
	if err != nil {
		return m, usagef("--sparse: %v", err)
	}
	return m, nil
}

// sparseReport lists the layers that run sparse, for --json.
func sparseReport(p *exec.Program) []map[string]any {
	out := []map[string]any{}
	for _, l := range p.SparseLayers() {
		out = append(out, map[string]any{"node": l.Node, "op": l.Op, "nnz": l.NNZ, "density": l.Density})
	}
	return out
}

// printSparse says which layers run as sparse products.
func printSparse(w io.Writer, p *exec.Program, mode exec.SparseMode) {
	layers := p.SparseLayers()
	if len(layers) == 0 {
		if mode != exec.SparseOff {
			fmt.Fprintf(w, "sparse %s: every layer dense\n", mode)
		}
		return
	}
	fmt.Fprintf(w, "sparse %s: %d layers run sparse:\n", mode, len(layers))
	for _, l := range layers {
		fmt.Fprintf(w, "  %-8s %5.1f%% nonzero  %q\n", l.Op, 100*l.Density, l.Node)
	}
}
