package exec

import (
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// TestInferStaticDimArithmetic: torchvision's Swin pads each window
// attention's input by (7 - H % 7) % 7 computed from x.shape. H is static
// while the batch is symbolic, so Gather(Shape(x), 1) is a number, and
// inference folds the Mod and Sub after it (ops with no symbolic rule)
// and gives Pad a known output shape. Before, the pads were unknown and
// so were the Pad's dims, all four of them.
func TestInferStaticDimArithmetic(t *testing.T) {
	g := onnx.NewGraph("pad_to_window")
	x, err := g.AddInput("x", onnx.Type{DType: tensor.Float32, HasShape: true, Dims: []onnx.Dim{{Param: "batch"}, {Value: 5}, {Value: 3}}})
	if err != nil {
		t.Fatal(err)
	}
	i64 := func(name string, v ...int64) *onnx.Value {
		return g.AddConst(name, tensor.FromI64([]int{len(v)}, v))
	}
	scalar := func(name string, v int64) *onnx.Value { return g.AddConst(name, tensor.FromI64(nil, []int64{v})) }
	node := func(op string, in ...*onnx.Value) *onnx.Value {
		return g.AddNode(op, "", op+"_"+in[0].Name, in, []string{op + "_" + in[0].Name + "_out"}).Outputs[0]
	}
	h := node("Gather", node("Shape", x), scalar("one", 1))
	win := scalar("win", 3)
	pad := node("Mod", node("Sub", win, node("Mod", h, win)), win) // (3 - 5 % 3) % 3 = 1
	pads := g.AddNode("Concat", "", "pads", []*onnx.Value{i64("zeros", 0, 0, 0, 0), node("Unsqueeze", pad, i64("axes", 0)), i64("zero", 0)}, []string{"pads"}, onnx.IntAttr("axis", 0)).Outputs[0]
	y := g.AddNode("Pad", "", "pad", []*onnx.Value{x, pads}, []string{"y"}).Outputs[0]
	g.Outputs = []*onnx.Value{y}
	m := onnx.NewModel(g, 13)
	if err := InferShapes(m); err != nil {
		t.Fatal(err)
	}
	if got := y.Type.ShapeString(); got != "[batch,6,3]" {
		t.Errorf("Pad's output inferred as %s, want [batch,6,3]", got)
	}
	p, err := Compile(m)
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Run(map[string]*tensor.Dense{"x": tensor.New(tensor.Float32, 2, 5, 3)}, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := out["y"].Shape; !tensor.SameShape(got, []int{2, 6, 3}) {
		t.Errorf("run gave %v, want [2 6 3]", got)
	}
}
