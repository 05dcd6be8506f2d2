package fitting

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/graft-ml/graft/internal/plot"
	"github.com/graft-ml/graft/tensor"
)

// The files of a sweep's folder.
const (
	SweepCSV     = "sweep.csv"
	SweepJSON    = "sweep.json"
	SweepHeatmap = "heatmap.png"
)

// sweepColumns are sweep.csv's columns, one row per cell; an undefined
// score is an empty field, and note says why.
var sweepColumns = []string{"a", "b", "fit", "kernel", "ridge", "no_bias", "a_shape", "b_shape", "resized",
	"samples", "rows", "r2", "rel_residual", "effective_rank", "cka", "features", "test_samples", "top1", "note"}

func (c *SweepCell) record() []string {
	score := func(s Score) string {
		if !s.Defined() {
			return ""
		}
		return strconv.FormatFloat(s.Value, 'g', -1, 64)
	}
	return []string{c.A, c.B, c.Fit, strconv.Itoa(c.Kernel), strconv.FormatFloat(c.Ridge, 'g', -1, 64), strconv.FormatBool(c.NoBias),
		c.AShape, c.BShape, c.Resized, strconv.Itoa(c.Samples), strconv.Itoa(c.Rows), score(c.R2), score(c.RelResidual),
		strconv.Itoa(c.EffectiveRank), score(c.CKA), string(c.Features), strconv.Itoa(c.TestSamples), score(c.Top1), c.Note}
}

// parseCell reads a row written by record.
func parseCell(rec []string) (SweepCell, error) {
	var c SweepCell
	var errs []error
	num := func(s string) int {
		v, err := strconv.Atoi(s)
		errs = append(errs, err)
		return v
	}
	score := func(s, col string) Score {
		if s == "" {
			why := "undefined"
			if rec[18] != "" {
				why = rec[18]
			}
			return Score{Undefined: why}
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %q is not a number", col, s))
		}
		return Score{Value: v}
	}
	c.A, c.B, c.Fit = rec[0], rec[1], rec[2]
	c.Kernel = num(rec[3])
	var err error
	c.Ridge, err = strconv.ParseFloat(rec[4], 64)
	errs = append(errs, err)
	c.NoBias, err = strconv.ParseBool(rec[5])
	errs = append(errs, err)
	c.AShape, c.BShape, c.Resized = rec[6], rec[7], rec[8]
	c.Samples, c.Rows = num(rec[9]), num(rec[10])
	c.R2, c.RelResidual = score(rec[11], "r2"), score(rec[12], "rel_residual")
	c.EffectiveRank = num(rec[13])
	c.CKA, c.Features = score(rec[14], "cka"), FeatureMode(rec[15])
	c.TestSamples = num(rec[16])
	c.Top1 = score(rec[17], "top1")
	c.Note = rec[18]
	return c, errors.Join(errs...)
}

// readSweepCSV reads the cells of dir/sweep.csv, if there is one, and
// checks that they were made as this sweep would make them.
func readSweepCSV(dir string, o SweepOptions, samples, testSamples int) ([]SweepCell, error) {
	path := filepath.Join(dir, SweepCSV)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rd := csv.NewReader(f)
	head, err := rd.Read()
	if err == io.EOF {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if strings.Join(head, ",") != strings.Join(sweepColumns, ",") {
		return nil, fmt.Errorf("%s: columns %s, want %s: not a sweep of this version; remove it or choose another folder", path, strings.Join(head, ","), strings.Join(sweepColumns, ","))
	}
	var cells []SweepCell
	for line := 2; ; line++ {
		rec, err := rd.Read()
		if err == io.EOF {
			return cells, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		c, err := parseCell(rec)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, line, err)
		}
		var differs string
		switch {
		case c.Kernel != max(o.Kernel, 1):
			differs = fmt.Sprintf("kernel %d, this sweep %d", c.Kernel, max(o.Kernel, 1))
		case c.Ridge != o.Ridge:
			differs = fmt.Sprintf("ridge %g, this sweep %g", c.Ridge, o.Ridge)
		case c.NoBias != o.NoBias:
			differs = fmt.Sprintf("no_bias %v, this sweep %v", c.NoBias, o.NoBias)
		case c.Samples != 0 && c.Samples != samples:
			differs = fmt.Sprintf("%d fitting samples, this sweep %d", c.Samples, samples)
		case c.TestSamples != 0 && c.TestSamples != testSamples:
			differs = fmt.Sprintf("%d test samples, this sweep %d", c.TestSamples, testSamples)
		}
		if differs != "" {
			return nil, fmt.Errorf("%s line %d (A's %s → B's %s, %s) was made with %s: remove the file or choose another folder", path, line, c.A, c.B, c.Fit, differs)
		}
		cells = append(cells, c)
	}
}

// writeSweep writes the sweep's files to dir, with extra (rows of an
// earlier sweep outside this one's pairs) kept at the end of the CSV, and
// returns their paths.
func writeSweep(dir string, r *SweepResult, extra []SweepCell) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var files []string
	csvPath := filepath.Join(dir, SweepCSV)
	err := tensor.WriteFileAtomic(csvPath, func(w io.Writer) error {
		cw := csv.NewWriter(w)
		if err := cw.Write(sweepColumns); err != nil {
			return err
		}
		for _, cells := range [][]SweepCell{r.Cells, extra} {
			for i := range cells {
				if err := cw.Write(cells[i].record()); err != nil {
					return err
				}
			}
		}
		cw.Flush()
		return cw.Error()
	})
	if err != nil {
		return nil, err
	}
	files = append(files, csvPath)
	jsonPath := filepath.Join(dir, SweepJSON)
	r.Files = append(files, jsonPath) // the JSON lists itself and the heatmaps
	for k, m := range r.Methods {
		r.Files = append(r.Files, filepath.Join(dir, heatmapName(k, m)))
	}
	err = tensor.WriteFileAtomic(jsonPath, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	})
	if err != nil {
		return nil, err
	}
	for k, m := range r.Methods {
		img, err := sweepHeatmap(r, m)
		if err != nil {
			return nil, err
		}
		path := filepath.Join(dir, heatmapName(k, m))
		if err := tensor.WriteFileAtomic(path, func(w io.Writer) error { return plot.WritePNG(w, img) }); err != nil {
			return nil, err
		}
	}
	return r.Files, nil
}

// heatmapName is heatmap.png for the first method and
// heatmap_METHOD.png (':' written '-') for the others.
func heatmapName(k int, method string) string {
	if k == 0 {
		return SweepHeatmap
	}
	return "heatmap_" + strings.ReplaceAll(method, ":", "-") + ".png"
}

// sweepHeatmap draws the top-1 accuracy (in %) of the cells of method as
// an A × B matrix; pairs without one are grey.
func sweepHeatmap(r *SweepResult, method string) (image.Image, error) {
	m := make([]float64, len(r.A)*len(r.B))
	for i := range m {
		m[i] = math.NaN()
	}
	row, col := index(r.A), index(r.B)
	for _, c := range r.Cells {
		if c.Fit == method && c.Top1.Defined() {
			m[row[c.A]*len(r.B)+col[c.B]] = 100 * c.Top1.Value
		}
	}
	return plot.LabelledHeatmap(m, len(r.A), len(r.B), plot.HeatmapOptions{
		Title:    fmt.Sprintf("stitched top-1 %%, %s fit. B alone %.1f %%", method, 100*r.Top1B),
		RowTitle: "A layer", ColTitle: "B layer",
		RowLabels: r.A, ColLabels: r.B,
		Format: func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) },
	})
}

func index(names []string) map[string]int {
	m := make(map[string]int, len(names))
	for i, n := range names {
		m[n] = i
	}
	return m
}
