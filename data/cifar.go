package data

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/graft-ml/graft/tensor"
)

// cifarPixels is the bytes of one CIFAR image: 32×32 red, then green, then
// blue, row-major, so a record's pixels are already a [3 32 32] sample
// (https://www.cs.toronto.edu/~kriz/cifar.html, "binary version").
const cifarPixels = 3 * 32 * 32

// cifarSource reads CIFAR binary batches record by record: each Batch
// seeks to its records, so no file is held in memory.
type cifarSource struct {
	path   string // the file or folder opened
	files  []cifarFile
	n      int
	kind   int // 10 or 100
	record int // bytes per record: label bytes + cifarPixels
	label  int // offset of the reported label byte in a record
	tf     *transform
}

type cifarFile struct {
	path  string
	first int // index of the file's first record in the source
	n     int // records
}

// openCIFAR opens a CIFAR batch file, or a folder of them. In a folder it
// takes the training set: CIFAR-10's data_batch_1.bin … data_batch_5.bin in
// numeric order, or CIFAR-100's train.bin; a folder with neither must hold
// exactly one .bin file. Open the test set by naming test_batch.bin or
// test.bin.
func openCIFAR(path string, opts Options) (Source, error) {
	s := &cifarSource{path: path, kind: 10, record: 1 + cifarPixels}
	if opts.CIFAR == 100 {
		s.kind, s.record, s.label = 100, 2+cifarPixels, 1
		if opts.CoarseLabels {
			s.label = 0
		}
	}
	files, err := cifarFiles(path)
	if err != nil {
		return nil, err
	}
	for _, p := range files {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("data: %w", err)
		}
		size := st.Size()
		if size == 0 || size%int64(s.record) != 0 {
			msg := fmt.Sprintf("truncated or not CIFAR-%d: %d bytes is not a whole number of %d-byte records", s.kind, size, s.record)
			other, otherKind := 2+cifarPixels, 100
			if s.kind == 100 {
				other, otherKind = 1+cifarPixels, 10
			}
			if size > 0 && size%int64(other) == 0 {
				msg += fmt.Sprintf(" (it is one of CIFAR-%d's %d-byte records: set Options.CIFAR to %d)", otherKind, other, otherKind)
			}
			return nil, formatErr(p, "cifar", "%s", msg)
		}
		n := int(size / int64(s.record))
		s.files = append(s.files, cifarFile{path: p, first: s.n, n: n})
		s.n += n
	}
	if s.tf, err = newTransform([]int{3, 32, 32}, true, opts); err != nil {
		return nil, fmt.Errorf("data: %s: %w", path, err)
	}
	return s, nil
}

// cifarFiles lists the batch files openCIFAR reads at path.
func cifarFiles(path string) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	bins, err := filepath.Glob(filepath.Join(path, "*.bin"))
	if err != nil {
		return nil, fmt.Errorf("data: %s: %w", path, err)
	}
	var batches []string
	for _, p := range bins {
		if _, ok := batchNumber(p); ok {
			batches = append(batches, p)
		}
	}
	slices.SortFunc(batches, func(a, b string) int {
		i, _ := batchNumber(a)
		j, _ := batchNumber(b)
		return i - j
	})
	switch {
	case len(batches) > 0:
		return batches, nil
	case slices.Contains(bins, filepath.Join(path, "train.bin")):
		return []string{filepath.Join(path, "train.bin")}, nil
	case len(bins) == 1:
		return bins, nil
	}
	names := make([]string, len(bins))
	for i, p := range bins {
		names[i] = filepath.Base(p)
	}
	return nil, fmt.Errorf("data: %s: no data_batch_*.bin or train.bin among %s; name the batch file to open: %w",
		path, strings.Join(names, ", "), ErrUnknownFormat)
}

// batchNumber returns N of a file named data_batch_N.bin.
func batchNumber(path string) (int, bool) {
	s, ok := strings.CutPrefix(filepath.Base(path), "data_batch_")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSuffix(s, ".bin"))
	return n, err == nil
}

func (s *cifarSource) Len() int           { return s.n }
func (s *cifarSource) SampleShape() []int { return append([]int(nil), s.tf.out...) }
func (s *cifarSource) Path() string       { return s.path }

func (s *cifarSource) Batch(start, n int) (*tensor.Dense, []int64, error) {
	if err := checkRange(s.path, start, n, s.n); err != nil {
		return nil, nil, err
	}
	return s.gather(span(start, n))
}

func (s *cifarSource) gather(idx []int) (*tensor.Dense, []int64, error) {
	x := tensor.NewUninit(tensor.Float32, append([]int{len(idx)}, s.tf.out...)...)
	y := make([]int64, len(idx))
	open := map[int]*os.File{}
	defer func() {
		for _, f := range open {
			f.Close()
		}
	}()
	buf := make([]byte, 0, 64*s.record)
	for i := 0; i < len(idx); {
		fi := s.fileOf(idx[i])
		cf := s.files[fi]
		// A run of consecutive records within one file, read at once.
		j := i + 1
		for j < len(idx) && idx[j] == idx[j-1]+1 && idx[j] < cf.first+cf.n {
			j++
		}
		f := open[fi]
		if f == nil {
			var err error
			if f, err = os.Open(cf.path); err != nil {
				return nil, nil, fmt.Errorf("data: %w", err)
			}
			open[fi] = f
		}
		buf = slices.Grow(buf[:0], (j-i)*s.record)[:(j-i)*s.record]
		off := int64(idx[i]-cf.first) * int64(s.record)
		if _, err := f.ReadAt(buf, off); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return nil, nil, formatErr(cf.path, "cifar", "file ends before record %d (truncated since it was opened?)", idx[j-1]-cf.first)
			}
			return nil, nil, fmt.Errorf("data: %s: reading records: %w", cf.path, err)
		}
		for k := i; k < j; k++ {
			rec := buf[(k-i)*s.record : (k-i+1)*s.record]
			y[k] = int64(rec[s.label])
			if c := s.classes(); y[k] >= int64(c) {
				return nil, nil, formatErr(cf.path, "cifar", "record %d has label %d, not one of CIFAR-%d's %d classes (wrong Options.CIFAR?)",
					idx[k]-cf.first, y[k], s.kind, c)
			}
			byteElem.decode(x.F32[k*cifarPixels:(k+1)*cifarPixels], rec[s.record-cifarPixels:])
		}
		i = j
	}
	s.tf.apply(x.F32)
	return x, y, nil
}

// classes returns how many values the reported label can take.
func (s *cifarSource) classes() int {
	switch {
	case s.kind == 10:
		return 10
	case s.label == 0:
		return 20 // CIFAR-100 coarse labels
	}
	return 100
}

// fileOf returns the index of the file holding record i.
func (s *cifarSource) fileOf(i int) int {
	k, _ := slices.BinarySearchFunc(s.files, i, func(f cifarFile, i int) int {
		switch {
		case i < f.first:
			return 1
		case i >= f.first+f.n:
			return -1
		}
		return 0
	})
	return k
}
