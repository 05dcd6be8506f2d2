package data

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ml/graft/tensor"
)

// cifarRecord builds one record: the label bytes, then 3072 pixel bytes
// (red plane, green plane, blue plane) that depend on seed.
func cifarRecord(labels []byte, seed int) []byte {
	rec := append([]byte(nil), labels...)
	for i := range 3072 {
		rec = append(rec, byte(seed*31+i*7))
	}
	return rec
}

func TestCIFAR10(t *testing.T) {
	dir := t.TempDir()
	folder := filepath.Join(dir, "cifar-10-batches-bin")
	// Records are numbered by seed; label = seed. data_batch_10 sorts after
	// data_batch_2 numerically, and test_batch is not part of the folder.
	files := []struct {
		name  string
		seeds []int
	}{
		{"data_batch_1.bin", []int{0, 1}},
		{"data_batch_10.bin", []int{5}},
		{"data_batch_2.bin", []int{2, 3, 4}},
		{"test_batch.bin", []int{9}},
		{"batches.meta.txt", nil},
	}
	for _, f := range files {
		var b []byte
		for _, s := range f.seeds {
			b = append(b, cifarRecord([]byte{byte(s)}, s)...)
		}
		writeFile(t, folder, f.name, b)
	}
	src, err := Open(folder, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if src.Len() != 6 || !tensor.SameShape(src.SampleShape(), []int{3, 32, 32}) {
		t.Fatalf("%d samples of %v, want 6 of [3 32 32]", src.Len(), src.SampleShape())
	}
	// Batches that lie within one file and that cross file boundaries.
	for _, r := range [][2]int{{0, 6}, {1, 4}, {5, 1}, {2, 3}} {
		t.Run(fmt.Sprintf("from%d_n%d", r[0], r[1]), func(t *testing.T) {
			x, y, err := src.Batch(r[0], r[1])
			if err != nil {
				t.Fatal(err)
			}
			var want []float32
			var labels []int64
			for s := r[0]; s < r[0]+r[1]; s++ {
				want = append(want, div255(cifarRecord(nil, s))...)
				labels = append(labels, int64(s))
			}
			if !tensor.Equal(x, tensor.FromF32([]int{r[1], 3, 32, 32}, want)) {
				t.Error("pixels differ from the records written")
			}
			if !equalInts(y, labels) {
				t.Errorf("labels %v, want %v", y, labels)
			}
		})
	}

	test, err := Open(filepath.Join(folder, "test_batch.bin"), Options{Raw: true})
	if err != nil {
		t.Fatal(err)
	}
	x, y := readAll(t, test)
	// Red at row 0, column 1 is pixel byte 1; blue at row 31, column 31 is
	// byte 3071.
	rec := cifarRecord(nil, 9)
	if test.Len() != 1 || y[0] != 9 || x.F32[1] != float32(rec[1]) || x.F32[3071] != float32(rec[3071]) {
		t.Errorf("test_batch.bin: %d records, label %v, pixels %v %v; want 1, 9, %d %d",
			test.Len(), y, x.F32[1], x.F32[3071], rec[1], rec[3071])
	}
}

func TestCIFAR100(t *testing.T) {
	dir := t.TempDir()
	// Coarse label first, then fine (CIFAR-100's binary layout).
	var train []byte
	for s, l := range [][2]byte{{3, 99}, {19, 0}, {0, 42}} {
		train = append(train, cifarRecord(l[:], s)...)
	}
	writeFile(t, dir, "train.bin", train)
	writeFile(t, dir, "test.bin", cifarRecord([]byte{1, 1}, 7))
	cases := []struct {
		name   string
		opts   Options
		labels []int64
	}{
		{"fine", Options{CIFAR: 100}, []int64{99, 0, 42}},
		{"coarse", Options{CIFAR: 100, CoarseLabels: true}, []int64{3, 19, 0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src, err := Open(dir, c.opts) // the folder: train.bin, not test.bin
			if err != nil {
				t.Fatal(err)
			}
			x, y := readAll(t, src)
			if !equalInts(y, c.labels) {
				t.Errorf("labels %v, want %v", y, c.labels)
			}
			want := append(append(div255(cifarRecord(nil, 0)), div255(cifarRecord(nil, 1))...), div255(cifarRecord(nil, 2))...)
			if !tensor.Equal(x, tensor.FromF32([]int{3, 3, 32, 32}, want)) {
				t.Error("pixels differ from the records written")
			}
		})
	}
}

// TestCIFARBadLabel reads a CIFAR-100 file as CIFAR-10 that happens to have
// a whole number of 3073-byte records: the label check catches it.
func TestCIFARBadLabel(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "odd.bin", cifarRecord([]byte{12}, 0))
	src, err := Open(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = src.Batch(0, 1)
	if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "record 0 has label 12") {
		t.Errorf("error %v, want one naming %s and the label", err, p)
	}
}
