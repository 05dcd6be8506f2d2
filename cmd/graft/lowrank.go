package main

import (
	"fmt"
	"math"

	"github.com/urfave/cli/v2"

	"github.com/graft-ml/graft/fitting"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/surgery"
)

func newLowRankCmd() *cli.Command {
	return &cli.Command{
		Name:      "lowrank",
		Usage:     "replace Conv or Gemm layers by rank-R factorisations, from the weights or fitted to data",
		ArgsUsage: "<model.onnx>",
		Description: "Each chosen layer y = W·x + b becomes two: x → R channels → y (for a Conv, a Conv\n" +
			"with the layer's window to R channels, then a 1x1 Conv). Without --data the factors\n" +
			"come from the truncated SVD of W, optimal for whitened inputs; with --data they are\n" +
			"fitted to the layer's real outputs over the data by reduced-rank regression (the\n" +
			"least-squares fit projected on the top-R principal directions of its outputs), which\n" +
			"is the least-squares optimum on those inputs. --layer picks layers (repeatable) with\n" +
			"--rank; --ratio instead factorises every Conv (group 1) and Gemm of the model to about\n" +
			"that fraction of its parameters (rank ⌊ratio·in·out/(in+out)⌋), skipping the last\n" +
			"layer unless --all-layers and any layer the rank would not shrink. Evaluate the\n" +
			"result with `graft eval`. Array jobs: with --data and --shard I/N (or --shards N and the\n" +
			"index from $SLURM_ARRAY_TASK_ID or $JOB_COMPLETION_INDEX) the command reads part I of\n" +
			"the data and writes the layers' statistics to -o (.npz) instead of a model; `graft fit\n" +
			"merge` adds the shards' files, and --from-stats (the merged file, or all of them) in\n" +
			"place of --data factorises as one run over the data would.\n\n" +
			"Examples:\n" +
			"  $ graft lowrank fixtures/fmnist/a.onnx --layer fc1 --rank 8 -o /tmp/a_r8.onnx\n" +
			"  $ graft lowrank fixtures/fmnist/a.onnx --layer conv3 --rank 16 --data fixtures/fmnist/train-images-2k-idx3-ubyte.gz \\\n" +
			"      --mean 0.2860 --std 0.3530 -o /tmp/a_conv3_r16.onnx\n" +
			"  $ graft lowrank resnet18.onnx --ratio 0.5 -o resnet18_half.onnx\n" +
			"  $ graft lowrank resnet18.onnx --ratio 0.5 --data train/ --shards 8 -o stats/s-$SLURM_ARRAY_TASK_ID.npz\n" +
			"  $ graft fit merge stats/ -o stats.npz && graft lowrank resnet18.onnx --ratio 0.5 --from-stats stats.npz -o resnet18_half.onnx",
		Flags: append([]cli.Flag{
			&cli.StringSliceFlag{Name: "layer", Usage: "Conv or Gemm layer to factorise (repeatable)"},
			&cli.IntFlag{Name: "rank", Usage: "rank R for --layer"},
			&cli.Float64Flag{Name: "ratio", Usage: "whole model: keep about this fraction of each layer's parameters"},
			&cli.BoolFlag{Name: "all-layers", Usage: "with --ratio, factorise the last layer too"},
			threadsFlag(),
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "where to write the model (with --shard: the statistics, .npz)", Required: true},
		}, append(append(statsFlags(), dataFlagsFor(false)...), recordFlags()...)...),
		Action: runLowRank,
	}
}

// lowRankPlan is one layer to factorise.
type lowRankPlan struct {
	layer *surgery.LinearLayer
	name  string
	rank  int
	stats *fitting.Stats // with --data: the layer's inputs against its outputs
}

func runLowRank(c *cli.Context) (err error) {
	path, m, err := loadModelArg(c)
	if err != nil {
		return err
	}
	plans, err := planLowRank(c, m)
	if err != nil {
		return err
	}
	if c.IsSet("shard") || c.IsSet("shards") {
		return lowRankShard(c, m, plans)
	}
	rec, rerr := startRecord(c, "lowrank", []string{path, c.String("data"), c.String("labels")}, 0)
	warnRecord(c, rerr)
	defer func() { finishRecord(c, rec, err) }()
	if c.String("data") != "" || c.IsSet("from-stats") {
		if err := collectLayerStats(c, m, plans); err != nil {
			return err
		}
	}
	before, after := 0, 0
	for _, p := range plans {
		line, quality, err := factorise(m, p)
		if err != nil {
			return err
		}
		l, newParams := p.layer, p.rank*(p.layer.In+p.layer.Out)+p.layer.Out
		before += l.Params()
		after += newParams
		fmt.Fprintf(c.App.Writer, "%-28s %5d → %-5d rank %-4d params %8d → %-8d %s\n", p.name, l.In, l.Out, p.rank, l.Params(), newParams, quality)
		line["params_before"], line["params_after"] = l.Params(), newParams
		warnRecord(c, rec.Log(line))
	}
	fmt.Fprintf(c.App.Writer, "factorised %d layer(s): their parameters %d → %d (%.1f %%)\n", len(plans), before, after, 100*float64(after)/float64(before))
	rec.Summary("layers", len(plans))
	rec.Summary("params_before", before)
	rec.Summary("params_after", after)
	if err := saveReport(c, m); err != nil {
		return err
	}
	warnRecord(c, rec.Artefact(c.String("output")))
	return nil
}

// planLowRank chooses the layers and ranks from --layer and --rank or
// from --ratio.
func planLowRank(c *cli.Context, m *onnx.Model) ([]*lowRankPlan, error) {
	layers := c.StringSlice("layer")
	ratio := c.Float64("ratio")
	var plans []*lowRankPlan
	switch {
	case len(layers) > 0 && ratio != 0:
		return nil, usagef("give --layer with --rank, or --ratio, not both")
	case len(layers) > 0:
		if c.Int("rank") < 1 {
			return nil, usagef("--layer needs --rank R ≥ 1")
		}
		for _, name := range layers {
			l, err := surgery.LinearLayerOf(m, name)
			if err != nil {
				return nil, fmt.Errorf("--layer %s: %w", name, err)
			}
			if r := c.Int("rank"); r >= min(l.In, l.Out) {
				return nil, fmt.Errorf("--layer %s maps %d → %d: rank %d does not reduce it (want below %d)", name, l.In, l.Out, r, min(l.In, l.Out))
			}
			plans = append(plans, &lowRankPlan{layer: l, name: name, rank: c.Int("rank")})
		}
	case ratio > 0 && ratio < 1:
		all := surgery.LinearLayers(m)
		if !c.Bool("all-layers") && len(all) > 0 {
			all = all[:len(all)-1]
		}
		for _, l := range all {
			r := max(1, int(math.Floor(ratio*float64(l.In*l.Out)/float64(l.In+l.Out))))
			if r < min(l.In, l.Out) {
				plans = append(plans, &lowRankPlan{layer: l, name: l.Node.Name, rank: r})
			}
		}
		if len(plans) == 0 {
			return nil, fmt.Errorf("--ratio %g: no layer would get smaller", ratio)
		}
	default:
		return nil, usagef("give --layer with --rank, or --ratio between 0 and 1")
	}
	return plans, nil
}

// factorise replaces one planned layer by its rank-R factors, fitted to
// the data when the plan has statistics, else from the weights' SVD, and
// returns the run record's line for it and how good the factors are.
func factorise(m *onnx.Model, p *lowRankPlan) (map[string]any, string, error) {
	l := p.layer
	line := map[string]any{"layer": p.name, "in": l.In, "out": l.Out, "rank": p.rank}
	var a *fitting.Affine
	var quality string
	if p.stats != nil {
		fit, err := fitting.LowRank(p.stats, p.rank, fitting.LinearOptions{})
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", p.name, err)
		}
		a = &fit.Affine
		quality = fmt.Sprintf("R² %.4f on the layer's outputs", fit.Quality.R2)
		line["r2"] = fit.Quality.R2
	} else {
		var err error
		if a, err = fitting.LowRankWeights(&fitting.Affine{In: l.In, Out: l.Out, W: l.W, B: l.B}, p.rank); err != nil {
			return nil, "", fmt.Errorf("%s: %w", p.name, err)
		}
		werr := relFrobenius(l.W, a.W)
		quality = fmt.Sprintf("weight error %.4f (relative Frobenius)", werr)
		line["weight_error"] = werr
	}
	if err := surgery.Factorize(m, l, p.rank, a.Down, a.Up, a.B); err != nil {
		return nil, "", fmt.Errorf("%s: %w", p.name, err)
	}
	return line, quality, nil
}

// collectLayerStats runs m over --data once (fitting.LayerStats) and
// gives each plan the statistics of its layer's inputs and outputs.
func collectLayerStats(c *cli.Context, m *onnx.Model, plans []*lowRankPlan) error {
	layers := planLayers(plans)
	var stats []fitting.LayerStat
	if c.IsSet("from-stats") {
		if c.String("data") != "" {
			return usagef("--from-stats and --data both give the samples of the fit; choose one")
		}
		f, err := readStats(c.StringSlice("from-stats"))
		if err != nil {
			return err
		}
		if stats, err = fitting.LayerStatsFromFile(m, layers, f); err != nil {
			return err
		}
	} else {
		src, err := openData(c, "data")
		if err != nil {
			return err
		}
		if stats, err = fitting.LayerStats(m, layers, src, feedFlags(c, "lowrank")); err != nil {
			return err
		}
	}
	for i, p := range plans {
		if stats[i].Skipped != "" {
			fmt.Fprintf(c.App.Writer, "%s: %s; using the weights' SVD\n", p.name, stats[i].Skipped)
		}
		p.stats = stats[i].Stats
	}
	return nil
}

func relFrobenius(w, approx []float64) float64 {
	var num, den float64
	for i := range w {
		d := w[i] - approx[i]
		num += d * d
		den += w[i] * w[i]
	}
	return math.Sqrt(num / den)
}

func planLayers(plans []*lowRankPlan) []*surgery.LinearLayer {
	layers := make([]*surgery.LinearLayer, len(plans))
	for i, p := range plans {
		layers[i] = p.layer
	}
	return layers
}

// lowRankShard is lowrank --data --shard: the planned layers' statistics
// over one shard of the data, written to -o.
func lowRankShard(c *cli.Context, m *onnx.Model, plans []*lowRankPlan) error {
	sh, from, err := dataShard(c)
	if err != nil {
		return err
	}
	if c.String("data") == "" {
		return usagef("--shard collects the layers' statistics over --data: give it")
	}
	src, err := openData(c, "data")
	if err != nil {
		return err
	}
	f, err := fitting.LayerStatsShard(m, planLayers(plans), src, sh, feedFlags(c, "stats"))
	if err != nil {
		return err
	}
	return writeShardStats(c, f, from)
}
