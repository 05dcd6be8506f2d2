package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/surgery"
)

func newMergeCmd() *cli.Command {
	return &cli.Command{
		Name:      "merge",
		Usage:     "put several models side by side in one graph (an ensemble, or a comparison)",
		ArgsUsage: "<A.onnx> <B.onnx> [<C.onnx>...]",
		Description: "The result runs every model on its own inputs, or with --shared-input on one set of\n" +
			"inputs (the first model's names; the shapes must agree). Each model's values, nodes\n" +
			"and initializers are renamed under its name from --names (default a, b, c, ...):\n" +
			"output logits becomes a/logits, weight fc.weight a/fc.weight, and module paths read\n" +
			"a.layer1.0.conv1, so truncate, ntk --params and the other commands can name either\n" +
			"model's layers. Initializers identical in dtype, shape and bits are stored once: a\n" +
			"model merged with itself is about the size of one. Older opsets are upgraded to the\n" +
			"newest (an op that cannot be is an error naming it). --mean-output adds the mean of\n" +
			"the models' outputs as the first output (named as the models name it when they\n" +
			"agree): an ensemble that eval and run read by default.\n\n" +
			"Examples:\n" +
			"  $ graft merge fixtures/fmnist/a.onnx fixtures/fmnist/b.onnx --shared-input --mean-output -o /tmp/ensemble.onnx\n" +
			"  $ graft merge fixtures/resnet_small/model.onnx fixtures/cnn_bn/model.onnx --names res,bn -o /tmp/pair.onnx\n" +
			"  $ graft merge s1.onnx s2.onnx s3.onnx --shared-input --mean-output -o soup_ensemble.onnx",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "names", Usage: "comma-separated name per model, its scope in the result (default a,b,c,...)"},
			&cli.BoolFlag{Name: "shared-input", Usage: "feed every model from the same inputs"},
			&cli.BoolFlag{Name: "mean-output", Usage: "add the mean of the models' outputs as the first output"},
			outputFlag,
		}, externalDataFlags()...),
		Action: runMerge,
	}
}

func runMerge(c *cli.Context) error {
	if c.NArg() < 2 {
		return usagef("merge takes at least two models, got %d", c.NArg())
	}
	opt := surgery.MergeOptions{SharedInput: c.Bool("shared-input"), MeanOutput: c.Bool("mean-output")}
	if s := c.String("names"); s != "" {
		opt.Names = strings.Split(s, ",")
		if len(opt.Names) != c.NArg() {
			return usagef("--names gives %d names for %d models", len(opt.Names), c.NArg())
		}
	}
	paths := c.Args().Slice()
	var models []*onnx.Model
	for _, p := range paths {
		m, err := onnx.Load(p)
		if err != nil {
			return err
		}
		models = append(models, m)
	}
	r, err := surgery.Merge(models, opt)
	if err != nil {
		return err
	}
	w := c.App.Writer
	for i, m := range r.Models {
		up := ""
		if m.Opset != r.Opset {
			up = fmt.Sprintf(", upgraded to %d", r.Opset)
		}
		fmt.Fprintf(w, "%s: %s (opset %d%s, %d nodes, %d initializer(s) shared)\n", m.Name, paths[i], m.Opset, up, m.Nodes, m.Shared)
	}
	fmt.Fprintf(w, "merged %d models at opset %d: %d initializers stored, %d shared (%s not stored again)\n",
		len(r.Models), r.Opset, r.Initializers, r.SharedInitializers, byteSize(r.SharedBytes))
	return saveReport(c, models[0])
}

// byteSize formats n bytes in B, KB or MB (powers of 1000).
func byteSize(n int64) string {
	switch {
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f KB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}
