package data

import (
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/tensor"
)

// div255 is what torchvision's ToTensor and numpy's x.astype(float32)/255
// give for each byte: the correctly rounded float32 quotient.
func div255(b []byte) []float32 {
	out := make([]float32, len(b))
	for i, v := range b {
		out[i] = float32(v) / 255
	}
	return out
}

func TestIDX(t *testing.T) {
	u8 := idxBytes(0x08, []int{2, 2, 3}, seq(12))
	cases := []struct {
		name   string
		file   string
		body   []byte
		opts   Options
		shape  []int // of the whole batch
		values []float32
	}{
		{"uint8_images", "a-images-idx3-ubyte", u8, Options{}, []int{2, 1, 2, 3}, div255(seq(12))},
		{"uint8_images_gz", "b-images-idx3-ubyte.gz", gzipBytes(t, u8), Options{}, []int{2, 1, 2, 3}, div255(seq(12))},
		{"uint8_raw", "c.idx", u8, Options{Raw: true}, []int{2, 1, 2, 3}, []float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}},
		{"flatten", "d.idx", u8, Options{SampleShape: []int{6}}, []int{2, 6}, div255(seq(12))},
		{"sniffed_by_magic", "e.raw", u8, Options{}, []int{2, 1, 2, 3}, div255(seq(12))},
		{"sniffed_gzip", "f.gz", gzipBytes(t, u8), Options{}, []int{2, 1, 2, 3}, div255(seq(12))},
		// Big-endian int16: 0x0102, 0xfffe, 0x0005, 0x8000.
		{"int16_vectors", "g.idx", idxBytes(0x0B, []int{2, 2}, []byte{1, 2, 0xff, 0xfe, 0, 5, 0x80, 0}), Options{}, []int{2, 2}, []float32{258, -2, 5, -32768}},
		// Big-endian float32: 0x3fc00000 = 1.5, 0xc0000000 = -2, 0x3e800000 = 0.25.
		{"float32_scalars", "h.idx", idxBytes(0x0D, []int{3}, []byte{0x3f, 0xc0, 0, 0, 0xc0, 0, 0, 0, 0x3e, 0x80, 0, 0}), Options{}, []int{3}, []float32{1.5, -2, 0.25}},
		// Big-endian float64: 0x4009_2000_0000_0000 = 3.140625.
		{"float64", "i.idx", idxBytes(0x0E, []int{1, 1}, []byte{0x40, 0x09, 0x20, 0, 0, 0, 0, 0}), Options{}, []int{1, 1}, []float32{3.140625}},
		// int8 is not 8-bit pixel data: no scaling.
		{"int8_rank4", "j.idx", idxBytes(0x09, []int{2, 1, 1, 1}, []byte{0xff, 0x7f}), Options{}, []int{2, 1, 1, 1}, []float32{-1, 127}},
	}
	dir := t.TempDir()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src, err := Open(writeFile(t, dir, c.file, c.body), c.opts)
			if err != nil {
				t.Fatal(err)
			}
			x, y := readAll(t, src)
			if !tensor.SameShape(x.Shape, c.shape) || !tensor.SameShape(src.SampleShape(), c.shape[1:]) {
				t.Fatalf("batch %v, sample shape %v; want %v", x.Shape, src.SampleShape(), c.shape)
			}
			if !tensor.Equal(x, tensor.FromF32(c.shape, c.values)) {
				t.Errorf("values %v, want %v", x.F32, c.values)
			}
			if y != nil {
				t.Errorf("labels %v, want none", y)
			}
		})
	}
}

// TestIDXSiblingLabels checks that IDX images pick up the label file named
// like MNIST's beside them, gzipped or not.
func TestIDXSiblingLabels(t *testing.T) {
	dir := t.TempDir()
	images := writeFile(t, dir, "t-images-idx3-ubyte.gz", gzipBytes(t, idxBytes(0x08, []int{3, 1, 2}, seq(6))))
	writeFile(t, dir, "t-labels-idx1-ubyte", idxBytes(0x08, []int{3}, []byte{7, 0, 2}))
	src, err := Open(images, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, y, err := src.Batch(1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !equalInts(y, []int64{0, 2}) {
		t.Errorf("labels %v, want [0 2]", y)
	}
}

// Fashion-MNIST's test set as the Debian package dataset-fashion-mnist
// installs it.
const fashionDir = "/usr/share/datasets/fashion-mnist"

// The expected values below were printed by numpy 1.24.2 reading the same
// file (x = np.frombuffer(gzip.open(f).read(), np.uint8, offset=16)):
// hashlib.sha256(x[i].tobytes()) of the first and last images, the same of
// the labels' bytes, x.sum(), and (x.astype(np.float32)/255).mean(dtype=np.float64).
const (
	fashionFirstSHA  = "ffc7351ed0f8bae542820866086177fa4e0b366b97bf9d998dffdb8dbe138787"
	fashionLastSHA   = "0e65cd3713adf40ebd419516c1a2256c9e24ad75e86a862368adafd141f4c1bb"
	fashionLabelsSHA = "3d0e6c6ea990b53b6f8f500a41cac93881d981b315f84578b7d915342ade01e9"
	fashionSum       = 573469082
	fashionMean      = 0.28684928596725223
)

// fashionPass is everything TestFashionMNIST checks from one pass.
type fashionPass struct {
	first, last []float32
	labels      []int64
	sum         float64 // of the scaled values
	byteSum     int64   // of the values times 255, rounded: the file's bytes
}

func readFashion(t *testing.T, src Source) fashionPass {
	t.Helper()
	var p fashionPass
	for b, err := range Batches(src, 1000, 0, nil) {
		if err != nil {
			t.Fatal(err)
		}
		if b.Start == 0 {
			p.first = append([]float32(nil), b.X.F32[:784]...)
		}
		p.last = append(p.last[:0], b.X.F32[len(b.X.F32)-784:]...)
		p.labels = append(p.labels, b.Labels...)
		for _, v := range b.X.F32 {
			p.sum += float64(v)
			p.byteSum += int64(math.Round(float64(v) * 255))
		}
	}
	return p
}

// toBytes undoes the scaling to [0, 1], exactly for values k/255.
func toBytes(x []float32) []byte {
	b := make([]byte, len(x))
	for i, v := range x {
		b[i] = byte(math.Round(float64(v) * 255))
	}
	return b
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestFashionMNIST(t *testing.T) {
	images := filepath.Join(fashionDir, "t10k-images-idx3-ubyte.gz")
	if _, err := os.Stat(images); errors.Is(err, fs.ErrNotExist) {
		fixtures.SkipNoReference(t, "%s is absent: install the Debian package dataset-fashion-mnist", images)
	}
	src, err := Open(images, Options{}) // labels: t10k-labels-idx1-ubyte.gz beside it
	if err != nil {
		t.Fatal(err)
	}
	if src.Len() != 10000 || !tensor.SameShape(src.SampleShape(), []int{1, 28, 28}) {
		t.Fatalf("%d samples of %v, want 10000 of [1 28 28]", src.Len(), src.SampleShape())
	}
	p := readFashion(t, src)
	labelBytes := make([]byte, len(p.labels))
	for i, l := range p.labels {
		labelBytes[i] = byte(l)
	}
	for _, c := range []struct{ what, got, want string }{
		{"first image", sha(toBytes(p.first)), fashionFirstSHA},
		{"last image", sha(toBytes(p.last)), fashionLastSHA},
		{"labels", sha(labelBytes), fashionLabelsSHA},
	} {
		if c.got != c.want {
			t.Errorf("%s: sha256 %s, numpy's %s", c.what, c.got, c.want)
		}
	}
	if p.labels[0] != 9 || p.labels[9999] != 5 {
		t.Errorf("labels %d…%d, numpy's 9…5", p.labels[0], p.labels[9999])
	}
	if p.byteSum != fashionSum {
		t.Errorf("pixel sum %d, numpy's %d", p.byteSum, fashionSum)
	}
	// Sums in different orders differ by rounding: about 1e-16 relative
	// per addition, far below 1e-12 over 7.84M values.
	if mean := p.sum / (10000 * 784); math.Abs(mean-fashionMean) > 1e-12 {
		t.Errorf("mean %.17g, numpy's %.17g", mean, fashionMean)
	}

	t.Run("numpy", func(t *testing.T) {
		// numpy reads the file itself, here and now.
		out := python(t, `
import gzip, json, sys, numpy as np
x = np.frombuffer(gzip.open(sys.argv[1]).read(), np.uint8, offset=16).reshape(-1, 784)
y = np.frombuffer(gzip.open(sys.argv[2]).read(), np.uint8, offset=8)
print(json.dumps({"first": x[0].tolist(), "last": x[-1].tolist(), "labels": y.tolist(),
                  "mean": float((x.astype(np.float32) / 255).mean(dtype=np.float64))}))
`, images, filepath.Join(fashionDir, "t10k-labels-idx1-ubyte.gz"))
		var ref struct {
			First, Last []int
			Labels      []int64
			Mean        float64
		}
		if err := json.Unmarshal(out, &ref); err != nil {
			t.Fatal(err)
		}
		if len(ref.First) != 784 || len(ref.Last) != 784 || len(ref.Labels) != 10000 {
			t.Fatalf("numpy gave %d, %d pixels and %d labels", len(ref.First), len(ref.Last), len(ref.Labels))
		}
		for _, c := range []struct {
			what string
			got  []float32
			ref  []int
		}{{"first", p.first, ref.First}, {"last", p.last, ref.Last}} {
			for i, v := range c.ref {
				if c.got[i] != float32(v)/255 {
					t.Fatalf("%s image element %d: %v, numpy %d/255 = %v", c.what, i, c.got[i], v, float32(v)/255)
				}
			}
		}
		if !equalInts(p.labels, ref.Labels) {
			t.Error("labels differ from numpy's")
		}
		if math.Abs(p.sum/(10000*784)-ref.Mean) > 1e-12 {
			t.Errorf("mean %.17g, numpy's %.17g", p.sum/(10000*784), ref.Mean)
		}
	})

	t.Run("uncompressed", func(t *testing.T) {
		// The same file gunzipped is read at offsets instead of in memory.
		dir := t.TempDir()
		for _, name := range []string{"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"} {
			gunzip(t, filepath.Join(fashionDir, name+".gz"), filepath.Join(dir, name))
		}
		plain, err := Open(filepath.Join(dir, "t10k-images-idx3-ubyte"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		q := readFashion(t, plain)
		if sha(toBytes(q.first)) != fashionFirstSHA || sha(toBytes(q.last)) != fashionLastSHA ||
			q.byteSum != fashionSum || !equalInts(q.labels, p.labels) {
			t.Error("the uncompressed file reads differently from the gzipped one")
		}
	})
}

func gunzip(t *testing.T, from, to string) {
	t.Helper()
	f, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	err = tensor.WriteFileAtomic(to, func(w io.Writer) error {
		_, err := io.Copy(w, zr)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
