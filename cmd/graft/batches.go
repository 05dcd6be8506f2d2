package main

import (
	"fmt"
	"io"
	"time"
)

// progressBar returns a progress callback (feed.Options.Progress) that
// draws a progress line labelled label on w, or nothing when w is nil.
func progressBar(w io.Writer, label string) func(done, total int) {
	var bar *progress
	return func(done, total int) {
		if bar == nil {
			bar = newProgress(w, label, total)
		}
		bar.set(done)
		if done == total {
			bar.done()
		}
	}
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
