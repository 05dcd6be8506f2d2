package main

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// prunedCNN writes the bundled Fashion-MNIST CNN with 90 % of every Conv
// and Gemm weight zeroed (the smallest magnitudes), densely, and returns
// its path.
func prunedCNN(t *testing.T, dir string) string {
	t.Helper()
	m, err := onnx.Load(filepath.Join(fixtures.Dir(), "fmnist", "a.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range m.Graph.Nodes {
		if (n.OpType != "Conv" && n.OpType != "Gemm") || n.Inputs[1].Const == nil {
			continue
		}
		d, err := n.Inputs[1].Const.Dense()
		if err != nil {
			t.Fatal(err)
		}
		w := d.Clone()
		mags := make([]float64, len(w.F32))
		for i, v := range w.F32 {
			mags[i] = math.Abs(float64(v))
		}
		slices.Sort(mags)
		cut := mags[len(mags)*9/10]
		for i, v := range w.F32 {
			if math.Abs(float64(v)) < cut {
				w.F32[i] = 0
			}
		}
		n.Inputs[1].SetConst(w)
	}
	path := filepath.Join(dir, "dense.onnx")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestConvertSparseInitializers: a 90 %-sparse model written with
// --sparse-initializers is at most 0.3× the dense file; --dense gives the
// dense file back byte for byte; onnx.checker accepts the sparse file,
// NumPy rebuilds the dense weights from its SparseTensorProtos bit for
// bit, and ONNX Runtime and graft compute the same outputs from both
// files.
func TestConvertSparseInitializers(t *testing.T) {
	dir := t.TempDir()
	dense := prunedCNN(t, dir)
	sparse, back := filepath.Join(dir, "sparse.onnx"), filepath.Join(dir, "back.onnx")
	code, out, stderr := graft("convert", "--sparse-initializers", dense, sparse)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, "5 of 10 initializers sparse") {
		t.Errorf("report: %s", out)
	}
	ds, _ := os.Stat(dense)
	ss, _ := os.Stat(sparse)
	ratio := float64(ss.Size()) / float64(ds.Size())
	t.Logf("dense %d bytes, sparse %d bytes (%.3f×)", ds.Size(), ss.Size(), ratio)
	if ratio > 0.3 {
		t.Errorf("sparse file is %.3f× the dense one, want at most 0.3×", ratio)
	}
	if code, _, stderr := graft("convert", "--dense", sparse, back); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	a, _ := os.ReadFile(dense)
	b, _ := os.ReadFile(back)
	if !bytes.Equal(a, b) {
		t.Error("dense → sparse → dense changed the file")
	}

	// graft runs the sparse file as the dense one, bit for bit when
	// both run dense.
	x := tensor.New(tensor.Float32, 2, 1, 28, 28)
	for i := range x.F32 {
		x.F32[i] = float32(i%17) / 17
	}
	xPath := filepath.Join(dir, "x.npy")
	if err := tensor.SaveNPY(xPath, x); err != nil {
		t.Fatal(err)
	}
	outs := map[string]*tensor.Dense{}
	for _, f := range []string{dense, sparse} {
		o := filepath.Join(dir, "out_"+filepath.Base(f))
		if code, _, stderr := graft("run", f, "--sparse", "off", "--input", "input="+xPath, "-o", o); code != 0 {
			t.Fatalf("run %s: exit %d: %s", f, code, stderr)
		}
		files, _ := filepath.Glob(filepath.Join(o, "*.npy"))
		d, err := tensor.LoadNPY(files[0])
		if err != nil {
			t.Fatal(err)
		}
		outs[f] = d
	}
	if !bytes.Equal(outs[dense].Raw(), outs[sparse].Raw()) {
		t.Error("graft's outputs from the sparse file differ from the dense file's")
	}

	t.Run("onnx", func(t *testing.T) {
		if _, err := os.Stat(fixtures.Python); err != nil {
			fixtures.SkipNoReference(t, "no %s: %v", fixtures.Python, err)
		}
		// check_model without full_check: ONNX's strict shape inference
		// types sparse initializers as sparse tensors, which Conv and
		// Gemm do not accept (see convert's help).
		script := `
import sys, numpy as np, onnx
from onnx import numpy_helper
d, s = onnx.load(sys.argv[1]), onnx.load(sys.argv[2])
onnx.checker.check_model(s)
want = {t.name: numpy_helper.to_array(t) for t in d.graph.initializer}
got = {t.name: numpy_helper.to_array(t) for t in s.graph.initializer}
for sp in s.graph.sparse_initializer:
    v, i = numpy_helper.to_array(sp.values), numpy_helper.to_array(sp.indices)
    assert i.dtype == np.int64 and i.ndim == 1 and np.all(np.diff(i) > 0), sp.values.name
    a = np.zeros(int(np.prod(sp.dims)), v.dtype)
    a[i] = v
    got[sp.values.name] = a.reshape(list(sp.dims))
assert sorted(want) == sorted(got), (sorted(want), sorted(got))
for k in want:
    assert want[k].dtype == got[k].dtype and want[k].shape == got[k].shape and want[k].tobytes() == got[k].tobytes(), k
print("ok", len(s.graph.sparse_initializer))
`
		b, err := exec.Command(fixtures.Python, "-c", script, dense, sparse).CombinedOutput()
		if err != nil || !strings.HasPrefix(string(b), "ok 5") {
			t.Fatalf("onnx check: %v\n%s", err, b)
		}
	})

	t.Run("onnxruntime", func(t *testing.T) {
		runner, err := fixtures.ORTRunner()
		if err != nil {
			fixtures.SkipNoReference(t, "%v", fmt.Errorf("%w (%v)", fixtures.ErrNoORT, err))
		}
		res := map[string]*tensor.Dense{}
		for _, f := range []string{dense, sparse} {
			o := filepath.Join(dir, "ort_"+filepath.Base(f))
			args := append(append([]string{}, runner[1:]...), "--model", f, "--out", o, "input="+xPath)
			if b, err := exec.Command(runner[0], args...).CombinedOutput(); err != nil {
				t.Fatalf("onnxruntime on %s: %v\n%s", f, err, b)
			}
			files, _ := filepath.Glob(filepath.Join(o, "0_*.npy"))
			if len(files) != 1 {
				t.Fatalf("onnxruntime wrote %v", files)
			}
			d, err := tensor.LoadNPY(files[0])
			if err != nil {
				t.Fatal(err)
			}
			res[f] = d
		}
		// ONNX Runtime makes the sparse initializers dense at load, so
		// it computes the same thing from both files.
		if !bytes.Equal(res[dense].Raw(), res[sparse].Raw()) {
			t.Errorf("ONNX Runtime's outputs differ: dense %v, sparse %v", res[dense].F32, res[sparse].F32)
		}
	})
}

// TestConvertSparseUsage covers the flag combinations convert refuses.
func TestConvertSparseUsage(t *testing.T) {
	fx := fixture(t, "mlp")
	out := filepath.Join(t.TempDir(), "o.onnx")
	for _, args := range [][]string{
		{"--sparse-initializers", "--dense"},
		{"--sparse-initializers", "--max-density", "0"},
		{"--sparse-initializers", "--max-density", "1.5"},
		{"--max-density", "0.3"},
	} {
		code, _, stderr := graft(append(append([]string{"convert"}, args...), fx.Model(), out)...)
		if code != exitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", args, code, exitUsage, stderr)
		}
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Error("a refused conversion wrote its output")
	}
}

// TestConvertRefusesInvalidGraph: a model whose node reads a value that
// nothing defines is not written unless --no-validate.
func TestConvertRefusesInvalidGraph(t *testing.T) {
	dir := t.TempDir()
	g := onnx.NewGraph("invalid")
	x, err := g.AddInput("x", onnx.ShapeOf(tensor.Float32, 2))
	if err != nil {
		t.Fatal(err)
	}
	other := onnx.NewGraph("other")
	ghost, err := other.AddInput("ghost", onnx.ShapeOf(tensor.Float32, 2))
	if err != nil {
		t.Fatal(err)
	}
	y := g.AddNode("Add", "", "add", []*onnx.Value{x, ghost}, []string{"y"}).Outputs[0]
	g.Outputs = []*onnx.Value{y}
	in := filepath.Join(dir, "in.onnx")
	if err := onnx.NewModel(g, 13).Save(in); err == nil {
		t.Fatal("Save wrote a graph reading an undefined value")
	}
	if err := onnx.NewModel(g, 13).SaveWith(in, onnx.SaveOptions{NoValidate: true}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.onnx")
	code, _, stderr := graft("convert", in, out)
	if code != exitError || !strings.Contains(stderr, "ghost") {
		t.Errorf("convert of an invalid graph: exit %d, stderr %q; want exit %d naming the undefined value", code, stderr, exitError)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("convert wrote the invalid graph")
	}
	if code, _, stderr := graft("convert", "--no-validate", in, out); code != 0 {
		t.Errorf("convert --no-validate: exit %d: %s", code, stderr)
	}
}

// TestTruncateExternalData: commands that write a model take
// --external-data, so a cut of a model too big for one protobuf can be
// saved; the result reads its weights from the side file and runs as the
// inline cut does.
func TestTruncateExternalData(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(fixtures.Dir(), "resnet_small", "model.onnx")
	inline, split := filepath.Join(dir, "inline.onnx"), filepath.Join(dir, "split.onnx")
	if code, _, stderr := graft("truncate", model, "--at", "layer2", "-o", inline); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if code, _, stderr := graft("truncate", model, "--at", "layer2", "--external-data", "w.bin", "--threshold", "256", "-o", split); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	side, err := os.Stat(filepath.Join(dir, "w.bin"))
	if err != nil || side.Size() == 0 {
		t.Fatalf("no side file: %v", err)
	}
	a, err := os.Stat(inline)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.Stat(split)
	if err != nil {
		t.Fatal(err)
	}
	if b.Size() >= a.Size() {
		t.Errorf("the split model (%d bytes) is not smaller than the inline one (%d)", b.Size(), a.Size())
	}
	x := filepath.Join(fixtures.Dir(), "resnet_small", "input.npy")
	for _, f := range []string{inline, split} {
		if code, _, stderr := graft("run", f, "--input", "input="+x, "-o", filepath.Join(dir, filepath.Base(f)+".out")); code != 0 {
			t.Fatalf("run %s: exit %d: %s", f, code, stderr)
		}
	}
	ra, err := os.ReadFile(filepath.Join(dir, "inline.onnx.out", "layer2.npy"))
	if err != nil {
		t.Fatal(err)
	}
	rb, err := os.ReadFile(filepath.Join(dir, "split.onnx.out", "layer2.npy"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ra, rb) {
		t.Error("the split model's output differs from the inline one's")
	}
}
