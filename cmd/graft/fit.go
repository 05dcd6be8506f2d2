package main

import (
	"fmt"
	"io"
	"math"

	"github.com/urfave/cli/v2"

	"github.com/graft-ml/graft/data"
	"github.com/graft-ml/graft/fitting"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/runlog"
	"github.com/graft-ml/graft/surgery"
)

// stitchFitted is stitch --fit: it fits the adapter on --data and
// stitches a to b in place (fitting.Stitch), recording the run.
func stitchFitted(c *cli.Context, a, b *onnx.Model, pathA, pathB string) (*runlog.Run, surgery.StitchReport, error) {
	method, err := fitting.ParseMethod(c.String("fit"))
	if err != nil {
		return nil, surgery.StitchReport{}, usagef("--fit: %v", err)
	}
	fromStats := c.StringSlice("from-stats")
	switch {
	case len(fromStats) > 0 && c.String("data") != "":
		return nil, surgery.StitchReport{}, usagef("--from-stats and --data both give the samples of the fit; choose one")
	case len(fromStats) == 0 && c.String("data") == "":
		return nil, surgery.StitchReport{}, usagef("--fit needs --data, the samples to fit on (or --from-stats)")
	}
	if k := c.Int("kernel"); k < 1 {
		return nil, surgery.StitchReport{}, usagef("--kernel %d: want a positive odd size", k)
	}
	o := fitting.StitchOptions{
		Method: method, Kernel: c.Int("kernel"), Ridge: c.Float64("ridge"), NoBias: c.Bool("no-bias"), Feed: feedFlags(c, "fit"),
	}
	rec, rerr := startRecord(c, "stitch", append([]string{pathA, pathB, c.String("data"), c.String("labels"), c.String("test"), c.String("test-labels")}, fromStats...), 0)
	warnRecord(c, rerr)
	var r *fitting.StitchResult
	if len(fromStats) > 0 {
		var st *fitting.StatsFile
		if st, err = readStats(fromStats); err == nil {
			r, err = fitting.StitchFromStats(a, c.String("at"), b, c.String("from"), st, o)
		}
	} else {
		var src data.Source
		if src, err = openData(c, "data"); err == nil {
			r, err = fitting.Stitch(a, c.String("at"), b, c.String("from"), src, o)
		}
	}
	if err != nil {
		return rec, surgery.StitchReport{}, err
	}
	printFit(c.App.Writer, method, r)
	q := r.Fit.Quality
	warnRecord(c, rec.Log(map[string]any{"fit": c.String("fit"), "samples": r.Samples, "rows": r.Rows, "r2": q.R2, "rel_residual": q.RelResidual}))
	rec.Summary("r2", q.R2)
	return rec, r.Stitch, nil
}

// printFit describes a fit.
func printFit(w io.Writer, method fitting.Method, r *fitting.StitchResult) {
	f := r.Fit
	r2 := "undefined"
	if !math.IsNaN(f.Quality.R2) {
		r2 = fmt.Sprintf("%.4f", f.Quality.R2)
	}
	fmt.Fprintf(w, "fitted a %s adapter, %d → %d, on %d samples (%d rows): R² %s, relative residual %.4f\n",
		method.Describe(), f.In, f.Out, r.Samples, r.Rows, r2, f.Quality.RelResidual)
	if r.ResizedFrom != r.ResizedTo {
		fmt.Fprintf(w, "A's activation is resized bilinearly %dx%d → %dx%d to match B's\n", r.ResizedFrom[0], r.ResizedFrom[1], r.ResizedTo[0], r.ResizedTo[1])
	}
	if f.EffectiveRank > 0 && f.EffectiveRank < f.In {
		fmt.Fprintf(w, "warning: the inputs span only %d of their %d dimensions; the fit used the pseudo-inverse (add --ridge to regularise)\n", f.EffectiveRank, f.In)
	}
	if math.IsNaN(f.Quality.R2) {
		fmt.Fprintln(w, "warning: B's activation is constant over the data, so R² is undefined")
	}
}
