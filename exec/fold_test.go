package exec

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// foldModel builds z = Reshape(x + (c + w)², [batch, 2, 2]) for x of shape
// [batch, 4]: c is a Constant node and w an initializer, so c+w and its
// square fold at Compile; the target comes from Shape(x) through Gather,
// Unsqueeze and Concat, which runs memoize.
func foldModel(t *testing.T) *onnx.Model {
	t.Helper()
	g := onnx.NewGraph("fold")
	x, err := g.AddInput("x", onnx.Type{DType: tensor.Float32, HasShape: true, Dims: []onnx.Dim{{Param: "batch"}, {Value: 4}}})
	if err != nil {
		t.Fatal(err)
	}
	w := g.AddConst("w", tensor.FromF32([]int{4}, []float32{10, 20, 30, 40}))
	c := g.AddNode("Constant", "", "c", nil, []string{"c"}, onnx.TensorAttr("value", tensor.FromF32([]int{4}, []float32{1, 2, 3, 4}))).Outputs[0]
	s := g.AddNode("Add", "", "s", []*onnx.Value{c, w}, []string{"s"}).Outputs[0]
	sq := g.AddNode("Mul", "", "t", []*onnx.Value{s, s}, []string{"t"}).Outputs[0]
	y := g.AddNode("Add", "", "y", []*onnx.Value{x, sq}, []string{"y"}).Outputs[0]
	sh := g.AddNode("Shape", "", "sh", []*onnx.Value{x}, []string{"sh"}).Outputs[0]
	idx := g.AddConst("idx", tensor.FromI64([]int{}, []int64{0}))
	b := g.AddNode("Gather", "", "b", []*onnx.Value{sh, idx}, []string{"b"}).Outputs[0]
	axes := g.AddConst("axes", tensor.FromI64([]int{1}, []int64{0}))
	bu := g.AddNode("Unsqueeze", "", "bu", []*onnx.Value{b, axes}, []string{"bu"}).Outputs[0]
	rest := g.AddConst("rest", tensor.FromI64([]int{2}, []int64{2, 2}))
	tgt := g.AddNode("Concat", "", "tgt", []*onnx.Value{bu, rest}, []string{"tgt"}, onnx.IntAttr("axis", 0)).Outputs[0]
	z := g.AddNode("Reshape", "", "z", []*onnx.Value{y, tgt}, []string{"z"}).Outputs[0]
	g.Outputs = []*onnx.Value{z}
	return onnx.NewModel(g, 13)
}

// foldWant computes foldModel's z by hand for a w and (nil: batch, 2, 2)
// target shape.
func foldWant(x *tensor.Dense, w []float32, shape []int) *tensor.Dense {
	if shape == nil {
		shape = []int{x.Shape[0], 2, 2}
	}
	out := make([]float32, x.Len())
	for i, v := range x.F32 {
		s := float32(i%4+1) + w[i%4]
		out[i] = v + s*s
	}
	return tensor.FromF32(shape, out)
}

func foldInput(batch int) *tensor.Dense {
	x := tensor.New(tensor.Float32, batch, 4)
	for i := range x.F32 {
		x.F32[i] = float32(i) - 3.5
	}
	return x
}

// TestFoldSemantics runs foldModel in sequence, each run supplying or
// requesting something that folded or memoized values depend on, and
// checks every result against the computation by hand: folding and
// memos must never change what a run returns.
func TestFoldSemantics(t *testing.T) {
	p, err := Compile(foldModel(t))
	if err != nil {
		t.Fatal(err)
	}
	if f, m := p.FoldedNodes(); f != 3 || m != 4 {
		t.Fatalf("folded %d nodes and memoized %d, want 3 (Constant, Add, Mul) and 4 (Shape, Gather, Unsqueeze, Concat)", f, m)
	}
	w := []float32{10, 20, 30, 40}
	w2 := []float32{-1, 0, 1, 2}
	runs := []struct {
		name     string
		batch    int
		supply   map[string]*tensor.Dense
		shape    []int     // z's shape; nil: batch, 2, 2
		w        []float32 // the w z is computed from
		memoized int       // steps taken from memos
	}{
		{name: "first", batch: 2, w: w},
		{name: "same shape", batch: 2, w: w, memoized: 4},
		// A new shape runs the chain again, and so does the old one (the
		// memo holds one entry).
		{name: "new batch", batch: 3, w: w},
		{name: "back", batch: 2, w: w},
		{name: "again", batch: 2, w: w, memoized: 4},
		{name: "supplied initializer", batch: 2, w: w2, supply: map[string]*tensor.Dense{"w": tensor.FromF32([]int{4}, w2)}, memoized: 4},
		{name: "initializer restored", batch: 2, w: w, memoized: 4},
		{name: "supplied folded value", batch: 2, w: w2, supply: map[string]*tensor.Dense{"s": tensor.FromF32([]int{4}, []float32{0, 2, 4, 6})}, memoized: 4},
		{name: "supplied shape value", batch: 2, w: w, shape: []int{2, 4}, supply: map[string]*tensor.Dense{"tgt": tensor.FromI64([]int{2}, []int64{-1, 4})}},
		{name: "shape value restored", batch: 2, w: w, memoized: 4},
		{name: "supplied memo source", batch: 2, w: w, shape: []int{1, 2, 4}, supply: map[string]*tensor.Dense{"b": tensor.FromI64([]int{}, []int64{1}), "rest": tensor.FromI64([]int{2}, []int64{2, 4})}},
		{name: "memo source restored", batch: 2, w: w, memoized: 4},
	}
	for _, r := range runs {
		in := map[string]*tensor.Dense{"x": foldInput(r.batch)}
		for k, v := range r.supply {
			in[k] = v
		}
		var stats RunStats
		out, err := p.Run(in, RunOptions{Stats: &stats})
		if err != nil {
			t.Fatalf("%s: %v", r.name, err)
		}
		if want := foldWant(in["x"], r.w, r.shape); !tensor.Equal(out["z"], want) {
			t.Errorf("%s: z = %v %v, want %v %v", r.name, out["z"].Shape, out["z"].F32, want.Shape, want.F32)
		}
		if stats.Memoized != r.memoized {
			t.Errorf("%s: %d steps from memos, want %d", r.name, stats.Memoized, r.memoized)
		}
	}
}

// TestFoldOutputs requests folded and memoized values: the caller gets
// copies it may change without changing later runs.
func TestFoldOutputs(t *testing.T) {
	p, err := Compile(foldModel(t))
	if err != nil {
		t.Fatal(err)
	}
	x := foldInput(2)
	for range 3 {
		out, err := p.Run(map[string]*tensor.Dense{"x": x}, RunOptions{Outputs: []string{"t", "tgt", "z", "c"}})
		if err != nil {
			t.Fatal(err)
		}
		if got := out["t"].F32; !slices.Equal(got, []float32{121, 484, 1089, 1936}) {
			t.Fatalf("t = %v", got)
		}
		if got := out["tgt"].I64; !slices.Equal(got, []int64{2, 2, 2}) {
			t.Fatalf("tgt = %v", got)
		}
		if !tensor.Equal(out["z"], foldWant(x, []float32{10, 20, 30, 40}, nil)) {
			t.Fatalf("z = %v", out["z"].F32)
		}
		out["t"].F32[0], out["tgt"].I64[0], out["c"].F32[0] = -1, 7, -1
		tensor.Recycle(out["t"])
	}
	all, err := p.Run(map[string]*tensor.Dense{"x": x}, RunOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"c", "s", "t", "sh", "b", "bu", "tgt", "y", "z"} {
		if all[name] == nil {
			t.Errorf("All: %s missing", name)
		}
	}
}

// TestFoldOverridable: an initializer that is also a graph input is the
// caller's to replace, so nothing folds from it.
func TestFoldOverridable(t *testing.T) {
	m := foldModel(t)
	g := m.Graph
	w, err := g.Resolve("w")
	if err != nil {
		t.Fatal(err)
	}
	g.Inputs = append(g.Inputs, w)
	p, err := Compile(m)
	if err != nil {
		t.Fatal(err)
	}
	if f, _ := p.FoldedNodes(); f != 1 {
		t.Errorf("folded %d nodes, want 1 (the Constant)", f)
	}
	x := foldInput(2)
	for _, wv := range [][]float32{{10, 20, 30, 40}, {-1, 0, 1, 2}} {
		in := map[string]*tensor.Dense{"x": x, "w": tensor.FromF32([]int{4}, wv)}
		out, err := p.Run(in, RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !tensor.Equal(out["z"], foldWant(x, wv, nil)) {
			t.Errorf("w %v: z = %v", wv, out["z"].F32)
		}
	}
}

// TestFoldModels runs models with folded and memoized nodes with and
// without them, twice (the second run takes the memos): outputs and every
// hidden value must be bit-identical.
func TestFoldModels(t *testing.T) {
	type model struct {
		name string
		m    *onnx.Model
		in   map[string]*tensor.Dense
	}
	var models []model
	for _, name := range fixtures.Names() {
		_, m, in := loadFixture(t, name)
		models = append(models, model{name, m, in})
	}
	for _, name := range []string{"quant/qop.onnx", "fmnist/a.onnx"} {
		m, err := onnx.Load(filepath.Join(fixtures.Dir(), name))
		if err != nil {
			t.Fatal(err)
		}
		in := map[string]*tensor.Dense{}
		for _, v := range m.Graph.Inputs {
			shape := make([]int, len(v.Type.Dims))
			for i, d := range v.Type.Dims {
				shape[i] = int(d.Value)
				if !d.Known() {
					shape[i] = 2
				}
			}
			in[v.Name] = tensor.New(tensor.Float32, shape...)
			for i := range in[v.Name].F32 {
				in[v.Name].F32[i] = float32(i%17)/8 - 1
			}
		}
		models = append(models, model{name, m, in})
	}
	for _, c := range models {
		t.Run(c.name, func(t *testing.T) {
			folded, err := Compile(c.m)
			if err != nil {
				t.Fatal(err)
			}
			plain, err := CompileWith(c.m, Options{noFold: true})
			if err != nil {
				t.Fatal(err)
			}
			f, memo := folded.FoldedNodes()
			t.Logf("%d nodes folded, %d memoized", f, memo)
			want, err := plain.Run(c.in, RunOptions{All: true})
			if err != nil {
				t.Fatal(err)
			}
			for run := range 2 {
				got, err := folded.Run(c.in, RunOptions{All: true})
				if err != nil {
					t.Fatal(err)
				}
				for name, d := range want {
					if !tensor.Equal(got[name], d) {
						t.Errorf("run %d: %s differs", run, name)
					}
				}
				out, err := folded.Run(c.in, RunOptions{})
				if err != nil {
					t.Fatal(err)
				}
				for name, d := range out {
					if !tensor.Equal(d, want[name]) {
						t.Errorf("run %d: output %s differs", run, name)
					}
				}
			}
		})
	}
}
