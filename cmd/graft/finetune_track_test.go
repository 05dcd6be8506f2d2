package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ml/graft/data"
	"github.com/graft-ml/graft/feed"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/runlog"
	"github.com/graft-ml/graft/track"
)

// TestFinetuneTrack trains fc2 of the Fashion-MNIST CNN for two epochs
// with --track and checks the run record: frozen layers do not move, and
// the last epoch's distance of fc2 from the start equals graft track's
// (track.Track) between the original and the trained model on the same
// samples.
func TestFinetuneTrack(t *testing.T) {
	dir := t.TempDir()
	out, runs := filepath.Join(dir, "ft.onnx"), filepath.Join(dir, "runs")
	test := fmnist("t10k-images-1k-idx3-ubyte.gz")
	args := append([]string{"finetune", fmnist("a.onnx"), "--train", "fc2.*", "--data", fmnist("train-images-2k-idx3-ubyte.gz"),
		"--val-data", test, "--epochs", "2", "--track", "conv1,fc2", "--track-limit", "100", "--threads", "1",
		"--checkpoint", "none", "--runs", runs, "-o", out}, fmnistNorm...)
	code, stdout, stderr := graft(args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "moved conv1 0.0000") {
		t.Errorf("the frozen conv1 moved, or the line is missing:\n%s", stdout)
	}
	list, err := runlog.List(runs)
	if err != nil || len(list) != 1 {
		t.Fatalf("run records: %v, %d", err, len(list))
	}
	rec, err := runlog.Load(runs, list[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	var last map[string]any
	for _, m := range rec.Metrics {
		if _, ok := m["track/fc2/start"]; ok {
			last = m
		}
	}
	if last == nil || last["epoch"] != float64(2) {
		t.Fatalf("no track metrics for epoch 2 in %v", rec.Metrics)
	}
	if v := last["track/conv1/previous"]; v != float64(0) {
		t.Errorf("frozen conv1 moved %v", v)
	}
	a, err := onnx.Load(fmnist("a.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := onnx.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	src, err := data.Open(test, data.Options{Mean: []float64{0.2860}, Std: []float64{0.3530}})
	if err != nil {
		t.Fatal(err)
	}
	want, err := track.Track([]*onnx.Model{a, b}, src, track.Options{Layers: []string{"fc2"}, Feed: feed.Options{Batch: 100, Limit: 100, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if got := last["track/fc2/start"]; got != want.ToLast[0][0].Value || want.ToLast[0][0].Value <= 0 {
		t.Errorf("fc2 moved %v from the start by the record, %v by graft track", got, want.ToLast[0][0].Value)
	}
}
