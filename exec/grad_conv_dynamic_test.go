package exec

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// TestConvGradDynamicSize differentiates Convs whose input height and
// width are symbolic (a fully convolutional export with dynamic H and W)
// and compares with the same model declared with static sizes, whose rule
// is checked against finite differences elsewhere. Odd sizes with stride
// 2 leave rows no window reaches, which the dynamic rule pads back.
func TestConvGradDynamicSize(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 9))
	randn := func(shape ...int) *tensor.Dense {
		d := tensor.New(tensor.Float32, shape...)
		for i := range d.F32 {
			d.F32[i] = float32(r.NormFloat64())
		}
		return d
	}
	w1, w2 := randn(4, 3, 3, 3), randn(5, 4, 2, 2)
	build := func(in onnx.Type) *onnx.Model {
		g := onnx.NewGraph("fcn")
		x, err := g.AddInput("x", in)
		if err != nil {
			t.Fatal(err)
		}
		h := g.AddNode("Conv", "", "c1", []*onnx.Value{x, g.AddConst("w1", w1)}, []string{"h"},
			onnx.IntsAttr("strides", 2, 2), onnx.IntsAttr("pads", 1, 0, 1, 1)).Outputs[0]
		h = g.AddNode("Relu", "", "r", []*onnx.Value{h}, []string{"hr"}).Outputs[0]
		y := g.AddNode("Conv", "", "c2", []*onnx.Value{h, g.AddConst("w2", w2)}, []string{"y"},
			onnx.IntsAttr("strides", 1, 3), onnx.IntsAttr("dilations", 2, 1)).Outputs[0]
		g.Outputs = append(g.Outputs, y)
		return onnx.NewModel(g, 17)
	}
	dynamic := onnx.Type{DType: tensor.Float32, HasShape: true, Dims: []onnx.Dim{{Value: -1, Param: "n"}, {Value: 3}, {Value: -1, Param: "h"}, {Value: -1, Param: "w"}}}
	for _, size := range [][2]int{{9, 10}, {12, 13}} {
		t.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(t *testing.T) {
			x := randn(2, 3, size[0], size[1])
			run := func(m *onnx.Model) map[string]*tensor.Dense {
				g, err := Gradient(m, nil, []string{"x", "w1", "w2"})
				if err != nil {
					t.Fatal(err)
				}
				p, err := Compile(g.Model)
				if err != nil {
					t.Fatal(err)
				}
				fwd, err := p.Run(map[string]*tensor.Dense{"x": x}, RunOptions{Outputs: []string{"y"}})
				if err != nil {
					t.Fatal(err)
				}
				seed := randn(fwd["y"].Shape...)
				out, err := p.Run(map[string]*tensor.Dense{"x": x, g.Seeds[0]: seed}, RunOptions{})
				if err != nil {
					t.Fatal(err)
				}
				res := map[string]*tensor.Dense{}
				for i, name := range g.Grads {
					res[g.Wrt[i]] = out[name]
				}
				return res
			}
			r = rand.New(rand.NewPCG(uint64(size[0]), 1)) // the same seed for both runs
			got := run(build(dynamic))
			r = rand.New(rand.NewPCG(uint64(size[0]), 1))
			want := run(build(onnx.ShapeOf(tensor.Float32, x.Shape...)))
			for _, name := range []string{"x", "w1", "w2"} {
				g, w := got[name], want[name]
				if g == nil || !tensor.SameShape(g.Shape, w.Shape) {
					t.Fatalf("%s: gradient %v, want shape %v", name, g, w.Shape)
				}
				for i := range w.F32 {
					if math.Abs(float64(g.F32[i]-w.F32[i])) > 1e-5*(1+math.Abs(float64(w.F32[i]))) {
						t.Fatalf("%s element %d: %v, static-size rule %v", name, i, g.F32[i], w.F32[i])
					}
				}
			}
		})
	}
}
