package main

import (
	"cmp"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/graft-ml/graft/data"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/surgery"
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
		Usage:     "zero single weights, or remove whole channels and units",
		ArgsUsage: "<model.onnx>",
		Description: "Unstructured (default): zero the --sparsity fraction of the Conv, Gemm and MatMul\n" +
			"weights with the lowest score, the same fraction of each layer or, with --global, of\n" +
			"all of them ranked together. The final layers (the classifier: layers no other\n" +
			"prunable layer follows) keep every weight unless --include-last. --by scores a\n" +
			"weight w joining input i to unit j, over the samples of --data:\n" +
			"  magnitude  |w| (the default; needs no data)\n" +
			"  mav        |mean over samples of w·x_i|\n" +
			"  maav       mean over samples of |w·x_i|\n" +
			"For a Gemm or MatMul, x_i is input feature i of each sample (of each row, for a\n" +
			"MatMul over tokens). For a Conv, i is an (input channel, kernel tap) and the samples\n" +
			"are every (image, output position) pair: x_i is the pixel the tap reads there, 0 in\n" +
			"the padding. (Sparana sums |w·x_i| for MAAV; the mean ranks a layer's weights the\n" +
			"same way and keeps layers comparable under --global.) One pass over the data, in\n" +
			"batches of --batch.\n\n" +
			"--structured: remove that fraction of each layer's output channels or units, ranked\n" +
			"by --by l1|l2 (weight norm; l1 is the default) or mean|meanabs (activation over\n" +
			"--data). Units left dead are then removed, with their constant output folded into\n" +
			"the next layer's bias, so the model really shrinks. Parameter counts and file sizes\n" +
			"are reported; --sparse-initializers stores the pruned weights as ONNX sparse\n" +
			"initializers (see graft convert), so that the file shrinks too.\n\n" +
			"Examples:\n" +
			"  $ graft prune fixtures/cnn_bn/model.onnx --sparsity 0.5 -o /tmp/sparse.onnx\n" +
			"  $ graft prune fixtures/fmnist/a.onnx --sparsity 0.9 --by maav --data fixtures/fmnist/train-images-2k-idx3-ubyte.gz --mean 0.2860 --std 0.3530 -o /tmp/maav90.onnx\n" +
			"  $ graft prune model.onnx --sparsity 0.9 --global --include-last --sparse-initializers -o small.onnx\n" +
			"  $ graft prune fixtures/mlp/model.onnx --structured --sparsity 0.25 --by l2 -o /tmp/thin.onnx\n" +
			"  $ graft prune model.onnx --structured --sparsity 0.3 --by meanabs --data x.npy -o thin.onnx",
		Flags: slices.Concat([]cli.Flag{
			&cli.Float64Flag{Name: "sparsity", Usage: "fraction to prune, in [0, 1)", Required: true},
			&cli.BoolFlag{Name: "global", Usage: "rank weights over all layers together (unstructured)"},
			&cli.BoolFlag{Name: "include-last", Usage: "prune the final (classifier) layers too (unstructured)"},
			&cli.BoolFlag{Name: "structured", Usage: "prune whole output channels / units"},
			&cli.StringFlag{Name: "by", Usage: "criterion: magnitude (default), mav or maav; with --structured l1 (default), l2, mean or meanabs"},
			&cli.StringSliceFlag{Name: "layer", Usage: "restrict to this module path (repeatable)"},
			outputFlag,
			threadsFlag(),
		}, dataFlagsFor(false), sparseSaveFlags(), recordFlags()),
		Action: func(c *cli.Context) (err error) {
			opt := surgery.PruneOptions{
				Sparsity: c.Float64("sparsity"), Global: c.Bool("global"), Structured: c.Bool("structured"),
				Criterion: c.String("by"), Layers: c.StringSlice("layer"), IncludeLast: c.Bool("include-last"),
			}
			if !(opt.Sparsity >= 0 && opt.Sparsity < 1) {
				return usagef("--sparsity %g: want a fraction in [0, 1)", opt.Sparsity)
			}
			needsData, err := pruneCriterion(opt)
			if err != nil {
				return err
			}
			switch {
			case needsData && !c.IsSet("data"):
				return usagef("--by %s measures activations: give --data", opt.Criterion)
			case !needsData && c.IsSet("data"):
				return usagef("--data is read by --by mav|maav (or mean|meanabs with --structured), not by %s", cmp.Or(opt.Criterion, "magnitude"))
			case opt.Structured && (opt.Global || opt.IncludeLast):
				return usagef("--global and --include-last are for unstructured pruning")
			}
			if c.IsSet("threads") && c.Int("threads") < 1 {
				return usagef("--threads %d: want at least 1", c.Int("threads"))
			}
			save, err := sparseSaveOptions(c)
			if err != nil {
				return err
			}
			path, m, err := loadModelArg(c)
			if err != nil {
				return err
			}
			rec, rerr := startRecord(c, "prune", []string{path, c.String("data")}, 0)
			warnRecord(c, rerr)
			defer func() { finishRecord(c, rec, err) }()
			if needsData {
				src, err := openData(c, "data")
				if err != nil {
					return err
				}
				o := feedFlags(c, "measuring activations")
				if opt.Structured {
					opt.Stats, err = surgery.MeasureUnitStatsOver(m, opt.Layers, src, o)
				} else {
					opt.Inputs, err = surgery.MeasureInputStats(m, opt.Layers, src, o)
				}
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
			if len(r.FinalSkipped) > 0 {
				fmt.Fprintf(w, "final layers left whole (--include-last prunes them): %s\n", strings.Join(r.FinalSkipped, ", "))
			}
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
			if err := saveReportWith(c, m, save); err != nil {
				return err
			}
			warnRecord(c, rec.Artefact(c.String("output")))
			return reportSizes(c, path, c.String("output"))
		},
	}
}

// pruneCriterion checks that --by suits --structured and says whether it
// reads data.
func pruneCriterion(opt surgery.PruneOptions) (needsData bool, err error) {
	switch opt.Criterion {
	case "", surgery.ByMagnitude, surgery.ByL1, surgery.ByL2:
	case surgery.ByMAV, surgery.ByMAAV, surgery.ByMean, surgery.ByMeanAbs:
		needsData = true
	default:
		return false, usagef("--by %q: want magnitude, mav or maav (or, with --structured, l1, l2, mean or meanabs)", opt.Criterion)
	}
	units := opt.Criterion == surgery.ByL1 || opt.Criterion == surgery.ByL2 || opt.Criterion == surgery.ByMean || opt.Criterion == surgery.ByMeanAbs
	weights := opt.Criterion == surgery.ByMagnitude || opt.Criterion == surgery.ByMAV || opt.Criterion == surgery.ByMAAV
	switch {
	case units && !opt.Structured:
		return false, usagef("--by %s ranks units: add --structured", opt.Criterion)
	case weights && opt.Structured:
		return false, usagef("--by %s ranks single weights: drop --structured (structured criteria: l1, l2, mean, meanabs)", opt.Criterion)
	}
	return needsData, nil
}

// saveReportWith is saveReport with the initializers stored as opts say
// (dense or sparse; see sparseSaveFlags).
func saveReportWith(c *cli.Context, m *onnx.Model, opts onnx.SaveOptions) error {
	if opts.Initializers == onnx.KeepFormat {
		return saveReport(c, m)
	}
	out := c.String("output")
	if err := m.SaveWith(out, opts); err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	fmt.Fprintf(c.App.Writer, "wrote %s: %d nodes\n", out, len(m.Graph.Nodes))
	return reportSparse(c, out)
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
			"--by mixes weight by weight by importance: W = Σ Wᵢ·sᵢ / Σ sᵢ, with sᵢ the score of\n" +
			"the weight in model i (the plain mean where every sᵢ is 0):\n" +
			"  magnitude  sᵢ = |Wᵢ|, for every float parameter\n" +
			"  maav       sᵢ = mean over the samples of --data of |Wᵢ·x| (as graft prune --by maav\n" +
			"             defines it, with each model's own activations), for the Conv, Gemm and\n" +
			"             MatMul weights; biases and other parameters get the plain mean\n" +
			"The scores only weigh the mix; they are never written into the weights.\n\n" +
			"Examples:\n" +
			"  $ graft mix a.onnx b.onnx --alpha 0.3 -o mixed.onnx\n" +
			"  $ graft mix a.onnx b.onnx --alpha 0 --layer layer4=1 -o a_with_b_layer4.onnx\n" +
			"  $ graft mix s1.onnx s2.onnx s3.onnx -o soup.onnx\n" +
			"  $ graft mix s1.onnx s2.onnx s3.onnx --by magnitude -o soup.onnx\n" +
			"  $ graft mix fixtures/fmnist/a.onnx fixtures/fmnist/b.onnx --by maav --data fixtures/fmnist/train-images-2k-idx3-ubyte.gz --mean 0.2860 --std 0.3530 -o /tmp/ab.onnx",
		Flags: slices.Concat([]cli.Flag{
			&cli.Float64Flag{Name: "alpha", Usage: "weight of the second model (two models)"},
			&cli.StringFlag{Name: "weights", Usage: "comma-separated weight per model"},
			&cli.StringSliceFlag{Name: "layer", Usage: "MODULE=ALPHA per-layer alpha (repeatable)"},
			&cli.StringFlag{Name: "by", Usage: "mix weight by weight by importance: magnitude or maav (needs --data)"},
			outputFlag,
			threadsFlag(),
		}, dataFlagsFor(false)),
		Action: func(c *cli.Context) error {
			if c.NArg() < 2 {
				return usagef("mix takes at least two models, got %d", c.NArg())
			}
			var opt surgery.MixOptions
			by := c.String("by")
			switch {
			case c.IsSet("by") && by != surgery.ByMagnitude && by != surgery.ByMAAV:
				return usagef("--by %q: want magnitude or maav", by)
			case c.IsSet("by") && (c.IsSet("alpha") || c.IsSet("weights") || c.IsSet("layer")):
				return usagef("--by weighs each weight by its importance: drop --alpha, --weights and --layer")
			case by == surgery.ByMAAV && !c.IsSet("data"):
				return usagef("--by maav measures activations: give --data")
			case by != surgery.ByMAAV && c.IsSet("data"):
				return usagef("--data is read by --by maav only")
			case c.IsSet("threads") && c.Int("threads") < 1:
				return usagef("--threads %d: want at least 1", c.Int("threads"))
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
			var src data.Source
			if by == surgery.ByMAAV {
				var err error
				if src, err = openData(c, "data"); err != nil {
					return err
				}
			}
			var models []*onnx.Model
			for i, p := range c.Args().Slice() {
				m, err := onnx.Load(p)
				if err != nil {
					return err
				}
				models = append(models, m)
				if by != "" {
					s, err := surgery.ImportanceScores(m, by, src, feedFlags(c, fmt.Sprintf("scoring model %d", i+1)))
					if err != nil {
						return fmt.Errorf("%s: %w", p, err)
					}
					opt.Scores = append(opt.Scores, s)
				}
			}
			if opt.Layers != nil && !c.IsSet("alpha") && opt.Weights == nil && len(models) == 2 {
				opt.Weights = []float64{0.5, 0.5}
			}
			r, err := surgery.Mix(models, opt)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "mixed %d float tensors (%d with a per-layer alpha, %d by %s), kept %d integer constants\n", r.Mixed, r.Override, r.Scored, cmp.Or(by, "importance"), r.Kept)
			return saveReport(c, models[0])
		},
	}
}
