package runlog

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sort"

	"github.com/graft-ml/graft/internal/plot"
	"github.com/graft-ml/graft/tensor"
)

// Curve asks Finish to draw metric Y against metric X from the logged
// lines that hold both, into Name.png in the run folder: for example
// the loss against the learning rate of a range test, on a log axis.
type Curve struct {
	Name       string // file name without .png; default "Y-vs-X"
	X, Y       string // metric keys
	LogX, LogY bool
}

// maxAutoCurves bounds the curves drawn without being asked for, so that
// a run logging many metrics does not fill its folder with images.
const maxAutoCurves = 12

// AddCurve asks Finish to draw c besides the default curves. By default,
// when the logged lines carry "step" (or else "epoch"), Finish draws
// every other numeric metric with two or more values against it, one
// <metric>.png each ("seconds" excepted), with "lr" on a log axis.
func (r *Run) AddCurve(c Curve) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.curves = append(r.curves, c)
}

// defaultCurves are the metrics worth drawing against the step or epoch.
func defaultCurves(lines []map[string]any) []Curve {
	x := ""
	keys := map[string]int{} // numeric values per key
	for _, l := range lines {
		if _, ok := l["step"]; ok {
			x = "step"
		}
		for k, v := range l {
			if _, ok := v.(float64); ok {
				keys[k]++
			}
		}
	}
	if x == "" {
		if keys["epoch"] == 0 {
			return nil
		}
		x = "epoch"
	}
	var out []Curve
	for k, n := range keys {
		if k == "step" || k == "epoch" || k == "seconds" || n < 2 {
			continue
		}
		out = append(out, Curve{Name: k, X: x, Y: k, LogY: k == "lr"})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	if len(out) > maxAutoCurves {
		out = out[:maxAutoCurves]
	}
	return out
}

// drawCurves writes the default curves and the extra ones as PNG into
// dir and returns the file names written. A curve with no drawable point
// is skipped silently when it is a default one, and reported otherwise.
func drawCurves(dir string, lines []map[string]any, extra []Curve) ([]string, error) {
	var names []string
	var errs []error
	auto := defaultCurves(lines)
	for i, c := range append(auto, extra...) {
		if c.Name == "" {
			c.Name = c.Y + "-vs-" + c.X
		}
		var xs, ys []float64
		for _, l := range lines {
			x, okx := l[c.X].(float64)
			y, oky := l[c.Y].(float64)
			if okx && oky {
				xs, ys = append(xs, x), append(ys, y)
			}
		}
		if c.LogY && i < len(auto) && !allPositive(ys) {
			c.LogY = false
		}
		img, err := plot.Curve(xs, ys, plot.CurveOptions{Title: c.Y, XLabel: c.X, LogX: c.LogX, LogY: c.LogY})
		if err != nil {
			if i >= len(auto) {
				errs = append(errs, fmt.Errorf("curve %s: %w", c.Name, err))
			}
			continue
		}
		name := safeName(c.Name) + ".png"
		if err := tensor.WriteFileAtomic(filepath.Join(dir, name), func(w io.Writer) error { return plot.WritePNG(w, img) }); err != nil {
			errs = append(errs, err)
			continue
		}
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	return names, errors.Join(errs...)
}

func allPositive(v []float64) bool {
	for _, x := range v {
		if !(x > 0) {
			return false
		}
	}
	return true
}
