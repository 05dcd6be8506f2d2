package data

import (
	"fmt"
	"strconv"
	"strings"
)

// check validates the options that do not depend on the data.
func (o *Options) check() error {
	switch o.CIFAR {
	case 0, 10, 100:
	default:
		return fmt.Errorf("CIFAR must be 10 or 100, not %d", o.CIFAR)
	}
	switch o.Channels {
	case 0, 1, 3:
	default:
		return fmt.Errorf("image channels must be 1 or 3, not %d", o.Channels)
	}
	if o.Size[0] < 0 || o.Size[1] < 0 || (o.Size[0] == 0) != (o.Size[1] == 0) {
		return fmt.Errorf("image size %dx%d: want both positive, or both zero for the first image's size", o.Size[0], o.Size[1])
	}
	for _, s := range o.Std {
		if s == 0 {
			return fmt.Errorf("std %v contains a zero", o.Std)
		}
	}
	return nil
}

// transform turns decoded samples into what Batch returns: 8-bit data
// scaled to [0, 1], normalised per channel, reshaped.
type transform struct {
	in, out   []int     // sample shape as stored (natural) and as returned
	div       float32   // divide every element by this (255), or 0 for none
	mean, std []float32 // per channel, or nil
	plane     int       // elements per channel in one sample
}

// newTransform builds the transform for samples of shape natural, whose
// first axis is the channel axis; bytes says the samples are 8-bit data.
func newTransform(natural []int, bytes bool, opts Options) (*transform, error) {
	size := 1
	for _, d := range natural {
		size *= d
	}
	tf := &transform{in: natural, out: natural}
	if bytes && !opts.Raw {
		tf.div = 255
	}
	chans := 1
	if len(natural) > 0 {
		chans = natural[0]
	}
	if len(opts.Mean) > 0 || len(opts.Std) > 0 {
		var err error
		if tf.mean, err = perChannel("mean", opts.Mean, chans, 0); err != nil {
			return nil, err
		}
		if tf.std, err = perChannel("std", opts.Std, chans, 1); err != nil {
			return nil, err
		}
		if chans > 0 {
			tf.plane = size / chans
		}
	}
	if opts.SampleShape != nil {
		out, err := resolveShape(opts.SampleShape, size, natural)
		if err != nil {
			return nil, err
		}
		tf.out = out
	}
	return tf, nil
}

// perChannel expands v (one value, or one per channel) to chans values;
// empty v means def everywhere.
func perChannel(name string, v []float64, chans int, def float32) ([]float32, error) {
	out := make([]float32, chans)
	switch len(v) {
	case 0:
		for c := range out {
			out[c] = def
		}
	case 1:
		for c := range out {
			out[c] = float32(v[0])
		}
	case chans:
		for c := range out {
			out[c] = float32(v[c])
		}
	default:
		return nil, fmt.Errorf("%s has %d values; samples have %d channels (want 1 or %d)", name, len(v), chans, chans)
	}
	return out, nil
}

// resolveShape checks that shape holds size elements, filling in one -1.
func resolveShape(shape []int, size int, natural []int) ([]int, error) {
	out := append([]int(nil), shape...)
	known, free := 1, -1
	for i, d := range out {
		switch {
		case d == -1 && free < 0:
			free = i
		case d < 0:
			return nil, fmt.Errorf("sample shape %v: bad dimension %d (one -1 is allowed)", shape, d)
		default:
			known *= d
		}
	}
	if free >= 0 && known > 0 && size%known == 0 {
		out[free] = size / known
		known = size
	}
	if known != size {
		return nil, fmt.Errorf("sample shape %v does not hold the %d elements of a %v sample", shape, size, natural)
	}
	return out, nil
}

// apply transforms x, which holds whole samples, in place. Division (rather
// than multiplying by 1/255) makes every scaled value the correctly rounded
// float32 quotient, as numpy's and torch's float32 division give.
func (t *transform) apply(x []float32) {
	if t.div != 0 {
		for i := range x {
			x[i] /= t.div
		}
	}
	if t.mean == nil {
		return
	}
	chans := len(t.mean)
	step := chans * t.plane
	if step == 0 {
		return
	}
	for i := 0; i+step <= len(x); i += step {
		for c := range chans {
			m, s := t.mean[c], t.std[c]
			p := x[i+c*t.plane : i+(c+1)*t.plane]
			for j := range p {
				p[j] = (p[j] - m) / s
			}
		}
	}
}

// ParseFloats parses a comma-separated list of numbers such as
// "0.4914,0.4822,0.4465", the form of a --mean or --std flag. Spaces around
// numbers are ignored; an empty string gives nil.
func ParseFloats(s string) ([]float64, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	out := make([]float64, len(parts))
	for i, p := range parts {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil {
			return nil, fmt.Errorf("data: number %d of %q: %w", i+1, s, err)
		}
		out[i] = v
	}
	return out, nil
}
