package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// pruneFx returns a file of fixtures/prune (gen_prune.py).
func pruneFx(name string) string { return filepath.Join(fixtures.Dir(), "prune", name) }

// TestPruneSparseInitializers: prune --by maav writes, with
// --sparse-initializers, a smaller file whose weights load bit for bit as
// those of the same pruning written dense, with the pruned weights stored
// as sparse initializers.
func TestPruneSparseInitializers(t *testing.T) {
	dir := t.TempDir()
	dense, sparse := filepath.Join(dir, "dense.onnx"), filepath.Join(dir, "sparse.onnx")
	args := []string{"prune", pruneFx("model.onnx"), "--sparsity", "0.9", "--by", "maav", "--data", pruneFx("input.npy"), "--batch", "7", "--no-record"}
	code, out, stderr := graft(append(args, "-o", dense)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, "final layers left whole (--include-last prunes them): fc2") {
		t.Errorf("report: %s", out)
	}
	code, out, stderr = graft(append(args, "-o", sparse, "--sparse-initializers", "--max-density", "0.2")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	// conv1, conv2 and fc1 are 90 % zero; fc2 (final) and the biases are
	// dense, so 3 of 8 initializers are stored sparse.
	if !strings.Contains(out, "3 of 8 initializers sparse") {
		t.Errorf("report: %s", out)
	}
	a, err := onnx.Load(dense)
	if err != nil {
		t.Fatal(err)
	}
	b, err := onnx.Load(sparse)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range a.Graph.Initializers {
		w := b.Graph.Value(v.Name)
		da, _ := v.Const.Dense()
		db, err := w.Const.Dense()
		if err != nil {
			t.Fatal(err)
		}
		if !tensor.Equal(da, db) {
			t.Errorf("%s differs between the dense and the sparse file", v.Name)
		}
		if want := v.Name == "conv1.weight" || v.Name == "conv2.weight" || v.Name == "fc1.weight"; w.Const.StoredSparse() != want {
			t.Errorf("%s stored sparse: %v, want %v", v.Name, w.Const.StoredSparse(), want)
		}
	}
	sa, _ := os.Stat(dense)
	sb, _ := os.Stat(sparse)
	if sb.Size() >= sa.Size()/2 {
		t.Errorf("sparse file %d bytes, dense %d", sb.Size(), sa.Size())
	}
}

// TestPruneUsage: criteria that do not fit the mode, missing data and
// bad sizes are usage errors.
func TestPruneUsage(t *testing.T) {
	m, x := pruneFx("model.onnx"), pruneFx("input.npy")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--sparsity", "0.5", "--by", "l2"}, "add --structured"},
		{[]string{"--sparsity", "0.5", "--by", "maav", "--structured"}, "drop --structured"},
		{[]string{"--sparsity", "0.5", "--by", "mav"}, "give --data"},
		{[]string{"--sparsity", "0.5", "--data", x}, "not by magnitude"},
		{[]string{"--sparsity", "0.5", "--by", "weird"}, `--by "weird"`},
		{[]string{"--sparsity", "1"}, "--sparsity 1"},
		{[]string{"--sparsity", "0.5", "--max-density", "0.1"}, "needs --sparse-initializers"},
		{[]string{"--sparsity", "0.5", "--by", "maav", "--data", x, "--batch", "0"}, "--batch 0"},
		{[]string{"--sparsity", "0.5", "--structured", "--global"}, "unstructured"},
	}
	for _, c := range cases {
		args := append([]string{"prune", m, "--no-record", "-o", filepath.Join(t.TempDir(), "p.onnx")}, c.args...)
		code, _, stderr := graft(args...)
		if code != exitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("graft %v: exit %d, stderr %q; want exit %d mentioning %q", c.args, code, stderr, exitUsage, c.want)
		}
	}
}
