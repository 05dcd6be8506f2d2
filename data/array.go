package data

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/graft-ml/graft/tensor"
)

// elem is how one stored element is encoded.
type elem struct {
	kind byte // 'f' float, 'i' signed integer, 'u' unsigned integer, 'b' bool
	size int  // bytes
	big  bool // big-endian (IDX); .npy is usually little-endian
}

func (e elem) String() string {
	switch e.kind {
	case 'f':
		return fmt.Sprintf("float%d", 8*e.size)
	case 'i':
		return fmt.Sprintf("int%d", 8*e.size)
	case 'u':
		return fmt.Sprintf("uint%d", 8*e.size)
	case 'b':
		return "bool"
	}
	return "unknown"
}

// byteElem is uint8, the element of images and of most label files.
var byteElem = elem{kind: 'u', size: 1}

func (e elem) isByte() bool { return e.kind == 'u' && e.size == 1 }

func (e elem) order() binary.ByteOrder {
	if e.big {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

// float decodes element i of raw.
func (e elem) float(raw []byte, i int) float64 {
	o := e.order()
	b := raw[i*e.size:]
	if e.kind != 'f' {
		return float64(e.int(raw, i))
	}
	switch e.size {
	case 2:
		return float64(tensor.Float16ToFloat32(o.Uint16(b)))
	case 4:
		return float64(math.Float32frombits(o.Uint32(b)))
	}
	return math.Float64frombits(o.Uint64(b))
}

// int decodes element i of raw, which must not be a float.
func (e elem) int(raw []byte, i int) int64 {
	o := e.order()
	b := raw[i*e.size:]
	switch e.size {
	case 1:
		if e.kind == 'i' {
			return int64(int8(b[0]))
		}
		return int64(b[0])
	case 2:
		if e.kind == 'i' {
			return int64(int16(o.Uint16(b)))
		}
		return int64(o.Uint16(b))
	case 4:
		if e.kind == 'i' {
			return int64(int32(o.Uint32(b)))
		}
		return int64(o.Uint32(b))
	}
	return int64(o.Uint64(b))
}

// decode writes the elements of raw to dst as float32, converting each
// through float64 only where float32 cannot hold the stored type exactly.
func (e elem) decode(dst []float32, raw []byte) {
	switch {
	case e.isByte():
		for i, b := range raw[:len(dst)] {
			dst[i] = float32(b)
		}
	case e.kind == 'f' && e.size == 4:
		o := e.order()
		for i := range dst {
			dst[i] = math.Float32frombits(o.Uint32(raw[4*i:]))
		}
	default:
		for i := range dst {
			dst[i] = float32(e.float(raw, i))
		}
	}
}

// array is an n-dimensional array stored in a file: where its elements
// start and how they are encoded. Axis 0 counts samples. When mem is set the
// elements are held in memory (gzipped IDX, deflated .npz members) and
// offset is into mem; otherwise they are read from path at offset.
type array struct {
	path   string
	format string
	el     elem
	shape  []int
	offset int64
	mem    []byte
}

// sampleBytes returns the bytes of one sample (one index of axis 0).
func (a *array) sampleBytes() int {
	n, _ := tensor.NumElems(a.shape[1:]) // checked when the array was parsed
	return n * a.el.size
}

// checkShape validates a shape read from a header and returns the bytes the
// elements occupy.
func checkShape(path, format string, shape []int, el elem) (int64, error) {
	if len(shape) == 0 {
		return 0, formatErr(path, format, "array is a scalar; want samples along a first axis")
	}
	n, err := tensor.NumElems(shape)
	if err != nil {
		return 0, formatErr(path, format, "%v", err)
	}
	if n > math.MaxInt64/8 {
		return 0, formatErr(path, format, "shape %v is too large", shape)
	}
	return int64(n) * int64(el.size), nil
}

// reader returns a ReaderAt over the array's elements' container and a
// function that releases it. Each Batch opens the file anew, so a source
// holds no open file between batches and needs no Close.
func (a *array) reader() (io.ReaderAt, func(), error) {
	if a.mem != nil {
		return bytes.NewReader(a.mem), func() {}, nil
	}
	f, err := os.Open(a.path)
	if err != nil {
		return nil, nil, fmt.Errorf("data: %w", err)
	}
	return f, func() { f.Close() }, nil
}

// readSamples reads the raw bytes of samples idx into dst, one ReadAt per
// run of consecutive indices.
func (a *array) readSamples(dst []byte, idx []int) error {
	r, done, err := a.reader()
	if err != nil {
		return err
	}
	defer done()
	sb := a.sampleBytes()
	for i := 0; i < len(idx); {
		j := i + 1
		for j < len(idx) && idx[j] == idx[j-1]+1 {
			j++
		}
		off := a.offset + int64(idx[i])*int64(sb)
		if _, err := r.ReadAt(dst[i*sb:j*sb], off); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return formatErr(a.path, a.format, "file ends before sample %d (truncated since it was opened?)", idx[j-1])
			}
			return fmt.Errorf("data: %s: reading samples: %w", a.path, err)
		}
		i = j
	}
	return nil
}

// labels reads the whole array as integer labels; its shape must be [n] or
// [n 1].
func (a *array) labels() ([]int64, error) {
	if len(a.shape) > 2 || len(a.shape) == 2 && a.shape[1] != 1 {
		return nil, formatErr(a.path, a.format, "labels have shape %v; want [n] or [n 1]", a.shape)
	}
	if a.el.kind == 'f' {
		return nil, formatErr(a.path, a.format, "labels are %s; want integers", a.el)
	}
	n := a.shape[0]
	raw := make([]byte, n*a.el.size)
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	if err := a.readSamples(raw, idx); err != nil {
		return nil, err
	}
	out := make([]int64, n)
	for i := range out {
		out[i] = a.el.int(raw, i)
	}
	return out, nil
}

// arraySource is the Source of .npy, .npz and IDX files.
type arraySource struct {
	a      *array
	labels []int64
	tf     *transform
}

// newArraySource makes a source of a, with labels from lab (nil for none).
func newArraySource(a *array, lab *array, opts Options) (Source, error) {
	natural := append([]int(nil), a.shape[1:]...)
	if a.format == "idx" && len(natural) == 2 {
		natural = []int{1, natural[0], natural[1]} // grayscale images: add the channel axis
	}
	tf, err := newTransform(natural, a.el.isByte(), opts)
	if err != nil {
		return nil, fmt.Errorf("data: %s: %w", a.path, err)
	}
	s := &arraySource{a: a, tf: tf}
	if lab != nil {
		if s.labels, err = lab.labels(); err != nil {
			return nil, err
		}
		if len(s.labels) != a.shape[0] {
			return nil, fmt.Errorf("data: label file %s has %d labels but %s has %d samples",
				lab.path, len(s.labels), a.path, a.shape[0])
		}
	}
	return s, nil
}

func (s *arraySource) Len() int           { return s.a.shape[0] }
func (s *arraySource) SampleShape() []int { return append([]int(nil), s.tf.out...) }
func (s *arraySource) Path() string       { return s.a.path }

func (s *arraySource) Batch(start, n int) (*tensor.Dense, []int64, error) {
	if err := checkRange(s.a.path, start, n, s.Len()); err != nil {
		return nil, nil, err
	}
	return s.gather(span(start, n))
}

func (s *arraySource) gather(idx []int) (*tensor.Dense, []int64, error) {
	raw := make([]byte, len(idx)*s.a.sampleBytes())
	if err := s.a.readSamples(raw, idx); err != nil {
		return nil, nil, err
	}
	x := tensor.NewUninit(tensor.Float32, append([]int{len(idx)}, s.tf.out...)...)
	s.a.el.decode(x.F32, raw)
	s.tf.apply(x.F32)
	var y []int64
	if s.labels != nil {
		y = make([]int64, len(idx))
		for i, j := range idx {
			y[i] = s.labels[j]
		}
	}
	return x, y, nil
}

// span returns the indices start, start+1, …, start+n-1.
func span(start, n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = start + i
	}
	return idx
}
