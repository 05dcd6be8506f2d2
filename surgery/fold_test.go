package surgery

import (
	"math"
	"testing"

	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// maxRelDiff is max |a−b| / max|b|: folding reassociates float32 products,
// so errors are judged relative to the output's scale.
func maxRelDiff(a, b *tensor.Dense) float64 {
	scale := 0.0
	for _, v := range b.Float64s() {
		scale = math.Max(scale, math.Abs(v))
	}
	return maxDiff(a, b) / math.Max(scale, 1e-12)
}

// TestFold folds every fixture: outputs stay within 1e-5 relative error in
// graft and in ONNX Runtime, and cnn_bn's BatchNorms disappear.
func TestFold(t *testing.T) {
	for _, name := range fixtures.Names() {
		t.Run(name, func(t *testing.T) {
			fx, m, x := load(t, name)
			in := fx.Inputs[0].Name
			before := runOne(t, m, map[string]*tensor.Dense{in: x})
			r, err := Fold(m)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range m.Graph.Nodes {
				switch n.OpType {
				case "BatchNormalization", "Identity", "Dropout":
					t.Errorf("%s survived folding", n)
				}
			}
			if name == "cnn_bn" && r.BatchNorms == 0 {
				t.Error("no BatchNorm folded")
			}
			after := runOne(t, m, map[string]*tensor.Dense{in: x})
			if d := maxRelDiff(after, before); d > 1e-5 {
				t.Errorf("folding changed outputs by %.3g relative", d)
			}
			if d := maxRelDiff(fixtures.ORTOutput(t, m, in, x), before); d > 1e-5 {
				t.Errorf("onnxruntime on the folded model differs by %.3g relative", d)
			}
			t.Logf("%+v", r)
		})
	}
}

// TestFoldDropoutModes: a Dropout with a training_mode input folds away
// when that input is a constant false or its ratio a constant 0, whether
// they are initializers or Constant nodes (torchvision's Swin exports its
// attention dropout as Constant ratio 0 with Constant training_mode
// true); one that may drop stays.
func TestFoldDropoutModes(t *testing.T) {
	scalar := func(f float32) *tensor.Dense { return tensor.FromF32(nil, []float32{f}) }
	flag := func(b bool) *tensor.Dense {
		d := tensor.New(tensor.Bool)
		if b {
			d.I64[0] = 1
		}
		return d
	}
	cases := []struct {
		name        string
		ratio, mode *tensor.Dense
		asNodes     bool // Constant nodes instead of initializers
		folds       bool
	}{
		{"ratio0_training_nodes", scalar(0), flag(true), true, true},
		{"ratio0_training_initializers", scalar(0), flag(true), false, true},
		{"inference_nodes", scalar(0.5), flag(false), true, true},
		{"training_nodes", scalar(0.5), flag(true), true, false},
		{"training_initializers", scalar(0.1), flag(true), false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := onnx.NewGraph(c.name)
			x, err := g.AddInput("x", onnx.ShapeOf(tensor.Float32, 2, 3))
			if err != nil {
				t.Fatal(err)
			}
			constant := func(name string, d *tensor.Dense) *onnx.Value {
				if !c.asNodes {
					return g.AddConst(name, d)
				}
				return g.AddNode("Constant", "", name, nil, []string{name}, onnx.TensorAttr("value", d)).Outputs[0]
			}
			drop := g.AddNode("Dropout", "", "drop", []*onnx.Value{x, constant("ratio", c.ratio), constant("mode", c.mode)}, []string{"d"})
			y := g.AddNode("Relu", "", "relu", []*onnx.Value{drop.Outputs[0]}, []string{"y"}).Outputs[0]
			g.Outputs = []*onnx.Value{y}
			m := onnx.NewModel(g, 13)
			r, err := Fold(m)
			if err != nil {
				t.Fatal(err)
			}
			left := 0
			for _, n := range m.Graph.Nodes {
				if n.OpType == "Dropout" {
					left++
				}
			}
			if folded := left == 0; folded != c.folds || r.Passthrough != 1-left {
				t.Errorf("Dropouts left %d, report %+v; want folded %v", left, r, c.folds)
			}
		})
	}
}
