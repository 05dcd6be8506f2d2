package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/tensor"
)

// python runs script with /usr/bin/python3 and returns its standard
// output, skipping the test when python3 or the modules it imports are
// missing: Python is the independent reference, not a build dependency.
func python(t *testing.T, script string, args ...string) []byte {
	t.Helper()
	const py = "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		fixtures.SkipNoReference(t, "no reference: %s is absent", py)
	}
	cmd := exec.Command(py, append([]string{"-c", script}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if strings.Contains(stderr.String(), "ModuleNotFoundError") {
			fixtures.SkipNoReference(t, "no reference: %s", strings.TrimSpace(stderr.String()))
		}
		t.Fatalf("python reference failed: %v\n%s", err, stderr.String())
	}
	return out
}

// writeFile writes b to name in dir and returns its path.
func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// idxBytes encodes an IDX file: magic 0x0000 TT RR, dims, then body.
func idxBytes(typ byte, shape []int, body []byte) []byte {
	b := []byte{0, 0, typ, byte(len(shape))}
	for _, d := range shape {
		b = binary.BigEndian.AppendUint32(b, uint32(d))
	}
	return append(b, body...)
}

func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// seq returns n bytes 0, 1, 2, ….
func seq(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

// readAll reads every sample of src in one batch.
func readAll(t *testing.T, src Source) (*tensor.Dense, []int64) {
	t.Helper()
	x, y, err := src.Batch(0, src.Len())
	if err != nil {
		t.Fatal(err)
	}
	return x, y
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	images := idxBytes(0x08, []int{2, 2, 2}, seq(8))
	npy := func(sh []int) []byte {
		var b bytes.Buffer
		if err := tensor.WriteNPY(&b, tensor.New(tensor.Float32, sh...)); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	cases := []struct {
		name string
		path string // relative to dir, or absolute
		opts Options
		want string // in the message, beside the file's name
		is   error  // errors.Is target, or nil
		fmt  bool   // a *FormatError
	}{
		{name: "missing", path: "absent.npy", want: "no such file", is: fs.ErrNotExist},
		{name: "missing_folder", path: "nowhere/", want: "no such file", is: fs.ErrNotExist},
		{name: "unknown_extension", path: writeFile(t, dir, "x.csv", []byte("1,2\n")), want: "unknown dataset format", is: ErrUnknownFormat},
		{name: "gzipped_npy", path: writeFile(t, dir, "x.npy.gz", gzipBytes(t, []byte("\x93NUMPY"))), want: "only IDX files are read gzipped", is: ErrUnknownFormat},
		{name: "empty_folder", path: filepath.Dir(writeFile(t, dir, "empty/readme.txt", nil)), want: "neither CIFAR", is: ErrUnknownFormat},
		{name: "idx_truncated", path: writeFile(t, dir, "a-images-idx3-ubyte", images[:len(images)-3]), want: "truncated", fmt: true},
		{name: "idx_gz_truncated", path: writeFile(t, dir, "b-images-idx3-ubyte.gz", gzipBytes(t, images)[:40]), want: "truncated", fmt: true},
		{name: "idx_header_truncated", path: writeFile(t, dir, "c-images-idx3-ubyte", images[:9]), want: "truncated", fmt: true},
		{name: "idx_trailing_bytes", path: writeFile(t, dir, "d-images-idx3-ubyte", append(images[:len(images):len(images)], 0)), want: "needs 8 data bytes, file has 9", fmt: true},
		{name: "idx_wrong_magic", path: writeFile(t, dir, "e-images-idx3-ubyte", append([]byte{0, 0, 0x0A, 3}, images[4:]...)), want: "bad magic number 0x00000a03", fmt: true},
		{name: "idx_gz_wrong_magic", path: writeFile(t, dir, "f-images-idx3-ubyte.gz", gzipBytes(t, append([]byte{8, 3, 0, 0}, images[4:]...))), want: "bad magic number 0x08030000", fmt: true},
		{name: "npy_truncated", path: writeFile(t, dir, "g.npy", npy([]int{4, 3})[:100]), want: "truncated", fmt: true},
		{name: "npy_wrong_magic", path: writeFile(t, dir, "h.npy", append([]byte("\x93NUMPI"), npy([]int{2})[6:]...)), want: "bad magic", fmt: true},
		{name: "npy_scalar", path: writeFile(t, dir, "i.npy", npy(nil)), want: "scalar", fmt: true},
		{name: "npz_not_zip", path: writeFile(t, dir, "j.npz", []byte("PK\x03\x04 but nothing more")), want: "not a zip archive", fmt: true},
		{name: "cifar_truncated", path: writeFile(t, dir, "k.bin", make([]byte, 2*3073-1)), want: "truncated or not CIFAR-10", fmt: true},
		{name: "cifar100_as_cifar10", path: writeFile(t, dir, "l.bin", make([]byte, 3*3074)), want: "set Options.CIFAR to 100", fmt: true},
		{name: "bad_cifar_option", path: "k.bin", opts: Options{CIFAR: 7}, want: "CIFAR must be 10 or 100"},
		{name: "zero_std", path: "a-images-idx3-ubyte", opts: Options{Std: []float64{0.5, 0}}, want: "contains a zero"},
		{name: "mean_channels", path: writeFile(t, dir, "m.npy", npy([]int{5, 3, 2})), opts: Options{Mean: []float64{1, 2}}, want: "mean has 2 values; samples have 3 channels"},
		{name: "sample_shape", path: "m.npy", opts: Options{SampleShape: []int{7}}, want: "does not hold the 6 elements"},
		{name: "missing_labels", path: "m.npy", opts: Options{Labels: filepath.Join(dir, "nolabels.npy")}, want: "no such file", is: fs.ErrNotExist},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := c.path
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			src, err := Open(p, c.opts)
			if err == nil {
				t.Fatalf("Open(%s) = %d samples, want an error", p, src.Len())
			}
			msg := err.Error()
			t.Log(msg)
			if !strings.HasPrefix(msg, "data: ") || !strings.Contains(msg, c.want) {
				t.Errorf("error %q: want prefix \"data: \" and %q", msg, c.want)
			}
			name := filepath.Base(filepath.Clean(p))
			if c.name == "missing_labels" {
				name = "nolabels.npy"
			}
			if !strings.Contains(msg, name) {
				t.Errorf("error %q does not name the file %s", msg, name)
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("error %q is not %v", msg, c.is)
			}
			var fe *FormatError
			if c.fmt && !errors.As(err, &fe) {
				t.Errorf("error %q is not a *FormatError", msg)
			}
		})
	}
}

// TestLabelCountMismatch pairs three images with four labels three ways.
func TestLabelCountMismatch(t *testing.T) {
	dir := t.TempDir()
	images := writeFile(t, dir, "x-images-idx3-ubyte", idxBytes(0x08, []int{3, 2, 2}, seq(12)))
	labels := writeFile(t, dir, "four-labels-idx1-ubyte", idxBytes(0x08, []int{4}, []byte{1, 2, 3, 4}))
	want := "label file " + labels + " has 4 labels but " + images + " has 3 samples"

	src, err := Open(images, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := WithLabels(src, labels); err == nil || err.Error() != "data: "+want {
		t.Errorf("WithLabels: error %v, want %q", err, want)
	}
	if _, err := Open(images, Options{Labels: labels}); err == nil || err.Error() != "data: "+want {
		t.Errorf("Open with Labels: error %v, want %q", err, want)
	}
	// The label file found beside IDX images is checked too.
	writeFile(t, dir, "x-labels-idx1-ubyte", idxBytes(0x08, []int{4}, []byte{1, 2, 3, 4}))
	_, err = Open(images, Options{})
	if err == nil || !strings.Contains(err.Error(), "x-labels-idx1-ubyte has 4 labels but "+images+" has 3 samples") {
		t.Errorf("sibling labels: error %v, want a count mismatch naming both files", err)
	}
}

func TestOpenLabels(t *testing.T) {
	dir := t.TempDir()
	save := func(name string, d *tensor.Dense) string {
		p := filepath.Join(dir, name)
		if err := tensor.SaveNPY(p, d); err != nil {
			t.Fatal(err)
		}
		return p
	}
	npz := filepath.Join(dir, "xy.npz")
	if err := tensor.SaveNPZ(npz, map[string]*tensor.Dense{
		"x": tensor.New(tensor.Float32, 3, 2),
		"y": tensor.FromI64([]int{3}, []int64{2, 0, 1}),
	}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		path string
		want []int64
		err  string
	}{
		{"npy_int64", save("a.npy", tensor.FromI64([]int{4}, []int64{3, 1, 4, 1})), []int64{3, 1, 4, 1}, ""},
		{"npy_int32_column", save("b.npy", &tensor.Dense{DType: tensor.Int32, Shape: []int{3, 1}, I64: []int64{-1, 0, 7}}), []int64{-1, 0, 7}, ""},
		{"npy_uint8", save("c.npy", &tensor.Dense{DType: tensor.Uint8, Shape: []int{2}, I64: []int64{255, 9}}), []int64{255, 9}, ""},
		{"idx", writeFile(t, dir, "l-labels-idx1-ubyte", idxBytes(0x08, []int{3}, []byte{9, 0, 5})), []int64{9, 0, 5}, ""},
		{"idx_gz_int32", writeFile(t, dir, "m.idx.gz", gzipBytes(t, idxBytes(0x0C, []int{2}, []byte{0, 0, 1, 0, 0xff, 0xff, 0xff, 0xfe}))), []int64{256, -2}, ""},
		{"npz_y", npz, []int64{2, 0, 1}, ""},
		{"npy_float", save("d.npy", tensor.FromF32([]int{2}, []float32{1, 2})), nil, "labels are float32; want integers"},
		{"npy_matrix", save("e.npy", tensor.FromI64([]int{2, 2}, []int64{1, 2, 3, 4})), nil, "labels have shape [2 2]"},
		{"unknown", writeFile(t, dir, "labels.txt", []byte("1\n2\n")), nil, "unknown dataset format"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := OpenLabels(c.path)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), filepath.Base(c.path)) {
					t.Fatalf("error %v, want one naming %s with %q", err, filepath.Base(c.path), c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !equalInts(got, c.want) {
				t.Errorf("labels %v, want %v", got, c.want)
			}
		})
	}
}

func TestBatchRange(t *testing.T) {
	dir := t.TempDir()
	src, err := Open(writeFile(t, dir, "r-images-idx3-ubyte", idxBytes(0x08, []int{3, 2, 2}, seq(12))), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range [][2]int{{-1, 1}, {0, 4}, {3, 1}, {2, -1}} {
		if _, _, err := src.Batch(r[0], r[1]); err == nil || !strings.Contains(err.Error(), "outside the 3 samples") {
			t.Errorf("Batch(%d, %d): error %v, want out of range", r[0], r[1], err)
		}
	}
	x, _, err := src.Batch(3, 0)
	if err != nil || !tensor.SameShape(x.Shape, []int{0, 1, 2, 2}) {
		t.Errorf("empty Batch(3, 0) = %v, %v; want shape [0 1 2 2]", x, err)
	}
}

func equalInts(a, b []int64) bool {
	if len(a) != len(b) || (a == nil) != (b == nil) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
