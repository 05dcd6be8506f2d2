package onnx_test

import (
	"bytes"
	"crypto/sha256"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/surgery"
	"github.com/graft-ml/graft/tensor"
)

// splitFixture writes fixture name with every initializer in the side
// file w.bin and returns the model's path and the inline model.
func splitFixture(t *testing.T, name string) (string, *onnx.Model) {
	t.Helper()
	fx, err := fixtures.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	m, err := onnx.Load(fx.Model())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "model.onnx")
	if err := m.SaveWith(path, onnx.SaveOptions{ExternalData: "w.bin"}); err != nil {
		t.Fatal(err)
	}
	return path, m
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// mapped reports whether the process maps the file at path (Linux).
func mapped(t *testing.T, path string) bool {
	t.Helper()
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Contains(maps, []byte(" "+real+"\n"))
}

// sameInitializers fails unless a and b hold initializers of the same
// names and data.
func sameInitializers(t *testing.T, a, b *onnx.Model) {
	t.Helper()
	if len(a.Graph.Initializers) != len(b.Graph.Initializers) {
		t.Fatalf("%d initializers, want %d", len(a.Graph.Initializers), len(b.Graph.Initializers))
	}
	for i, v := range a.Graph.Initializers {
		w := b.Graph.Initializers[i]
		da, err := v.Const.Dense()
		if err != nil {
			t.Fatal(err)
		}
		db, err := w.Const.Dense()
		if err != nil {
			t.Fatal(err)
		}
		if v.Name != w.Name || !tensor.Equal(da, db) {
			t.Fatalf("initializer %d: %q %v differs from %q %v", i, v.Name, da, w.Name, db)
		}
	}
}

// TestExternalDataMapped checks that a side file is mapped rather than
// read, with the same data as the inline model, and that it is unmapped
// once the model is gone.
func TestExternalDataMapped(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("external data is mapped on Linux only")
	}
	path, inline := splitFixture(t, "cnn_bn")
	side := filepath.Join(filepath.Dir(path), "w.bin")
	m, err := onnx.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !mapped(t, side) {
		t.Fatalf("%s is not mapped after Load", side)
	}
	sameInitializers(t, m, inline)
	runtime.KeepAlive(m)
	m = nil
	// Cleanups run on their own goroutine after a collection; give them
	// a few (the bound only keeps a broken cleanup from hanging the test).
	for i := 0; i < 200 && mapped(t, side); i++ {
		runtime.GC()
		time.Sleep(5 * time.Millisecond)
	}
	if mapped(t, side) {
		t.Errorf("%s is still mapped after the model was collected", side)
	}
}

// TestEditMappedModel runs passes that rewrite initializers (fold merges
// BatchNorm into the Conv weights; prune zeroes weights or removes units)
// on a model whose weights are mapped from a side file, saves the result
// beside it under the same side-file name, and checks that the side file
// on disk is unchanged, the original model still loads its own weights,
// and the result equals the same pass on the inline model. It also writes
// into the decoded data in place, as a careless caller might: the side
// file must not change either.
func TestEditMappedModel(t *testing.T) {
	passes := []struct {
		name    string
		fixture string
		run     func(*onnx.Model) error
		inPlace bool // edits Dense in place, which Save does not see (Tensor.Dense)
	}{
		{"fold", "cnn_bn", func(m *onnx.Model) error { _, err := surgery.Fold(m); return err }, false},
		{"prune_unstructured", "mlp", func(m *onnx.Model) error {
			_, err := surgery.Prune(m, surgery.PruneOptions{Sparsity: 0.5})
			return err
		}, false},
		{"prune_structured", "mlp", func(m *onnx.Model) error {
			_, err := surgery.Prune(m, surgery.PruneOptions{Sparsity: 0.5, Structured: true, Criterion: "l1"})
			return err
		}, false},
		{"write_in_place", "mlp", func(m *onnx.Model) error {
			for _, v := range m.Graph.Initializers {
				d, err := v.Const.Dense()
				if err != nil {
					return err
				}
				for i := range d.F32 {
					d.F32[i] = 42
				}
			}
			return nil
		}, true},
	}
	for _, p := range passes {
		t.Run(p.name, func(t *testing.T) {
			path, inline := splitFixture(t, p.fixture)
			dir := filepath.Dir(path)
			side := filepath.Join(dir, "w.bin")
			before := fileSum(t, side)

			m, err := onnx.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.run(m); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "edited.onnx")
			if err := m.SaveWith(out, onnx.SaveOptions{ExternalData: "w.bin"}); err != nil {
				t.Fatal(err)
			}
			if fileSum(t, side) != before {
				t.Fatalf("%s changed on disk", side)
			}
			orig, err := onnx.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			sameInitializers(t, orig, inline)

			edited, err := onnx.Load(out)
			if err != nil {
				t.Fatal(err)
			}
			if p.inPlace {
				sameInitializers(t, edited, orig)
				return
			}
			// Changed weights went to a new side file beside w.bin.
			if names, _ := filepath.Glob(filepath.Join(dir, "w-*.bin")); len(names) != 1 {
				t.Errorf("side files w-*.bin: %v, want the edited model's one", names)
			}
			if err := p.run(inline); err != nil {
				t.Fatal(err)
			}
			sameInitializers(t, edited, inline)
		})
	}
}

// TestExternalDataTruncatedFile checks that a side file cut short after
// the model was written is refused with the byte range, mapped or not.
func TestExternalDataTruncatedFile(t *testing.T) {
	path, _ := splitFixture(t, "mlp")
	side := filepath.Join(filepath.Dir(path), "w.bin")
	st, err := os.Stat(side)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(side, st.Size()/2); err != nil {
		t.Fatal(err)
	}
	_, err = onnx.Load(path)
	if err == nil || !strings.Contains(err.Error(), "lie outside the file") {
		t.Fatalf("Load of a cut side file: %v, want an error naming the bytes outside the file", err)
	}
}
