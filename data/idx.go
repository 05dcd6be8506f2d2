package data

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// idxElems maps the type byte of an IDX magic number to its elements, all
// big-endian (LeCun's MNIST page, "THE IDX FILE FORMAT").
var idxElems = map[byte]elem{
	0x08: {kind: 'u', size: 1},
	0x09: {kind: 'i', size: 1},
	0x0B: {kind: 'i', size: 2, big: true},
	0x0C: {kind: 'i', size: 4, big: true},
	0x0D: {kind: 'f', size: 4, big: true},
	0x0E: {kind: 'f', size: 8, big: true},
}

// parseIDX reads the header of the IDX file at path. An uncompressed file
// stays on disk and Batch reads samples at their offset; a gzipped one
// (recognised by its content, whatever its name) cannot be read at an
// offset, so its elements are inflated into memory once, here: 47 MB for
// Fashion-MNIST's 60000 training images.
func parseIDX(path string) (*array, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	if head, _ := br.Peek(2); len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		return parseIDXGzip(path, br)
	}
	a, err := readIDXHeader(br, path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	if err := a.checkSize(st.Size() - a.offset); err != nil {
		return nil, err
	}
	return a, nil
}

func parseIDXGzip(path string, r io.Reader) (*array, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, formatErr(path, "idx", "gzip: %v", err)
	}
	a, err := readIDXHeader(zr, path)
	if err != nil {
		return nil, err
	}
	want, _ := checkShape(path, "idx", a.shape, a.el) // checked by readIDXHeader
	var buf bytes.Buffer
	// Read at most one byte past the declared size, so that a lying header
	// cannot make us allocate more than the file inflates to.
	if _, err := io.Copy(&buf, io.LimitReader(zr, want+1)); err != nil {
		if err == io.ErrUnexpectedEOF {
			return nil, formatErr(path, "idx", "truncated: gzip stream ends early, after %d of the %d data bytes", buf.Len(), want)
		}
		return nil, formatErr(path, "idx", "gzip: %v", err)
	}
	if err := a.checkSize(int64(buf.Len())); err != nil {
		return nil, err
	}
	a.mem, a.offset = buf.Bytes(), 0
	return a, nil
}

// readIDXHeader reads the magic number and dimensions, returning an array
// whose offset is the header's length.
func readIDXHeader(r io.Reader, path string) (*array, error) {
	var magic [4]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil {
		return nil, formatErr(path, "idx", "truncated: file too short for the 4-byte magic number")
	}
	el, ok := idxElems[magic[2]]
	if magic[0] != 0 || magic[1] != 0 || !ok || magic[3] == 0 {
		return nil, formatErr(path, "idx", "bad magic number 0x%08x: want 0x00000801 (labels), 0x00000803 (images) or another IDX type and rank",
			binary.BigEndian.Uint32(magic[:]))
	}
	rank := int(magic[3])
	dims := make([]byte, 4*rank)
	if _, err := io.ReadFull(r, dims); err != nil {
		return nil, formatErr(path, "idx", "truncated: header ends before its %d dimensions", rank)
	}
	shape := make([]int, rank)
	for i := range shape {
		d := binary.BigEndian.Uint32(dims[4*i:])
		if d > 1<<31-1 {
			return nil, formatErr(path, "idx", "dimension %d is %d, too large", i, d)
		}
		shape[i] = int(d)
	}
	if _, err := checkShape(path, "idx", shape, el); err != nil {
		return nil, err
	}
	return &array{path: path, format: "idx", el: el, shape: shape, offset: int64(4 + 4*rank)}, nil
}

// idxSiblingLabels finds and parses the label file beside the IDX images
// at path, named the way MNIST's are: "images" becomes "labels" and
// "idx3" becomes "idx1" (train-images-idx3-ubyte beside
// train-labels-idx1-ubyte, and a subset such as t10k-images-1k-idx3-ubyte
// beside t10k-labels-1k-idx1-ubyte), gzipped or not. It returns nil when
// there is none.
func idxSiblingLabels(path string) (*array, error) {
	dir, base := filepath.Split(path)
	if !strings.Contains(base, "images") || !strings.Contains(base, "idx3") {
		return nil, nil
	}
	name := strings.Replace(strings.Replace(base, "images", "labels", 1), "idx3", "idx1", 1)
	name = strings.TrimSuffix(name, ".gz")
	p := existing(filepath.Join(dir, name), filepath.Join(dir, name+".gz"))
	if p == "" {
		return nil, nil
	}
	return parseIDX(p)
}
