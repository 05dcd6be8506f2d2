package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// TestCheckUnsupportedExitCode: a model with an op graft cannot run makes
// `graft check` exit 3, naming the op, the node and how many there are.
func TestCheckUnsupportedExitCode(t *testing.T) {
	g := onnx.NewGraph("g")
	x, err := g.AddInput("x", onnx.ShapeOf(tensor.Float32, 2))
	if err != nil {
		t.Fatal(err)
	}
	a := g.AddNode("NoSuchOp", "", "first_mystery", []*onnx.Value{x}, []string{"a"}).Outputs[0]
	y := g.AddNode("NoSuchOp", "", "second_mystery", []*onnx.Value{a}, []string{"y"}).Outputs[0]
	y.Type = x.Type
	g.Outputs = []*onnx.Value{y}
	path := filepath.Join(t.TempDir(), "m.onnx")
	if err := onnx.NewModel(g, 13).Save(path); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := graft("check", path)
	if code != exitUnsupported || !strings.Contains(stdout, `2 node(s) of op "NoSuchOp"`) || !strings.Contains(stdout, "first_mystery") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// TestPanicIsInternalError: a panic in a command is one line and exit 70.
func TestPanicIsInternalError(t *testing.T) {
	app := &cli.App{Name: "graft", Commands: []*cli.Command{{Name: "boom", Action: func(*cli.Context) error { panic("kernel invariant") }}}}
	var stderr bytes.Buffer
	code := exitCode(runApp(app, []string{"graft", "boom"}), &stderr)
	if code != exitInternal || !strings.Contains(stderr.String(), "internal error: kernel invariant") || strings.Contains(stderr.String(), "goroutine") {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
}
