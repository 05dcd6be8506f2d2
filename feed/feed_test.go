package feed

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/graft-ml/graft/data"
	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// rows is an in-memory Source of n samples of width w: sample i holds
// i·w, …, i·w+w-1, and label i.
type rows struct{ n, w int }

func (r rows) Len() int           { return r.n }
func (r rows) SampleShape() []int { return []int{r.w} }
func (r rows) Batch(start, n int) (*tensor.Dense, []int64, error) {
	if start < 0 || n < 0 || start+n > r.n {
		return nil, nil, fmt.Errorf("samples %d+%d of %d", start, n, r.n)
	}
	x := tensor.New(tensor.Float32, n, r.w)
	y := make([]int64, n)
	for i := range x.F32 {
		x.F32[i] = float32(start*r.w + i)
	}
	for i := range y {
		y[i] = int64(start + i)
	}
	return x, y, nil
}

func TestEach(t *testing.T) {
	cases := []struct {
		name     string
		src      data.Source
		o        Options
		starts   []int
		progress []int // done values, each with total samples
		samples  int
		err      string
	}{
		{name: "default_batch", src: rows{250, 2}, starts: []int{0, 100, 200}, progress: []int{0, 100, 200, 250}, samples: 250},
		{name: "batch_and_limit", src: rows{10, 1}, o: Options{Batch: 4, Limit: 7}, starts: []int{0, 4}, progress: []int{0, 4, 7}, samples: 7},
		{name: "limit_above_len", src: rows{3, 1}, o: Options{Batch: 2, Limit: 50}, starts: []int{0, 2}, progress: []int{0, 2, 3}, samples: 3},
		{name: "empty", src: rows{0, 1}, err: "no samples"},
		{name: "negative_batch", src: rows{3, 1}, o: Options{Batch: -1}, err: "batch -1"},
		{name: "negative_limit", src: rows{3, 1}, o: Options{Limit: -2}, err: "limit -2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var starts, progress []int
			c.o.Progress = func(done, total int) {
				if total != c.samples {
					t.Errorf("progress total %d, want %d", total, c.samples)
				}
				progress = append(progress, done)
			}
			err := Each(c.src, c.o, func(b data.Batch) error {
				starts = append(starts, b.Start)
				if b.X.Shape[0] != len(b.Labels) || b.Labels[0] != int64(b.Start) {
					t.Errorf("batch at %d: %d samples, labels %v", b.Start, b.X.Shape[0], b.Labels)
				}
				return nil
			})
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one with %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(starts, c.starts) || !slices.Equal(progress, c.progress) {
				t.Errorf("batches at %v, progress %v; want %v and %v", starts, progress, c.starts, c.progress)
			}
			if n := c.o.Samples(c.src); n != c.samples {
				t.Errorf("Samples %d, want %d", n, c.samples)
			}
		})
	}
}

// TestEachError checks that an error from the callback stops the pass
// and names the batch's samples.
func TestEachError(t *testing.T) {
	stop := errors.New("stop")
	calls := 0
	err := Each(rows{10, 1}, Options{Batch: 3}, func(b data.Batch) error {
		calls++
		if b.Start == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || !strings.Contains(err.Error(), "samples 3–5") || calls != 2 {
		t.Errorf("error %v after %d calls; want stop, naming samples 3–5, after 2", err, calls)
	}
}

// TestModel runs the bundled MLP through Compile and Run on a batch
// larger than its recorded input and compares with PyTorch's outputs.
func TestModel(t *testing.T) {
	fx, err := fixtures.Load("mlp")
	if err != nil {
		t.Fatal(err)
	}
	m, err := onnx.Load(fx.Model())
	if err != nil {
		t.Fatal(err)
	}
	fm, err := Compile(m, 1)
	if err != nil {
		t.Fatal(err)
	}
	if fm.Input != "input" || fm.Program.Threads != 1 {
		t.Errorf("input %q, threads %d; want input and 1", fm.Input, fm.Program.Threads)
	}
	x, err := tensor.LoadNPY(fx.Path("input.npy"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := tensor.LoadNPY(fx.Path("output.npy"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := fm.Value(x, "output")
	if err != nil {
		t.Fatal(err)
	}
	// float32 kernels against PyTorch's: a few units in the last place.
	for i, v := range got.F32 {
		if d := v - want.F32[i]; d > 1e-5 || d < -1e-5 {
			t.Fatalf("output %d: %g, PyTorch %g", i, v, want.F32[i])
		}
	}
	g := onnx.NewGraph("two")
	for _, name := range []string{"a", "b"} {
		if _, err := g.AddInput(name, onnx.Type{DType: tensor.Float32}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := DataInput(g); err == nil || !strings.Contains(err.Error(), "2 inputs [a b]") {
		t.Errorf("two inputs: error %v", err)
	}
}
