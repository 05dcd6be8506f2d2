package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMergeCLI merges the two Fashion-MNIST models into an ensemble, and
// checks what the command says, what inspect shows of the result, and the
// usage errors.
func TestMergeCLI(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join("..", "..", "fixtures", "fmnist", "a.onnx")
	b := filepath.Join("..", "..", "fixtures", "fmnist", "b.onnx")
	out := filepath.Join(dir, "ens.onnx")
	code, stdout, stderr := graft("merge", a, b, "--names", "left,right", "--shared-input", "--mean-output", "-o", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"left: ", "right: ", "merged 2 models at opset 13", "input  input float32[batch,1,28,28]",
		"output logits float32[batch,10]", "output left/logits", "output right/logits"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("merge output lacks %q:\n%s", want, stdout)
		}
	}
	code, stdout, stderr = graft("inspect", out)
	if code != 0 {
		t.Fatalf("inspect: exit %d: %s", code, stderr)
	}
	for _, want := range []string{"left.conv1", "right.fc2", "Mean 1"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("inspect lacks %q:\n%s", want, stdout)
		}
	}

	self := filepath.Join(dir, "self.onnx")
	if code, stdout, stderr = graft("merge", a, a, "-o", self); code != 0 {
		t.Fatalf("a+a: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "10 shared") {
		t.Errorf("a+a shares no weights:\n%s", stdout)
	}
	sa, _ := os.Stat(a)
	ss, _ := os.Stat(self)
	if float64(ss.Size()) > 1.02*float64(sa.Size()) {
		t.Errorf("a+a is %d bytes, a %d", ss.Size(), sa.Size())
	}

	code, stdout, _ = graft("merge", "--help")
	if code != 0 || !strings.Contains(stdout, "$ graft merge") {
		t.Errorf("merge --help: exit %d, no example", code)
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"merge", a, "-o", out}, 2, "at least two models"},
		{[]string{"merge", a, b, "--names", "x", "-o", out}, 2, "1 names for 2 models"},
		{[]string{"merge", a, b, "--names", "x,x", "-o", out}, 1, `"x" given twice`},
		{[]string{"merge", a, filepath.Join("..", "..", "fixtures", "mlp", "model.onnx"), "--shared-input", "-o", out}, 1, "ranks 4 and 2"},
	} {
		code, _, stderr := graft(c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("graft %v: exit %d, stderr %q; want exit %d mentioning %q", c.args, code, stderr, c.code, c.want)
		}
	}
}
