package surgery

import (
	"math"
	"slices"
	"strings"
	"testing"

	gexec "github.com/graft-ml/graft/exec"
	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// tol is the executor's bar against PyTorch (see exec's fixture test).
const tol = 1e-4

func load(t *testing.T, name string) (*fixtures.Manifest, *onnx.Model, *tensor.Dense) {
	t.Helper()
	fx, err := fixtures.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	m, err := onnx.Load(fx.Model())
	if err != nil {
		t.Fatal(err)
	}
	x, err := tensor.LoadNPY(fx.Path(fx.Inputs[0].File))
	if err != nil {
		t.Fatal(err)
	}
	return fx, m, x
}

func hidden(t *testing.T, fx *fixtures.Manifest, module string) *tensor.Dense {
	t.Helper()
	for _, h := range fx.Hidden {
		if h.Module == module {
			d, err := tensor.LoadNPY(fx.Path(h.File))
			if err != nil {
				t.Fatal(err)
			}
			return d
		}
	}
	t.Fatalf("fixture %s recorded no %s", fx.Name, module)
	return nil
}

func runOne(t *testing.T, m *onnx.Model, inputs map[string]*tensor.Dense) *tensor.Dense {
	t.Helper()
	p, err := gexec.Compile(m)
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Run(inputs, gexec.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return res[m.Graph.Outputs[0].Name]
}

func maxDiff(a, b *tensor.Dense) float64 {
	if !tensor.SameShape(a.Shape, b.Shape) {
		return math.Inf(1)
	}
	x, y := a.Float64s(), b.Float64s()
	worst := 0.0
	for i := range x {
		worst = math.Max(worst, math.Abs(x[i]-y[i]))
	}
	return worst
}

// TestTruncate cuts fixtures at hidden layers: graft and ONNX Runtime must
// both reproduce the activation PyTorch recorded there.
func TestTruncate(t *testing.T) {
	cases := []struct{ fixture, module string }{
		{"resnet_small", "layer1"},
		{"resnet_small", "layer2"},
		{"mobilenet_small", "features.2"},
		{"transformer", "attn"},
		{"mlp", "relu1"},
	}
	for _, c := range cases {
		t.Run(c.fixture+"/"+c.module, func(t *testing.T) {
			fx, m, x := load(t, c.fixture)
			want := hidden(t, fx, c.module)
			var at string
			for _, h := range fx.Hidden {
				if h.Module == c.module {
					at = h.Value
				}
			}
			if err := Truncate(m, c.module); err != nil {
				t.Fatal(err)
			}
			// The output is named as asked; its ONNX name is kept.
			if got := m.Graph.Outputs[0].Name; got != c.module {
				t.Errorf("output named %q, want %q", got, c.module)
			}
			if !slices.Contains(m.Metadata, onnx.KV{Key: "graft.output." + c.module, Value: at}) && at != c.module {
				t.Errorf("metadata %v lacks graft.output.%s = %q", m.Metadata, c.module, at)
			}
			in := fx.Inputs[0].Name
			if d := maxDiff(runOne(t, m, map[string]*tensor.Dense{in: x}), want); d > tol {
				t.Errorf("graft: truncated output differs from PyTorch by %.3g", d)
			}
			if d := maxDiff(fixtures.ORTOutput(t, m, in, x), want); d > tol {
				t.Errorf("onnxruntime: truncated output differs from PyTorch by %.3g", d)
			}
		})
	}
}

// TestExtractComposes checks extract(a → b) applied to the truncated-at-a
// output reproduces the truncated-at-b output.
func TestExtractComposes(t *testing.T) {
	fx, _, x := load(t, "resnet_small")
	in := fx.Inputs[0].Name
	cut := func(layer string) *tensor.Dense {
		_, m, _ := load(t, "resnet_small")
		if err := Truncate(m, layer); err != nil {
			t.Fatal(err)
		}
		return runOne(t, m, map[string]*tensor.Dense{in: x})
	}
	a, b := cut("layer1"), cut("layer2")
	_, m, _ := load(t, "resnet_small")
	extra, err := Extract(m, []string{"layer1"}, []string{"layer2"})
	if err != nil {
		t.Fatal(err)
	}
	if len(extra) != 0 || len(m.Graph.Inputs) != 1 {
		t.Fatalf("extracted model has inputs %v (extra %v)", m.Graph.Inputs, extra)
	}
	got := runOne(t, m, map[string]*tensor.Dense{m.Graph.Inputs[0].Name: a})
	if d := maxDiff(got, b); d > 1e-6 {
		t.Errorf("extract(layer1→layer2)(truncate@layer1) differs from truncate@layer2 by %.3g", d)
	}
	if typ := m.Graph.Inputs[0].Type.String(); typ != "float32[batch,8,8,8]" {
		t.Errorf("extracted input type %s, want float32[batch,8,8,8]", typ)
	}
	if d := maxDiff(fixtures.ORTOutput(t, m, m.Graph.Inputs[0].Name, a), b); d > tol {
		t.Errorf("onnxruntime: extracted model differs by %.3g", d)
	}
}

func TestUnknownLayer(t *testing.T) {
	_, m, _ := load(t, "resnet_small")
	err := Truncate(m, "layer1.0.conv3")
	if err == nil || !strings.Contains(err.Error(), "layer1.0.conv") {
		t.Fatalf("want an error suggesting nearby layers, got %v", err)
	}
}
