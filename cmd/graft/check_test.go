package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/surgery"
	"github.com/graft-ml/graft/tensor"
)

// TestCheckNewerOpset: `graft check` warns, naming both opsets, about a
// model importing a default-domain opset newer than surgery.MaxKnownOpset,
// and still exits 0; at or below it there is no warning.
func TestCheckNewerOpset(t *testing.T) {
	for _, opset := range []int64{13, surgery.MaxKnownOpset, surgery.MaxKnownOpset + 1, 99} {
		t.Run(fmt.Sprint("opset", opset), func(t *testing.T) {
			g := onnx.NewGraph("g")
			x, err := g.AddInput("x", onnx.ShapeOf(tensor.Float32, 2, 3))
			if err != nil {
				t.Fatal(err)
			}
			y := g.AddNode("Relu", "", "relu", []*onnx.Value{x}, []string{"y"}).Outputs[0]
			y.Type = x.Type
			g.Outputs = []*onnx.Value{y}
			path := filepath.Join(t.TempDir(), "m.onnx")
			if err := onnx.NewModel(g, opset).Save(path); err != nil {
				t.Fatal(err)
			}
			code, stdout, stderr := graft("check", path)
			if code != 0 {
				t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
			}
			warned := strings.Contains(stdout, "warning")
			if want := opset > surgery.MaxKnownOpset; warned != want {
				t.Fatalf("warning printed: %v, want %v; stdout %q", warned, want, stdout)
			}
			if warned && (!strings.Contains(stdout, fmt.Sprintf("opset %d", opset)) || !strings.Contains(stdout, fmt.Sprint(surgery.MaxKnownOpset))) {
				t.Errorf("the warning does not name opsets %d and %d: %q", opset, surgery.MaxKnownOpset, stdout)
			}
		})
	}
}

// TestCheckUnsupportedVariant: a node of a known op in a form graft does
// not run (here a Cast to complex64) is reported as unrunnable with exit 3,
// like an unknown op, and not as an invalid graph (exit 1).
func TestCheckUnsupportedVariant(t *testing.T) {
	g := onnx.NewGraph("g")
	x, err := g.AddInput("x", onnx.ShapeOf(tensor.Float32, 2))
	if err != nil {
		t.Fatal(err)
	}
	const complex64 = 14 // onnx.proto's COMPLEX64, which graft does not hold
	y := g.AddNode("Cast", "", "to_complex", []*onnx.Value{x}, []string{"y"}, onnx.IntAttr("to", complex64)).Outputs[0]
	y.Type = onnx.ShapeOf(tensor.Float32, 2)
	g.Outputs = []*onnx.Value{y}
	path := filepath.Join(t.TempDir(), "m.onnx")
	if err := onnx.NewModel(g, 13).Save(path); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := graft("check", path)
	if code != exitUnsupported || !strings.Contains(stdout, "runnable  no") || !strings.Contains(stdout, "to_complex") {
		t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d naming node to_complex", code, stdout, stderr, exitUnsupported)
	}
}
