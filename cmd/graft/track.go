package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/graft-ml/graft/internal/plot"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
	"github.com/graft-ml/graft/track"
)

func newTrackCmd() *cli.Command {
	return &cli.Command{
		Name:      "track",
		Usage:     "how far each layer's activations move between checkpoints (cosine distance)",
		ArgsUsage: "<ckpt1.onnx> <ckpt2.onnx> [more.onnx ...]",
		Description: "Runs every checkpoint, in the order given, over the samples of --data and, for each\n" +
			"layer, prints the cosine distance between its activations in consecutive checkpoints\n" +
			"and in each checkpoint and the last one:\n" +
			"  d = 1 − Σ A·B / sqrt(Σ A² · Σ B²)\n" +
			"with A and B the layer's outputs on all samples, flattened into one vector each\n" +
			"(0: the same up to a positive scale, 1: orthogonal; undefined, shown as -, when one\n" +
			"is all zero). --layers picks module paths, node or value names (default: the output\n" +
			"of every Conv, Gemm and MatMul with a constant weight). One pass over the data, in\n" +
			"batches of --batch; memory holds one batch of every checkpoint's activations.\n" +
			"-o writes a CSV (one row per layer and checkpoint: to_next, to_last; an empty cell\n" +
			"where undefined), --plot a PNG of each layer's distance to the last checkpoint\n" +
			"against the checkpoint number.\n\n" +
			"Examples:\n" +
			"  $ graft track fixtures/prune/track_0.onnx fixtures/prune/track_1.onnx fixtures/prune/track_2.onnx fixtures/prune/track_3.onnx --data fixtures/prune/input.npy\n" +
			"  $ graft track epoch*.onnx --data test.npy --layers conv1,layer1,fc -o track.csv --plot track.png\n" +
			"  $ graft track a.onnx b.onnx --data x.npy --json",
		Flags: slices.Concat(dataFlags(), []cli.Flag{
			&cli.StringSliceFlag{Name: "layers", Usage: "layers to track: module paths, node or value names (repeatable or comma-separated)"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "where to write the distances as CSV"},
			&cli.StringFlag{Name: "plot", Usage: "where to write a PNG of each layer's distance to the last checkpoint"},
			&cli.BoolFlag{Name: "json", Usage: "print the distances as JSON instead of the table"},
			threadsFlag(),
		}),
		Action: runTrack,
	}
}

// trackJSON is one layer of graft track --json; null distances are
// undefined, for the reasons listed.
type trackJSON struct {
	Layer       string     `json:"layer"`
	Consecutive []*float64 `json:"consecutive"`
	ToLast      []*float64 `json:"to_last"`
	Undefined   []string   `json:"undefined,omitempty"`
}

func runTrack(c *cli.Context) error {
	if c.NArg() < 2 {
		return usagef("track takes at least two checkpoints, got %d", c.NArg())
	}
	if c.IsSet("threads") && c.Int("threads") < 1 {
		return usagef("--threads %d: want at least 1", c.Int("threads"))
	}
	if p := c.String("output"); p != "" && !strings.HasSuffix(p, ".csv") {
		return usagef("-o %s: want a .csv file", p)
	}
	if p := c.String("plot"); p != "" && !strings.HasSuffix(p, ".png") {
		return usagef("--plot %s: want a .png file", p)
	}
	var layers []string
	for _, l := range c.StringSlice("layers") {
		for _, f := range strings.Split(l, ",") {
			if f = strings.TrimSpace(f); f != "" {
				layers = append(layers, f)
			}
		}
	}
	src, err := openData(c, "data")
	if err != nil {
		return err
	}
	files := c.Args().Slice()
	var models []*onnx.Model
	for _, p := range files {
		m, err := onnx.Load(p)
		if err != nil {
			return err
		}
		models = append(models, m)
	}
	res, err := track.Track(models, src, track.Options{Layers: layers, Feed: feedFlags(c, "tracking")})
	if err != nil {
		return err
	}
	if c.Bool("json") {
		var out []trackJSON
		for l, name := range res.Layers {
			j := trackJSON{Layer: name}
			j.Consecutive, j.Undefined = jsonDistances(res.Consecutive[l], j.Undefined)
			j.ToLast, j.Undefined = jsonDistances(res.ToLast[l], j.Undefined)
			out = append(out, j)
		}
		doc := map[string]any{"checkpoints": files, "samples": res.Samples, "layers": out}
		if err := json.NewEncoder(c.App.Writer).Encode(doc); err != nil {
			return err
		}
	} else {
		printTrack(c.App.Writer, res)
	}
	if p := c.String("output"); p != "" {
		if err := tensor.WriteFileAtomic(p, func(w io.Writer) error { return writeTrackCSV(w, res, files) }); err != nil {
			return fmt.Errorf("writing %s: %w", p, err)
		}
		fmt.Fprintf(c.App.ErrWriter, "wrote %s\n", p)
	}
	if p := c.String("plot"); p != "" {
		xs := make([]float64, res.Checkpoints)
		for k := range xs {
			xs[k] = float64(k + 1)
		}
		var series []plot.Series
		for l, name := range res.Layers {
			ys := make([]float64, res.Checkpoints)
			for k, d := range res.ToLast[l] {
				ys[k] = d.Value
				if d.Undefined != "" {
					ys[k] = math.NaN()
				}
			}
			series = append(series, plot.Series{Name: name, Ys: ys})
		}
		img, err := plot.Lines(xs, series, plot.CurveOptions{Title: "cosine distance to the last checkpoint", XLabel: "checkpoint"})
		if err != nil {
			return err
		}
		if err := tensor.WriteFileAtomic(p, func(w io.Writer) error { return plot.WritePNG(w, img) }); err != nil {
			return fmt.Errorf("writing %s: %w", p, err)
		}
		fmt.Fprintf(c.App.ErrWriter, "wrote %s\n", p)
	}
	return nil
}

// jsonDistances returns ds with undefined ones as nil, and their reasons
// added to why.
func jsonDistances(ds []track.Distance, why []string) ([]*float64, []string) {
	out := make([]*float64, len(ds))
	for i, d := range ds {
		if d.Undefined != "" {
			if !slices.Contains(why, d.Undefined) {
				why = append(why, d.Undefined)
			}
			continue
		}
		v := d.Value
		out[i] = &v
	}
	return out, why
}

func fmtDistance(d track.Distance) string {
	if d.Undefined != "" {
		return "-"
	}
	return strconv.FormatFloat(d.Value, 'f', 4, 64)
}

// printTrack prints the two tables, then the reasons for undefined
// distances.
func printTrack(w io.Writer, r *track.Result) {
	fmt.Fprintf(w, "cosine distance of activations over %d samples, %d checkpoints\n\n", r.Samples, r.Checkpoints)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "consecutive\t")
	for k := 1; k < r.Checkpoints; k++ {
		fmt.Fprintf(tw, "%d→%d\t", k, k+1)
	}
	fmt.Fprintln(tw)
	for l, name := range r.Layers {
		fmt.Fprintf(tw, "%s\t", name)
		for _, d := range r.Consecutive[l] {
			fmt.Fprintf(tw, "%s\t", fmtDistance(d))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "to the last\t")
	for k := 1; k <= r.Checkpoints; k++ {
		fmt.Fprintf(tw, "%d\t", k)
	}
	fmt.Fprintln(tw)
	var why []string
	for l, name := range r.Layers {
		fmt.Fprintf(tw, "%s\t", name)
		for _, d := range r.ToLast[l] {
			fmt.Fprintf(tw, "%s\t", fmtDistance(d))
		}
		fmt.Fprintln(tw)
		_, why = jsonDistances(append(r.Consecutive[l], r.ToLast[l]...), why)
	}
	tw.Flush()
	for _, s := range why {
		fmt.Fprintf(w, "undefined: %s\n", s)
	}
}

// writeTrackCSV writes one row per layer and checkpoint.
func writeTrackCSV(w io.Writer, r *track.Result, files []string) error {
	cw := csv.NewWriter(w)
	cell := func(d track.Distance) string {
		if d.Undefined != "" {
			return ""
		}
		return strconv.FormatFloat(d.Value, 'g', -1, 64)
	}
	if err := cw.Write([]string{"layer", "checkpoint", "file", "to_next", "to_last"}); err != nil {
		return err
	}
	for l, name := range r.Layers {
		for k := range r.Checkpoints {
			next := ""
			if k < r.Checkpoints-1 {
				next = cell(r.Consecutive[l][k])
			}
			if err := cw.Write([]string{name, strconv.Itoa(k + 1), files[k], next, cell(r.ToLast[l][k])}); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}
