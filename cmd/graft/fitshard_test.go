package main

import (
	"bytes"
	"fmt"
	"math"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ml/graft/data"
	"github.com/graft-ml/graft/feed"
	"github.com/graft-ml/graft/fitting"
	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/surgery"
)

// TestFitShardProcesses runs the statistics passes of `stitch --fit`
// (A's pool1 → B's pool2, resized, 3×3 kernel) and `lowrank --data`
// (conv3 and fc2) as 4 processes each, over the first 400 training images,
// each process finding its shard its own way (Slurm's variables,
// Kubernetes' index with --shards, --shards with Slurm's index, an
// explicit --shard), merges the files with `graft fit merge`, and checks
// that the fits from the merged statistics equal one run's over the same
// samples to 1e-10 relative: the float64 sums are the same up to the
// order of the additions (the merge of Chan et al., about 1e-15), which
// the fits' conditioning (up to about 1e4 here) leaves far below 1e-10.
// It also finishes both commands with --from-stats, and checks that a
// missing or repeated shard is an error naming it.
func TestFitShardProcesses(t *testing.T) {
	fm := func(name string) string { return filepath.Join(fixtures.Dir(), "fmnist", name) }
	train := fm("train-images-2k-idx3-ubyte.gz")
	dataArgs := []string{"--data", train, "--mean", "0.2860", "--std", "0.3530", "--limit", "400", "--batch", "64"}
	out := t.TempDir()
	envs := []struct {
		env  []string
		args []string
	}{
		{[]string{"SLURM_ARRAY_TASK_ID=1", "SLURM_ARRAY_TASK_MIN=1", "SLURM_ARRAY_TASK_COUNT=4"}, []string{"--shard", "auto"}},
		{[]string{"JOB_COMPLETION_INDEX=1"}, []string{"--shards", "4"}},
		{[]string{"SLURM_ARRAY_TASK_ID=2", "SLURM_ARRAY_TASK_COUNT=4"}, []string{"--shards", "4"}},
		{[]string{"SLURM_ARRAY_TASK_ID=0", "SLURM_ARRAY_TASK_COUNT=8"}, []string{"--shard", "3/4"}},
	}
	passes := map[string][]string{
		"stitch":  {"stitch", fm("a.onnx"), "--at", "pool1", fm("b.onnx"), "--from", "pool2", "--fit", "linear", "--kernel", "3"},
		"lowrank": {"lowrank", fm("a.onnx"), "--layer", "conv3", "--layer", "fc2", "--rank", "8"},
	}
	files := map[string][]string{}
	for name, pass := range passes {
		var procs []*osexec.Cmd
		var outs []*bytes.Buffer
		for i, s := range envs {
			file := filepath.Join(out, name, fmt.Sprintf("s-%d.npz", i))
			files[name] = append(files[name], file)
			args := append(append(append(append([]string{}, pass...), dataArgs...), s.args...), "-o", file)
			cmd := graftCommand(s.env, args...)
			var b bytes.Buffer
			cmd.Stdout, cmd.Stderr = &b, &b
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			procs, outs = append(procs, cmd), append(outs, &b)
		}
		for i, p := range procs {
			if err := p.Wait(); err != nil {
				t.Fatalf("%s shard process %d: %v\n%s", name, i, err, outs[i])
			}
			if want := fmt.Sprintf("shard %d/4", i); !strings.Contains(outs[i].String(), want) {
				t.Errorf("%s process %d did not collect %s:\n%s", name, i, want, outs[i])
			}
		}
	}

	// The one run, in this process, over the same 400 samples.
	src, err := data.Open(train, data.Options{Mean: []float64{0.2860}, Std: []float64{0.3530}})
	if err != nil {
		t.Fatal(err)
	}
	fo := feed.Options{Limit: 400, Batch: 64}
	load := func(name string) *onnx.Model {
		m, err := onnx.Load(fm(name))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}

	merged := filepath.Join(out, "stitch.npz")
	if code, stdout, stderr := graft("fit", "merge", filepath.Join(out, "stitch"), "-o", merged); code != 0 || !strings.Contains(stdout, "from 4 shards") {
		t.Fatalf("fit merge: exit %d\n%s%s", code, stdout, stderr)
	}
	f, err := fitting.ReadStatsFile(merged)
	if err != nil {
		t.Fatal(err)
	}
	o := fitting.StitchOptions{Kernel: 3, Feed: fo}
	got, err := fitting.FitAdapterFromStats(load("a.onnx"), "pool1", load("b.onnx"), "pool2", f, o)
	if err != nil {
		t.Fatal(err)
	}
	want, err := fitting.FitAdapter(load("a.onnx"), "pool1", load("b.onnx"), "pool2", src, o)
	if err != nil {
		t.Fatal(err)
	}
	if d := relMax(got.Fit.W, want.Fit.W); d > 1e-10 || relMax(got.Fit.B, want.Fit.B) > 1e-10 || got.Samples != want.Samples || got.Rows != want.Rows {
		t.Errorf("stitch: W from the shards differs by %.3g relative (B %.3g), samples %d rows %d; one run: samples %d rows %d",
			d, relMax(got.Fit.B, want.Fit.B), got.Samples, got.Rows, want.Samples, want.Rows)
	}
	t.Logf("stitch adapter from 4 shards vs one run: W %.3g, B %.3g relative", relMax(got.Fit.W, want.Fit.W), relMax(got.Fit.B, want.Fit.B))
	if code, stdout, stderr := graft("stitch", fm("a.onnx"), "--at", "pool1", fm("b.onnx"), "--from", "pool2", "--fit", "linear", "--kernel", "3",
		"--from-stats", merged, "--no-record", "-o", filepath.Join(out, "ab.onnx")); code != 0 || !strings.Contains(stdout, "on 400 samples") {
		t.Errorf("stitch --from-stats: exit %d\n%s%s", code, stdout, stderr)
	}

	// lowrank: every shard's file given to --from-stats directly.
	m := load("a.onnx")
	var layers []*surgery.LinearLayer
	for _, name := range []string{"conv3", "fc2"} {
		l, err := surgery.LinearLayerOf(m, name)
		if err != nil {
			t.Fatal(err)
		}
		layers = append(layers, l)
	}
	var parts []*fitting.StatsFile
	for _, p := range files["lowrank"] {
		f, err := fitting.ReadStatsFile(p)
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, f)
	}
	lf, err := fitting.MergeStatsFiles(parts, files["lowrank"])
	if err != nil {
		t.Fatal(err)
	}
	gotL, err := fitting.LayerStatsFromFile(m, layers, lf)
	if err != nil {
		t.Fatal(err)
	}
	wantL, err := fitting.LayerStats(m, layers, src, fo)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range layers {
		g, err1 := fitting.LowRank(gotL[i].Stats, 8, fitting.LinearOptions{})
		w, err2 := fitting.LowRank(wantL[i].Stats, 8, fitting.LinearOptions{})
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if d := relMax(g.W, w.W); d > 1e-10 || relMax(g.B, w.B) > 1e-10 {
			t.Errorf("lowrank %s: W from the shards differs by %.3g relative (B %.3g)", l.Node.Name, d, relMax(g.B, w.B))
		}
		t.Logf("lowrank %s from 4 shards vs one run: W %.3g relative", l.Node.Name, relMax(g.W, w.W))
	}
	if code, stdout, stderr := graft("lowrank", fm("a.onnx"), "--layer", "conv3", "--layer", "fc2", "--rank", "8", "--no-record",
		"-o", filepath.Join(out, "a_r8.onnx"), "--from-stats", strings.Join(files["lowrank"], ",")); code != 0 || !strings.Contains(stdout, "R²") {
		t.Errorf("lowrank --from-stats: exit %d\n%s%s", code, stdout, stderr)
	}

	for _, c := range []struct {
		name  string
		files []string
		want  string
	}{
		{"missing", files["stitch"][:2], "shard(s) 2, 3 of 4 missing"},
		{"twice", append(append([]string{}, files["stitch"]...), files["stitch"][1]), "shard 1/4 is given twice"},
		{"other_job", append(append([]string{}, files["stitch"][:3]...), files["lowrank"][3]), "holds lowrank statistics"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := graft(append([]string{"fit", "merge", "-o", filepath.Join(out, "x.npz")}, c.files...)...)
			if code == 0 || !strings.Contains(stderr, c.want) {
				t.Errorf("exit %d, stderr %q; want an error with %q", code, stderr, c.want)
			}
		})
	}
}

// relMax returns max|a−b| / max|b|.
func relMax(a, b []float64) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	num, den := 0.0, 0.0
	for i := range a {
		num = math.Max(num, math.Abs(a[i]-b[i]))
		den = math.Max(den, math.Abs(b[i]))
	}
	return num / den
}
