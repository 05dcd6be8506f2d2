package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/urfave/cli/v2"

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
			"B's. One pass over the data computes each layer once; everything streams: only\n" +
			"second moments are kept, never the activations, and the layers that share a kind\n" +
			"of sample share one set of them, so the cost grows with the layers, not the pairs.\n" +
			"NCHW activations of equal height and width are compared pixel by pixel (positions as\n" +
			"samples, channels as features); otherwise NCHW activations are averaged over space\n" +
			"first (--features pool), or flattened per sample (--features flatten, memory grows\n" +
			"with the square of C·H·W). A score that does not exist (a constant activation, a fit\n" +
			"from more features than samples) is printed as undefined with the reason (null in\n" +
			"JSON, an empty cell in CSV). The matrix is printed (as JSON with --json), written\n" +
			"with -o (FILE.csv: one row per layer pair; any other name: the matrices as JSON),\n" +
			"and CKA drawn as a heatmap with --heatmap.\n\n" +
			"Examples:\n" +
			"  $ graft similarity fixtures/fmnist/a.onnx --a pool1,pool2,relu3 fixtures/fmnist/b.onnx --b pool1,pool2,relu3 \\\n" +
			"      --data fixtures/fmnist/t10k-images-1k-idx3-ubyte.gz --mean 0.2860 --std 0.3530 --heatmap /tmp/cka.png\n" +
			"  $ graft similarity model.onnx --a layer1,layer2,layer3 --data x.npy -o sim.csv",
		Flags: append([]cli.Flag{
			&cli.StringSliceFlag{Name: "a", Aliases: []string{"at"}, Usage: "A's layers (comma-separated or repeated)", Required: true},
			&cli.StringSliceFlag{Name: "b", Usage: "B's layers (default: the same names)"},
			&cli.StringFlag{Name: "features", Value: "auto", Usage: "how NCHW activations become features: auto, pixels, pool or flatten"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "where to write the scores: FILE.csv (one row per layer pair) or FILE.json (the matrices)"},
			&cli.BoolFlag{Name: "json", Usage: "print the matrices as JSON instead of the table"},
			&cli.StringFlag{Name: "heatmap", Usage: "draw the CKA matrix as a PNG here"},
			threadsFlag(),
		}, append(dataFlags(), recordFlags()...)...),
		Action: runSimilarity,
	}
}

func runSimilarity(c *cli.Context) (err error) {
	if c.NArg() < 1 || c.NArg() > 2 {
		return usagef("similarity takes one or two models, got %d", c.NArg())
	}
	if p := c.Args().Get(c.NArg() - 1); strings.HasSuffix(p, ".json") || strings.HasSuffix(p, ".csv") {
		return usagef("similarity: %s is not a model; write the scores with -o %s", p, p)
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
	mode, err := fitting.ParseFeatureMode(c.String("features"))
	if err != nil {
		return usagef("--features %v", err)
	}
	src, err := openData(c, "data")
	if err != nil {
		return err
	}
	inputs := []string{c.Args().Get(0), c.Args().Get(1), c.String("data"), c.String("labels")}
	rec, rerr := startRecord(c, "similarity", inputs, 0)
	warnRecord(c, rerr)
	defer func() { finishRecord(c, rec, err) }()
	res, err := fitting.Similarity(ma, la, mb, lb, src, fitting.SimilarityOptions{Features: mode, Feed: feedFlags(c, "similarity")})
	if err != nil {
		return err
	}
	if c.Bool("json") {
		if err := json.NewEncoder(c.App.Writer).Encode(res); err != nil {
			return err
		}
	} else {
		printSimilarity(c.App.Writer, res)
	}
	recordSimilarity(c, rec, res)
	return writeSimilarity(c, rec, res)
}

// writeSimilarity writes the -o and --heatmap files.
func writeSimilarity(c *cli.Context, rec *runlog.Run, res *fitting.SimilarityResult) error {
	if p := c.String("output"); p != "" {
		write := func(w io.Writer) error { return json.NewEncoder(w).Encode(res) }
		if strings.HasSuffix(strings.ToLower(p), ".csv") {
			write = func(w io.Writer) error { return writeSimilarityCSV(w, res) }
		}
		if err := tensor.WriteFileAtomic(p, write); err != nil {
			return err
		}
		warnRecord(c, rec.Artefact(p))
	}
	if p := c.String("heatmap"); p != "" {
		flat := make([]float64, 0, len(res.A)*len(res.B))
		for _, row := range res.CKA {
			for _, v := range row {
				flat = append(flat, scoreOrNaN(v)) // plot.Heatmap draws NaN cells grey
			}
		}
		img, err := plot.Heatmap(flat, len(res.A), len(res.B), 0, 1)
		if err != nil {
			return err
		}
		if err := tensor.WriteFileAtomic(p, func(w io.Writer) error { return plot.WritePNG(w, img) }); err != nil {
			return err
		}
		fmt.Fprintf(c.App.Writer, "wrote %s (rows: A's layers, columns: B's, colour: CKA from 0 to 1, grey: undefined)\n", p)
		warnRecord(c, rec.Artefact(p))
	}
	return nil
}

func scoreOrNaN(s fitting.Score) float64 {
	if !s.Defined() {
		return math.NaN()
	}
	return s.Value
}

// scoreOrNil is a score for a JSON record: its value, or null.
func scoreOrNil(s fitting.Score) any {
	if !s.Defined() {
		return nil
	}
	return s.Value
}

// recordSimilarity logs one metrics line per layer pair, and as summary
// the mean CKA over the pairs where it is defined and, for a square
// matrix, over its diagonal (each layer against its namesake).
func recordSimilarity(c *cli.Context, rec *runlog.Run, r *fitting.SimilarityResult) {
	var all, diag float64
	var nAll, nDiag int
	for i, a := range r.A {
		for j, b := range r.B {
			warnRecord(c, rec.Log(map[string]any{"a": a, "b": b, "features": r.Features[i][j],
				"cka": scoreOrNil(r.CKA[i][j]), "procrustes_distance": scoreOrNil(r.Procrustes[i][j]), "r2": scoreOrNil(r.R2[i][j])}))
			if v := r.CKA[i][j]; v.Defined() {
				all += v.Value
				nAll++
				if i == j {
					diag += v.Value
					nDiag++
				}
			}
		}
	}
	rec.Summary("samples", r.Samples)
	if nAll > 0 {
		rec.Summary("cka_mean", all/float64(nAll))
	}
	if len(r.A) == len(r.B) && nDiag > 0 {
		rec.Summary("cka_diag_mean", diag/float64(nDiag))
	}
}

func printSimilarity(w io.Writer, r *fitting.SimilarityResult) {
	fmt.Fprintf(w, "%d samples; rows: A's layers, columns: B's\n", r.Samples)
	header := func(name string) {
		fmt.Fprintf(w, "\n%s\n%-24s", name, "")
		for _, b := range r.B {
			fmt.Fprintf(w, " %12s", shorten(b, 12))
		}
		fmt.Fprintln(w)
	}
	for _, m := range []struct {
		name string
		v    [][]fitting.Score
	}{{"linear CKA", r.CKA}, {"Procrustes distance", r.Procrustes}, {"R² of the linear fit A→B", r.R2}} {
		header(m.name)
		for i, a := range r.A {
			fmt.Fprintf(w, "%-24s", shorten(a, 24))
			for _, v := range m.v[i] {
				if v.Defined() {
					fmt.Fprintf(w, " %12.4f", v.Value)
				} else {
					fmt.Fprintf(w, " %12s", "undefined")
				}
			}
			fmt.Fprintln(w)
		}
	}
	header("samples compared as")
	for i, a := range r.A {
		fmt.Fprintf(w, "%-24s", shorten(a, 24))
		for _, f := range r.Features[i] {
			fmt.Fprintf(w, " %12s", f)
		}
		fmt.Fprintln(w)
	}
	if len(r.Undefined) > 0 {
		fmt.Fprintln(w, "\nundefined:")
		for _, u := range r.Undefined {
			fmt.Fprintf(w, "  %s of %s and %s: %s\n", u.Measure, u.A, u.B, u.Reason)
		}
	}
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n+1:]
}

// writeSimilarityCSV writes one row per layer pair; an undefined score is
// an empty cell, with the reasons in the last column.
func writeSimilarityCSV(w io.Writer, r *fitting.SimilarityResult) error {
	cell := func(s fitting.Score) string {
		if !s.Defined() {
			return ""
		}
		return fmt.Sprint(s.Value)
	}
	cw := csv.NewWriter(w)
	cw.Write([]string{"a", "b", "features", "cka", "procrustes_distance", "r2", "undefined"})
	for i, a := range r.A {
		for j, b := range r.B {
			var why []string
			for _, m := range []struct {
				name string
				s    fitting.Score
			}{{"cka", r.CKA[i][j]}, {"procrustes_distance", r.Procrustes[i][j]}, {"r2", r.R2[i][j]}} {
				if !m.s.Defined() {
					why = append(why, m.name+": "+m.s.Undefined)
				}
			}
			cw.Write([]string{a, b, string(r.Features[i][j]), cell(r.CKA[i][j]), cell(r.Procrustes[i][j]), cell(r.R2[i][j]), strings.Join(why, "; ")})
		}
	}
	cw.Flush()
	return cw.Error()
}
