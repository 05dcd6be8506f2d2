package exec

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// TestTfIdfVectorizerORT runs TfIdfVectorizer in the modes and layouts
// ONNX's node tests leave out (IDF, TFIDF with weights, unigrams to
// trigrams with skips, int32 ids, 1-D input) and compares with ONNX
// Runtime. The outputs are small integer counts times float32 weights,
// so they must agree exactly.
func TestTfIdfVectorizerORT(t *testing.T) {
	// 1-grams {2}, {7}; 2-grams (2,3), (7,2); 3-grams (2,3,5), (3,5,7).
	pool := []int64{2, 7, 2, 3, 7, 2, 2, 3, 5, 3, 5, 7}
	counts := []int64{0, 2, 6}
	indexes := []int64{5, 0, 1, 3, 2, 4}
	weights := []float32{0.5, 2, 1.5, 3, 0.25, 4}
	rows := []int64{
		2, 3, 5, 7, 2, 3, 2, 7, 2, 3,
		7, 7, 2, 9, 3, 5, 7, 2, 3, 5,
	}
	cases := []struct {
		name      string
		mode      string
		min, max  int64
		skip      int64
		weights   bool
		dtype     tensor.DType
		shape     []int
		wantWidth int
	}{
		{"TF uni-tri skip2", "TF", 1, 3, 2, false, tensor.Int64, []int{2, 10}, 6},
		{"IDF bi skip1 weights", "IDF", 2, 2, 1, true, tensor.Int64, []int{2, 10}, 6},
		{"IDF no weights", "IDF", 1, 3, 0, false, tensor.Int32, []int{2, 10}, 6},
		{"TFIDF uni-tri skip3 int32", "TFIDF", 1, 3, 3, true, tensor.Int32, []int{2, 10}, 6},
		{"TFIDF 1-D tri only", "TFIDF", 3, 3, 4, true, tensor.Int64, []int{20}, 6},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			x := tensor.New(c.dtype, c.shape...)
			copy(x.I64, rows)
			g := onnx.NewGraph("tfidf")
			in, err := g.AddInput("x", onnx.ShapeOf(c.dtype, c.shape...))
			if err != nil {
				t.Fatal(err)
			}
			attrs := []*onnx.Attr{
				onnx.StringAttr("mode", c.mode),
				onnx.IntAttr("min_gram_length", c.min), onnx.IntAttr("max_gram_length", c.max),
				onnx.IntAttr("max_skip_count", c.skip),
				onnx.IntsAttr("pool_int64s", pool...), onnx.IntsAttr("ngram_counts", counts...),
				onnx.IntsAttr("ngram_indexes", indexes...),
			}
			if c.weights {
				attrs = append(attrs, onnx.FloatsAttr("weights", weights...))
			}
			node := g.AddNode("TfIdfVectorizer", "", "tfidf", []*onnx.Value{in}, []string{"y"}, attrs...)
			g.Outputs = append(g.Outputs, node.Outputs[0])
			m := onnx.NewModel(g, 17)
			if err := InferShapes(m); err != nil {
				t.Fatal(err)
			}
			if d := node.Outputs[0].Type.Dims; len(d) == 0 || d[len(d)-1].Value != int64(c.wantWidth) {
				t.Fatalf("inferred %s, want %d columns", node.Outputs[0].Type, c.wantWidth)
			}
			p, err := Compile(m)
			if err != nil {
				t.Fatal(err)
			}
			out, err := p.Run(map[string]*tensor.Dense{"x": x}, RunOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got := out["y"]
			path := filepath.Join(t.TempDir(), "tfidf.onnx")
			if err := m.Save(path); err != nil {
				t.Fatal(err)
			}
			want, err := fixtures.RunORT(path, "x", x)
			if errors.Is(err, fixtures.ErrNoORT) && os.Getenv("CI") == "" {
				t.Skip(err)
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Shape, want.Shape) {
				t.Fatalf("shape %v, ONNX Runtime %v", got.Shape, want.Shape)
			}
			for i := range want.F32 {
				if got.F32[i] != want.F32[i] {
					t.Fatalf("element %d: got %v, ONNX Runtime %v\ngraft %v\nORT   %v", i, got.F32[i], want.F32[i], got.F32, want.F32)
				}
			}
		})
	}
}

// TestTfIdfVectorizerErrors checks that bad attributes name what is wrong.
func TestTfIdfVectorizerErrors(t *testing.T) {
	base := func() []*onnx.Attr {
		return []*onnx.Attr{
			onnx.StringAttr("mode", "TF"), onnx.IntAttr("min_gram_length", 1), onnx.IntAttr("max_gram_length", 2),
			onnx.IntsAttr("pool_int64s", 1, 2, 1, 2), onnx.IntsAttr("ngram_counts", 0, 2), onnx.IntsAttr("ngram_indexes", 0, 1, 2),
		}
	}
	set := func(attrs []*onnx.Attr, a *onnx.Attr) []*onnx.Attr {
		for i := range attrs {
			if attrs[i].Name == a.Name {
				attrs[i] = a
				return attrs
			}
		}
		return append(attrs, a)
	}
	cases := []struct {
		name string
		attr *onnx.Attr
		want string
	}{
		{"mode", onnx.StringAttr("mode", "BM25"), "mode"},
		{"lengths", onnx.IntAttr("min_gram_length", 3), "gram lengths"},
		{"counts", onnx.IntsAttr("ngram_counts", 0, 3), "ngram_counts"},
		{"indexes", onnx.IntsAttr("ngram_indexes", 0, 1), "ngram_indexes"},
		{"weights", onnx.FloatsAttr("weights", 1), "weights"},
		{"strings", &onnx.Attr{Name: "pool_strings", Type: onnx.AttrStrings, Strings: []string{"a"}}, "pool_strings"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := onnx.NewGraph("tfidf")
			in, err := g.AddInput("x", onnx.ShapeOf(tensor.Int64, 4))
			if err != nil {
				t.Fatal(err)
			}
			node := g.AddNode("TfIdfVectorizer", "", "tfidf", []*onnx.Value{in}, []string{"y"}, set(base(), c.attr)...)
			g.Outputs = append(g.Outputs, node.Outputs[0])
			err = InferShapes(onnx.NewModel(g, 17))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error naming %q", err, c.want)
			}
		})
	}
}
