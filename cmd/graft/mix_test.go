package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// TestMixByMagnitude: graft mix --by magnitude writes NumPy's
// Σ Wᵢ·|Wᵢ| / Σ |Wᵢ| (gen_prune.py) bit for bit, and --by maav runs over
// --data; misuse is a usage error.
func TestMixByMagnitude(t *testing.T) {
	out := filepath.Join(t.TempDir(), "mix.onnx")
	models := []string{pruneFx("mix_0.onnx"), pruneFx("mix_1.onnx"), pruneFx("mix_2.onnx")}
	code, stdout, stderr := graft(append([]string{"mix"}, append(models, "--by", "magnitude", "-o", out)...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "8 by magnitude") {
		t.Errorf("report: %s", stdout)
	}
	m, err := onnx.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := tensor.LoadNPZ(pruneFx("mix_magnitude.npz"))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range ref {
		got, err := m.Graph.Value(name).Const.Dense()
		if err != nil {
			t.Fatal(err)
		}
		if !tensor.Equal(got, want) {
			t.Errorf("%s differs from NumPy's mix", name)
		}
	}
	maav := append([]string{"mix"}, append(models, "--by", "maav", "--data", pruneFx("input.npy"), "--batch", "8", "-o", out)...)
	if code, stdout, stderr := graft(maav...); code != 0 || !strings.Contains(stdout, "4 by maav") {
		t.Errorf("--by maav: exit %d, %s%s", code, stdout, stderr)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--by", "maav"}, "give --data"},
		{[]string{"--by", "l2"}, `--by "l2"`},
		{[]string{"--by", "magnitude", "--weights", "1,0,0"}, "drop --alpha"},
		{[]string{"--data", pruneFx("input.npy")}, "--by maav only"},
	} {
		args := append(append([]string{"mix"}, models...), append(c.args, "-o", out)...)
		if code, _, stderr := graft(args...); code != exitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("graft %v: exit %d, stderr %q; want a usage error mentioning %q", c.args, code, stderr, c.want)
		}
	}
}
