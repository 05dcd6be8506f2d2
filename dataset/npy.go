package dataset

import (
	"fmt"
	"sort"
	"strings"

	"github.com/graft-ml/graft/tensor"
)

func openNPY(path string) (*memSource, error) {
	d, err := tensor.LoadNPY(path)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	return fromDense(path, d)
}

func openNPZ(path, key string) (*memSource, error) {
	arrays, err := tensor.LoadNPZ(path)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	var names []string
	for k := range arrays {
		names = append(names, k)
	}
	sort.Strings(names)
	if key == "" {
		if len(names) == 1 {
			key = names[0]
		} else {
			for _, k := range []string{"x", "data", "images", "inputs"} {
				if arrays[k] != nil {
					key = k
					break
				}
			}
		}
		if key == "" {
			return nil, fmt.Errorf("dataset: %s holds arrays %s: choose one with a key", path, strings.Join(names, ", "))
		}
	}
	d := arrays[key]
	if d == nil {
		return nil, fmt.Errorf("dataset: %s has no array %q (it has %s)", path, key, strings.Join(names, ", "))
	}
	src, err := fromDense(path, d)
	if err != nil {
		return nil, err
	}
	for _, k := range []string{"y", "labels", "targets"} {
		if l := arrays[k]; l != nil && k != key && !l.DType.IsFloat() && l.Rank() == 1 {
			if l.Shape[0] != src.n {
				return nil, fmt.Errorf("dataset: %s: %d labels in %q for %d samples", path, l.Shape[0], k, src.n)
			}
			src.labels = l.Int64s()
			break
		}
	}
	return src, nil
}

// fromDense makes a source of an array whose first axis is samples.
func fromDense(path string, d *tensor.Dense) (*memSource, error) {
	if d.Rank() < 1 || d.Shape[0] == 0 {
		return nil, fmt.Errorf("dataset: %s: array of shape %v has no samples", path, d.Shape)
	}
	s := &memSource{n: d.Shape[0], shape: append([]int(nil), d.Shape[1:]...)}
	switch d.DType {
	case tensor.Uint8:
		raw := d.Int64s()
		s.u8 = make([]byte, len(raw))
		for i, v := range raw {
			s.u8[i] = byte(v)
		}
	case tensor.Float32:
		s.f32 = d.F32
	default:
		if d.DType == tensor.String || d.DType == tensor.Bool {
			return nil, fmt.Errorf("dataset: %s: samples of dtype %s", path, d.DType)
		}
		vals := d.Float64s()
		s.f32 = make([]float32, len(vals))
		for i, v := range vals {
			s.f32[i] = float32(v)
		}
	}
	return s, nil
}
