package data

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/graft-ml/graft/tensor"
)

// Source is a dataset of Len samples of one shape, read a batch at a time.
type Source interface {
	// Len returns the number of samples.
	Len() int
	// SampleShape returns the shape of one sample, such as [1 28 28].
	SampleShape() []int
	// Batch reads samples [start, start+n) into a float32 tensor of shape
	// [n, SampleShape()...], with their labels, or nil labels when the
	// dataset has none.
	Batch(start, n int) (*tensor.Dense, []int64, error)
}

// Classed is implemented by sources whose labels have names: Classes()[i]
// names label i. Image folders implement it.
type Classed interface {
	Source
	Classes() []string
}

// Options choose how Open reads and normalises a dataset. The zero value
// reads a dataset as it is stored, with 8-bit pixels scaled to [0, 1].
type Options struct {
	// Key names the array of an .npz file. By default Open takes the only
	// array, or else the one named "x", "data", "images" or "inputs".
	Key string

	// Labels is a separate label file (.npy or .npz of integers, or IDX
	// labels) to pair with the samples; see WithLabels. When empty, IDX
	// images pick up the label file beside them (t10k-images-idx3-ubyte
	// pairs with t10k-labels-idx1-ubyte), and an .npz its "y", "labels",
	// "label" or "targets" array.
	Labels string

	// Raw keeps 8-bit data (uint8 arrays, IDX, CIFAR, images) in 0..255.
	// By default it is divided by 255 into [0, 1], as torchvision's
	// ToTensor does.
	Raw bool

	// Mean and Std normalise each sample after scaling: x = (x-mean)/std
	// per channel, as torchvision's Normalize does. Each holds one value
	// for all channels or one per channel, the channel being the first axis
	// of the sample as stored (before SampleShape). Nil means mean 0 and
	// std 1.
	Mean, Std []float64

	// SampleShape reshapes each sample to a shape with the same number of
	// elements, for example [784] to feed 28×28 images to an MLP. One
	// dimension may be -1, meaning whatever the others leave.
	SampleShape []int

	// Size is the (height, width) each image of an image folder is
	// resized to, bilinearly. Zero takes the size of the first image.
	Size [2]int

	// Channels is the channel count of image-folder samples: 1 (grayscale)
	// or 3 (RGB). Zero takes it from the first image.
	Channels int

	// CIFAR is 10 or 100: which kind of binary batches a .bin file or
	// folder holds. Zero means 10.
	CIFAR int

	// CoarseLabels makes CIFAR-100 sources report the 20 coarse labels
	// instead of the 100 fine ones.
	CoarseLabels bool
}

// ErrUnknownFormat is returned, wrapped with the path, by Open and
// OpenLabels when a path is of no format this package reads.
var ErrUnknownFormat = errors.New("unknown dataset format")

// FormatError reports a file whose contents are not what its format
// requires: a bad magic number, a truncated body, inconsistent shapes.
type FormatError struct {
	Path   string // the file
	Format string // "npy", "npz", "idx", "cifar", "image"
	Msg    string // what is wrong
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("data: %s: %s: %s", e.Path, e.Format, e.Msg)
}

func formatErr(path, format, msg string, args ...any) error {
	return &FormatError{Path: path, Format: format, Msg: fmt.Sprintf(msg, args...)}
}

// Open opens the dataset at path, choosing its format from the path:
//
//   - a file ending .npy or .npz: a numeric array whose first axis is samples
//   - a file ending -ubyte or .idx, with or without .gz: an IDX file
//   - a file ending .bin: CIFAR-10 or CIFAR-100 binary batches (opts.CIFAR)
//   - a folder holding .bin files: CIFAR batches (see openCIFAR for which)
//   - a folder of class subfolders of PNG or JPEG images
//
// A file with another name is recognised by its first bytes when it is an
// .npy, .npz or IDX file (gzipped or not). Open reads headers and labels
// only; samples are read by Batch.
func Open(path string, opts Options) (Source, error) {
	if err := opts.check(); err != nil {
		return nil, fmt.Errorf("data: %s: %w", path, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	var src Source
	if st.IsDir() {
		src, err = openDir(path, opts)
	} else {
		src, err = openFile(path, opts)
	}
	if err != nil {
		return nil, err
	}
	if opts.Labels != "" {
		return WithLabels(src, opts.Labels)
	}
	return src, nil
}

func openDir(path string, opts Options) (Source, error) {
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	hasDir := false
	for _, e := range entries {
		if e.IsDir() {
			hasDir = true
		} else if strings.HasSuffix(e.Name(), ".bin") {
			return openCIFAR(path, opts)
		}
	}
	if hasDir {
		return openImageFolder(path, opts)
	}
	return nil, fmt.Errorf("data: %s: folder holds neither CIFAR .bin batches nor class subfolders: %w", path, ErrUnknownFormat)
}

func openFile(path string, opts Options) (Source, error) {
	var (
		a      *array
		labels *array
		err    error
	)
	kind := fileKind(path)
	if kind != "idx" && strings.HasSuffix(strings.ToLower(path), ".gz") {
		return nil, fmt.Errorf("data: %s: only IDX files are read gzipped; gunzip it first: %w", path, ErrUnknownFormat)
	}
	switch kind {
	case "npy":
		a, err = parseNPY(path)
	case "npz":
		a, labels, err = parseNPZ(path, opts.Key, opts.Labels == "")
	case "idx":
		a, err = parseIDX(path)
		if err == nil && opts.Labels == "" {
			labels, err = idxSiblingLabels(path)
		}
	case "cifar":
		return openCIFAR(path, opts)
	default:
		return nil, fmt.Errorf("data: %s: want .npy, .npz, IDX (-ubyte[.gz]), CIFAR .bin or a folder: %w", path, ErrUnknownFormat)
	}
	if err != nil {
		return nil, err
	}
	return newArraySource(a, labels, opts)
}

// fileKind names the format of the file at path from its name or, failing
// that, its first bytes; "" means unknown.
func fileKind(path string) string {
	name := strings.ToLower(filepath.Base(path))
	name = strings.TrimSuffix(name, ".gz")
	switch {
	case strings.HasSuffix(name, ".npy"):
		return "npy"
	case strings.HasSuffix(name, ".npz"):
		return "npz"
	case strings.HasSuffix(name, "-ubyte"), strings.HasSuffix(name, ".idx"):
		return "idx"
	case strings.HasSuffix(name, ".bin"):
		return "cifar"
	}
	head, err := readHead(path, 4)
	if err != nil || len(head) < 4 {
		return ""
	}
	switch {
	case string(head) == "\x93NUM":
		return "npy"
	case string(head) == "PK\x03\x04":
		return "npz"
	case head[0] == 0x1f && head[1] == 0x8b: // gzip: only IDX is read gzipped
		return "idx"
	case head[0] == 0 && head[1] == 0 && idxElems[head[2]].size > 0:
		return "idx"
	}
	return ""
}

// readHead returns up to n first bytes of the file at path.
func readHead(path string, n int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, n)
	m, err := f.Read(b)
	if m > 0 {
		err = nil
	}
	return b[:m], err
}

// OpenLabels reads a label file: an .npy of integers, an .npz holding one
// array or one named "y", "labels", "label" or "targets", or an IDX file of
// integers (magic 0x0801 for uint8), gzipped or not. The array must have
// shape [n] or [n 1].
func OpenLabels(path string) ([]int64, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	var (
		a   *array
		err error
	)
	switch fileKind(path) {
	case "npy":
		a, err = parseNPY(path)
	case "npz":
		a, err = parseNPZLabels(path)
	case "idx":
		a, err = parseIDX(path)
	default:
		return nil, fmt.Errorf("data: %s: labels must be .npy, .npz or IDX: %w", path, ErrUnknownFormat)
	}
	if err != nil {
		return nil, err
	}
	return a.labels()
}

// WithLabels returns src with its labels replaced by those in the label
// file at labelPath (see OpenLabels). The number of labels must equal
// src.Len(); the error otherwise names both files and both counts.
func WithLabels(src Source, labelPath string) (Source, error) {
	labels, err := OpenLabels(labelPath)
	if err != nil {
		return nil, err
	}
	if len(labels) != src.Len() {
		return nil, fmt.Errorf("data: label file %s has %d labels but %s has %d samples",
			labelPath, len(labels), pathOf(src), src.Len())
	}
	return &labeled{src: src, labels: labels, path: labelPath}, nil
}

// labeled is a source whose labels come from a separate file.
type labeled struct {
	src    Source
	labels []int64
	path   string
}

func (l *labeled) Len() int           { return l.src.Len() }
func (l *labeled) SampleShape() []int { return l.src.SampleShape() }
func (l *labeled) Path() string       { return pathOf(l.src) }

func (l *labeled) Batch(start, n int) (*tensor.Dense, []int64, error) {
	x, _, err := l.src.Batch(start, n)
	if err != nil {
		return nil, nil, err
	}
	return x, append([]int64(nil), l.labels[start:start+n]...), nil
}

func (l *labeled) gather(idx []int) (*tensor.Dense, []int64, error) {
	x, _, err := gather(l.src, idx)
	if err != nil {
		return nil, nil, err
	}
	y := make([]int64, len(idx))
	for i, j := range idx {
		y[i] = l.labels[j]
	}
	return x, y, nil
}

// pathOf names a source in messages: its file or folder when it knows one.
func pathOf(src Source) string {
	if p, ok := src.(interface{ Path() string }); ok {
		return p.Path()
	}
	return fmt.Sprintf("the dataset (%T)", src)
}

// checkRange reports a batch [start, start+n) that is not within [0, size).
func checkRange(path string, start, n, size int) error {
	if start < 0 || n < 0 || start > size || n > size-start {
		return fmt.Errorf("data: %s: batch [%d, %d) is outside the %d samples", path, start, start+n, size)
	}
	return nil
}

// existing returns the first of the paths that names a file, or "".
func existing(paths ...string) string {
	for _, p := range paths {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return p // let the reader report why it cannot be read
		}
	}
	return ""
}
