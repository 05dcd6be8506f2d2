package fitting_test

import (
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ml/graft/eval"
	"github.com/graft-ml/graft/feed"
	"github.com/graft-ml/graft/fitting"
	"github.com/graft-ml/graft/onnx"
)

// sweepLayers are the 3×3 sweep of the acceptance test: pool1 (32×14×14)
// is resized to 7×7 when it feeds pool2 or relu3, and the 7×7 layers are
// upsampled to 14×14 when they feed pool1.
var sweepLayers = []string{"pool1", "pool2", "relu3"}

// TestSweepMatchesStitch checks every cell of a 3×3 sweep of the bundled
// Fashion-MNIST pair against the pipeline it replaces: fitting.Stitch of
// that pair alone, then eval.Accuracy of the stitched model on the test
// images. The sweep feeds each pair's statistics the same batches in the
// same order, so the fit is the same to the last bit, and its tail is the
// stitched model's, so the accuracy is equal (1e-6 is well below one
// sample in 1000); R² is compared to 1e-12 for the same reason. CKA must
// equal Similarity's for the pair to 1e-12: a pair of pixels of one size
// takes it from its own statistics, whose sums are grouped differently
// from Similarity's joint ones (rounding, about 1e-15). A's and B's own accuracies are
// eval.Accuracy's. The race run fits on 300 samples and tests on 200.
func TestSweepMatchesStitch(t *testing.T) {
	fo, to := feed.Options{Batch: 100}, feed.Options{Batch: 250}
	if raceEnabled {
		fo.Limit, to.Limit = 300, 200
	}
	train, test := images(t, "train-images-2k-idx3-ubyte.gz"), images(t, "t10k-images-1k-idx3-ubyte.gz")
	dir := t.TempDir()
	var stages []string
	o := fitting.SweepOptions{LayersA: sweepLayers, LayersB: sweepLayers, Feed: fo, Test: test, TestFeed: to, Dir: dir,
		Progress: func(stage string, done, total int) {
			if done == total {
				stages = append(stages, stage)
			}
		}}
	r, err := fitting.Sweep(load(t, fmnist("a.onnx")), load(t, fmnist("b.onnx")), train, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Cells) != 9 || r.Computed != 9 {
		t.Fatalf("%d cells, %d computed; want 9 and 9", len(r.Cells), r.Computed)
	}
	if strings.Join(stages, ",") != "fit pass,fits,test pass" {
		t.Errorf("stages %v, want fit pass, fits, test pass", stages)
	}
	for _, m := range []struct {
		path string
		want float64
	}{{"a.onnx", r.Top1A}, {"b.onnx", r.Top1B}} {
		acc, err := eval.Accuracy(load(t, fmnist(m.path)), test, eval.Options{Feed: to})
		if err != nil {
			t.Fatal(err)
		}
		if *acc.Top1 != m.want {
			t.Errorf("%s alone: sweep says top-1 %v, eval.Accuracy %v", m.path, m.want, *acc.Top1)
		}
	}
	sim, err := fitting.Similarity(load(t, fmnist("a.onnx")), sweepLayers, load(t, fmnist("b.onnx")), sweepLayers, train, fitting.SimilarityOptions{Feed: fo})
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range sweepLayers {
		for j, y := range sweepLayers {
			c := r.Cell(x, y, fitting.Method{})
			if c == nil || !c.Top1.Defined() || c.Note != "" {
				t.Fatalf("A's %s → B's %s: cell %+v, want a fitted one", x, y, c)
			}
			a := load(t, fmnist("a.onnx"))
			s, err := fitting.Stitch(a, x, load(t, fmnist("b.onnx")), y, train, fitting.StitchOptions{Feed: fo})
			if err != nil {
				t.Fatal(err)
			}
			acc, err := eval.Accuracy(a, test, eval.Options{Feed: to})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("A's %-5s → B's %-5s %s: top-1 sweep %.4f stitch %.4f, R² %.4f, CKA %.4f", x, y, c.Resized, c.Top1.Value, *acc.Top1, c.R2.Value, c.CKA.Value)
			if math.Abs(c.Top1.Value-*acc.Top1) > 1e-6 {
				t.Errorf("A's %s → B's %s: sweep top-1 %v, stitch %v", x, y, c.Top1.Value, *acc.Top1)
			}
			if math.Abs(c.R2.Value-s.Fit.R2) > 1e-12 || c.Samples != s.Samples || c.Rows != s.Rows {
				t.Errorf("A's %s → B's %s: sweep R² %v on %d samples (%d rows), stitch %v on %d (%d)", x, y, c.R2.Value, c.Samples, c.Rows, s.Fit.R2, s.Samples, s.Rows)
			}
			if got, want := c.CKA, sim.CKA[i][j]; !got.Defined() || math.Abs(got.Value-want.Value) > 1e-12 {
				t.Errorf("A's %s → B's %s: sweep CKA %v, Similarity %v", x, y, got, want)
			}
		}
	}
	for _, name := range []string{fitting.SweepCSV, fitting.SweepJSON, fitting.SweepHeatmap} {
		if st, err := os.Stat(filepath.Join(dir, name)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", name, err)
		}
	}

	// Resuming: the cells come back from the CSV, nothing is recomputed,
	// and a cell removed from the CSV is computed again, equal.
	f, err := os.Open(filepath.Join(dir, fitting.SweepCSV))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 10 {
		t.Fatalf("sweep.csv has %d rows, want a header and 9", len(rows))
	}
	writeCSV(t, filepath.Join(dir, fitting.SweepCSV), append(rows[:5:5], rows[6:]...)) // drops pool2 → pool2
	r2, err := fitting.Sweep(load(t, fmnist("a.onnx")), load(t, fmnist("b.onnx")), train, o)
	if err != nil {
		t.Fatal(err)
	}
	if r2.Computed != 1 || r2.Top1B != r.Top1B {
		t.Errorf("resumed: %d computed, B alone %v; want 1 and %v", r2.Computed, r2.Top1B, r.Top1B)
	}
	for i := range r.Cells {
		if r.Cells[i].Top1 != r2.Cells[i].Top1 || r.Cells[i].R2 != r2.Cells[i].R2 {
			t.Errorf("resumed cell %d: %+v, first run %+v", i, r2.Cells[i], r.Cells[i])
		}
	}
	o.Kernel = 3
	if _, err := fitting.Sweep(load(t, fmnist("a.onnx")), load(t, fmnist("b.onnx")), train, o); err == nil || !strings.Contains(err.Error(), "kernel 1, this sweep 3") {
		t.Errorf("resuming with another kernel: error %v, want one naming the kernels", err)
	}
}

func writeCSV(t *testing.T, path string, rows [][]string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := csv.NewWriter(f)
	if err := w.WriteAll(rows); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestSweepDefaultsAndErrors checks the default layers (top-level
// module boundaries of rank 2 or 4, not the output), the diagonal, a
// pair no adapter joins, and bad options.
func TestSweepDefaultsAndErrors(t *testing.T) {
	got, err := fitting.DefaultLayers(load(t, fmnist("a.onnx")))
	if err != nil {
		t.Fatal(err)
	}
	want := "conv1,relu1,pool1,conv2,relu2,pool2,conv3,relu3,avgpool,flatten,fc1,relu4"
	if strings.Join(got, ",") != want {
		t.Errorf("default layers %v, want %s", got, want)
	}
	train := images(t, "train-images-2k-idx3-ubyte.gz")
	a := load(t, fmnist("a.onnx"))
	r, err := fitting.Sweep(a, a, train, fitting.SweepOptions{LayersA: []string{"pool2", "fc1"}, LayersB: []string{"pool2", "relu4"},
		Diagonal: true, Methods: []fitting.Method{{Kind: fitting.FitProcrustesUnscaled}}, Feed: feed.Options{Limit: 200}})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Cells) != 2 || r.Cells[0].B != "pool2" || r.Cells[1].A != "fc1" || r.Cells[1].B != "relu4" {
		t.Fatalf("diagonal cells %+v, want pool2 → pool2 and fc1 → relu4", r.Cells)
	}
	// A's own pool2 onto itself: the rotation is the identity, so the
	// stitched model is A.
	if c := r.Cells[0]; !c.Top1.Defined() || math.Abs(c.Top1.Value-r.Top1A) > 1e-9 || math.Abs(c.CKA.Value-1) > 1e-9 {
		t.Errorf("pool2 onto itself: top-1 %v CKA %v, want A's %v and 1", c.Top1, c.CKA, r.Top1A)
	}
	r, err = fitting.Sweep(a, a, train, fitting.SweepOptions{LayersA: []string{"pool2"}, LayersB: []string{"fc1"}, Feed: feed.Options{Limit: 200}})
	if err != nil {
		t.Fatal(err)
	}
	if c := r.Cells[0]; c.Top1.Defined() || !strings.Contains(c.Note, "no adapter") || !c.CKA.Defined() {
		t.Errorf("pool2 → fc1: %+v, want no accuracy, a note saying no adapter joins them, and a CKA", c)
	}
	for _, c := range []struct {
		name string
		o    fitting.SweepOptions
		want string
	}{
		{"diagonal_lengths", fitting.SweepOptions{LayersA: []string{"pool1", "pool2"}, LayersB: []string{"pool2"}, Diagonal: true}, "A has 2 layers and B 1"},
		{"twice", fitting.SweepOptions{LayersA: []string{"pool1", "pool1"}}, `"pool1" is listed twice`},
		{"no_such_layer", fitting.SweepOptions{LayersA: []string{"pool9"}}, "pool9"},
		{"negative_kernel", fitting.SweepOptions{Kernel: -1}, "kernel -1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.o.Feed.Limit = 100
			_, err := fitting.Sweep(a, a, train, c.o)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one with %q", err, c.want)
			}
		})
	}
}

// BenchmarkSweep times the 3×3 sweep of TestSweepMatchesStitch against
// its naive baseline, the nine single runs it replaces (Stitch, then
// eval.Accuracy of the stitched model and of A and B, as `graft stitch
// --fit --test` does).
func BenchmarkSweep(b *testing.B) {
	fo, to := feed.Options{Batch: 100}, feed.Options{Batch: 100}
	train, test := images(b, "train-images-2k-idx3-ubyte.gz"), images(b, "t10k-images-1k-idx3-ubyte.gz")
	b.Run("3x3", func(b *testing.B) {
		for b.Loop() {
			_, err := fitting.Sweep(load(b, fmnist("a.onnx")), load(b, fmnist("b.onnx")), train,
				fitting.SweepOptions{LayersA: sweepLayers, LayersB: sweepLayers, Feed: fo, Test: test, TestFeed: to})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("3x3_naive", func(b *testing.B) {
		for b.Loop() {
			for _, x := range sweepLayers {
				for _, y := range sweepLayers {
					a := load(b, fmnist("a.onnx"))
					if _, err := fitting.Stitch(a, x, load(b, fmnist("b.onnx")), y, train, fitting.StitchOptions{Feed: fo}); err != nil {
						b.Fatal(err)
					}
					for _, m := range []*onnx.Model{a, load(b, fmnist("a.onnx")), load(b, fmnist("b.onnx"))} {
						if _, err := eval.Accuracy(m, test, eval.Options{Feed: to}); err != nil {
							b.Fatal(err)
						}
					}
				}
			}
		}
	})
}

// TestSweepShards runs a 2×3 sweep as 4 shards (statistics written to
// files and read back, merged in another order) and finishes it from the
// merged statistics: every cell must equal the one run's, top-1 exactly
// and R² and CKA to 1e-10 (the sums differ only in the order of the
// additions, about 1e-15 relative). A missing shard is an error naming
// it, and so are statistics of other pairs.
func TestSweepShards(t *testing.T) {
	train, test := images(t, "train-images-2k-idx3-ubyte.gz"), images(t, "t10k-images-1k-idx3-ubyte.gz")
	o := fitting.SweepOptions{LayersA: []string{"pool1", "relu3"}, LayersB: []string{"pool1", "pool2", "fc1"},
		Feed: feed.Options{Limit: 400, Batch: 64}, Test: test, TestFeed: feed.Options{Limit: 200}}
	one, err := fitting.Sweep(load(t, fmnist("a.onnx")), load(t, fmnist("b.onnx")), train, o)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var files []*fitting.StatsFile
	var names []string
	for _, i := range []int{2, 0, 3, 1} {
		so := o
		so.Shard = fitting.Shard{Index: i, Count: 4}
		r, err := fitting.Sweep(load(t, fmnist("a.onnx")), load(t, fmnist("b.onnx")), train, so)
		if err != nil {
			t.Fatal(err)
		}
		if r.Stats == nil || r.Stats.Samples != 100 || r.Stats.Total != 400 {
			t.Fatalf("shard %d: stats %+v, want 100 of 400 samples", i, r.Stats)
		}
		path := filepath.Join(dir, fmt.Sprintf("s-%d.npz", i))
		if err := fitting.WriteStatsFile(path, r.Stats); err != nil {
			t.Fatal(err)
		}
		f, err := fitting.ReadStatsFile(path)
		if err != nil {
			t.Fatal(err)
		}
		files, names = append(files, f), append(names, path)
	}
	if _, err := fitting.MergeStatsFiles(files[:3], names[:3]); err == nil || !strings.Contains(err.Error(), "shard(s) 1 of 4 missing") {
		t.Errorf("three shards: error %v, want one naming shard 1", err)
	}
	merged, err := fitting.MergeStatsFiles(files, names)
	if err != nil {
		t.Fatal(err)
	}
	fo := o
	fo.FromStats = merged
	r, err := fitting.Sweep(load(t, fmnist("a.onnx")), load(t, fmnist("b.onnx")), train, fo)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range r.Cells {
		w := one.Cells[i]
		close := func(a, b fitting.Score) bool {
			return a.Defined() == b.Defined() && math.Abs(a.Value-b.Value) <= 1e-10*math.Abs(b.Value)
		}
		if c.Top1 != w.Top1 || !close(c.R2, w.R2) || !close(c.CKA, w.CKA) || c.Samples != w.Samples || c.Rows != w.Rows || c.Note != w.Note {
			t.Errorf("A's %s → B's %s from shards: %+v\none run: %+v", c.A, c.B, c, w)
		}
	}
	fo.LayersB = []string{"pool1"}
	if _, err := fitting.Sweep(load(t, fmnist("a.onnx")), load(t, fmnist("b.onnx")), train, fo); err == nil || !strings.Contains(err.Error(), "not of this job") {
		t.Errorf("other pairs: error %v, want one saying the statistics are not of this job", err)
	}
}
