package main

// Temporary: the old pass helpers, until fit, similarity and lowrank call
// the library (feed, fitting).

import (
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/graft-ml/graft/data"
	"github.com/graft-ml/graft/eval"
	"github.com/graft-ml/graft/exec"
	"github.com/graft-ml/graft/feed"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

type evalResult = eval.Result

type passOptions struct {
	batch, limit int
	progress     io.Writer
	label        string
}

func (o passOptions) samples(src data.Source) int {
	return feed.Options{Limit: o.limit}.Samples(src)
}

func passFlags(c *cli.Context, label string) passOptions {
	return passOptions{batch: c.Int("batch"), limit: c.Int("limit"), progress: c.App.ErrWriter, label: label}
}

func forBatches(src data.Source, o passOptions, fn func(start int, x *tensor.Dense, labels []int64) error) error {
	return feed.Each(src, feed.Options{Batch: o.batch, Limit: o.limit, Progress: progressBar(o.progress, o.label)}, func(b data.Batch) error {
		return fn(b.Start, b.X, b.Labels)
	})
}

func modelInput(p *exec.Program) (string, error) { return feed.DataInput(p.Graph()) }

func runBatched(p *exec.Program, input string, x *tensor.Dense, outputs []string) (map[string]*tensor.Dense, error) {
	return p.RunSamples(input, map[string]*tensor.Dense{input: x}, outputs, exec.AllSamples)
}

func evaluate(models []*onnx.Model, output string, src data.Source, o passOptions, threads int) (*eval.Result, error) {
	eo := eval.Options{Output: output, Feed: feed.Options{Batch: o.batch, Limit: o.limit, Threads: threads, Progress: progressBar(o.progress, o.label)}}
	if len(models) > 1 {
		eo.Compare = models[1]
	}
	return eval.Accuracy(models[0], src, eo)
}

var _ = fmt.Sprint
