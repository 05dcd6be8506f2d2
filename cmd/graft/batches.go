package main

import (
	"fmt"
	"io"
	"time"

	"github.com/graft-ml/graft/data"
	"github.com/graft-ml/graft/exec"
	"github.com/graft-ml/graft/tensor"
)

// modelInput returns the name of p's one graph input that is not an
// initializer.
func modelInput(p *exec.Program) (string, error) {
	var names []string
	for _, v := range p.Graph().Inputs {
		if v.Const == nil {
			names = append(names, v.Name)
		}
	}
	if len(names) != 1 {
		return "", fmt.Errorf("the model has %d inputs %v; graft feeds datasets to models with one", len(names), names)
	}
	return names[0], nil
}

// passOptions choose how a pass over a dataset goes.
type passOptions struct {
	batch, limit int       // samples per batch; at most limit samples (0: all)
	progress     io.Writer // where to draw progress (nil: nowhere)
	label        string    // what the progress line says
}

// samples returns how many samples a pass over src takes.
func (o passOptions) samples(src data.Source) int {
	n := src.Len()
	if o.limit > 0 {
		n = min(n, o.limit)
	}
	return n
}

// forBatches reads src in batches (data.Batches) and calls fn with each,
// drawing progress on o.progress when the pass takes more than a moment.
func forBatches(src data.Source, o passOptions, fn func(start int, x *tensor.Dense, labels []int64) error) error {
	total := o.samples(src)
	if total == 0 {
		return fmt.Errorf("the dataset has no samples")
	}
	bar := newProgress(o.progress, o.label, total)
	for b, err := range data.Batches(src, max(1, o.batch), o.limit, func(done, _ int) { bar.set(done) }) {
		if err != nil {
			return err
		}
		if err := fn(b.Start, b.X, b.Labels); err != nil {
			return fmt.Errorf("samples %d–%d: %w", b.Start, b.Start+b.X.Shape[0]-1, err)
		}
	}
	bar.done()
	return nil
}

// progress draws "label  done/total (pct) elapsed" on one line, redrawn
// at most five times a second, once a pass has run for half a second.
type progress struct {
	w            io.Writer
	label        string
	total        int
	start, drawn time.Time
	shown        bool
}

func newProgress(w io.Writer, label string, total int) *progress {
	return &progress{w: w, label: label, total: total, start: time.Now()}
}

func (p *progress) set(done int) {
	if p.w == nil {
		return
	}
	now := time.Now()
	if now.Sub(p.start) < 500*time.Millisecond || now.Sub(p.drawn) < 200*time.Millisecond {
		return
	}
	p.drawn, p.shown = now, true
	fmt.Fprintf(p.w, "\r%s  %d/%d (%.0f%%) %s ", p.label, done, p.total, 100*float64(done)/float64(p.total), now.Sub(p.start).Round(100*time.Millisecond))
}

func (p *progress) done() {
	if p.w != nil && p.shown {
		fmt.Fprintf(p.w, "\r%s  %d/%d (100%%) %s\n", p.label, p.total, p.total, time.Since(p.start).Round(100*time.Millisecond))
	}
}

// runBatched runs p on the samples x fed to input and returns the named
// values for those samples, in slices of the model's fixed batch size if
// it has one (exec.Program.RunSamples).
func runBatched(p *exec.Program, input string, x *tensor.Dense, outputs []string) (map[string]*tensor.Dense, error) {
	return p.RunSamples(input, map[string]*tensor.Dense{input: x}, outputs, exec.AllSamples)
}
