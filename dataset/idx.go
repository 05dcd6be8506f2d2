package dataset

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// readIDX reads an IDX file (gzipped if it ends in .gz) of unsigned bytes:
// the magic 0x0000_08_<rank>, the dims, then the data. The whole file is
// read into memory (Fashion-MNIST's training images are 47 MB).
func readIDX(path string) (dims []int, data []byte, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("dataset: %w", err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(strings.ToLower(path), ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, nil, fmt.Errorf("dataset: %s: %w", path, err)
		}
		defer zr.Close()
		r = zr
	}
	all, err := io.ReadAll(r)
	if err != nil {
		return nil, nil, fmt.Errorf("dataset: %s: %w", path, err)
	}
	if len(all) < 4 {
		return nil, nil, fmt.Errorf("dataset: %s: %w", path, errTruncated)
	}
	if all[0] != 0 || all[1] != 0 || all[2] != 0x08 {
		return nil, nil, fmt.Errorf("dataset: %s: not an IDX file of unsigned bytes (magic %x)", path, all[:4])
	}
	rank := int(all[3])
	if rank < 1 || len(all) < 4+4*rank {
		return nil, nil, fmt.Errorf("dataset: %s: IDX header: rank %d: %w", path, rank, errTruncated)
	}
	n := 1
	for i := range rank {
		d := int(binary.BigEndian.Uint32(all[4+4*i:]))
		if d <= 0 || n > (1<<40)/d {
			return nil, nil, fmt.Errorf("dataset: %s: IDX dimension %d is %d", path, i, d)
		}
		dims = append(dims, d)
		n *= d
	}
	data = all[4+4*rank:]
	if len(data) < n {
		return nil, nil, fmt.Errorf("dataset: %s: %d data bytes for dims %v: %w", path, len(data), dims, errTruncated)
	}
	return dims, data[:n], nil
}

// openIDXImages reads an IDX array of samples; 2-D images get a channel
// axis ([N, 1, H, W]). Labels come from the sibling IDX label file when
// the name says where it is (train-images-idx3-ubyte → train-labels-idx1-ubyte).
func openIDXImages(path string) (*memSource, error) {
	dims, data, err := readIDX(path)
	if err != nil {
		return nil, err
	}
	s := &memSource{n: dims[0], u8: data}
	s.shape = append([]int(nil), dims[1:]...)
	if len(s.shape) == 2 {
		s.shape = append([]int{1}, s.shape...)
	}
	if lp := labelSibling(path); lp != "" {
		if _, err := os.Stat(lp); err == nil {
			labels, err := readIDXLabels(lp)
			if err != nil {
				return nil, err
			}
			if len(labels) != s.n {
				return nil, fmt.Errorf("dataset: %s has %d labels but %s has %d images", lp, len(labels), path, s.n)
			}
			s.labels = labels
		}
	}
	return s, nil
}

// labelSibling names the label file that goes with an IDX image file:
// "images" becomes "labels" and "idx3" becomes "idx1" in the file name
// (train-images-idx3-ubyte.gz → train-labels-idx1-ubyte.gz).
func labelSibling(path string) string {
	dir, base := filepath.Split(path)
	if !strings.Contains(base, "images") {
		return ""
	}
	base = strings.Replace(base, "images", "labels", 1)
	base = strings.Replace(base, "idx3", "idx1", 1)
	return filepath.Join(dir, base)
}

func readIDXLabels(path string) ([]int64, error) {
	dims, data, err := readIDX(path)
	if err != nil {
		return nil, err
	}
	if len(dims) != 1 {
		return nil, fmt.Errorf("dataset: %s: labels must be one IDX dimension, got %v", path, dims)
	}
	labels := make([]int64, len(data))
	for i, b := range bytes.Clone(data) {
		labels[i] = int64(b)
	}
	return labels, nil
}
