package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/surgery"
	"github.com/graft-ml/graft/tensor"
)

var outputFlag = &cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "where to write the model", Required: true}

func newReplaceCmd() *cli.Command {
	return &cli.Command{
		Name:      "replace",
		Usage:     "swap a node or a module's subgraph for another model with the same interface",
		ArgsUsage: "<model.onnx>",
		Description: "--layer names a node, or a PyTorch module path whose nodes are replaced together.\n" +
			"The replacement's inputs bind, in order, to the values the part reads from outside,\n" +
			"and its outputs replace, in order, the values the part produces for the rest; the\n" +
			"command prints both lists. The replaced outputs keep their names.\n\n" +
			"Example:\n" +
			"  $ graft replace resnet18.onnx --layer layer1.0.conv2 --with lowrank_conv.onnx -o out.onnx",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "layer", Usage: "node name or module path to replace", Required: true},
			&cli.StringFlag{Name: "with", Usage: "ONNX model to put in its place", Required: true},
			outputFlag,
		},
		Action: func(c *cli.Context) error {
			_, m, err := loadModelArg(c)
			if err != nil {
				return err
			}
			sub, err := onnx.Load(c.String("with"))
			if err != nil {
				return err
			}
			r, err := surgery.Replace(m, c.String("layer"), sub)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "replaced %d node(s) with %d; inputs %s; outputs %s\n",
				r.Removed, r.Added, strings.Join(r.Inputs, ", "), strings.Join(r.Outputs, ", "))
			return saveReport(c, m)
		},
	}
}

func newPruneCmd() *cli.Command {
	return &cli.Command{
		Name:      "prune",
		Usage:     "zero small weights or remove whole channels and units",
		ArgsUsage: "<model.onnx>",
		Description: "Unstructured (default): zero the --sparsity fraction of Conv, Gemm and MatMul weights\n" +
			"with the smallest magnitude, per layer or with --global over all layers together.\n" +
			"--structured: remove that fraction of each layer's output channels or units, ranked\n" +
			"by --by l1|l2 (weight norm) or mean|meanabs (activation over --data). Units left\n" +
			"dead are then removed, with their constant output folded into the next layer's bias,\n" +
			"so the model really shrinks. Parameter counts and file sizes are reported.\n\n" +
			"Examples:\n" +
			"  $ graft prune fixtures/cnn_bn/model.onnx --sparsity 0.5 -o /tmp/sparse.onnx\n" +
			"  $ graft prune fixtures/mlp/model.onnx --structured --sparsity 0.25 --by l2 -o /tmp/thin.onnx\n" +
			"  $ graft prune model.onnx --structured --sparsity 0.3 --by meanabs --data x.npy -o thin.onnx",
		Flags: append([]cli.Flag{
			&cli.Float64Flag{Name: "sparsity", Usage: "fraction to prune, in [0, 1)", Required: true},
			&cli.BoolFlag{Name: "global", Usage: "rank weights over all layers together (unstructured)"},
			&cli.BoolFlag{Name: "structured", Usage: "prune whole output channels / units"},
			&cli.StringFlag{Name: "by", Value: "l1", Usage: "structured criterion: l1, l2, mean or meanabs"},
			&cli.StringFlag{Name: "data", Usage: ".npy samples (axis 0) for the mean and meanabs criteria"},
			&cli.IntFlag{Name: "batch", Value: 64, Usage: "batch size when measuring activations"},
			&cli.StringSliceFlag{Name: "layer", Usage: "restrict to this module path (repeatable)"},
			outputFlag,
		}, recordFlags()...),
		Action: func(c *cli.Context) (err error) {
			path, m, err := loadModelArg(c)
			if err != nil {
				return err
			}
			opt := surgery.PruneOptions{
				Sparsity: c.Float64("sparsity"), Global: c.Bool("global"), Structured: c.Bool("structured"),
				Criterion: c.String("by"), Layers: c.StringSlice("layer"),
			}
			if opt.Criterion == surgery.ByMean || opt.Criterion == surgery.ByMeanAbs {
				if !opt.Structured {
					return usagef("--by %s ranks units: add --structured", opt.Criterion)
				}
				if c.String("data") == "" {
					return usagef("--by %s measures activations: give --data X.npy", opt.Criterion)
				}
			}
			rec, rerr := startRecord(c, "prune", []string{path, c.String("data")}, 0)
			warnRecord(c, rerr)
			defer func() { finishRecord(c, rec, err) }()
			if opt.Criterion == surgery.ByMean || opt.Criterion == surgery.ByMeanAbs {
				x, err := tensor.LoadNPY(c.String("data"))
				if err != nil {
					return err
				}
				opt.Stats, err = surgery.MeasureUnitStats(m, x, opt.Layers, c.Int("batch"), func(done, total int) {
					fmt.Fprintf(c.App.ErrWriter, "\rmeasuring activations: %d/%d samples", done, total)
					if done == total {
						fmt.Fprintln(c.App.ErrWriter)
					}
				})
				if err != nil {
					return fmt.Errorf("measuring activations: %w", err)
				}
			}
			r, err := surgery.Prune(m, opt)
			if err != nil {
				return err
			}
			w := c.App.Writer
			fmt.Fprintf(w, "parameters: %d → %d (nonzero %d → %d)\n", r.ParamsBefore, r.ParamsAfter, r.NonzeroBefore, r.NonzeroAfter)
			if opt.Structured {
				fmt.Fprintf(w, "units zeroed %d, removed %d, kept %d\n", r.UnitsZeroed, r.UnitsRemoved, r.UnitsKept)
			} else if r.UnitsRemoved > 0 {
				fmt.Fprintf(w, "units left dead and removed: %d\n", r.UnitsRemoved)
			}
			for _, why := range r.KeptReasons {
				fmt.Fprintf(w, "  kept: %s\n", why)
			}
			warnRecord(c, rec.Log(map[string]any{
				"params_before": r.ParamsBefore, "params_after": r.ParamsAfter, "nonzero_before": r.NonzeroBefore, "nonzero_after": r.NonzeroAfter,
				"units_zeroed": r.UnitsZeroed, "units_removed": r.UnitsRemoved, "units_kept": r.UnitsKept,
			}))
			rec.Summary("params_before", r.ParamsBefore)
			rec.Summary("params_after", r.ParamsAfter)
			rec.Summary("nonzero_after", r.NonzeroAfter)
			if err := saveReport(c, m); err != nil {
				return err
			}
			warnRecord(c, rec.Artefact(c.String("output")))
			return reportSizes(c, path, c.String("output"))
		},
	}
}

// reportSizes prints the input and output files' sizes.
func reportSizes(c *cli.Context, before, after string) error {
	a, err := os.Stat(before)
	if err != nil {
		return err
	}
	b, err := os.Stat(after)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "file size: %d → %d bytes\n", a.Size(), b.Size())
	return nil
}

func newMixCmd() *cli.Command {
	return &cli.Command{
		Name:      "mix",
		Usage:     "interpolate or average the weights of models with the same architecture",
		ArgsUsage: "<A.onnx> <B.onnx> [more.onnx ...]",
		Description: "With two models and --alpha a, writes (1-a)·A + a·B; with --weights, Σ wᵢ·modelᵢ;\n" +
			"otherwise the plain average. --layer MODULE=ALPHA sets alpha for one module's\n" +
			"parameters (two models; the longest matching module path wins). Integer constants\n" +
			"must agree. The first model gives the graph, names and metadata.\n\n" +
			"Examples:\n" +
			"  $ graft mix a.onnx b.onnx --alpha 0.3 -o mixed.onnx\n" +
			"  $ graft mix a.onnx b.onnx --alpha 0 --layer layer4=1 -o a_with_b_layer4.onnx\n" +
			"  $ graft mix s1.onnx s2.onnx s3.onnx -o soup.onnx",
		Flags: []cli.Flag{
			&cli.Float64Flag{Name: "alpha", Usage: "weight of the second model (two models)"},
			&cli.StringFlag{Name: "weights", Usage: "comma-separated weight per model"},
			&cli.StringSliceFlag{Name: "layer", Usage: "MODULE=ALPHA per-layer alpha (repeatable)"},
			outputFlag,
		},
		Action: func(c *cli.Context) error {
			if c.NArg() < 2 {
				return usagef("mix takes at least two models, got %d", c.NArg())
			}
			var opt surgery.MixOptions
			switch {
			case c.IsSet("alpha") && c.IsSet("weights"):
				return usagef("give --alpha or --weights, not both")
			case c.IsSet("alpha"):
				if c.NArg() != 2 {
					return usagef("--alpha needs exactly two models; use --weights for %d", c.NArg())
				}
				a := c.Float64("alpha")
				opt.Weights = []float64{1 - a, a}
			case c.IsSet("weights"):
				for _, f := range strings.Split(c.String("weights"), ",") {
					x, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
					if err != nil {
						return usagef("--weights: %q is not a number", f)
					}
					opt.Weights = append(opt.Weights, x)
				}
			}
			for _, kv := range c.StringSlice("layer") {
				k, v, ok := strings.Cut(kv, "=")
				x, err := strconv.ParseFloat(v, 64)
				if !ok || err != nil {
					return usagef("--layer %q: want MODULE=ALPHA", kv)
				}
				if opt.Layers == nil {
					opt.Layers = map[string]float64{}
				}
				opt.Layers[k] = x
			}
			var models []*onnx.Model
			for _, p := range c.Args().Slice() {
				m, err := onnx.Load(p)
				if err != nil {
					return err
				}
				models = append(models, m)
			}
			if opt.Layers != nil && !c.IsSet("alpha") && opt.Weights == nil && len(models) == 2 {
				opt.Weights = []float64{0.5, 0.5}
			}
			r, err := surgery.Mix(models, opt)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "mixed %d float tensors (%d with a per-layer alpha), kept %d integer constants\n", r.Mixed, r.Override, r.Kept)
			return saveReport(c, models[0])
		},
	}
}
