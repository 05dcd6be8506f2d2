package main

import (
	"fmt"
	"io"
	"os"
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

// progress draws "label  done/total (pct) elapsed" on one line of a
// terminal, redrawn at most five times a second once a pass has run for
// half a second. Elsewhere (a log file, a pipe) it writes a line every ten
// seconds and one at the end, so that logs of long jobs show progress
// without a carriage return per update.
type progress struct {
	w            io.Writer
	tty          bool
	label        string
	total        int
	start, drawn time.Time
	shown        bool
}

func newProgress(w io.Writer, label string, total int) *progress {
	return &progress{w: w, tty: isTerminal(w), label: label, total: total, start: time.Now()}
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func (p *progress) set(done int) {
	if p.w == nil {
		return
	}
	now := time.Now()
	every, first := 200*time.Millisecond, 500*time.Millisecond
	if !p.tty {
		every, first = 10*time.Second, 10*time.Second
	}
	if now.Sub(p.start) < first || now.Sub(p.drawn) < every {
		return
	}
	p.drawn, p.shown = now, true
	line := fmt.Sprintf("%s  %d/%d (%.0f%%) %s", p.label, done, p.total, 100*float64(done)/float64(p.total), now.Sub(p.start).Round(100*time.Millisecond))
	if p.tty {
		fmt.Fprintf(p.w, "\r%s ", line)
	} else {
		fmt.Fprintln(p.w, line)
	}
}

func (p *progress) done() {
	if p.w == nil || !p.shown && p.tty {
		return
	}
	if !p.shown && time.Since(p.start) < time.Second {
		return // a short pass in a log: nothing worth a line
	}
	cr := ""
	if p.tty {
		cr = "\r"
	}
	fmt.Fprintf(p.w, "%s%s  %d/%d (100%%) %s\n", cr, p.label, p.total, p.total, time.Since(p.start).Round(100*time.Millisecond))
}
