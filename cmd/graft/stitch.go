package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/graft-ml/graft/eval"
	"github.com/graft-ml/graft/fitting"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/runlog"
	"github.com/graft-ml/graft/surgery"
)

func newStitchCmd() *cli.Command {
	return &cli.Command{
		Name:      "stitch",
		Usage:     "join model A up to a layer, an adapter, and model B from a layer on",
		ArgsUsage: "<A.onnx> <B.onnx>",
		Description: "The result computes A up to --at, then the adapter, then B from --from on. The\n" +
			"adapter is the identity, or --adapter names an ONNX model with one input and one\n" +
			"output, or --fit fits one by least squares from A's activation at --at to B's at\n" +
			"--from over --data: linear (affine), lowrank:R (reduced-rank regression, two\n" +
			"factors), procrustes (orthogonal map with the least-squares isotropic scale and\n" +
			"a shift) or procrustes:unscaled (orthogonal map and shift, scale 1, which can\n" +
			"stitch better: the best fit is not always the best adapter). On NCHW\n" +
			"activations the adapter is a --kernel×--kernel Conv (1x1 by default: pixels as\n" +
			"samples), preceded by a bilinear Resize when the spatial sizes differ; on (N, C)\n" +
			"activations a Gemm. The statistics are accumulated batch by batch, so the data\n" +
			"never has to fit in memory. With --test, the command also reports the top-1\n" +
			"accuracy of A, B and the stitched model on that dataset (labels as for eval).\n" +
			"B's nodes and values are renamed under B/ (its module paths become B.layer3...),\n" +
			"weights identical to A's are shared, and older opsets are upgraded to the newer one.\n" +
			"Shapes must agree at both joints; a mismatch says what differs.\n" +
			"Array jobs: with --shard I/N (or --shards N and the index from $SLURM_ARRAY_TASK_ID\n" +
			"or $JOB_COMPLETION_INDEX) the command reads part I of --data and writes the fit's\n" +
			"statistics to -o (.npz) instead of a model; `graft fit merge` adds the shards' files,\n" +
			"and --fit with --from-stats (the merged file, or all of them) fits and stitches as one\n" +
			"run over --data would.\n\n" +
			"Examples:\n" +
			"  $ graft stitch fixtures/resnet_small/model.onnx --at layer1 fixtures/resnet_small/model.onnx --from layer1 -o /tmp/self.onnx\n" +
			"  $ graft stitch fixtures/fmnist/a.onnx --at pool2 fixtures/fmnist/b.onnx --from pool2 --fit linear \\\n" +
			"      --data fixtures/fmnist/train-images-2k-idx3-ubyte.gz --test fixtures/fmnist/t10k-images-1k-idx3-ubyte.gz \\\n" +
			"      --mean 0.2860 --std 0.3530 -o /tmp/ab.onnx\n" +
			"  $ graft stitch a.onnx --at layer2 b.onnx --from layer2 --adapter conv1x1.onnx -o ab.onnx\n" +
			"  $ graft stitch a.onnx --at layer2 b.onnx --from layer2 --fit linear --data x.npy --shard 0/4 -o stats/s-0.npz\n" +
			"  $ graft fit merge stats/ -o stats.npz && graft stitch a.onnx --at layer2 b.onnx --from layer2 --fit linear --from-stats stats.npz -o ab.onnx",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "at", Usage: "layer of A whose value leaves A", Required: true},
			&cli.StringFlag{Name: "from", Usage: "layer of B whose value the adapter replaces", Required: true},
			&cli.StringFlag{Name: "adapter", Usage: "ONNX model between the two (default: identity)"},
			&cli.StringFlag{Name: "fit", Usage: "fit the adapter on --data: linear, lowrank:R, procrustes or procrustes:unscaled"},
			&cli.IntFlag{Name: "kernel", Value: 1, Usage: "with --fit on NCHW activations: k×k patches (odd k)"},
			&cli.Float64Flag{Name: "ridge", Usage: "with --fit: ridge regularisation, relative to the mean input variance"},
			&cli.BoolFlag{Name: "no-bias", Usage: "with --fit: no bias (no centring)"},
			&cli.StringFlag{Name: "test", Usage: "dataset to report A's, B's and the stitched model's accuracy on"},
			&cli.StringFlag{Name: "test-labels", Usage: "labels for --test when it carries none"},
			threadsFlag(),
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "where to write the model (with --shard: the statistics, .npz)", Required: true},
		}, append(append(statsFlags(), dataFlagsFor(false)...), recordFlags()...)...),
		Action: runStitch,
	}
}

func runStitch(c *cli.Context) (err error) {
	if c.NArg() != 2 {
		return usagef("stitch takes two models, A and B, got %d", c.NArg())
	}
	pathA, pathB := c.Args().Get(0), c.Args().Get(1)
	a, err := onnx.Load(pathA)
	if err != nil {
		return err
	}
	b, err := onnx.Load(pathB)
	if err != nil {
		return err
	}
	if c.IsSet("shard") || c.IsSet("shards") {
		return stitchShard(c, a, b)
	}
	var rec *runlog.Run // only with --fit
	defer func() { finishRecord(c, rec, err) }()
	var r surgery.StitchReport
	switch {
	case c.IsSet("fit") && c.IsSet("adapter"):
		return usagef("--fit and --adapter both give the adapter; choose one")
	case c.IsSet("fit"):
		rec, r, err = stitchFitted(c, a, b, pathA, pathB)
	case c.IsSet("adapter"):
		var adapter *onnx.Model
		if adapter, err = onnx.Load(c.String("adapter")); err != nil {
			return err
		}
		r, err = surgery.Stitch(a, c.String("at"), b, c.String("from"), adapter)
	default:
		r, err = surgery.Stitch(a, c.String("at"), b, c.String("from"), nil)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "stitched A at %s %s → B from %s %s; opset %d; %d initializer(s) shared\n",
		c.String("at"), r.AType, c.String("from"), r.BType, r.Opset, r.SharedInitializers)
	if err := saveReport(c, a); err != nil {
		return err
	}
	warnRecord(c, rec.Artefact(c.String("output")))
	return testStitched(c, rec, pathA, pathB)
}

// testStitched reports, with --test, the top-1 accuracy of A, B and the
// stitched model on the test data.
func testStitched(c *cli.Context, rec *runlog.Run, pathA, pathB string) error {
	if c.String("test") == "" {
		return nil
	}
	test, err := openDataPath(c, c.String("test"), c.String("test-labels"))
	if err != nil {
		return err
	}
	for _, m := range []struct{ name, path string }{{"A", pathA}, {"B", pathB}, {"stitched", c.String("output")}} {
		model, err := onnx.Load(m.path)
		if err != nil {
			return err
		}
		o := feedFlags(c, "test "+m.name)
		o.Limit = 0
		res, err := eval.Accuracy(model, test, eval.Options{Feed: o})
		if err != nil {
			return fmt.Errorf("testing %s: %w", m.name, err)
		}
		if res.Top1 == nil {
			return fmt.Errorf("--test %s has no labels: give --test-labels", c.String("test"))
		}
		fmt.Fprintf(c.App.Writer, "test top-1 on %d samples: %-9s %6.2f %%\n", res.Samples, m.name, 100**res.Top1)
		warnRecord(c, rec.Log(map[string]any{"model": m.name, "samples": res.Samples, "test_top1": *res.Top1}))
		rec.Summary("test_top1_"+strings.ToLower(m.name), *res.Top1)
	}
	return nil
}

// stitchShard is stitch --fit --shard: the statistics of the fit over one
// shard of --data, written to -o.
func stitchShard(c *cli.Context, a, b *onnx.Model) error {
	sh, from, err := dataShard(c)
	if err != nil {
		return err
	}
	if !c.IsSet("fit") || c.String("data") == "" {
		return usagef("--shard collects the statistics of --fit over --data: give both")
	}
	if c.IsSet("test") {
		return usagef("--shard writes statistics, not a model to --test: test after --from-stats")
	}
	if k := c.Int("kernel"); k < 1 {
		return usagef("--kernel %d: want a positive odd size", k)
	}
	src, err := openData(c, "data")
	if err != nil {
		return err
	}
	f, err := fitting.AdapterStats(a, c.String("at"), b, c.String("from"), src, sh, fitting.StitchOptions{Kernel: c.Int("kernel"), Feed: feedFlags(c, "stats")})
	if err != nil {
		return err
	}
	return writeShardStats(c, f, from)
}
