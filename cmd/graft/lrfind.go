package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/urfave/cli/v2"

	"github.com/graft-ml/graft/internal/plot"
	"github.com/graft-ml/graft/runlog"
	"github.com/graft-ml/graft/tensor"
	"github.com/graft-ml/graft/train"
)

func newLRFindCmd() *cli.Command {
	return &cli.Command{
		Name:      "lr-find",
		Usage:     "learning-rate range test: the loss as the rate grows, and a suggested rate",
		ArgsUsage: "<model.onnx> --data <X> --train <glob>[,<glob>...]",
		Description: "Trains the chosen parameters (as finetune does, same flags) for --steps steps with the\n" +
			"learning rate growing exponentially from --min-lr to --max-lr, records the loss of each\n" +
			"step, and suggests the rate where the smoothed loss falls fastest (Smith 2017, \"Cyclical\n" +
			"learning rates\"; the steepest point, as fastai and torch-lr-finder suggest). It stops\n" +
			"early once the loss diverges. Nothing is written but the curve (--plot) and the run\n" +
			"record; the model is left as it was.\n\n" +
			"Examples:\n" +
			"  $ graft lr-find ab.onnx --train adapter --data fixtures/fmnist/train-images-2k-idx3-ubyte.gz --mean 0.2860 --std 0.3530 --plot lr.png\n" +
			"  $ graft lr-find model.onnx --train 'layer4.*,fc' --data x.npy --labels y.npy --optimizer sgd --momentum 0.9",
		Flags: append(append(trainFlags(),
			&cli.Float64Flag{Name: "min-lr", Value: 1e-7, Usage: "the first learning rate"},
			&cli.Float64Flag{Name: "max-lr", Value: 10, Usage: "the last learning rate"},
			&cli.IntFlag{Name: "steps", Value: 100, Usage: "steps (learning rates) to try"},
			&cli.StringFlag{Name: "plot", Usage: "write the loss against the rate as a PNG"},
			&cli.BoolFlag{Name: "json", Usage: "print the curve and the suggestion as JSON"},
		), recordFlags()...),
		Action: runLRFind,
	}
}

func runLRFind(c *cli.Context) error {
	s, err := setupTraining(c)
	if err != nil {
		return err
	}
	rec, err := startRecord(c, "lr-find", []string{s.path, c.String("data")}, int64(s.seed))
	warnRecord(c, err)
	res, err := lrFind(c, s, rec)
	finishRecord(c, rec, err)
	if err != nil {
		return err
	}
	w := c.App.Writer
	if c.Bool("json") {
		return writeJSON(w, map[string]any{"lr": res.LRs, "loss": res.Losses, "smoothed": res.Smoothed, "suggested_lr": res.Suggested, "diverged": res.Diverged})
	}
	fmt.Fprintf(w, "%d steps from lr %.3g to %.3g", len(res.LRs), res.LRs[0], res.LRs[len(res.LRs)-1])
	if res.Diverged {
		fmt.Fprint(w, " (stopped: the loss diverged)")
	}
	fmt.Fprintf(w, "\nsuggested learning rate: %.3g (steepest descent of the smoothed loss)\n", res.Suggested)
	if p := c.String("plot"); p != "" {
		fmt.Fprintf(w, "wrote %s\n", p)
	}
	return nil
}

func lrFind(c *cli.Context, s *trainSetup, rec *runlog.Run) (*train.RangeTestResult, error) {
	bar := newProgress(c.App.ErrWriter, "lr-find", c.Int("steps"))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := train.RangeTest(ctx, s.model, s.src, train.RangeTestOptions{
		MinLR: c.Float64("min-lr"), MaxLR: c.Float64("max-lr"), Steps: c.Int("steps"),
		Batch: s.batch, Seed: s.seed, Optimizer: s.opt, Progress: func(done, _ int) { bar.set(done) },
	})
	bar.done()
	if err != nil {
		return nil, err
	}
	for i := range res.LRs {
		rec.Log(map[string]any{"step": i + 1, "lr": res.LRs[i], "loss": finite(res.Losses[i]), "smoothed_loss": finite(res.Smoothed[i])})
	}
	rec.Summary("suggested_lr", res.Suggested)
	rec.AddCurve(runlog.Curve{Name: "loss_vs_lr", X: "lr", Y: "smoothed_loss", LogX: true})
	if p := c.String("plot"); p != "" {
		if err := writeCurvePNG(p, "loss vs learning rate", res.LRs, res.Smoothed, true); err != nil {
			return nil, err
		}
		rec.Artefact(p)
	}
	return res, nil
}

// writeCurvePNG draws ys against xs to a PNG at path, atomically.
func writeCurvePNG(path, title string, xs, ys []float64, logX bool) error {
	img, err := plot.Curve(xs, ys, plot.CurveOptions{Title: title, XLabel: "learning rate", LogX: logX})
	if err != nil {
		return err
	}
	return tensor.WriteFileAtomic(path, func(w io.Writer) error { return plot.WritePNG(w, img) })
}

// writeJSON writes v as one indented JSON object.
func writeJSON(w io.Writer, v any) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(v)
}
