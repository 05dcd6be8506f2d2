package data

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ml/graft/tensor"
)

// npyBytes builds an .npy file by hand (format version 1 or 2) so that
// tests can use descriptors tensor.WriteNPY never writes.
func npyBytes(version byte, header string, body []byte) []byte {
	b := []byte("\x93NUMPY")
	b = append(b, version, 0)
	if version == 1 {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(header)))
	} else {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(header)))
	}
	b = append(b, header...)
	return append(b, body...)
}

func saveNPY(t *testing.T, dir, name string, d *tensor.Dense) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := tensor.SaveNPY(p, d); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNPY(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name   string
		path   string
		opts   Options
		shape  []int
		values []float32
		err    string
	}{
		{name: "float32", path: saveNPY(t, dir, "a.npy", tensor.FromF32([]int{3, 1, 2}, []float32{1, -2, 3.5, 4, 5, 6e-8})),
			shape: []int{3, 1, 2}, values: []float32{1, -2, 3.5, 4, 5, 6e-8}},
		{name: "float64", path: saveNPY(t, dir, "b.npy", tensor.FromF64([]int{2, 2}, []float64{0.1, -1e300, 2, 1e-50})),
			shape: []int{2, 2}, values: []float32{0.1, float32(math.Inf(-1)), 2, 0}},
		{name: "int64_unscaled", path: saveNPY(t, dir, "c.npy", tensor.FromI64([]int{2, 2}, []int64{255, -3, 1000, 0})),
			shape: []int{2, 2}, values: []float32{255, -3, 1000, 0}},
		{name: "uint8_scaled", path: saveNPY(t, dir, "d.npy", &tensor.Dense{DType: tensor.Uint8, Shape: []int{2, 3}, I64: []int64{0, 1, 2, 3, 4, 255}}),
			shape: []int{2, 3}, values: div255([]byte{0, 1, 2, 3, 4, 255})},
		{name: "uint8_raw", path: filepath.Join(dir, "d.npy"), opts: Options{Raw: true},
			shape: []int{2, 3}, values: []float32{0, 1, 2, 3, 4, 255}},
		{name: "float16", path: saveNPY(t, dir, "e.npy", &tensor.Dense{DType: tensor.Float16, Shape: []int{2}, F32: []float32{0.5, -2}}),
			shape: []int{2}, values: []float32{0.5, -2}},
		{name: "bool", path: saveNPY(t, dir, "f.npy", &tensor.Dense{DType: tensor.Bool, Shape: []int{3}, I64: []int64{1, 0, 1}}),
			shape: []int{3}, values: []float32{1, 0, 1}},
		// 0x3fc00000 is 1.5 and 0xc1200000 is -10, here big-endian.
		{name: "big_endian_v2", path: writeFile(t, dir, "g.npy", npyBytes(2, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }\n",
			[]byte{0x3f, 0xc0, 0, 0, 0xc1, 0x20, 0, 0})),
			shape: []int{2}, values: []float32{1.5, -10}},
		{name: "int16_double_quotes", path: writeFile(t, dir, "h.npy", npyBytes(1, `{"descr": "<i2", "shape": (1, 2), "fortran_order": False}`,
			[]byte{0xfe, 0xff, 0x00, 0x01})),
			shape: []int{1, 2}, values: []float32{-2, 256}},
		{name: "fortran_order", path: writeFile(t, dir, "i.npy", npyBytes(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (1, 2), }", make([]byte, 8))),
			err: "Fortran-order arrays are not supported"},
		{name: "structured", path: writeFile(t, dir, "j.npy", npyBytes(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", make([]byte, 4))),
			err: "structured dtype"},
		{name: "complex", path: writeFile(t, dir, "k.npy", npyBytes(1, "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", make([]byte, 8))),
			err: `unsupported dtype "<c8"`},
		{name: "trailing_bytes", path: writeFile(t, dir, "l.npy", npyBytes(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }", make([]byte, 3))),
			err: "needs 2 data bytes, file has 3"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src, err := Open(c.path, c.opts)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), c.path) {
					t.Fatalf("error %v, want one naming %s with %q", err, c.path, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			x, y := readAll(t, src)
			if !tensor.Equal(x, tensor.FromF32(c.shape, c.values)) {
				t.Errorf("got %v %v, want %v %v", x.Shape, x.F32, c.shape, c.values)
			}
			if y != nil {
				t.Errorf("labels %v, want none", y)
			}
		})
	}
}

// TestNPYPartialReads reads batches of a file larger than one batch, each
// from its offset.
func TestNPYPartialReads(t *testing.T) {
	n, size := 50, 7
	vals := make([]float32, n*size)
	for i := range vals {
		vals[i] = float32(i) * 0.5
	}
	src, err := Open(saveNPY(t, t.TempDir(), "big.npy", tensor.FromF32([]int{n, size}, vals)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range [][2]int{{0, 1}, {13, 20}, {49, 1}, {0, 50}} {
		x, _, err := src.Batch(r[0], r[1])
		if err != nil {
			t.Fatal(err)
		}
		if !tensor.Equal(x, tensor.FromF32([]int{r[1], size}, vals[r[0]*size:(r[0]+r[1])*size])) {
			t.Errorf("Batch(%d, %d) differs from the saved rows", r[0], r[1])
		}
	}
}

func TestNPZ(t *testing.T) {
	dir := t.TempDir()
	x := tensor.FromF32([]int{3, 2}, []float32{1, 2, 3, 4, 5, 6})
	y := tensor.FromI64([]int{3}, []int64{2, 0, 1})
	xy := filepath.Join(dir, "xy.npz")
	if err := tensor.SaveNPZ(xy, map[string]*tensor.Dense{"x": x, "y": y}); err != nil {
		t.Fatal(err)
	}
	ab := filepath.Join(dir, "ab.npz")
	if err := tensor.SaveNPZ(ab, map[string]*tensor.Dense{"a": x, "b": x}); err != nil {
		t.Fatal(err)
	}
	// A deflated archive, as np.savez_compressed writes, is inflated into
	// memory rather than read in place.
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, d := range map[string]*tensor.Dense{"images.npy": x, "targets.npy": y} {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate})
		if err != nil {
			t.Fatal(err)
		}
		if err := tensor.WriteNPY(w, d); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	deflated := writeFile(t, dir, "deflated.npz", buf.Bytes())

	cases := []struct {
		name   string
		path   string
		opts   Options
		x      *tensor.Dense
		labels []int64
		err    string
	}{
		{name: "x_and_y", path: xy, x: x, labels: []int64{2, 0, 1}},
		{name: "key", path: xy, opts: Options{Key: "x"}, x: x, labels: []int64{2, 0, 1}},
		{name: "labels_as_data", path: xy, opts: Options{Key: "y"}, x: tensor.FromF32([]int{3}, []float32{2, 0, 1})},
		{name: "deflated", path: deflated, x: x, labels: []int64{2, 0, 1}},
		{name: "which_array", path: ab, err: "which array? it holds a, b"},
		{name: "no_such_key", path: ab, opts: Options{Key: "c"}, err: `no array "c" (arrays: a, b)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src, err := Open(c.path, c.opts)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), c.path) {
					t.Fatalf("error %v, want one naming %s with %q", err, c.path, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			gx, gy := readAll(t, src)
			if !tensor.Equal(gx, c.x) || !equalInts(gy, c.labels) {
				t.Errorf("got %v %v labels %v, want %v %v labels %v", gx.Shape, gx.F32, gy, c.x.Shape, c.x.F32, c.labels)
			}
		})
	}
}

// TestNumpyFiles reads arrays that numpy itself wrote: uint8 images, and
// .npz archives both stored and compressed.
func TestNumpyFiles(t *testing.T) {
	dir := t.TempDir()
	python(t, `
import sys, numpy as np
d = sys.argv[1]
x = (np.arange(2 * 3 * 4) * 11 % 256).astype(np.uint8).reshape(2, 3, 4)
np.save(d + "/u8.npy", x)
np.savez(d + "/stored.npz", images=x, labels=np.array([4, 7], dtype=np.int32))
np.savez_compressed(d + "/compressed.npz", x=x.astype(np.float64) / 8, y=np.array([1, 0], dtype=np.uint8))
`, dir)
	pixels := make([]byte, 24)
	for i := range pixels {
		pixels[i] = byte(i * 11 % 256)
	}
	eighths := make([]float32, 24)
	for i, p := range pixels {
		eighths[i] = float32(p) / 8
	}
	cases := []struct {
		file   string
		values []float32
		labels []int64
	}{
		{"u8.npy", div255(pixels), nil},
		{"stored.npz", div255(pixels), []int64{4, 7}},
		{"compressed.npz", eighths, []int64{1, 0}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			src, err := Open(filepath.Join(dir, c.file), Options{})
			if err != nil {
				t.Fatal(err)
			}
			x, y := readAll(t, src)
			if !tensor.Equal(x, tensor.FromF32([]int{2, 3, 4}, c.values)) || !equalInts(y, c.labels) {
				t.Errorf("got %v %v labels %v, want %v labels %v", x.Shape, x.F32, y, c.values, c.labels)
			}
		})
	}
}

// TestNPYTruncatedAfterOpen shortens a file between Open and Batch: the
// read fails with an error naming the file instead of returning zeros.
func TestNPYTruncatedAfterOpen(t *testing.T) {
	p := saveNPY(t, t.TempDir(), "shrinks.npy", tensor.New(tensor.Float32, 10, 4))
	src, err := Open(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(p)
	if err := os.Truncate(p, st.Size()-20); err != nil {
		t.Fatal(err)
	}
	if _, _, err := src.Batch(0, 10); err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("error %v, want one naming %s as truncated", err, p)
	}
	if _, _, err := src.Batch(0, 5); err != nil {
		t.Errorf("the samples still present: %v", err)
	}
}
