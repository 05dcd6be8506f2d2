package dataset

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/graft-ml/graft/tensor"
)

// writeIDX writes an IDX file of bytes, gzipped if path ends in .gz.
func writeIDX(t *testing.T, path string, dims []int, data []byte) {
	t.Helper()
	var buf bytes.Buffer
	buf.Write([]byte{0, 0, 8, byte(len(dims))})
	for _, d := range dims {
		binary.Write(&buf, binary.BigEndian, uint32(d))
	}
	buf.Write(data)
	out := buf.Bytes()
	if strings.HasSuffix(path, ".gz") {
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		zw.Write(out)
		zw.Close()
		out = z.Bytes()
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestIDXPairsLabelsAndScales reads a gzipped and a plain IDX image file
// with their label siblings, checks values, scaling and normalisation.
func TestIDXPairsLabelsAndScales(t *testing.T) {
	dir := t.TempDir()
	img := []byte{0, 255, 51, 102, 10, 20, 30, 40}
	for _, ext := range []string{"", ".gz"} {
		writeIDX(t, filepath.Join(dir, "t-images-idx3-ubyte"+ext), []int{2, 2, 2}, img)
		writeIDX(t, filepath.Join(dir, "t-labels-idx1-ubyte"+ext), []int{2}, []byte{7, 3})
		src, err := Open(filepath.Join(dir, "t-images-idx3-ubyte"+ext), Options{Mean: []float64{0.5}, Std: []float64{0.25}})
		if err != nil {
			t.Fatal(err)
		}
		if src.Len() != 2 || !tensor.SameShape(src.SampleShape(), []int{1, 2, 2}) {
			t.Fatalf("len %d shape %v", src.Len(), src.SampleShape())
		}
		x, labels, err := src.Batch(1, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(labels) != 1 || labels[0] != 3 {
			t.Errorf("labels %v, want [3]", labels)
		}
		want := (float64(10)/255 - 0.5) / 0.25
		if math.Abs(float64(x.F32[0])-want) > 1e-6 {
			t.Errorf("first pixel of sample 1: %v, want %v", x.F32[0], want)
		}
	}
}

// TestFashionMNISTAgainstNumpy reads the bundled Fashion-MNIST subset and
// compares the first and last images, labels and the mean pixel with
// what numpy reads from the same bytes.
func TestFashionMNISTAgainstNumpy(t *testing.T) {
	path := filepath.Join("..", "fixtures", "fmnist", "t10k-images-1k-idx3-ubyte.gz")
	if _, err := os.Stat(path); err != nil {
		t.Skip("bundled Fashion-MNIST subset not present")
	}
	src, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	script := `import gzip,sys,numpy as np
d=np.frombuffer(gzip.open(sys.argv[1]).read()[16:],dtype=np.uint8).reshape(-1,28,28)
l=np.frombuffer(gzip.open(sys.argv[2]).read()[8:],dtype=np.uint8)
print(len(d), int(d[0].sum()), int(d[-1].sum()), int(l[0]), int(l[-1]), repr(float(d.astype(np.float64).mean()/255)))`
	out, err := exec.Command("/usr/bin/python3", "-c", script, path, strings.Replace(strings.Replace(path, "images", "labels", 1), "idx3", "idx1", 1)).Output()
	if err != nil {
		t.Skipf("numpy reference unavailable: %v", err)
	}
	f := strings.Fields(string(out))
	n, _ := strconv.Atoi(f[0])
	if src.Len() != n {
		t.Fatalf("%d samples, numpy reads %d", src.Len(), n)
	}
	x, labels, err := src.Batch(0, n)
	if err != nil {
		t.Fatal(err)
	}
	sum := func(s []float32) int {
		t := 0.0
		for _, v := range s {
			t += float64(v) * 255
		}
		return int(math.Round(t))
	}
	first, _ := strconv.Atoi(f[1])
	last, _ := strconv.Atoi(f[2])
	if sum(x.F32[:784]) != first || sum(x.F32[(n-1)*784:]) != last {
		t.Errorf("pixel sums %d, %d; numpy %d, %d", sum(x.F32[:784]), sum(x.F32[(n-1)*784:]), first, last)
	}
	l0, _ := strconv.Atoi(f[3])
	l1, _ := strconv.Atoi(f[4])
	if labels[0] != int64(l0) || labels[n-1] != int64(l1) {
		t.Errorf("labels %d, %d; numpy %d, %d", labels[0], labels[n-1], l0, l1)
	}
	mean, _ := strconv.ParseFloat(f[5], 64)
	got := 0.0
	for _, v := range x.F32 {
		got += float64(v)
	}
	if got /= float64(len(x.F32)); math.Abs(got-mean) > 1e-6 {
		t.Errorf("mean pixel %v, numpy %v", got, mean)
	}
}

func TestCIFARAndNPZAndFolder(t *testing.T) {
	dir := t.TempDir()
	// Two CIFAR-10 records.
	rec := make([]byte, 2*(1+3072))
	rec[0], rec[3073] = 4, 9
	rec[1], rec[3073+1+1024] = 255, 51 // sample 0 red (0,0); sample 1 green (0,0)
	bin := filepath.Join(dir, "data_batch_1.bin")
	os.WriteFile(bin, rec, 0o644)
	src, err := Open(bin, Options{})
	if err != nil {
		t.Fatal(err)
	}
	x, labels, err := src.Batch(0, 2)
	if err != nil {
		t.Fatal(err)
	}
	if labels[0] != 4 || labels[1] != 9 || x.F32[0] != 1 || math.Abs(float64(x.F32[3072+1024])-0.2) > 1e-6 {
		t.Errorf("CIFAR: labels %v, pixels %v %v", labels, x.F32[0], x.F32[3072+1024])
	}
	// npz with x and y.
	npz := filepath.Join(dir, "d.npz")
	xs := tensor.FromF32([]int{3, 2}, []float32{1, 2, 3, 4, 5, 6})
	ys := tensor.FromI64([]int{3}, []int64{0, 1, 2})
	if err := tensor.SaveNPZ(npz, map[string]*tensor.Dense{"x": xs, "y": ys}); err != nil {
		t.Fatal(err)
	}
	src, err = Open(npz, Options{SampleShape: []int{2, 1}})
	if err != nil {
		t.Fatal(err)
	}
	x, labels, _ = src.Batch(1, 2)
	if !tensor.SameShape(x.Shape, []int{2, 2, 1}) || x.F32[0] != 3 || labels[1] != 2 {
		t.Errorf("npz batch %v %v labels %v", x.Shape, x.F32, labels)
	}
	// An image folder with two classes and a differently sized image.
	for i, cls := range []string{"cat", "dog"} {
		os.MkdirAll(filepath.Join(dir, "imgs", cls), 0o755)
		size := 4 + 4*i
		img := image.NewGray(image.Rect(0, 0, size, size))
		for p := range img.Pix {
			img.Pix[p] = byte(100 * (i + 1))
		}
		f, _ := os.Create(filepath.Join(dir, "imgs", cls, "a.png"))
		png.Encode(f, img)
		f.Close()
	}
	src, err = Open(filepath.Join(dir, "imgs"), Options{Raw: true})
	if err != nil {
		t.Fatal(err)
	}
	x, labels, _ = src.Batch(0, 2)
	if !tensor.SameShape(src.SampleShape(), []int{1, 4, 4}) || labels[0] != 0 || labels[1] != 1 || x.F32[0] != 100 || x.F32[16] != 200 {
		t.Errorf("folder: shape %v labels %v pixels %v %v", src.SampleShape(), labels, x.F32[0], x.F32[16])
	}
	_ = color.White
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	writeIDX(t, filepath.Join(dir, "a-images-idx3-ubyte"), []int{3, 2, 2}, make([]byte, 12))
	writeIDX(t, filepath.Join(dir, "a-labels-idx1-ubyte"), []int{2}, []byte{1, 2})
	trunc := filepath.Join(dir, "b-images-idx3-ubyte")
	os.WriteFile(trunc, []byte{0, 0, 8, 3, 0, 0, 0, 9}, 0o644)
	bad := filepath.Join(dir, "c-images-idx3-ubyte")
	os.WriteFile(bad, []byte{1, 2, 3, 4, 5, 6, 7, 8}, 0o644)
	cifar := filepath.Join(dir, "x.bin")
	os.WriteFile(cifar, make([]byte, 100), 0o644)
	cases := []struct {
		name, path string
		opt        Options
		want       string
	}{
		{"label count", filepath.Join(dir, "a-images-idx3-ubyte"), Options{}, "2 labels"},
		{"truncated", trunc, Options{}, "ends early"},
		{"magic", bad, Options{}, "not an IDX"},
		{"missing", filepath.Join(dir, "none.npy"), Options{}, "no such file"},
		{"cifar size", cifar, Options{}, "CIFAR records"},
		{"format", filepath.Join(dir, "a-labels-idx1-ubyte") + ".txt", Options{}, "no such file"},
		{"std", filepath.Join(dir, "a-images-idx3-ubyte"), Options{Labels: filepath.Join(dir, "a-labels-idx1-ubyte"), Std: []float64{0}}, "2 labels"},
	}
	for _, c := range cases {
		_, err := Open(c.path, c.opt)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", c.name, err, c.want)
		}
	}
}
