// Package dataset reads the datasets graft feeds to models: .npy and .npz
// arrays, IDX files (the MNIST family, gzipped or not), CIFAR binary
// batches and folders of images with one subfolder per class. Every
// format becomes a Source of float32 samples with optional integer
// labels, read a batch at a time.
package dataset

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/graft-ml/graft/tensor"
)

// Source is a dataset: Len samples of one shape, with labels or without.
type Source interface {
	// Len is the number of samples.
	Len() int
	// SampleShape is the shape of one sample, e.g. [1 28 28].
	SampleShape() []int
	// Batch returns samples [start, start+n) as a float32 tensor (n,
	// SampleShape...) and their labels, nil if the dataset has none.
	Batch(start, n int) (*tensor.Dense, []int64, error)
}

// Options choose how samples are read and normalised.
type Options struct {
	// Key names the array of an .npz file (default: its only array, or
	// one named x, data, images or inputs).
	Key string
	// Labels is a file of labels (.npy of integers, or an IDX label
	// file) for a dataset that carries none or to override them.
	Labels string
	// Raw keeps 8-bit pixel values in 0..255; by default they are scaled
	// to [0, 1], as torchvision's ToTensor does.
	Raw bool
	// Mean and Std, one value or one per channel (axis 1 of a batch),
	// normalise samples after scaling: (x - mean) / std.
	Mean, Std []float64
	// SampleShape reshapes each sample (same number of elements), e.g.
	// [784] to feed 28×28 images to an MLP.
	SampleShape []int
	// Size is the (height, width) every image of a folder is resized to
	// (bilinear); zero means the first image's size.
	Size [2]int
	// CIFAR100 reads CIFAR-100 records (coarse and fine label bytes; the
	// fine label is used) instead of CIFAR-10's.
	CIFAR100 bool
}

// Open reads the dataset at path, choosing the format from the name: a
// file ending .npy, .npz, -ubyte or -ubyte.gz (IDX), .bin (CIFAR), or a
// folder of CIFAR batches or of class subfolders of images.
func Open(path string, opt Options) (Source, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	var src *memSource
	lower := strings.ToLower(path)
	switch {
	case st.IsDir():
		if bins, _ := filepath.Glob(filepath.Join(path, "*.bin")); len(bins) > 0 {
			src, err = openCIFAR(bins, opt)
		} else {
			src, err = openImageFolder(path, opt)
		}
	case strings.HasSuffix(lower, ".npy"):
		src, err = openNPY(path)
	case strings.HasSuffix(lower, ".npz"):
		src, err = openNPZ(path, opt.Key)
	case strings.HasSuffix(lower, "ubyte") || strings.HasSuffix(lower, "ubyte.gz") || strings.HasSuffix(lower, ".idx") || strings.HasSuffix(lower, ".idx.gz"):
		src, err = openIDXImages(path)
	case strings.HasSuffix(lower, ".bin"):
		src, err = openCIFAR([]string{path}, opt)
	default:
		return nil, fmt.Errorf("dataset: %s: unknown format (want .npy, .npz, an IDX file, CIFAR .bin batches or a folder of class subfolders)", path)
	}
	if err != nil {
		return nil, err
	}
	if opt.Labels != "" {
		labels, err := ReadLabels(opt.Labels)
		if err != nil {
			return nil, err
		}
		if len(labels) != src.n {
			return nil, fmt.Errorf("dataset: %s has %d labels but %s has %d samples", opt.Labels, len(labels), path, src.n)
		}
		src.labels = labels
	}
	if err := src.configure(opt); err != nil {
		return nil, fmt.Errorf("dataset: %s: %w", path, err)
	}
	return src, nil
}

// ReadLabels reads integer labels from an .npy array or an IDX label file.
func ReadLabels(path string) ([]int64, error) {
	lower := strings.ToLower(path)
	if strings.HasSuffix(lower, ".npy") {
		d, err := tensor.LoadNPY(path)
		if err != nil {
			return nil, fmt.Errorf("dataset: labels: %w", err)
		}
		if d.DType.IsFloat() {
			return nil, fmt.Errorf("dataset: labels %s are %s; want integers", path, d.DType)
		}
		return d.Int64s(), nil
	}
	return readIDXLabels(path)
}

// ParseFloats reads a comma-separated list of numbers ("0.2860,0.3530").
func ParseFloats(s string) ([]float64, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			return nil, fmt.Errorf("%q: not a list of numbers", s)
		}
		out = append(out, v)
	}
	return out, nil
}

// memSource holds a dataset's samples in memory in their stored type:
// 8-bit pixels stay bytes until a batch is read.
type memSource struct {
	n      int
	shape  []int     // stored per-sample shape
	u8     []byte    // 8-bit samples, or
	f32    []float32 // float samples
	labels []int64

	scale     float32
	mean, std []float32 // per channel (axis 0 of a sample)
	outShape  []int
}

func (s *memSource) Len() int           { return s.n }
func (s *memSource) SampleShape() []int { return append([]int(nil), s.outShape...) }
func (s *memSource) per() int           { n, _ := tensor.NumElems(s.shape); return n }
func (s *memSource) isBytes() bool      { return s.u8 != nil }
func (s *memSource) channels() int {
	if len(s.shape) >= 2 {
		return s.shape[0]
	}
	return 1
}

func (s *memSource) configure(opt Options) error {
	s.scale = 1
	if s.isBytes() && !opt.Raw {
		s.scale = 1.0 / 255
	}
	c := s.channels()
	for _, ms := range []struct {
		name string
		in   []float64
		out  *[]float32
	}{{"mean", opt.Mean, &s.mean}, {"std", opt.Std, &s.std}} {
		switch len(ms.in) {
		case 0:
		case 1, c:
			for i := range c {
				v := ms.in[min(i, len(ms.in)-1)]
				if ms.name == "std" && v <= 0 {
					return fmt.Errorf("std %g: must be positive", v)
				}
				*ms.out = append(*ms.out, float32(v))
			}
		default:
			return fmt.Errorf("%d %s values for %d channels", len(ms.in), ms.name, c)
		}
	}
	s.outShape = s.shape
	if opt.SampleShape != nil {
		n, err := tensor.NumElems(opt.SampleShape)
		if err != nil || n != s.per() {
			return fmt.Errorf("sample shape %v does not hold the %d values of a %v sample", opt.SampleShape, s.per(), s.shape)
		}
		s.outShape = opt.SampleShape
	}
	return nil
}

func (s *memSource) Batch(start, n int) (*tensor.Dense, []int64, error) {
	if start < 0 || n < 0 || start+n > s.n {
		return nil, nil, fmt.Errorf("dataset: samples %d–%d outside the %d samples", start, start+n-1, s.n)
	}
	per := s.per()
	out := make([]float32, n*per)
	if s.isBytes() {
		for i, b := range s.u8[start*per : (start+n)*per] {
			out[i] = float32(b) * s.scale
		}
	} else {
		copy(out, s.f32[start*per:(start+n)*per])
	}
	if s.mean != nil || s.std != nil {
		c := s.channels()
		plane := per / c
		for i := range n {
			for ch := range c {
				m, sd := float32(0), float32(1)
				if s.mean != nil {
					m = s.mean[ch]
				}
				if s.std != nil {
					sd = s.std[ch]
				}
				p := out[(i*c+ch)*plane : (i*c+ch+1)*plane]
				for j := range p {
					p[j] = (p[j] - m) / sd
				}
			}
		}
	}
	var labels []int64
	if s.labels != nil {
		labels = append([]int64(nil), s.labels[start:start+n]...)
	}
	return tensor.FromF32(append([]int{n}, s.outShape...), out), labels, nil
}

var errTruncated = errors.New("file ends early")
