package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"

	"github.com/urfave/cli/v2"

	"github.com/graft-ml/graft/data"
	"github.com/graft-ml/graft/exec"
	"github.com/graft-ml/graft/fitting"
	"github.com/graft-ml/graft/internal/plot"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/runlog"
	"github.com/graft-ml/graft/tensor"
)

func newSimilarityCmd() *cli.Command {
	return &cli.Command{
		Name:      "similarity",
		Usage:     "linear CKA, Procrustes distance and linear-fit R² between layers of one or two models",
		ArgsUsage: "<A.onnx> [B.onnx]",
		Description: "Runs both models over --data and compares each layer of --a (A's) with each layer\n" +
			"of --b (B's; A's own layers when only A is given): linear CKA (the biased estimator),\n" +
			"the Procrustes distance of the centred, normalised activations (0 = equal up to a\n" +
			"rotation, 2 = orthogonal), and R² of the affine least-squares fit from A's layer to\n" +
			"B's. Everything streams: only second moments are kept, never the activations.\n" +
			"NCHW activations of equal height and width are compared pixel by pixel (positions as\n" +
			"samples, channels as features); otherwise they are averaged over space first\n" +
			"(--features pool), or flattened per sample (--features flatten, memory grows with\n" +
			"the square of C·H·W). The matrix is printed, written with --json or --csv, and CKA\n" +
			"drawn as a heatmap with --heatmap.\n\n" +
			"Examples:\n" +
			"  $ graft similarity fixtures/fmnist/a.onnx --a pool1,pool2,relu3 fixtures/fmnist/b.onnx --b pool1,pool2,relu3 \\\n" +
			"      --data fixtures/fmnist/t10k-images-1k-idx3-ubyte.gz --mean 0.2860 --std 0.3530 --heatmap /tmp/cka.png\n" +
			"  $ graft similarity model.onnx --a layer1,layer2,layer3 --data x.npy --json sim.json",
		Flags: append([]cli.Flag{
			&cli.StringSliceFlag{Name: "a", Aliases: []string{"at"}, Usage: "A's layers (comma-separated or repeated)", Required: true},
			&cli.StringSliceFlag{Name: "b", Usage: "B's layers (default: the same names)"},
			&cli.StringFlag{Name: "features", Value: "auto", Usage: "how NCHW activations become features: auto, pixels, pool or flatten"},
			&cli.StringFlag{Name: "json", Usage: "write the matrices as JSON here"},
			&cli.StringFlag{Name: "csv", Usage: "write one row per layer pair here"},
			&cli.StringFlag{Name: "heatmap", Usage: "draw the CKA matrix as a PNG here"},
			&cli.IntFlag{Name: "threads", Usage: "kernel threads (default: all cores)"},
		}, append(dataFlags(), recordFlags()...)...),
		Action: runSimilarity,
	}
}

// simResult is the comparison of every pair of layers.
type simResult struct {
	A          []string    `json:"a"`
	B          []string    `json:"b"`
	Samples    int         `json:"samples"`
	CKA        [][]float64 `json:"cka"`
	Procrustes [][]float64 `json:"procrustes_distance"`
	R2         [][]float64 `json:"r2"`
}

func runSimilarity(c *cli.Context) (err error) {
	if c.NArg() < 1 || c.NArg() > 2 {
		return usagef("similarity takes one or two models, got %d", c.NArg())
	}
	ma, err := onnx.Load(c.Args().Get(0))
	if err != nil {
		return err
	}
	mb := ma
	if c.NArg() == 2 {
		if mb, err = onnx.Load(c.Args().Get(1)); err != nil {
			return err
		}
	}
	la := c.StringSlice("a")
	lb := c.StringSlice("b")
	if len(lb) == 0 {
		lb = la
	}
	mode := c.String("features")
	switch mode {
	case "auto", "pixels", "pool", "flatten":
	default:
		return usagef("--features %q: want auto, pixels, pool or flatten", mode)
	}
	src, err := openData(c, "data")
	if err != nil {
		return err
	}
	inputs := []string{c.Args().Get(0), c.Args().Get(1), c.String("data"), c.String("labels")}
	rec, rerr := startRecord(c, "similarity", inputs, 0)
	warnRecord(c, rerr)
	defer func() { finishRecord(c, rec, err) }()
	res, err := similarity(ma, la, mb, lb, src, mode, passFlags(c, "similarity"), c.Int("threads"))
	if err != nil {
		return err
	}
	printSimilarity(c.App.Writer, res)
	recordSimilarity(c, rec, res)
	if p := c.String("json"); p != "" {
		if err := tensor.WriteFileAtomic(p, func(w io.Writer) error { return json.NewEncoder(w).Encode(jsonSafe(res)) }); err != nil {
			return err
		}
		warnRecord(c, rec.Artefact(p))
	}
	if p := c.String("csv"); p != "" {
		if err := tensor.WriteFileAtomic(p, func(w io.Writer) error { return writeSimilarityCSV(w, res) }); err != nil {
			return err
		}
		warnRecord(c, rec.Artefact(p))
	}
	if p := c.String("heatmap"); p != "" {
		flat := make([]float64, 0, len(res.A)*len(res.B))
		for _, row := range res.CKA {
			flat = append(flat, row...)
		}
		img, err := plot.Heatmap(flat, len(res.A), len(res.B), 0, 1)
		if err != nil {
			return err
		}
		if err := tensor.WriteFileAtomic(p, func(w io.Writer) error { return plot.WritePNG(w, img) }); err != nil {
			return err
		}
		fmt.Fprintf(c.App.Writer, "wrote %s (rows: A's layers, columns: B's, colour: CKA from 0 to 1)\n", p)
		warnRecord(c, rec.Artefact(p))
	}
	return nil
}

// recordSimilarity logs one metrics line per layer pair, and as summary
// the mean CKA over all pairs and, for a square matrix, over its
// diagonal (each layer against its namesake).
func recordSimilarity(c *cli.Context, rec *runlog.Run, r *simResult) {
	var all, diag float64
	for i, a := range r.A {
		for j, b := range r.B {
			warnRecord(c, rec.Log(map[string]any{"a": a, "b": b, "cka": r.CKA[i][j], "procrustes_distance": r.Procrustes[i][j], "r2": r.R2[i][j]}))
			all += r.CKA[i][j]
			if i == j {
				diag += r.CKA[i][j]
			}
		}
	}
	rec.Summary("samples", r.Samples)
	rec.Summary("cka_mean", all/float64(len(r.A)*len(r.B)))
	if len(r.A) == len(r.B) {
		rec.Summary("cka_diag_mean", diag/float64(len(r.A)))
	}
}

// similarity streams both models over src and accumulates one set of
// statistics per layer pair.
func similarity(ma *onnx.Model, la []string, mb *onnx.Model, lb []string, src data.Source, mode string, o passOptions, threads int) (*simResult, error) {
	res := &simResult{A: la, B: lb}
	progs := make([]*exec.Program, 2)
	inputs := make([]string, 2)
	names := [2][]string{}
	for i, m := range []*onnx.Model{ma, mb} {
		p, err := exec.Compile(m)
		if err != nil {
			return nil, err
		}
		if threads > 0 {
			p.Threads = threads
		}
		if inputs[i], err = modelInput(p); err != nil {
			return nil, err
		}
		for _, l := range [][]string{la, lb}[i] {
			v, err := m.Graph.Resolve(l)
			if err != nil {
				return nil, fmt.Errorf("model %c: %w", 'A'+i, err)
			}
			names[i] = append(names[i], v.Name)
		}
		progs[i] = p
	}
	stats := make([][]*fitting.Stats, len(la))
	for i := range stats {
		stats[i] = make([]*fitting.Stats, len(lb))
	}
	err := forBatches(src, o, func(start int, x *tensor.Dense, _ []int64) error {
		acts := [2][]*tensor.Dense{}
		for i, p := range progs {
			out, err := runBatched(p, inputs[i], x, names[i])
			if err != nil {
				return fmt.Errorf("model %c: %w", 'A'+i, err)
			}
			for _, n := range names[i] {
				acts[i] = append(acts[i], out[n])
			}
		}
		for i, xa := range acts[0] {
			for j, xb := range acts[1] {
				fa, fb, err := pairFeatures(xa, xb, mode)
				if err != nil {
					return fmt.Errorf("%s and %s: %w", la[i], lb[j], err)
				}
				if stats[i][j] == nil {
					if stats[i][j], err = fitting.NewStats(fa.Shape[1], fb.Shape[1]); err != nil {
						return err
					}
				}
				if err := stats[i][j].Add(fa.F32, fb.F32); err != nil {
					return fmt.Errorf("%s and %s: %w", la[i], lb[j], err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	res.Samples = o.samples(src)
	for i := range la {
		var cka, pd, r2 []float64
		for j := range lb {
			s := stats[i][j]
			v, err := fitting.CKA(s)
			if err != nil {
				return nil, fmt.Errorf("%s and %s: %w", la[i], lb[j], err)
			}
			d, err := fitting.ProcrustesDistance(s)
			if err != nil {
				return nil, fmt.Errorf("%s and %s: %w", la[i], lb[j], err)
			}
			r, err := fitting.R2(s)
			if err != nil {
				r = math.NaN() // too few samples for the fit: report no R²
			}
			cka, pd, r2 = append(cka, v), append(pd, d), append(r2, r)
		}
		res.CKA, res.Procrustes, res.R2 = append(res.CKA, cka), append(res.Procrustes, pd), append(res.R2, r2)
	}
	return res, nil
}

// pairFeatures turns two activations of one batch into sample rows.
func pairFeatures(xa, xb *tensor.Dense, mode string) (*tensor.Dense, *tensor.Dense, error) {
	if mode == "auto" {
		mode = "flatten"
		if xa.Rank() == 4 && xb.Rank() == 4 {
			mode = "pool"
			if xa.Shape[2] == xb.Shape[2] && xa.Shape[3] == xb.Shape[3] {
				mode = "pixels"
			}
		}
	}
	if mode == "pixels" {
		if xa.Rank() != 4 || xb.Rank() != 4 || xa.Shape[2] != xb.Shape[2] || xa.Shape[3] != xb.Shape[3] {
			return nil, nil, fmt.Errorf("pixels as samples needs NCHW activations of equal height and width, got %v and %v", xa.Shape, xb.Shape)
		}
		a, err := fitting.Pixels(xa)
		if err != nil {
			return nil, nil, err
		}
		b, err := fitting.Pixels(xb)
		return a, b, err
	}
	return sampleRows(xa, mode), sampleRows(xb, mode), nil
}

// sampleRows flattens each sample, or with pool averages NCHW over space.
func sampleRows(x *tensor.Dense, mode string) *tensor.Dense {
	n := x.Shape[0]
	if mode == "pool" && x.Rank() == 4 {
		c, hw := x.Shape[1], x.Shape[2]*x.Shape[3]
		out := make([]float32, n*c)
		for i := range n * c {
			var s float64
			for _, v := range x.F32[i*hw : (i+1)*hw] {
				s += float64(v)
			}
			out[i] = float32(s / float64(hw))
		}
		return tensor.FromF32([]int{n, c}, out)
	}
	return tensor.FromF32([]int{n, x.Len() / max(n, 1)}, x.F32)
}

func printSimilarity(w io.Writer, r *simResult) {
	fmt.Fprintf(w, "%d samples; rows: A's layers, columns: B's\n", r.Samples)
	for _, m := range []struct {
		name string
		v    [][]float64
	}{{"linear CKA", r.CKA}, {"Procrustes distance", r.Procrustes}, {"R² of the linear fit A→B", r.R2}} {
		fmt.Fprintf(w, "\n%s\n%-24s", m.name, "")
		for _, b := range r.B {
			fmt.Fprintf(w, " %12s", shorten(b, 12))
		}
		fmt.Fprintln(w)
		for i, a := range r.A {
			fmt.Fprintf(w, "%-24s", shorten(a, 24))
			for _, v := range m.v[i] {
				fmt.Fprintf(w, " %12.4f", v)
			}
			fmt.Fprintln(w)
		}
	}
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n+1:]
}

func writeSimilarityCSV(w io.Writer, r *simResult) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"a", "b", "cka", "procrustes_distance", "r2"})
	for i, a := range r.A {
		for j, b := range r.B {
			cw.Write([]string{a, b, fmt.Sprint(r.CKA[i][j]), fmt.Sprint(r.Procrustes[i][j]), fmt.Sprint(r.R2[i][j])})
		}
	}
	cw.Flush()
	return cw.Error()
}

// jsonSafe replaces NaNs (an undefined R²) by nulls, which JSON can hold.
func jsonSafe(r *simResult) map[string]any {
	conv := func(m [][]float64) [][]any {
		out := make([][]any, len(m))
		for i, row := range m {
			for _, v := range row {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					out[i] = append(out[i], nil)
				} else {
					out[i] = append(out[i], v)
				}
			}
		}
		return out
	}
	return map[string]any{"a": r.A, "b": r.B, "samples": r.Samples, "cka": conv(r.CKA), "procrustes_distance": conv(r.Procrustes), "r2": conv(r.R2)}
}
