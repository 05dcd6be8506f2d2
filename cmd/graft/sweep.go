package main

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/graft-ml/graft/fitting"
	"github.com/graft-ml/graft/onnx"
)

func newSweepCmd() *cli.Command {
	return &cli.Command{
		Name:      "sweep",
		Usage:     "stitch A to B at every pair of layers: fitted adapters, stitched accuracy and CKA, with a heatmap",
		ArgsUsage: "<A.onnx> <B.onnx>",
		Description: "For each layer x of A (--layers-a) and y of B (--layers-b), fits an adapter from A's\n" +
			"activation at x to B's at y over --data, as `graft stitch --at x --from y --fit` does,\n" +
			"and measures the stitched model's top-1 accuracy on --test (default: --data; labels\n" +
			"as for eval) and the pair's linear CKA on --data (as `graft similarity`). The models\n" +
			"run once per batch for all pairs: one pass over --data computes every layer of A and\n" +
			"B and feeds every pair's statistics, and one pass over --test runs A once and, per\n" +
			"pair, only the adapter and B's tail. Each cell equals the single stitch run.\n" +
			"Default layers: each model's top-level module boundaries (conv1, layer1, ..., not\n" +
			"the output) with an (N, C) or NCHW activation; two models of one architecture get\n" +
			"the same list, so the diagonal pairs each layer with its counterpart, and --diagonal\n" +
			"keeps only those pairs. A pair no adapter joins ((N, C) against NCHW) has no\n" +
			"accuracy and says why. --fit takes one method or several, comma-separated (linear,\n" +
			"lowrank:R, procrustes, procrustes:unscaled; the best fit is not always the best\n" +
			"adapter, so procrustes,procrustes:unscaled reports both scales).\n" +
			"Writes DIR/sweep.csv (a row per pair and method), DIR/sweep.json, DIR/heatmap.png\n" +
			"(top-1 of the first method, rows A's layers, columns B's, the values in the cells and\n" +
			"B's own accuracy in the title) and DIR/heatmap_METHOD.png for the others. Resumable:\n" +
			"cells already in DIR/sweep.csv are kept and skipped.\n" +
			"Array jobs: with --shard I/N (or --shards N and the index from $SLURM_ARRAY_TASK_ID or\n" +
			"$JOB_COMPLETION_INDEX) the command passes over part I of --data only and writes the\n" +
			"statistics of the cells still to compute to DIR/stats/shard-I-of-N.npz; the same\n" +
			"command with --from-stats DIR/stats (or a file from `graft fit merge`) then fits and\n" +
			"tests as one run would, reading one batch of --data for the shapes.\n\n" +
			"Examples:\n" +
			"  $ graft sweep fixtures/fmnist/a.onnx fixtures/fmnist/b.onnx --layers-a pool1,pool2,relu3 --layers-b pool1,pool2,relu3 \\\n" +
			"      --data fixtures/fmnist/train-images-2k-idx3-ubyte.gz --test fixtures/fmnist/t10k-images-1k-idx3-ubyte.gz \\\n" +
			"      --mean 0.2860 --std 0.3530 -o /tmp/sweep\n" +
			"  $ graft sweep a.onnx b.onnx --data train.npz --test test.npz --fit procrustes,procrustes:unscaled --diagonal -o sweep/\n" +
			"  $ graft sweep a.onnx b.onnx --data train.npz --shards 8 -o sweep/   # in each task of an sbatch --array=0-7 script\n" +
			"  $ graft sweep a.onnx b.onnx --data train.npz --test test.npz --from-stats sweep/stats -o sweep/",
		Flags: append([]cli.Flag{
			&cli.StringSliceFlag{Name: "layers-a", Usage: "A's layers, the rows (comma-separated; default: top-level module boundaries)"},
			&cli.StringSliceFlag{Name: "layers-b", Usage: "B's layers, the columns (default: top-level module boundaries)"},
			&cli.BoolFlag{Name: "diagonal", Usage: "stitch layer i of A to layer i of B only"},
			&cli.StringSliceFlag{Name: "fit", Usage: "linear, lowrank:R, procrustes or procrustes:unscaled; several comma-separated", Value: cli.NewStringSlice("linear")},
			&cli.IntFlag{Name: "kernel", Value: 1, Usage: "on NCHW activations: k×k patches (odd k)"},
			&cli.Float64Flag{Name: "ridge", Usage: "ridge regularisation, relative to the mean input variance"},
			&cli.BoolFlag{Name: "no-bias", Usage: "no bias (no centring)"},
			&cli.StringFlag{Name: "test", Usage: "dataset to measure the stitched accuracy on (default: --data)"},
			&cli.StringFlag{Name: "test-labels", Usage: "labels for --test when it carries none"},
			&cli.BoolFlag{Name: "json", Usage: "print the result as JSON"},
			threadsFlag(),
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "where to write sweep.csv, sweep.json and heatmap.png (a folder; required)", Required: true},
		}, append(statsFlags(), dataFlags()...)...),
		Action: runSweep,
	}
}

func runSweep(c *cli.Context) error {
	if c.NArg() != 2 {
		return usagef("sweep takes two models, A and B, got %d", c.NArg())
	}
	o, err := sweepOptions(c)
	if err != nil {
		return err
	}
	a, err := onnx.Load(c.Args().Get(0))
	if err != nil {
		return err
	}
	b, err := onnx.Load(c.Args().Get(1))
	if err != nil {
		return err
	}
	train, err := openData(c, "data")
	if err != nil {
		return err
	}
	if c.String("test") != "" {
		if o.Test, err = openDataPath(c, c.String("test"), c.String("test-labels")); err != nil {
			return err
		}
	}
	sh, shardFrom, err := dataShard(c)
	if err != nil {
		return err
	}
	o.Shard = sh
	if c.IsSet("from-stats") {
		if o.FromStats, err = readStats(c.StringSlice("from-stats")); err != nil {
			return err
		}
	}
	r, err := fitting.Sweep(a, b, train, o)
	if err != nil {
		return err
	}
	if r.Stats != nil {
		path := filepath.Join(o.Dir, "stats", fmt.Sprintf("shard-%d-of-%d.npz", sh.Index, sh.Count))
		if err := fitting.WriteStatsFile(path, r.Stats); err != nil {
			return err
		}
		fmt.Fprintf(c.App.Writer, "wrote %s: statistics of shard %s (from %s), %d of %d samples, %d entries; finish with --from-stats %s\n",
			path, sh, shardFrom, r.Stats.Samples, r.Stats.Total, len(r.Stats.Entries), filepath.Dir(path))
		return nil
	}
	if c.Bool("json") {
		return json.NewEncoder(c.App.Writer).Encode(r)
	}
	printSweep(c.App.Writer, r)
	return nil
}

// sweepOptions reads the flags that do not need the models.
func sweepOptions(c *cli.Context) (fitting.SweepOptions, error) {
	o := fitting.SweepOptions{
		LayersA: c.StringSlice("layers-a"), LayersB: c.StringSlice("layers-b"),
		Diagonal: c.Bool("diagonal"), Kernel: c.Int("kernel"), Ridge: c.Float64("ridge"), NoBias: c.Bool("no-bias"),
		Feed: feedFlags(c, ""), TestFeed: feedFlags(c, ""), Dir: c.String("output"),
	}
	o.Feed.Progress, o.TestFeed.Progress = nil, nil
	o.TestFeed.Limit = 0 // --limit is the fitting data's, as in stitch --test
	if o.Kernel < 1 {
		return o, usagef("--kernel %d: want a positive odd size", o.Kernel)
	}
	if o.Ridge < 0 {
		return o, usagef("--ridge %g: want 0 or more", o.Ridge)
	}
	for _, s := range c.StringSlice("fit") {
		m, err := fitting.ParseMethod(s)
		if err != nil {
			return o, usagef("--fit: %v", err)
		}
		o.Methods = append(o.Methods, m)
	}
	bars := map[string]func(int, int){}
	o.Progress = func(stage string, done, total int) {
		if bars[stage] == nil {
			bars[stage] = progressBar(c.App.ErrWriter, stage)
		}
		bars[stage](done, total)
	}
	return o, nil
}

// printSweep prints each method's matrix of stitched top-1 accuracies.
func printSweep(w io.Writer, r *fitting.SweepResult) {
	fmt.Fprintf(w, "top-1 on %d test samples: A alone %.2f %%, B alone %.2f %%; %d cell(s) computed, %d read back\n",
		r.TestSamples, 100*r.Top1A, 100*r.Top1B, r.Computed, len(r.Cells)-r.Computed)
	for _, name := range r.Methods {
		m, _ := fitting.ParseMethod(name)
		fmt.Fprintf(w, "\nstitched top-1 %% (%s); rows: A's layers, columns: B's\n%-16s", m.Describe(), "")
		for _, b := range r.B {
			fmt.Fprintf(w, " %9s", shorten(b, 9))
		}
		fmt.Fprintln(w)
		for _, a := range r.A {
			fmt.Fprintf(w, "%-16s", shorten(a, 16))
			for _, b := range r.B {
				cell := r.Cell(a, b, m)
				switch {
				case cell == nil:
					fmt.Fprintf(w, " %9s", "")
				case cell.Top1.Defined():
					fmt.Fprintf(w, " %9.2f", 100*cell.Top1.Value)
				default:
					fmt.Fprintf(w, " %9s", "n/a")
				}
			}
			fmt.Fprintln(w)
		}
	}
	for _, c := range r.Cells {
		if c.Note != "" {
			fmt.Fprintf(w, "A's %s → B's %s (%s): %s\n", c.A, c.B, c.Fit, c.Note)
		}
	}
	if len(r.Files) > 0 {
		fmt.Fprintf(w, "wrote %s\n", strings.Join(r.Files, ", "))
	}
}
