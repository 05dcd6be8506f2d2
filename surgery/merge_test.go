package surgery

import (
	"encoding/json"
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	gexec "github.com/graft-ml/graft/exec"
	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// mergeSource is a model to merge and an input to run it on.
type mergeSource struct {
	path  string
	input string // its graph input
	x     string // .npy file with samples for it
	y     string // .npy file with PyTorch's first output for x
}

// mergeFixture names the bundled models the merge tests use: opset 11
// (resnet_small, merge/opset11 with Softmax, Squeeze and reductions in
// their pre-13 forms), 13 (cnn_bn, fmnist), 14 (mobilenet_small) and 17
// (mlp, transformer).
func mergeFixture(t *testing.T, name string) mergeSource {
	t.Helper()
	dir := fixtures.Dir()
	switch name {
	case "fmnist_a", "fmnist_b":
		ab := name[len("fmnist_"):]
		return mergeSource{filepath.Join(dir, "fmnist", ab+".onnx"), "input", filepath.Join(dir, "fmnist", "input8.npy"), filepath.Join(dir, "fmnist", "logits_"+ab+".npy")}
	case "opset11":
		return mergeSource{filepath.Join(dir, "merge", "opset11.onnx"), "input", filepath.Join(dir, "merge", "input.npy"), filepath.Join(dir, "merge", "output.npy")}
	}
	fx, err := fixtures.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	return mergeSource{fx.Model(), fx.Inputs[0].Name, fx.Path(fx.Inputs[0].File), fx.Path(fx.Outputs[0].File)}
}

// runAll runs m in graft on inputs and returns every graph output.
func runAll(t *testing.T, m *onnx.Model, inputs map[string]*tensor.Dense) map[string]*tensor.Dense {
	t.Helper()
	p, err := gexec.Compile(m)
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Run(inputs, gexec.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// ortAll runs the model at path in ONNX Runtime (after onnx.checker) on
// several inputs and returns every output by name; it skips outside CI
// when ONNX Runtime is missing.
func ortAll(t *testing.T, path string, inputs map[string]*tensor.Dense) map[string]*tensor.Dense {
	t.Helper()
	runner, err := fixtures.ORTRunner()
	if err != nil {
		fixtures.SkipNoReference(t, "%v", err)
	}
	if err := fixtures.CheckModel(path); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	args := append(append([]string{}, runner[1:]...), "--model", path, "--out", filepath.Join(dir, "out"))
	for name, x := range inputs {
		f := filepath.Join(dir, strings.ReplaceAll(name, "/", "_")+".npy")
		if err := tensor.SaveNPY(f, x); err != nil {
			t.Fatal(err)
		}
		args = append(args, name+"="+f)
	}
	if b, err := osexec.Command(runner[0], args...).CombinedOutput(); err != nil {
		t.Fatalf("onnxruntime: %v\n%s", err, b)
	}
	b, err := os.ReadFile(filepath.Join(dir, "out", "outputs.json"))
	if err != nil {
		t.Fatal(err)
	}
	var index map[string]struct{ File string }
	if err := json.Unmarshal(b, &index); err != nil {
		t.Fatal(err)
	}
	out := map[string]*tensor.Dense{}
	for name, e := range index {
		if out[name], err = tensor.LoadNPY(filepath.Join(dir, "out", e.File)); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestMerge merges fixtures side by side and checks that each model's
// outputs in the merged model are bit for bit what graft computes for the
// model alone (the same kernels on the same data), that ONNX Runtime
// agrees within ortTol after onnx.checker accepts the file, that the mean
// output is the mean, and that module paths read a.layer1...
func TestMerge(t *testing.T) {
	// ortTol: ONNX Runtime's float32 kernels (other summation orders,
	// fused Conv+Relu) against graft's, on outputs of size about 1.
	const ortTol = 1e-5
	cases := []struct {
		name   string
		models []string
		opt    MergeOptions
		opset  int64
	}{
		{"mlp+cnn_bn", []string{"mlp", "cnn_bn"}, MergeOptions{}, 17},
		{"fmnist_a+b/shared/mean", []string{"fmnist_a", "fmnist_b"}, MergeOptions{SharedInput: true, MeanOutput: true}, 13},
		{"resnet11+cnn_bn13/shared/mean", []string{"resnet_small", "cnn_bn"}, MergeOptions{SharedInput: true, MeanOutput: true}, 13},
		{"opset11+mlp17", []string{"opset11", "mlp"}, MergeOptions{Names: []string{"old", "new"}}, 17},
		{"cnn_bn+opset11+resnet/shared/mean", []string{"cnn_bn", "opset11", "resnet_small"}, MergeOptions{SharedInput: true, MeanOutput: true}, 13},
		{"cnn_bn+self/shared", []string{"cnn_bn", "cnn_bn"}, MergeOptions{SharedInput: true}, 13},
		{"transformer+mobilenet", []string{"transformer", "mobilenet_small"}, MergeOptions{}, 17},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var models []*onnx.Model
			var srcs []mergeSource
			var modules [][]string
			for _, name := range c.models {
				s := mergeFixture(t, name)
				m, err := onnx.Load(s.path)
				if err != nil {
					t.Fatal(err)
				}
				srcs = append(srcs, s)
				models = append(models, m)
				modules = append(modules, m.Graph.ModulePaths())
			}
			names, err := mergeNames(len(models), c.opt.Names)
			if err != nil {
				t.Fatal(err)
			}
			// Each model alone, in graft, on its input (the first model's
			// input for all when the input is shared).
			xs := make([]*tensor.Dense, len(srcs))
			want := make([]map[string]*tensor.Dense, len(srcs))
			first := make([]string, len(srcs)) // each model's first output
			for i, s := range srcs {
				if c.opt.SharedInput {
					s.x = srcs[0].x
				}
				if xs[i], err = tensor.LoadNPY(s.x); err != nil {
					t.Fatal(err)
				}
				alone, err := onnx.Load(s.path)
				if err != nil {
					t.Fatal(err)
				}
				want[i] = runAll(t, alone, map[string]*tensor.Dense{s.input: xs[i]})
				first[i] = alone.Graph.Outputs[0].Name
			}

			r, err := Merge(models, c.opt)
			if err != nil {
				t.Fatal(err)
			}
			if r.Opset != c.opset || models[0].Opset("") != c.opset {
				t.Errorf("opset %d (model %d), want %d", r.Opset, models[0].Opset(""), c.opset)
			}
			path := filepath.Join(t.TempDir(), "merged.onnx")
			if err := models[0].Save(path); err != nil {
				t.Fatal(err)
			}
			merged, err := onnx.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := merged.Graph.Validate(); err != nil {
				t.Fatal(err)
			}
			feed := map[string]*tensor.Dense{}
			if c.opt.SharedInput {
				feed[srcs[0].input] = xs[0]
			} else {
				for i, s := range srcs {
					feed[names[i]+"/"+s.input] = xs[i]
				}
			}
			got := runAll(t, merged, feed)
			ort := ortAll(t, path, feed)
			for i := range srcs {
				for name, w := range want[i] {
					out := names[i] + "/" + name
					g := got[out]
					if g == nil {
						t.Fatalf("no output %q in %v", out, r.Outputs)
					}
					if !tensor.Equal(g, w) {
						t.Errorf("%s: graft's merged output differs from the model alone by %.3g; want bit-identical", out, maxDiff(g, w))
					}
					if d := maxDiff(ort[out], w); d > ortTol {
						t.Errorf("%s: onnxruntime differs from graft's model alone by %.3g", out, d)
					}
				}
				if s := srcs[i]; !c.opt.SharedInput || i == 0 || s.x == srcs[0].x {
					// The model's own samples: PyTorch's outputs apply.
					y, err := tensor.LoadNPY(s.y)
					if err != nil {
						t.Fatal(err)
					}
					out := names[i] + "/" + first[i]
					if d := maxDiff(got[out], y); d > tol {
						t.Errorf("%s: differs from PyTorch by %.3g", out, d)
					}
				}
				for _, mp := range modules[i] {
					if !slices.Contains(merged.Graph.ModulePaths(), names[i]+"."+mp) {
						t.Errorf("module path %s.%s missing", names[i], mp)
					}
				}
			}
			if c.opt.MeanOutput {
				out := r.Outputs[0]
				if r.Outputs[0] != merged.Graph.Outputs[0].Name {
					t.Fatalf("report lists outputs %v, graph's first is %q", r.Outputs, merged.Graph.Outputs[0].Name)
				}
				mean := tensor.New(tensor.Float64, got[out].Shape...)
				for i := range srcs {
					if len(want[i]) != 1 {
						t.Fatalf("model %s has %d outputs; the test averages one", names[i], len(want[i]))
					}
					for _, w := range want[i] {
						for j, v := range w.Float64s() {
							mean.F64[j] += v / float64(len(srcs))
						}
					}
				}
				// Mean sums in float32 and divides: within a few ulps
				// of outputs of size about 1.
				if d := maxDiff(got[out], mean); d > 1e-6 {
					t.Errorf("mean output %q differs from the models' mean by %.3g", out, d)
				}
				if d := maxDiff(ort[out], mean); d > ortTol {
					t.Errorf("onnxruntime's mean output %q differs from the models' mean by %.3g", out, d)
				}
			}
		})
	}
}

// TestMergeSelfSize merges Fashion-MNIST model a with itself: every
// initializer is shared, so the file is about the size of one model, while
// a with b (other weights) is about the size of two.
func TestMergeSelfSize(t *testing.T) {
	size := func(paths ...string) (int64, MergeReport) {
		var models []*onnx.Model
		for _, p := range paths {
			m, err := onnx.Load(p)
			if err != nil {
				t.Fatal(err)
			}
			models = append(models, m)
		}
		r, err := Merge(models, MergeOptions{SharedInput: true})
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "merged.onnx")
		if err := models[0].Save(out); err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(out)
		if err != nil {
			t.Fatal(err)
		}
		return st.Size(), r
	}
	a, b := mergeFixture(t, "fmnist_a").path, mergeFixture(t, "fmnist_b").path
	st, err := os.Stat(a)
	if err != nil {
		t.Fatal(err)
	}
	one := st.Size()
	self, r := size(a, a)
	m, _ := onnx.Load(a)
	if r.SharedInitializers != len(m.Graph.Initializers) || r.Initializers != len(m.Graph.Initializers) {
		t.Errorf("a+a: %d shared, %d stored; want all %d shared and stored once", r.SharedInitializers, r.Initializers, len(m.Graph.Initializers))
	}
	// The second copy adds only its nodes and value types, a few KB
	// against 800 KB of weights: allow 2 %.
	if float64(self) > 1.02*float64(one) {
		t.Errorf("a+a is %d bytes, a alone %d: the weights are not stored once", self, one)
	}
	pair, _ := size(a, b)
	if float64(pair) < 1.9*float64(one) {
		t.Errorf("a+b is %d bytes, a alone %d: different weights must both be stored", pair, one)
	}
	t.Logf("a: %d bytes, a+a: %d, a+b: %d", one, self, pair)
}

// TestMergeErrors checks that bad merges fail with errors that say what
// is wrong.
func TestMergeErrors(t *testing.T) {
	load := func(names ...string) []*onnx.Model {
		var out []*onnx.Model
		for _, n := range names {
			m, err := onnx.Load(mergeFixture(t, n).path)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, m)
		}
		return out
	}
	one := load("mlp")[0]
	old := load("mlp")[0]
	old.Opsets[0].Version = 9 // older than Upgrade goes
	cases := []struct {
		name   string
		models []*onnx.Model
		opt    MergeOptions
		want   []string
	}{
		{"one model", load("mlp"), MergeOptions{}, []string{"at least two"}},
		{"same model twice", []*onnx.Model{one, one}, MergeOptions{}, []string{"same in-memory model", "load it twice"}},
		{"name count", load("mlp", "mlp"), MergeOptions{Names: []string{"x"}}, []string{"1 names", "2 models"}},
		{"name twice", load("mlp", "mlp"), MergeOptions{Names: []string{"x", "x"}}, []string{`"x" given twice`}},
		{"name with a dot", load("mlp", "mlp"), MergeOptions{Names: []string{"x.y", "z"}}, []string{`"x.y"`, "module paths"}},
		{"shared input shapes", load("mlp", "cnn_bn"), MergeOptions{SharedInput: true}, []string{"--shared-input", "model a", "model b", "[batch,20]", "[2,3,16,16]", "ranks 2 and 4"}},
		{"shared input dims", load("fmnist_a", "cnn_bn"), MergeOptions{SharedInput: true}, []string{"--shared-input", "dim 1 is 1 in one and 3 in the other"}},
		{"mean output shapes", load("mlp", "transformer"), MergeOptions{MeanOutput: true}, []string{"--mean-output", "[batch,10]", "[batch,8,16]"}},
		{"opset too old", []*onnx.Model{old, load("mlp")[0]}, MergeOptions{}, []string{"model a", "opset 9"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Merge(c.models, c.opt)
			if err == nil {
				t.Fatal("merge succeeded")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// TestMergeUnifyTypes checks how shared inputs take the most specific of
// the models' types.
func TestMergeUnifyTypes(t *testing.T) {
	f := tensor.Float32
	batch := onnx.Dim{Param: "batch"}
	typ := func(dims ...onnx.Dim) onnx.Type { return onnx.Type{DType: f, HasShape: true, Dims: dims} }
	d := func(v int64) onnx.Dim { return onnx.Dim{Value: v} }
	cases := []struct {
		name string
		a, b onnx.Type
		want onnx.Type
		err  bool
	}{
		{"same", typ(batch, d(3)), typ(batch, d(3)), typ(batch, d(3)), false},
		{"known wins", typ(batch, d(3)), typ(d(2), d(3)), typ(d(2), d(3)), false},
		{"symbol over unknown", typ(onnx.UnknownDim, d(3)), typ(batch, d(3)), typ(batch, d(3)), false},
		{"no shape", onnx.Type{DType: f}, typ(batch, d(3)), typ(batch, d(3)), false},
		{"dims differ", typ(batch, d(3)), typ(batch, d(4)), onnx.Type{}, true},
		{"ranks differ", typ(batch, d(3)), typ(batch), onnx.Type{}, true},
		{"dtypes differ", typ(batch), onnx.Type{DType: tensor.Int64, HasShape: true, Dims: []onnx.Dim{batch}}, onnx.Type{}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := unifyTypes(c.a, c.b)
			if (err != nil) != c.err {
				t.Fatalf("error %v, want error %v", err, c.err)
			}
			if err == nil && !got.Equal(c.want) {
				t.Errorf("got %s, want %s", got, c.want)
			}
		})
	}
}
