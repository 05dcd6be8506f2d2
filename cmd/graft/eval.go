package main

import (
	"encoding/json"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/graft-ml/graft/eval"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/runlog"
)

func newEvalCmd() *cli.Command {
	return &cli.Command{
		Name:      "eval",
		Usage:     "top-1 and top-5 accuracy of a classifier on a dataset, and agreement with another model",
		ArgsUsage: "<model.onnx>",
		Description: "Runs the model over --data in batches and compares the argmax of its output (the\n" +
			"first graph output, or --logits) with the labels: those the dataset carries (IDX label\n" +
			"files are paired automatically when named like the images, CIFAR batches and image\n" +
			"folders carry theirs) or --labels. With --compare, also the fraction of samples on\n" +
			"which the two models' top-1 predictions agree, which needs no labels.\n\n" +
			"Examples:\n" +
			"  $ graft eval fixtures/fmnist/a.onnx --data fixtures/fmnist/t10k-images-1k-idx3-ubyte.gz --mean 0.2860 --std 0.3530\n" +
			"  $ graft eval stitched.onnx --data test.npy --labels test_labels.npy --compare b.onnx --json",
		Flags: append(append(dataFlags(),
			&cli.StringFlag{Name: "compare", Usage: "another model to measure top-1 agreement with"},
			&cli.StringFlag{Name: "logits", Usage: "value, node or module path holding the logits (default: the first graph output)"},
			threadsFlag(),
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object"},
		), recordFlags()...),
		Action: runEval,
	}
}

func runEval(c *cli.Context) (err error) {
	path, m, err := loadModelArg(c)
	if err != nil {
		return err
	}
	src, err := openData(c, "data")
	if err != nil {
		return err
	}
	o := eval.Options{Output: c.String("logits"), Feed: feedFlags(c, "eval")}
	if p := c.String("compare"); p != "" {
		if o.Compare, err = onnx.Load(p); err != nil {
			return err
		}
	}
	rec, rerr := startRecord(c, "eval", []string{path, c.String("data"), c.String("labels"), c.String("compare")}, 0)
	warnRecord(c, rerr)
	defer func() { finishRecord(c, rec, err) }()
	res, err := eval.Accuracy(m, src, o)
	if err != nil {
		return err
	}
	recordEval(c, rec, path, res)
	if c.Bool("json") {
		return json.NewEncoder(c.App.Writer).Encode(res)
	}
	w := c.App.Writer
	fmt.Fprintf(w, "%s on %s (%d samples):", path, c.String("data"), res.Samples)
	if res.Top1 == nil {
		fmt.Fprintf(w, " no labels, so no accuracy\n")
	} else {
		fmt.Fprintf(w, " top-1 %.2f %%  top-5 %.2f %%\n", 100**res.Top1, 100**res.Top5)
	}
	if res.Agreement != nil {
		fmt.Fprintf(w, "top-1 agreement with %s: %.2f %%", c.String("compare"), 100**res.Agreement)
		if res.CompareTop1 != nil {
			fmt.Fprintf(w, " (its top-1 %.2f %%)", 100**res.CompareTop1)
		}
		fmt.Fprintln(w)
	}
	return nil
}

// recordEval logs one metrics line per model and the key results.
func recordEval(c *cli.Context, rec *runlog.Run, path string, res *eval.Result) {
	warnRecord(c, rec.Log(map[string]any{"model": path, "samples": res.Samples, "top1": res.Top1, "top5": res.Top5}))
	rec.Summary("samples", res.Samples)
	if res.Top1 != nil {
		rec.Summary("top1", *res.Top1)
		rec.Summary("top5", *res.Top5)
	}
	if res.Agreement != nil {
		warnRecord(c, rec.Log(map[string]any{"model": c.String("compare"), "samples": res.Samples, "top1": res.CompareTop1, "agreement": *res.Agreement}))
		rec.Summary("agreement", *res.Agreement)
		if res.CompareTop1 != nil {
			rec.Summary("compare_top1", *res.CompareTop1)
		}
	}
}
