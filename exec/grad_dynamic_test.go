package exec

import (
	"math"
	"slices"
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// TestGradReduceMeanSymbolicBatch: the mean over a symbolic batch axis
// divides by the batch size of each run (Size(y)/Size(x)), so one
// gradient graph serves every batch size.
func TestGradReduceMeanSymbolicBatch(t *testing.T) {
	g := onnx.NewGraph("mean")
	x, err := g.AddInput("x", onnx.Type{DType: tensor.Float32, HasShape: true, Dims: []onnx.Dim{{Param: "batch"}, {Value: 3}}})
	if err != nil {
		t.Fatal(err)
	}
	y := g.AddNode("ReduceMean", "", "mean", []*onnx.Value{x}, []string{"y"}, onnx.IntsAttr("axes", 0), onnx.IntAttr("keepdims", 0)).Outputs[0]
	g.Outputs = []*onnx.Value{y}
	gr, err := Gradient(onnx.NewModel(g, 13), nil, []string{"x"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(gr.Model)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, 4, 7} {
		out, err := p.Run(map[string]*tensor.Dense{"x": tensor.New(tensor.Float32, n, 3), gr.Seeds[0]: tensor.FromF32([]int{3}, []float32{1, 2, 3})}, RunOptions{Outputs: gr.Grads})
		if err != nil {
			t.Fatal(err)
		}
		d := out[gr.Grads[0]]
		for i, v := range d.F32 {
			if want := float32(i%3+1) / float32(n); math.Abs(float64(v-want)) > 1e-7 {
				t.Fatalf("batch %d: dx[%d] = %v, want %v", n, i, v, want)
			}
		}
	}
}

// TestGradUnbroadcastUnknownDim: Add of two values whose first dim is
// unknown (not symbolic: each comes out of a Reshape to [-1, 3]), so only
// the run can tell whether b broadcasts. The gradient graph decides per
// run: b with one row gets dy summed over the rows, b with as many rows
// as a gets dy itself.
func TestGradUnbroadcastUnknownDim(t *testing.T) {
	g := onnx.NewGraph("add")
	a, err := g.AddInput("a", onnx.Type{DType: tensor.Float64, HasShape: true, Dims: []onnx.Dim{{Param: "n"}, {Value: 6}}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := g.AddInput("b", onnx.Type{DType: tensor.Float64, HasShape: true, Dims: []onnx.Dim{{Param: "m"}, {Value: 3}}})
	if err != nil {
		t.Fatal(err)
	}
	shape := g.AddConst("shape", tensor.FromI64([]int{2}, []int64{-1, 3}))
	ra := g.AddNode("Reshape", "", "ra", []*onnx.Value{a, shape}, []string{"ra"}).Outputs[0]
	rb := g.AddNode("Reshape", "", "rb", []*onnx.Value{b, shape}, []string{"rb"}).Outputs[0]
	y := g.AddNode("Add", "", "add", []*onnx.Value{ra, rb}, []string{"y"}).Outputs[0]
	g.Outputs = []*onnx.Value{y}
	gr, err := Gradient(onnx.NewModel(g, 13), nil, []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(gr.Model)
	if err != nil {
		t.Fatal(err)
	}
	dy := tensor.New(tensor.Float64, 4, 3)
	for i := range dy.F64 {
		dy.F64[i] = float64(i + 1)
	}
	for _, rows := range []int{1, 4} {
		out, err := p.Run(map[string]*tensor.Dense{"a": tensor.New(tensor.Float64, 2, 6), "b": tensor.New(tensor.Float64, rows, 3), gr.Seeds[0]: dy}, RunOptions{Outputs: gr.Grads})
		if err != nil {
			t.Fatalf("b with %d rows: %v", rows, err)
		}
		da, db := out[gr.Grads[0]], out[gr.Grads[1]]
		if !tensor.SameShape(da.Shape, []int{2, 6}) || !slices.Equal(da.F64, dy.F64) {
			t.Errorf("b with %d rows: da = %v %v, want dy as [2 6]", rows, da.Shape, da.F64)
		}
		want := dy.F64
		if rows == 1 {
			want = []float64{1 + 4 + 7 + 10, 2 + 5 + 8 + 11, 3 + 6 + 9 + 12}
		}
		if !tensor.SameShape(db.Shape, []int{rows, 3}) || !slices.Equal(db.F64, want) {
			t.Errorf("b with %d rows: db = %v %v, want %v", rows, db.Shape, db.F64, want)
		}
	}
}

// TestGradGlobalAveragePoolDynamicSize: with H and W symbolic the count
// is read at run time, so one gradient graph serves every image size.
func TestGradGlobalAveragePoolDynamicSize(t *testing.T) {
	g := onnx.NewGraph("gap")
	x, err := g.AddInput("x", onnx.Type{DType: tensor.Float32, HasShape: true, Dims: []onnx.Dim{{Param: "n"}, {Value: 2}, {Param: "h"}, {Param: "w"}}})
	if err != nil {
		t.Fatal(err)
	}
	y := g.AddNode("GlobalAveragePool", "", "gap", []*onnx.Value{x}, []string{"y"}).Outputs[0]
	g.Outputs = []*onnx.Value{y}
	gr, err := Gradient(onnx.NewModel(g, 13), nil, []string{"x"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(gr.Model)
	if err != nil {
		t.Fatal(err)
	}
	for _, hw := range [][2]int{{3, 5}, {4, 4}} {
		dy := tensor.FromF32([]int{1, 2, 1, 1}, []float32{3, -6})
		out, err := p.Run(map[string]*tensor.Dense{"x": tensor.New(tensor.Float32, 1, 2, hw[0], hw[1]), gr.Seeds[0]: dy}, RunOptions{Outputs: gr.Grads})
		if err != nil {
			t.Fatal(err)
		}
		d := out[gr.Grads[0]]
		n := hw[0] * hw[1]
		for i, v := range d.F32 {
			if want := dy.F32[i/n] / float32(n); math.Abs(float64(v-want)) > 1e-7 {
				t.Fatalf("%dx%d: dx[%d] = %v, want %v", hw[0], hw[1], i, v, want)
			}
		}
	}
}
