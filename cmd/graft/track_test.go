package main

import (
	"encoding/csv"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/graft-ml/graft/tensor"
)

// TestTrackCSVAndPlot: graft track writes NumPy's distances
// (gen_prune.py; 1e-6 as in track.TestTrackMatchesNumPy) to the CSV, and
// a PNG; misuse is a usage error.
func TestTrackCSVAndPlot(t *testing.T) {
	dir := t.TempDir()
	out, pic := filepath.Join(dir, "t.csv"), filepath.Join(dir, "t.png")
	args := []string{"track"}
	for k := range 4 {
		args = append(args, pruneFx(fmt.Sprintf("track_%d.onnx", k)))
	}
	args = append(args, "--data", pruneFx("input.npy"), "--batch", "9", "-o", out, "--plot", pic)
	code, stdout, stderr := graft(args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "over 20 samples, 4 checkpoints") || !strings.Contains(stdout, "3→4") {
		t.Errorf("table:\n%s", stdout)
	}
	ref, err := tensor.LoadNPZ(pruneFx("track.npz"))
	if err != nil {
		t.Fatal(err)
	}
	cons, last := ref["consecutive"].Float64s(), ref["to_last"].Float64s()
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1+4*4 || strings.Join(rows[0], ",") != "layer,checkpoint,file,to_next,to_last" {
		t.Fatalf("CSV: %v", rows)
	}
	for i, row := range rows[1:] {
		l, k := i/4, i%4
		if k < 3 {
			if got, err := strconv.ParseFloat(row[3], 64); err != nil || math.Abs(got-cons[l*3+k]) > 1e-6 {
				t.Errorf("row %v: to_next, NumPy %g", row, cons[l*3+k])
			}
		} else if row[3] != "" {
			t.Errorf("row %v: the last checkpoint has a next", row)
		}
		if got, err := strconv.ParseFloat(row[4], 64); err != nil || math.Abs(got-last[l*4+k]) > 1e-6 {
			t.Errorf("row %v: to_last, NumPy %g", row, last[l*4+k])
		}
	}
	p, err := os.Open(pic)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := png.Decode(p); err != nil {
		t.Errorf("plot: %v", err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"track", pruneFx("track_0.onnx"), "--data", pruneFx("input.npy")}, "at least two"},
		{[]string{"track", pruneFx("track_0.onnx"), pruneFx("track_1.onnx"), "--data", pruneFx("input.npy"), "-o", "x.json"}, "want a .csv"},
		{[]string{"track", pruneFx("track_0.onnx"), pruneFx("track_1.onnx"), "--data", pruneFx("input.npy"), "--batch", "0"}, "--batch 0"},
	} {
		if code, _, stderr := graft(c.args...); code != exitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("graft %v: exit %d, stderr %q; want a usage error mentioning %q", c.args[1:], code, stderr, c.want)
		}
	}
}
