package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// graft runs the CLI in-process and returns exit code, stdout and stderr.
func graft(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(append([]string{"graft"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func fixture(t *testing.T, name string) *fixtures.Manifest {
	t.Helper()
	fx, err := fixtures.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	return fx
}

func TestUsageAndErrors(t *testing.T) {
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"inspect"}, 2, "takes one model argument"},
		{[]string{"inspect", "/nonexistent.onnx"}, 1, "no such file"},
		{[]string{"nosuchcommand"}, 2, ""},
		{[]string{"convert", "a.onnx"}, 2, "convert takes"},
		{[]string{"run", "x.onnx"}, 2, "Required flag"},
		{[]string{"bench", "--iters", "0", "x.onnx"}, 2, "at least 1"},
	}
	for _, c := range cases {
		code, _, stderr := graft(c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("graft %v: exit %d, stderr %q; want exit %d mentioning %q", c.args, code, stderr, c.code, c.want)
		}
	}
}

func TestHelpHasExamples(t *testing.T) {
	for _, cmd := range []string{"inspect", "check", "convert", "run", "bench", "truncate", "extract", "fold", "stitch",
		"replace", "prune", "mix", "eval", "similarity", "lowrank", "ntk", "runs"} {
		code, out, _ := graft(cmd, "--help")
		if code != 0 || !strings.Contains(out, "$ graft "+cmd) {
			t.Errorf("graft %s --help: exit %d, no example in %q", cmd, code, out)
		}
	}
}

func TestInspectFixture(t *testing.T) {
	fx := fixture(t, "resnet_small")
	code, out, stderr := graft("inspect", fx.Model())
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"input     input float32[batch,3,16,16]", "layer1.0.conv1", "Conv 8", "params"} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, out)
		}
	}
}

// TestInspectResNet18 is the acceptance check: on a torchvision
// ResNet-18 export every value gets a shape, and module paths appear.
func TestInspectResNet18(t *testing.T) {
	path, err := fixtures.Big("resnet18")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	code, out, stderr := graft("inspect", "--json", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var r inspectReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	modules := map[string]bool{}
	for _, n := range r.Nodes {
		modules[n.Module] = true
		for _, o := range n.Outputs {
			if strings.Contains(o.Shape, "?") || o.DType == "?" {
				t.Errorf("node %s output %s has no full type: %s%s", n.Name, o.Name, o.DType, o.Shape)
			}
		}
	}
	for _, m := range []string{"layer1.0.conv1", "layer4.1.conv2", "layer2.0.downsample.0", "fc"} {
		if !modules[m] {
			t.Errorf("module %s not shown", m)
		}
	}
	if r.Parameters < 11_000_000 {
		t.Errorf("parameter count %d, ResNet-18 has about 11.7M", r.Parameters)
	}
}

func TestConvertRoundTrip(t *testing.T) {
	fx := fixture(t, "cnn_bn")
	dir := t.TempDir()
	out := filepath.Join(dir, "split.onnx")
	code, _, stderr := graft("convert", "--external-data", "w.bin", "--threshold", "64", fx.Model(), out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "w.bin")); err != nil {
		t.Fatal("no external data file written")
	}
	back := filepath.Join(dir, "back.onnx")
	if code, _, stderr := graft("convert", out, back); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	a, _ := onnx.Load(fx.Model())
	b, err := onnx.Load(back)
	if err != nil {
		t.Fatal(err)
	}
	ea, _ := a.Encode()
	eb, _ := b.Encode()
	if !bytes.Equal(ea, eb) {
		t.Error("inline → external → inline changed the model")
	}
}

func TestRunWritesHiddenValues(t *testing.T) {
	fx := fixture(t, "resnet_small")
	dir := t.TempDir()
	code, out, stderr := graft("run", fx.Model(), "--input", "input="+fx.Path("input.npy"), "--value", "layer1", "--value", "output", "-o", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, "layer1 (/layer1/layer1.1/relu_1/Relu_output_0)") {
		t.Errorf("mapping does not name the hidden value as asked and as resolved:\n%s", out)
	}
	got, err := tensor.LoadNPY(filepath.Join(dir, "layer1.npy"))
	if err != nil {
		t.Fatal(err)
	}
	if !tensor.SameShape(got.Shape, []int{2, 8, 8, 8}) {
		t.Errorf("hidden value shape %v", got.Shape)
	}
}

// TestRunWritesSequence asks for the hidden sequence of a scripted
// torch.split: it is written as an .npz of the pieces.
func TestRunWritesSequence(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(fixtures.Dir(), "control", "split_cat", "model.onnx")
	x := filepath.Join(fixtures.Dir(), "control", "split_cat", "input_0.npy")
	code, out, stderr := graft("run", model, "--input", "x="+x, "--value", "/SplitToSequence_output_0", "-o", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, "seq(float32)×3") {
		t.Errorf("listing does not show a sequence of 3 pieces:\n%s", out)
	}
	parts, err := tensor.LoadNPZ(filepath.Join(dir, "SplitToSequence_output_0.npz"))
	if err != nil {
		t.Fatal(err)
	}
	// Input 0 is 5×6, split in pieces of 2 rows: 2, 2 and 1.
	for i, rows := range []int{2, 2, 1} {
		p := parts[fmt.Sprintf("arr_%d", i)]
		if p == nil || !tensor.SameShape(p.Shape, []int{rows, 6}) {
			t.Errorf("arr_%d: %v, want [%d 6]", i, p, rows)
		}
	}
}

func TestBenchJSON(t *testing.T) {
	fx := fixture(t, "mlp")
	code, out, stderr := graft("bench", "--iters", "3", "--warmup", "1", "--batch", "4", "--json", fx.Model())
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if _, ok := r["median_ms"]; !ok {
		t.Errorf("no median_ms in %s", out)
	}
	if _, ok := r["min_ms"]; !ok {
		t.Errorf("no min_ms in %s", out)
	}
}
