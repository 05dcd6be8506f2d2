package main

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/graft-ml/graft/internal/plot"
	"github.com/graft-ml/graft/ntk"
	"github.com/graft-ml/graft/runlog"
	"github.com/graft-ml/graft/tensor"
)

func newNTKCmd() *cli.Command {
	return &cli.Command{
		Name:      "ntk",
		Usage:     "empirical neural tangent kernel of a model on data, with its spectrum",
		ArgsUsage: "<model.onnx>",
		Description: "Computes Θ(x, x') = J(x)·J(x')ᵀ, J the Jacobian of the model's first output with\n" +
			"respect to its parameters (float initializers), over the samples of --data, read as every\n" +
			"command reads a dataset (8-bit images scaled to [0, 1] unless --raw, then --mean/--std;\n" +
			"float arrays as stored, then --mean/--std). --mode full gives Θ[n, m, a, b] for all outputs a, b; trace\n" +
			"(the default) Σ_a Θ[n, m, a, a]; output:K one output's. --params restricts the\n" +
			"parameters (names, globs or module paths such as layer4); --components also writes\n" +
			"each parameter tensor's kernel, which sum to the whole; --rows and --cols compute one\n" +
			"block, for assembling a large kernel from pieces. Memory is bounded by --max-memory:\n" +
			"gradients are held for a chunk of samples at a time, never for all of them.\n" +
			"Gemm weights and biases contribute through per-sample outer-product factors (no\n" +
			"Jacobian is formed), conv layers through per-sample gradients of the layer alone, and\n" +
			"any other parameter through per-sample backward passes; the command says which ran.\n" +
			"--loss ce gives the task NTK instead: ⟨∇θ ℓ(x_i, y_i), ∇θ ℓ(x_j, y_j)⟩, ℓ the per-sample\n" +
			"cross-entropy of the first output read as logits (N, K), with the same --params,\n" +
			"--components and blocks; the kernel is (N, N) and --mode does not apply. Labels come with\n" +
			"the data (IDX images find their label file beside them, .npz its y array) or from\n" +
			"--labels; --label-smoothing S uses the targets (1-S)·onehot + S/K, as PyTorch does. Give\n" +
			"--mean and --std as the model was trained.\n" +
			"For a square kernel it prints and writes (--metrics) the eigenvalues, trace,\n" +
			"condition number and effective rank, and draws the spectrum (--plot).\n\n" +
			"Array jobs: --shard I/N computes part I (from 0) of N of the whole kernel and writes it\n" +
			"to -o as a block file (.npz: the tiles and a header.json naming their rows and columns);\n" +
			"`graft ntk merge` assembles the blocks into the kernel, bit for bit the kernel of one run\n" +
			"with the chunk the blocks record. The tiling covers the chunk pairs on and above the\n" +
			"diagonal (the rest are transposes), in equal runs. --shard auto (or --shards N alone)\n" +
			"reads the index from $SLURM_ARRAY_TASK_ID (less $SLURM_ARRAY_TASK_MIN, over\n" +
			"$SLURM_ARRAY_TASK_STEP) or a Kubernetes Indexed Job's $JOB_COMPLETION_INDEX, and the count\n" +
			"from --shards or $SLURM_ARRAY_TASK_COUNT; an explicit --shard I/N wins over them.\n" +
			"deploy/slurm and deploy/k8s hold job scripts.\n\n" +
			"Examples:\n" +
			"  $ graft ntk fixtures/ntk/rescnn/model.onnx --data fixtures/ntk/rescnn/x.npy -o /tmp/k.npy --plot /tmp/spectrum.png\n" +
			"  $ graft ntk model.onnx --data x.npy --mode full --params layer4 --components -o k.npy\n" +
			"  $ graft ntk model.onnx --data x.npy --rows 0:128 --cols 128:256 -o k_0_1.npy\n" +
			"  $ graft ntk model.onnx --data x.npz --loss ce --params fc -o task.npy\n" +
			"  $ graft ntk model.onnx --data x.npy --labels y.npy --loss ce --label-smoothing 0.1 --components -o task.npy\n" +
			"  $ graft ntk fixtures/ntk/rescnn/model.onnx --data fixtures/ntk/rescnn/x.npy --shard 0/2 -o /tmp/k-0.npz\n" +
			"  $ graft ntk fixtures/ntk/rescnn/model.onnx --data fixtures/ntk/rescnn/x.npy --shard 1/2 -o /tmp/k-1.npz\n" +
			"  $ graft ntk merge /tmp/k-0.npz /tmp/k-1.npz -o /tmp/k.npy\n" +
			"  $ graft ntk model.onnx --data x.npy --shards 16 -o blocks/k-$SLURM_ARRAY_TASK_ID.npz   # in an sbatch --array=0-15 script",
		Flags: append(append(withoutFlags(dataFlagsFor(false), "batch"),
			&cli.StringFlag{Name: "mode", Value: "trace", Usage: "full, trace or output:K"},
			&cli.StringFlag{Name: "loss", Usage: "ce: the task NTK of the per-sample cross-entropy loss instead of the outputs' kernel"},
			&cli.Float64Flag{Name: "label-smoothing", Usage: "label smoothing S in [0, 1] for --loss ce"},
			&cli.StringSliceFlag{Name: "params", Usage: "parameter names, globs or module paths (repeatable; default all)"},
			&cli.BoolFlag{Name: "components", Usage: "also write each parameter tensor's kernel to OUT with .components.npz"},
			&cli.StringFlag{Name: "rows", Usage: "samples a:b for the block's rows"},
			&cli.StringFlag{Name: "cols", Usage: "samples c:d for the block's columns"},
			&cli.StringFlag{Name: "shard", Usage: "I/N: compute part I (from 0) of N of the kernel as a block file; auto: from the array job's environment"},
			&cli.IntFlag{Name: "shards", Usage: "the number of shards, with the index from $SLURM_ARRAY_TASK_ID or $JOB_COMPLETION_INDEX"},
			&cli.IntFlag{Name: "chunk", Usage: "samples whose gradients are held at once", DefaultText: "from --max-memory"},
			&cli.IntFlag{Name: "max-memory", Value: 512, Usage: "MB for per-sample gradients"},
			&cli.StringFlag{Name: "metrics", Usage: "write the spectrum metrics as JSON here"},
			&cli.StringFlag{Name: "plot", Usage: "draw the spectrum as a PNG here"},
			threadsFlag(),
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "where to write the kernel (.npy, float64), or with --shard the block (.npz) (required)"},
		), recordFlags()...),
		Action:      runNTK,
		Subcommands: []*cli.Command{newNTKMergeCmd()},
	}
}

func newNTKMergeCmd() *cli.Command {
	return &cli.Command{
		Name:      "merge",
		Usage:     "assemble the kernel from the block files of every shard",
		ArgsUsage: "<block.npz|folder>...",
		Description: "Reads the blocks that `graft ntk --shard I/N` wrote (a folder stands for the .npz\n" +
			"files in it), checks that they are all N shards of one kernel (same model, samples,\n" +
			"mode, parameters and chunk; none missing, none twice, no tiles overlapping) and writes\n" +
			"the kernel, bit for bit that of one run with the same --chunk, with its components\n" +
			"when the blocks carry them, and its spectrum (--metrics, --plot) as graft ntk does.\n\n" +
			"Examples:\n" +
			"  $ graft ntk merge /tmp/k-0.npz /tmp/k-1.npz -o /tmp/k.npy\n" +
			"  $ graft ntk merge blocks/ -o k.npy --metrics spectrum.json --plot spectrum.png",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "metrics", Usage: "write the spectrum metrics as JSON here"},
			&cli.StringFlag{Name: "plot", Usage: "draw the spectrum as a PNG here"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "where to write the kernel (.npy, float64)", Required: true},
		},
		Action: runNTKMerge,
	}
}

func runNTKMerge(c *cli.Context) error {
	if c.NArg() == 0 {
		return usagef("ntk merge takes the block files of every shard")
	}
	paths, err := blockPaths(c.Args().Slice())
	if err != nil {
		return err
	}
	var blocks []*ntk.Block
	for _, p := range paths {
		b, err := ntk.ReadBlock(p)
		if err != nil {
			return err
		}
		blocks = append(blocks, b)
	}
	m, err := ntk.MergeBlocks(blocks, paths)
	if err != nil {
		return err
	}
	out := c.String("output")
	if err := tensor.SaveNPY(out, m.Kernel); err != nil {
		return err
	}
	w := c.App.Writer
	fmt.Fprintf(w, "wrote %s: kernel %v (float64) from %d shards, chunks of %d samples (one run with --chunk %d gives it bit for bit)\n",
		out, m.Kernel.Shape, m.Shards, m.Chunk, m.Chunk)
	if m.Components != nil {
		path := strings.TrimSuffix(out, ".npy") + ".components.npz"
		if err := tensor.SaveNPZ(path, m.Components); err != nil {
			return err
		}
		fmt.Fprintf(w, "wrote %s: one kernel per parameter tensor\n", path)
	}
	return reportSpectrum(c, nil, m.Kernel)
}

// blockPaths expands each folder among args into the .npz files in it,
// in name order; files stay as given.
func blockPaths(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, a)
			continue
		}
		found, err := filepath.Glob(filepath.Join(a, "*.npz"))
		if err != nil {
			return nil, err
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("%s: no block files (.npz) in the folder", a)
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	return out, nil
}

// shardFlags returns the shard --shard and --shards ask for (the zero
// Shard without them) and where its index came from.
func shardFlags(c *cli.Context) (ntk.Shard, string, error) {
	s, n := c.String("shard"), c.Int("shards")
	if c.IsSet("shards") && n < 1 {
		return ntk.Shard{}, "", usagef("--shards %d: want at least 1", n)
	}
	switch {
	case s != "" && s != "auto":
		sh, err := ntk.ParseShard(s)
		if err != nil {
			return ntk.Shard{}, "", usagef("--shard: %v", err)
		}
		if c.IsSet("shards") && n != sh.Count {
			return ntk.Shard{}, "", usagef("--shard %s and --shards %d disagree on the number of shards", s, n)
		}
		return sh, "--shard", nil
	case s == "auto" || c.IsSet("shards"):
		sh, from, err := ntk.ShardFromEnv(n, os.Getenv)
		if err != nil {
			return ntk.Shard{}, "", usagef("--shard auto: %v", err)
		}
		return sh, from, nil
	}
	return ntk.Shard{}, "", nil
}

// ntkIdentity describes what a kernel is of, for the blocks of one job to
// be recognised as such: the model file's and the samples' SHA-256 and
// the flags that change the kernel.
func ntkIdentity(c *cli.Context, path string, x *tensor.Dense, labels []int64) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	id := map[string]string{"model_sha256": hex.EncodeToString(h.Sum(nil))}
	h = sha256.New()
	h.Write(x.Raw())
	for _, l := range labels {
		h.Write(binary.LittleEndian.AppendUint64(nil, uint64(l)))
	}
	id["samples_sha256"] = hex.EncodeToString(h.Sum(nil))
	id["samples_shape"] = fmt.Sprint(x.Shape)
	for _, name := range []string{"mode", "loss", "label-smoothing", "params"} {
		id[name] = flagValue(c, flagNamed(c, name))
	}
	return id, nil
}

// flagNamed is the command's flag called name.
func flagNamed(c *cli.Context, name string) cli.Flag {
	for _, f := range c.Command.Flags {
		if f.Names()[0] == name {
			return f
		}
	}
	return nil
}

func runNTK(c *cli.Context) (err error) {
	loss := c.String("loss")
	switch {
	case loss != "" && loss != "ce":
		return usagef("--loss %q: want ce (cross-entropy)", loss)
	case loss == "" && (c.IsSet("labels") || c.IsSet("label-smoothing")):
		return usagef("--labels and --label-smoothing need --loss ce")
	case loss != "" && c.IsSet("mode"):
		return usagef("--mode does not apply with --loss: the task kernel has one output, the loss")
	}
	for _, f := range []string{"data", "output"} {
		if c.String(f) == "" {
			return usagef("Required flag %q not set", f)
		}
	}
	shard, shardFrom, err := shardFlags(c)
	if err != nil {
		return err
	}
	sharded := shard != (ntk.Shard{})
	switch {
	case sharded && (c.IsSet("rows") || c.IsSet("cols")):
		return usagef("--shard computes a part of the whole kernel; it does not combine with --rows and --cols")
	case sharded && (c.IsSet("metrics") || c.IsSet("plot")):
		return usagef("the spectrum needs the whole kernel: give --metrics and --plot to `graft ntk merge`")
	case sharded && !strings.HasSuffix(c.String("output"), ".npz"):
		return usagef("with --shard, -o names the block file, an .npz; got %q", c.String("output"))
	}
	path, m, err := loadModelArg(c)
	if err != nil {
		return err
	}
	src, err := openData(c, "data")
	if err != nil {
		return err
	}
	count := src.Len()
	if l := c.Int("limit"); l > 0 {
		count = min(count, l)
	}
	if count == 0 {
		return fmt.Errorf("%s: no samples", c.String("data"))
	}
	x, labels, err := src.Batch(0, count)
	if err != nil {
		return err
	}
	n := x.Shape[0]
	opt := ntk.Options{Params: c.StringSlice("params"), Components: c.Bool("components"),
		Chunk: c.Int("chunk"), MaxBytes: int64(c.Int("max-memory")) << 20, Threads: c.Int("threads")}
	if opt.Mode, err = parseMode(c.String("mode")); err != nil {
		return usagef("--mode: %v", err)
	}
	if loss == "ce" {
		if labels == nil {
			return usagef("--loss ce needs labels: %s has none; give them with --labels", c.String("data"))
		}
		opt.Loss = &ntk.CrossEntropy{Labels: labels, Smoothing: c.Float64("label-smoothing")}
	}
	for _, rc := range []struct {
		flag string
		r    *ntk.Range
	}{{"rows", &opt.Rows}, {"cols", &opt.Cols}} {
		if s := c.String(rc.flag); s != "" {
			if *rc.r, err = ntk.ParseRange(s, n); err != nil {
				return usagef("--%s: %v", rc.flag, err)
			}
		}
	}
	opt.Shard = shard
	rec, rerr := startRecord(c, "ntk", []string{path, c.String("data"), c.String("labels")}, 0)
	warnRecord(c, rerr)
	defer func() { finishRecord(c, rec, err) }()
	bar := newProgress(c.App.ErrWriter, "ntk", n)
	opt.Progress = func(done, total int) { bar.total = total; bar.set(done) }
	start := time.Now()
	r, err := ntk.Compute(m, x, opt)
	if err != nil {
		return err
	}
	bar.done()
	elapsed := time.Since(start)
	out := c.String("output")
	if sharded {
		id, err := ntkIdentity(c, path, x, labels)
		if err != nil {
			return err
		}
		b, err := r.Block(id)
		if err != nil {
			return err
		}
		// The tasks of an array job share the folder; the first makes it.
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		if err := ntk.WriteBlock(out, b); err != nil {
			return err
		}
		rec.Artefact(out)
		rec.Summary("seconds", elapsed.Seconds())
		var tiles []string
		for _, t := range r.Tiles {
			tiles = append(tiles, fmt.Sprintf("rows %d:%d × cols %d:%d", t.Rows.Lo, t.Rows.Hi, t.Cols.Lo, t.Cols.Hi))
		}
		fmt.Fprintf(c.App.Writer, "wrote %s: shard %s (from %s) of the %d×%d kernel, chunks of %d samples, in %s: %s\n",
			out, shard, shardFrom, n, n, r.Chunk, elapsed.Round(10*time.Microsecond), strings.Join(tiles, ", "))
		return nil
	}
	if err := tensor.SaveNPY(out, r.Kernel); err != nil {
		return err
	}
	rec.Artefact(out)
	rec.Summary("seconds", elapsed.Seconds())
	w := c.App.Writer
	of := fmt.Sprintf("%d outputs", r.Outputs)
	if opt.Loss != nil {
		of = "task kernel of the cross-entropy loss"
	}
	fmt.Fprintf(w, "wrote %s: kernel %v (float64) over %d parameter tensors, %s, in %s\n", out, r.Kernel.Shape, len(r.Params), of, elapsed.Round(10*time.Microsecond))
	held := fmt.Sprintf("%d samples' gradients", r.Chunk)
	if r.OutputGroup < r.Outputs {
		held += fmt.Sprintf(" for %d of the %d outputs", r.OutputGroup, r.Outputs)
	}
	fmt.Fprintf(w, "paths: %s; %s held at a time, peak %.1f MB\n", describePaths(r.Paths), held, float64(r.PeakBytes)/1e6)
	if r.Components != nil {
		path := strings.TrimSuffix(out, ".npy") + ".components.npz"
		if err := tensor.SaveNPZ(path, r.Components); err != nil {
			return err
		}
		fmt.Fprintf(w, "wrote %s: one kernel per parameter tensor\n", path)
	}
	if opt.Rows != opt.Cols {
		if c.String("metrics") != "" || c.String("plot") != "" {
			fmt.Fprintln(w, "no spectrum: the block is not a square kernel over the same samples")
		}
		return nil
	}
	return reportSpectrum(c, rec, r.Kernel)
}

// reportSpectrum prints the spectrum of a square kernel, records it in
// rec, and writes --metrics and --plot if given.
func reportSpectrum(c *cli.Context, rec *runlog.Run, kernel *tensor.Dense) error {
	w := c.App.Writer
	sq, size, ok := ntk.Square(kernel)
	if !ok {
		if c.String("metrics") != "" || c.String("plot") != "" {
			fmt.Fprintln(w, "no spectrum: the block is not a square kernel over the same samples")
		}
		return nil
	}
	spec, err := ntk.Analyze(sq, size)
	if err != nil {
		return err
	}
	cond := "inf"
	if !math.IsInf(spec.Condition, 1) {
		cond = fmt.Sprintf("%.4g", spec.Condition)
	}
	rec.Log(map[string]any{"lambda_max": spec.Eigenvalues[0], "lambda_min": spec.Eigenvalues[size-1], "condition": spec.Condition, "trace": spec.Trace, "effective_rank": spec.EffectiveRank})
	rec.Summary("condition", spec.Condition)
	rec.Summary("effective_rank", spec.EffectiveRank)
	fmt.Fprintf(w, "spectrum: λmax %.4g, λmin %.4g, condition %s, trace %.4g, effective rank %.2f of %d\n",
		spec.Eigenvalues[0], spec.Eigenvalues[size-1], cond, spec.Trace, spec.EffectiveRank, size)
	if p := c.String("metrics"); p != "" {
		if err := tensor.WriteFileAtomic(p, func(f io.Writer) error { return writeMetrics(f, spec) }); err != nil {
			return err
		}
		fmt.Fprintf(w, "wrote %s\n", p)
	}
	if p := c.String("plot"); p != "" {
		img, err := plot.Spectrum(spec.Eigenvalues)
		if err != nil {
			return err
		}
		if err := tensor.WriteFileAtomic(p, func(f io.Writer) error { return plot.WritePNG(f, img) }); err != nil {
			return err
		}
		fmt.Fprintf(w, "wrote %s\n", p)
	}
	return nil
}

func parseMode(s string) (ntk.Mode, error) {
	switch {
	case s == "full":
		return ntk.Mode{Kind: ntk.Full}, nil
	case s == "trace":
		return ntk.Mode{Kind: ntk.Trace}, nil
	case strings.HasPrefix(s, "output:"):
		k, err := strconv.Atoi(strings.TrimPrefix(s, "output:"))
		if err != nil || k < 0 {
			return ntk.Mode{}, fmt.Errorf("%q: want output:K with K an output index", s)
		}
		return ntk.Mode{Kind: ntk.Output, K: k}, nil
	}
	return ntk.Mode{}, fmt.Errorf("%q: want full, trace or output:K", s)
}

func describePaths(paths map[string]string) string {
	count := map[string]int{}
	for _, p := range paths {
		count[p]++
	}
	var parts []string
	for p, n := range count {
		parts = append(parts, fmt.Sprintf("%s for %d", p, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// writeMetrics writes the spectrum as JSON; an infinite condition number
// becomes null.
func writeMetrics(w io.Writer, s ntk.Spectrum) error {
	out := map[string]any{
		"eigenvalues":    s.Eigenvalues,
		"trace":          s.Trace,
		"effective_rank": s.EffectiveRank,
		"numerical_rank": s.NumericalRank,
		"condition":      nil,
	}
	if !math.IsInf(s.Condition, 1) {
		out["condition"] = s.Condition
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	return enc.Encode(out)
}
