package exec

import (
	"math"
	"slices"
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// layerNormModel writes out a layer normalization over the last axis of
// x the way PyTorch exports nn.LayerNorm below opset 17 (square by Pow or
// Mul, scale and bias each optional), followed by a Relu so that the
// normalization's output is not itself a graph output.
func layerNormModel(square string, scale, bias bool, x *tensor.Dense) *onnx.Model {
	g := onnx.NewGraph("g")
	in, _ := g.AddInput("x", onnx.ShapeOf(tensor.Float32, x.Shape...))
	n := x.Shape[len(x.Shape)-1]
	axes := onnx.IntsAttr("axes", -1)
	mu := g.AddNode("ReduceMean", "", "mean", []*onnx.Value{in}, []string{"mu"}, axes).Outputs[0]
	d := g.AddNode("Sub", "", "sub", []*onnx.Value{in, mu}, []string{"d"}).Outputs[0]
	var sq *onnx.Value
	if square == "Pow" {
		sq = g.AddNode("Pow", "", "pow", []*onnx.Value{d, g.AddConst("two", tensor.FromF32(nil, []float32{2}))}, []string{"sq"}).Outputs[0]
	} else {
		sq = g.AddNode("Mul", "", "sq", []*onnx.Value{d, d}, []string{"sq"}).Outputs[0]
	}
	v := g.AddNode("ReduceMean", "", "var", []*onnx.Value{sq}, []string{"v"}, axes).Outputs[0]
	e := g.AddNode("Add", "", "eps", []*onnx.Value{g.AddConst("epsilon", tensor.FromF32(nil, []float32{1e-5})), v}, []string{"e"}).Outputs[0]
	s := g.AddNode("Sqrt", "", "sqrt", []*onnx.Value{e}, []string{"s"}).Outputs[0]
	y := g.AddNode("Div", "", "div", []*onnx.Value{d, s}, []string{"n"}).Outputs[0]
	vec := func(name string, f func(i int) float32) *onnx.Value {
		t := tensor.New(tensor.Float32, n)
		for i := range t.F32 {
			t.F32[i] = f(i)
		}
		return g.AddConst(name, t)
	}
	if scale {
		y = g.AddNode("Mul", "", "scale", []*onnx.Value{y, vec("gamma", func(i int) float32 { return 0.5 + float32(i%7)/5 })}, []string{"m"}).Outputs[0]
	}
	if bias {
		y = g.AddNode("Add", "", "bias", []*onnx.Value{vec("beta", func(i int) float32 { return float32(i%5)/4 - 0.5 }), y}, []string{"b"}).Outputs[0]
	}
	z := g.AddNode("Relu", "", "relu", []*onnx.Value{y}, []string{"z"}).Outputs[0]
	g.Outputs = append(g.Outputs, z)
	return onnx.NewModel(g, 13)
}

// TestFusedLayerNorm checks that a written-out layer normalization is
// found at Compile and computed as one kernel: within 2e-6 (float32
// rounding of values of order 1, the fused and written-out steps
// rounding differently) of a float64 layer normalization, and of the
// unfused chain, which a run requesting one of its inner values takes
// (returning that value too).
func TestFusedLayerNorm(t *testing.T) {
	x := tensor.New(tensor.Float32, 3, 4, 37)
	for i := range x.F32 {
		x.F32[i] = float32(math.Sin(float64(i)*0.37)*3 + float64(i%11))
	}
	for _, square := range []string{"Pow", "Mul"} {
		for _, affine := range [][2]bool{{true, true}, {true, false}, {false, true}, {false, false}} {
			name := square
			if affine[0] {
				name += "/scale"
			}
			if affine[1] {
				name += "/bias"
			}
			t.Run(name, func(t *testing.T) {
				m := layerNormModel(square, affine[0], affine[1], x)
				p, err := Compile(m)
				if err != nil {
					t.Fatal(err)
				}
				if len(p.qdq) != 1 || p.qdq[0].node.OpType != "LayerNormalization" {
					t.Fatalf("the written-out layer normalization was not planned as fused (%d chains)", len(p.qdq))
				}
				in := map[string]*tensor.Dense{"x": x}
				var prof Profile
				fused, err := p.Run(in, RunOptions{Profile: &prof})
				if err != nil {
					t.Fatal(err)
				}
				var ran []string
				for _, s := range prof.Nodes() {
					ran = append(ran, s.Op)
				}
				slices.Sort(ran)
				if !slices.Equal(ran, []string{"LayerNormalization", "Relu"}) {
					t.Fatalf("kernels run: %v, want LayerNormalization and Relu", ran)
				}
				plain, err := p.Run(in, RunOptions{Outputs: []string{"z", "d"}})
				if err != nil {
					t.Fatal(err)
				}
				if plain["d"] == nil {
					t.Fatal("the inner value d was not returned")
				}
				want := layerNormRef(x, affine[0], affine[1])
				for i, w := range want {
					for name, got := range map[string]float32{"fused": fused["z"].F32[i], "unfused": plain["z"].F32[i]} {
						if d := math.Abs(float64(got) - w); d > 2e-6*(1+math.Abs(w)) {
							t.Fatalf("%s element %d = %v, want %v", name, i, got, w)
						}
					}
				}
			})
		}
	}
}

// layerNormRef is layerNormModel's output in float64.
func layerNormRef(x *tensor.Dense, scale, bias bool) []float64 {
	n := x.Shape[len(x.Shape)-1]
	out := make([]float64, x.Len())
	for r := 0; r < x.Len(); r += n {
		row := x.F32[r : r+n]
		var mu, v float64
		for _, a := range row {
			mu += float64(a)
		}
		mu /= float64(n)
		for _, a := range row {
			v += (float64(a) - mu) * (float64(a) - mu)
		}
		v /= float64(n)
		for i, a := range row {
			y := (float64(a) - mu) / math.Sqrt(v+float64(float32(1e-5)))
			if scale {
				y *= float64(0.5 + float32(i%7)/5)
			}
			if bias {
				y += float64(float32(i%5)/4 - 0.5)
			}
			out[r+i] = math.Max(y, 0)
		}
	}
	return out
}
