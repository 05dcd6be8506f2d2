package serve

import (
	"math"

	"github.com/graft-ml/graft/feed"
	"github.com/graft-ml/graft/fitting"
)

type fitArgs struct {
	A       string  `json:"a"`
	At      string  `json:"at"`
	B       string  `json:"b"`
	From    string  `json:"from"`
	Method  string  `json:"method"`
	Kernel  int     `json:"kernel"`
	Ridge   float64 `json:"ridge"`
	NoBias  bool    `json:"no_bias"`
	Batch   int     `json:"batch"`
	Threads int     `json:"threads"`
	// AdapterOnly returns the fitted adapter instead of the stitched model
	// (fitting.FitAdapter instead of fitting.Stitch).
	AdapterOnly bool `json:"adapter_only"`
}

type fitResult struct {
	modelResult
	Method        string   `json:"method"`
	Samples       int      `json:"samples"`
	Rows          int      `json:"rows"`
	EffectiveRank int      `json:"effective_rank"`
	In            int      `json:"in"`
	Out           int      `json:"out"`
	R2            *float64 `json:"r2"` // nil when B's activation is constant
	RelResidual   float64  `json:"rel_residual"`
	ResizedFrom   [2]int   `json:"resized_from"`
	ResizedTo     [2]int   `json:"resized_to"`
}

// fit fits an adapter from A's value at `at` to B's at `from` on the
// samples of blob "x" and returns the stitched model (or the adapter).
func fit(c *call) (any, error) {
	var a fitArgs
	if err := c.decode(&a); err != nil {
		return nil, err
	}
	if err := c.onlyBlobs("a", "b", "x"); err != nil {
		return nil, err
	}
	if a.At == "" || a.From == "" {
		return nil, badRequest("args: fit needs at (a layer of A) and from (a layer of B)")
	}
	o := fitting.StitchOptions{Kernel: a.Kernel, Ridge: a.Ridge, NoBias: a.NoBias,
		Feed: feed.Options{Batch: a.Batch, Threads: c.threads(a.Threads)}}
	if a.Method != "" {
		m, err := fitting.ParseMethod(a.Method)
		if err != nil {
			return nil, badRequest("args: method %v", err)
		}
		o.Method = m
	}
	ma, err := c.model("a", a.A, "model A")
	if err != nil {
		return nil, err
	}
	mb, err := c.model("b", a.B, "model B")
	if err != nil {
		return nil, err
	}
	x, err := c.tensor("x")
	if err != nil {
		return nil, err
	}
	src, err := newArraySource(x, nil)
	if err != nil {
		return nil, err
	}
	var r *fitting.StitchResult
	out := ma
	if a.AdapterOnly {
		r, err = fitting.FitAdapter(ma, a.At, mb, a.From, src, o)
		if r != nil {
			out = r.Adapter
		}
	} else {
		r, err = fitting.Stitch(ma, a.At, mb, a.From, src, o)
	}
	if err != nil {
		return nil, err
	}
	if err := c.emitModel(out); err != nil {
		return nil, err
	}
	res := fitResult{modelResult: describe(out), Method: o.Method.String(), Samples: r.Samples, Rows: r.Rows,
		EffectiveRank: r.Fit.EffectiveRank, In: r.Fit.In, Out: r.Fit.Out, RelResidual: r.Fit.RelResidual,
		ResizedFrom: r.ResizedFrom, ResizedTo: r.ResizedTo}
	if !math.IsNaN(r.Fit.R2) {
		res.R2 = &r.Fit.R2
	}
	return res, nil
}
