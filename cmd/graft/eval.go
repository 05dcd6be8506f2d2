package main

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/urfave/cli/v2"

	"github.com/graft-ml/graft/data"
	"github.com/graft-ml/graft/exec"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/runlog"
	"github.com/graft-ml/graft/tensor"
)

func newEvalCmd() *cli.Command {
	return &cli.Command{
		Name:      "eval",
		Usage:     "top-1 and top-5 accuracy of a classifier on a dataset, and agreement with another model",
		ArgsUsage: "<model.onnx>",
		Description: "Runs the model over --data in batches and compares the argmax of its output (the\n" +
			"first graph output, or --output) with the labels: those the dataset carries (IDX label\n" +
			"files are paired automatically when named like the images, CIFAR batches and image\n" +
			"folders carry theirs) or --labels. With --compare, also the fraction of samples on\n" +
			"which the two models' top-1 predictions agree, which needs no labels.\n\n" +
			"Examples:\n" +
			"  $ graft eval fixtures/fmnist/a.onnx --data fixtures/fmnist/t10k-images-1k-idx3-ubyte.gz --mean 0.2860 --std 0.3530\n" +
			"  $ graft eval stitched.onnx --data test.npy --labels test_labels.npy --compare b.onnx --json",
		Flags: append(append(dataFlags(),
			&cli.StringFlag{Name: "compare", Usage: "another model to measure top-1 agreement with"},
			&cli.StringFlag{Name: "output", Usage: "value holding the logits (default: the first graph output)"},
			&cli.IntFlag{Name: "threads", Usage: "kernel threads (default: all cores)"},
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
	models := []*onnx.Model{m}
	if p := c.String("compare"); p != "" {
		other, err := onnx.Load(p)
		if err != nil {
			return err
		}
		models = append(models, other)
	}
	rec, rerr := startRecord(c, "eval", []string{path, c.String("data"), c.String("labels"), c.String("compare")}, 0)
	warnRecord(c, rerr)
	defer func() { finishRecord(c, rec, err) }()
	res, err := evaluate(models, c.String("output"), src, passFlags(c, "eval"), c.Int("threads"))
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
func recordEval(c *cli.Context, rec *runlog.Run, path string, res evalResult) {
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

// evalResult is what eval measures; accuracies are nil without labels.
type evalResult struct {
	Samples     int      `json:"samples"`
	Top1        *float64 `json:"top1,omitempty"`
	Top5        *float64 `json:"top5,omitempty"`
	Agreement   *float64 `json:"agreement,omitempty"`
	CompareTop1 *float64 `json:"compare_top1,omitempty"`
}

// evaluate runs models[0] (and models[1], if given, for agreement) over
// src and counts correct top-1 and top-5 predictions.
func evaluate(models []*onnx.Model, output string, src data.Source, o passOptions, threads int) (evalResult, error) {
	var r evalResult
	progs := make([]*exec.Program, len(models))
	inputs := make([]string, len(models))
	outs := make([][]string, len(models))
	for i, m := range models {
		p, err := exec.Compile(m)
		if err != nil {
			return r, err
		}
		if threads > 0 {
			p.Threads = threads
		}
		if inputs[i], err = modelInput(p); err != nil {
			return r, err
		}
		if output != "" && i == 0 {
			outs[i] = []string{output}
		} else {
			outs[i] = []string{p.Graph().Outputs[0].Name}
		}
		progs[i] = p
	}
	var top1, top5, agree, otherTop1 int
	labelled := true
	err := forBatches(src, o, func(start int, x *tensor.Dense, labels []int64) error {
		if labels == nil {
			labelled = false
		}
		var preds [][]int
		for i, p := range progs {
			res, err := runBatched(p, inputs[i], x, outs[i])
			if err != nil {
				return err
			}
			logits := res[outs[i][0]]
			ranked, err := topK(logits, 5)
			if err != nil {
				return fmt.Errorf("model %d output %s: %w", i+1, outs[i][0], err)
			}
			preds = append(preds, rankedTop1(ranked))
			if labels == nil {
				continue
			}
			classes := logits.Len() / max(1, logits.Shape[0])
			for s, lab := range labels {
				if lab < 0 || int(lab) >= classes {
					return fmt.Errorf("sample %d has label %d, outside the model's %d classes", start+s, lab, classes)
				}
				if i == 1 {
					if ranked[s][0] == int(lab) {
						otherTop1++
					}
					continue
				}
				for k, cls := range ranked[s] {
					if cls == int(lab) {
						if k == 0 {
							top1++
						}
						top5++
						break
					}
				}
			}
		}
		if len(preds) == 2 {
			for s := range preds[0] {
				if preds[0][s] == preds[1][s] {
					agree++
				}
			}
		}
		return nil
	})
	if err != nil {
		return r, err
	}
	r.Samples = o.samples(src)
	frac := func(k int) *float64 { v := float64(k) / float64(r.Samples); return &v }
	if labelled {
		r.Top1, r.Top5 = frac(top1), frac(top5)
		if len(progs) == 2 {
			r.CompareTop1 = frac(otherTop1)
		}
	}
	if len(progs) == 2 {
		r.Agreement = frac(agree)
	}
	return r, nil
}

// topK returns, for each row of logits (N, K) — or (N, K, 1, 1...) — the
// indices of its k largest entries, largest first (fewer if K < k).
func topK(logits *tensor.Dense, k int) ([][]int, error) {
	if logits.Rank() < 2 {
		return nil, fmt.Errorf("want (batch, classes) logits, got shape %v", logits.Shape)
	}
	n := logits.Shape[0]
	if n == 0 {
		return nil, nil
	}
	classes := logits.Len() / n
	vals := logits.Float64s()
	out := make([][]int, n)
	for s := range n {
		row := vals[s*classes : (s+1)*classes]
		best := make([]int, 0, k)
		for c, v := range row {
			if math.IsNaN(v) {
				return nil, fmt.Errorf("sample %d: logit %d is NaN", s, c)
			}
			// Insert c into best, kept sorted by value, largest first.
			at := len(best)
			for at > 0 && row[best[at-1]] < v {
				at--
			}
			if at < k {
				if len(best) < k {
					best = append(best, 0)
				}
				copy(best[at+1:], best[at:len(best)-1])
				best[at] = c
			}
		}
		out[s] = best
	}
	return out, nil
}

// rankedTop1 returns the first entry of each ranking.
func rankedTop1(ranked [][]int) []int {
	top := make([]int, len(ranked))
	for i, r := range ranked {
		top[i] = r[0]
	}
	return top
}
