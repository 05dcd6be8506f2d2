package eval

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/graft-ml/graft/data"
	"github.com/graft-ml/graft/feed"
	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

func TestTopK(t *testing.T) {
	cases := []struct {
		name   string
		logits *tensor.Dense
		k      int
		want   [][]int
		err    string
	}{
		{name: "order", logits: tensor.FromF32([]int{2, 4}, []float32{0.1, 3, -1, 2, 5, 4, 3, 2}), k: 3, want: [][]int{{1, 3, 0}, {0, 1, 2}}},
		// Equal logits rank the lower class first, as torch.topk and
		// numpy's stable argsort of the negated row do.
		{name: "ties", logits: tensor.FromF32([]int{1, 4}, []float32{1, 2, 2, 1}), k: 4, want: [][]int{{1, 2, 0, 3}}},
		{name: "fewer_classes_than_k", logits: tensor.FromF32([]int{1, 2}, []float32{1, 2}), k: 5, want: [][]int{{1, 0}}},
		{name: "nchw_logits", logits: tensor.FromF32([]int{1, 3, 1, 1}, []float32{0, 9, 1}), k: 1, want: [][]int{{1}}},
		{name: "float64", logits: tensor.FromF64([]int{1, 2}, []float64{2, 1}), k: 1, want: [][]int{{0}}},
		{name: "nan", logits: tensor.FromF32([]int{2, 2}, []float32{0, 1, 1, float32(nan())}), k: 1, err: "sample 1: logit 1 is NaN"},
		{name: "rank1", logits: tensor.FromF32([]int{3}, []float32{0, 1, 2}), k: 1, err: "want (batch, classes) logits"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := TopK(c.logits, c.k)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(got, c.want, slices.Equal) {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
}

func nan() float64 { var z float64; return z / z }

func fmnist(name string) string { return filepath.Join(fixtures.Dir(), "fmnist", name) }

func load(t *testing.T, path string) *onnx.Model {
	t.Helper()
	m, err := onnx.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func testImages(t *testing.T, opts data.Options) data.Source {
	t.Helper()
	opts.Mean, opts.Std = []float64{0.2860}, []float64{0.3530}
	src, err := data.Open(fmnist("t10k-images-1k-idx3-ubyte.gz"), opts)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// TestAccuracyMatchesPyTorch checks top-1 on the bundled test images
// against what PyTorch measured on the same 1000 images (gen_fmnist.py),
// exactly: the count of correct argmaxes does not depend on float32
// rounding unless two logits nearly tie, which they do not here. A model
// agrees with itself everywhere.
func TestAccuracyMatchesPyTorch(t *testing.T) {
	var man struct {
		Models map[string]struct {
			Acc float64 `json:"test_acc_1k"`
		} `json:"models"`
	}
	raw, err := os.ReadFile(fmnist("fmnist.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &man); err != nil {
		t.Fatal(err)
	}
	src := testImages(t, data.Options{})
	for _, name := range []string{"a", "b"} {
		t.Run(name, func(t *testing.T) {
			m := load(t, fmnist(name+".onnx"))
			r, err := Accuracy(m, src, Options{Compare: load(t, fmnist(name+".onnx")), Feed: feed.Options{Batch: 128}})
			if err != nil {
				t.Fatal(err)
			}
			want := man.Models[name].Acc
			if r.Samples != 1000 || r.Top1 == nil || *r.Top1 != want || *r.Top5 < *r.Top1 {
				t.Errorf("samples %d, top-1 %v, top-5 %v; PyTorch's top-1 %v", r.Samples, r.Top1, r.Top5, want)
			}
			if *r.Agreement != 1 || *r.CompareTop1 != *r.Top1 {
				t.Errorf("against itself: agreement %v, its top-1 %v", *r.Agreement, *r.CompareTop1)
			}
		})
	}
}

func TestAccuracyCases(t *testing.T) {
	a := load(t, fmnist("a.onnx"))
	unlabelled, err := data.Open(fmnist("input8.npy"), data.Options{})
	if err != nil {
		t.Fatal(err)
	}
	wrongLabels := filepath.Join(t.TempDir(), "labels.npy")
	if err := tensor.SaveNPY(wrongLabels, tensor.FromI64([]int{8}, []int64{0, 1, 2, 3, 4, 5, 6, 12})); err != nil {
		t.Fatal(err)
	}
	mislabelled, err := data.Open(fmnist("input8.npy"), data.Options{Labels: wrongLabels})
	if err != nil {
		t.Fatal(err)
	}

	// Without labels: no accuracy, but agreement.
	r, err := Accuracy(a, unlabelled, Options{Compare: load(t, fmnist("b.onnx"))})
	if err != nil {
		t.Fatal(err)
	}
	if r.Samples != 8 || r.Top1 != nil || r.Top5 != nil || r.CompareTop1 != nil || r.Agreement == nil {
		t.Errorf("unlabelled: %+v; want 8 samples, agreement only", r)
	}
	// The logits named by module path give the same result as the output.
	byPath, err := Accuracy(a, testImages(t, data.Options{}), Options{Output: "fc2", Feed: feed.Options{Limit: 300}})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := Accuracy(a, testImages(t, data.Options{}), Options{Feed: feed.Options{Limit: 300}})
	if err != nil {
		t.Fatal(err)
	}
	if byPath.Samples != 300 || *byPath.Top1 != *plain.Top1 {
		t.Errorf("--output fc2: %+v; the graph output: %+v", byPath, plain)
	}
	for _, c := range []struct {
		name string
		src  data.Source
		o    Options
		want string
	}{
		{"label_outside_classes", mislabelled, Options{}, "sample 7 has label 12, outside the model's 10 classes"},
		{"no_such_output", unlabelled, Options{Output: "fc9"}, "fc9"},
	} {
		if _, err := Accuracy(a, c.src, c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
}
