package surgery

import (
	"github.com/graft-ml/graft/fixtures"
	"strings"
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// TestStitchSelf stitches a model with itself at one layer through the
// identity: the result must compute what the model computes.
func TestStitchSelf(t *testing.T) {
	for _, c := range []struct{ fixture, layer string }{
		{"resnet_small", "layer1"},
		{"mobilenet_small", "features.2"},
		{"mlp", "relu1"},
	} {
		t.Run(c.fixture, func(t *testing.T) {
			fx, a, x := load(t, c.fixture)
			_, b, _ := load(t, c.fixture)
			want, err := tensor.LoadNPY(fx.Path(fx.Outputs[0].File))
			if err != nil {
				t.Fatal(err)
			}
			r, err := Stitch(a, c.layer, b, c.layer, nil)
			if err != nil {
				t.Fatal(err)
			}
			if r.AType != r.BType {
				t.Errorf("joint types %s and %s", r.AType, r.BType)
			}
			in := fx.Inputs[0].Name
			if d := maxDiff(runOne(t, a, map[string]*tensor.Dense{in: x}), want); d > tol {
				t.Errorf("graft: stitched output differs from PyTorch by %.3g", d)
			}
			if d := maxDiff(fixtures.ORTOutput(t, a, in, x), want); d > tol {
				t.Errorf("onnxruntime: stitched output differs from PyTorch by %.3g", d)
			}
			if got := a.Graph.Outputs[0].Name; got != fx.Outputs[0].Name {
				t.Errorf("output named %q, want B's name %q", got, fx.Outputs[0].Name)
			}
		})
	}
}

// TestStitchDifferentModels joins a residual CNN (opset 11) and a
// BatchNorm CNN (opset 13) where both have 8×8×8 activations: the opsets
// are reconciled and the result runs in ONNX Runtime as graft runs it.
func TestStitchDifferentModels(t *testing.T) {
	fx, a, x := load(t, "resnet_small")
	_, b, _ := load(t, "cnn_bn")
	r, err := Stitch(a, "maxpool", b, "pool1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Opset != 13 || a.Opset("") != 13 {
		t.Errorf("opset %d (model %d), want 13", r.Opset, a.Opset(""))
	}
	if _, err := a.Graph.Resolve("B.conv2"); err != nil {
		t.Errorf("B's module paths: %v", err)
	}
	in := fx.Inputs[0].Name
	got := runOne(t, a, map[string]*tensor.Dense{in: x})
	if got.Shape[1] != 10 {
		t.Fatalf("output shape %v", got.Shape)
	}
	if d := maxDiff(fixtures.ORTOutput(t, a, in, x), got); d > tol {
		t.Errorf("onnxruntime and graft differ by %.3g on the stitched model", d)
	}
}

// TestStitchAdapter puts a hand-built 1x1 Conv between layers whose
// channel counts differ, and checks the mismatch error without it.
func TestStitchAdapter(t *testing.T) {
	_, a, _ := load(t, "resnet_small")
	_, b, _ := load(t, "cnn_bn")
	_, err := Stitch(a, "layer1", b, "relu2", nil)
	if err == nil || !strings.Contains(err.Error(), "channels differ") || !strings.Contains(err.Error(), "from 8 to 16") {
		t.Fatalf("want a channel mismatch naming 8 → 16, got %v", err)
	}

	fx, a, x := load(t, "resnet_small")
	_, b, _ = load(t, "cnn_bn")
	adapter := conv1x1Model(t, 8, 16)
	if _, err := Stitch(a, "layer1", b, "relu2", adapter); err != nil {
		t.Fatal(err)
	}
	in := fx.Inputs[0].Name
	got := runOne(t, a, map[string]*tensor.Dense{in: x})
	if d := maxDiff(fixtures.ORTOutput(t, a, in, x), got); d > tol {
		t.Errorf("onnxruntime and graft differ by %.3g on the adapted model", d)
	}
}

// conv1x1Model builds a one-node model: a 1x1 Conv from cin to cout
// channels on a symbolic batch of 8×8 maps, with fixed pseudo-random
// weights.
func conv1x1Model(t *testing.T, cin, cout int) *onnx.Model {
	t.Helper()
	g := onnx.NewGraph("adapter")
	typ := onnx.Type{DType: tensor.Float32, HasShape: true, Dims: []onnx.Dim{{Param: "batch"}, {Value: int64(cin)}, {Value: 8}, {Value: 8}}}
	x, err := g.AddInput("x", typ)
	if err != nil {
		t.Fatal(err)
	}
	w := tensor.New(tensor.Float32, cout, cin, 1, 1)
	for i := range w.F32 {
		w.F32[i] = float32((i*37)%11-5) / 10
	}
	n := g.AddNode("Conv", "", "adapter", []*onnx.Value{x, g.AddConst("w", w)}, []string{"y"})
	g.Outputs = []*onnx.Value{n.Outputs[0]}
	return onnx.NewModel(g, 13)
}

func TestStitchErrors(t *testing.T) {
	_, a, _ := load(t, "resnet_small")
	_, b, _ := load(t, "resnet_small")
	if _, err := Stitch(a, "layer1", b, "layer9", nil); err == nil || !strings.Contains(err.Error(), "layer") {
		t.Errorf("unknown layer: got %v", err)
	}
	_, a, _ = load(t, "resnet_small")
	_, b, _ = load(t, "resnet_small")
	if _, err := Stitch(a, "layer1", b, "layer2", nil); err == nil || !strings.Contains(err.Error(), "differ") {
		t.Errorf("shape mismatch: got %v", err)
	}
	// The transformer's attention output is added to the block's input, so
	// B from there still needs its own input.
	_, a, _ = load(t, "transformer")
	_, b, _ = load(t, "transformer")
	if _, err := Stitch(a, "attn", b, "attn", nil); err == nil || !strings.Contains(err.Error(), "still reads") {
		t.Errorf("residual cut: got %v", err)
	}
	_, a, _ = load(t, "mlp")
	_, b, _ = load(t, "mlp")
	b.Opsets[0].Version = 9
	if _, err := Stitch(a, "relu1", b, "relu1", nil); err == nil || !strings.Contains(err.Error(), "opsets cannot be reconciled") {
		t.Errorf("old opset: got %v", err)
	}
}

// TestUpgradeSoftmax checks that an opset-11 Softmax over a non-last axis
// keeps its meaning at opset 13.
func TestUpgradeSoftmax(t *testing.T) {
	g := onnx.NewGraph("softmax")
	typ := onnx.ShapeOf(tensor.Float32, 2, 3, 4)
	x, _ := g.AddInput("x", typ)
	n := g.AddNode("Softmax", "", "sm", []*onnx.Value{x}, []string{"y"}, onnx.IntAttr("axis", 1))
	g.Outputs = []*onnx.Value{n.Outputs[0]}
	m := onnx.NewModel(g, 11)
	in := tensor.New(tensor.Float32, 2, 3, 4)
	for i := range in.F32 {
		in.F32[i] = float32(i%7) / 3
	}
	before := runOne(t, m, map[string]*tensor.Dense{"x": in})
	if err := Upgrade(m, 13); err != nil {
		t.Fatal(err)
	}
	if err := finish(m); err != nil {
		t.Fatal(err)
	}
	after := runOne(t, m, map[string]*tensor.Dense{"x": in})
	if d := maxDiff(before, after); d > 1e-6 {
		t.Errorf("upgraded softmax differs by %.3g", d)
	}
	if d := maxDiff(fixtures.ORTOutput(t, m, "x", in), before); d > 1e-6 {
		t.Errorf("onnxruntime: upgraded softmax differs by %.3g", d)
	}
}
