package surgery

import (
	"math"
	"testing"

	"github.com/graft-ml/graft/fixtures"
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
