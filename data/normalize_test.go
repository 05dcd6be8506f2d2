package data

import (
	"slices"
	"strings"
	"testing"

	"github.com/graft-ml/graft/tensor"
)

func TestParseFloats(t *testing.T) {
	cases := []struct {
		in   string
		want []float64
		err  string
	}{
		{"0.2860,0.3530", []float64{0.2860, 0.3530}, ""},
		{" 0.4914 , 0.4822,0.4465 ", []float64{0.4914, 0.4822, 0.4465}, ""},
		{"1e-3", []float64{0.001}, ""},
		{"", nil, ""},
		{"  ", nil, ""},
		{"0.5,,0.5", nil, `number 2 of "0.5,,0.5"`},
		{"0.5;0.5", nil, `number 1 of "0.5;0.5"`},
	}
	for _, c := range cases {
		got, err := ParseFloats(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseFloats(%q): error %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("ParseFloats(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
}

// TestNormalize checks scaling, per-channel mean/std and reshaping on two
// samples of two channels of two bytes each, computed here by hand: the
// bytes are 0, 51, 102, 153 | 204, 255, 0, 255, so scaled to [0, 1] they
// are 0, 0.2, 0.4, 0.6 | 0.8, 1, 0, 1 (channel 0 is each sample's first
// pair).
func TestNormalize(t *testing.T) {
	dir := t.TempDir()
	p := saveNPY(t, dir, "u8.npy", &tensor.Dense{DType: tensor.Uint8, Shape: []int{2, 2, 2},
		I64: []int64{0, 51, 102, 153, 204, 255, 0, 255}})
	cases := []struct {
		name  string
		opts  Options
		shape []int // of one sample
		want  []float32
		err   string
	}{
		{"scaled", Options{}, []int{2, 2}, []float32{0, 0.2, 0.4, 0.6, 0.8, 1, 0, 1}, ""},
		{"raw", Options{Raw: true}, []int{2, 2}, []float32{0, 51, 102, 153, 204, 255, 0, 255}, ""},
		{"one_mean_std", Options{Mean: []float64{0.5}, Std: []float64{0.5}}, []int{2, 2},
			[]float32{-1, -0.6, -0.2, 0.2, 0.6, 1, -1, 1}, ""},
		// Channel 0: (x-0.2)/0.4; channel 1: (x-0.6)/0.2.
		{"per_channel", Options{Mean: []float64{0.2, 0.6}, Std: []float64{0.4, 0.2}}, []int{2, 2},
			[]float32{-0.5, 0, -1, 0, 1.5, 2, -3, 2}, ""},
		{"mean_only", Options{Mean: []float64{1, 0}}, []int{2, 2}, []float32{-1, -0.8, 0.4, 0.6, -0.2, 0, 0, 1}, ""},
		{"raw_std", Options{Raw: true, Std: []float64{51}}, []int{2, 2}, []float32{0, 1, 2, 3, 4, 5, 0, 5}, ""},
		{"flatten", Options{SampleShape: []int{4}}, []int{4}, []float32{0, 0.2, 0.4, 0.6, 0.8, 1, 0, 1}, ""},
		{"infer_dim", Options{SampleShape: []int{-1, 1, 2}}, []int{2, 1, 2}, []float32{0, 0.2, 0.4, 0.6, 0.8, 1, 0, 1}, ""},
		// Normalisation uses the stored channel axis, then reshapes.
		{"normalise_then_flatten", Options{Mean: []float64{0.2, 0.6}, Std: []float64{0.4, 0.2}, SampleShape: []int{4}}, []int{4},
			[]float32{-0.5, 0, -1, 0, 1.5, 2, -3, 2}, ""},
		{"two_free_dims", Options{SampleShape: []int{-1, -1}}, nil, nil, "one -1 is allowed"},
		{"wrong_count", Options{SampleShape: []int{3, -1}}, nil, nil, "does not hold the 4 elements of a [2 2] sample"},
		{"std_channels", Options{Std: []float64{1, 2, 3}}, nil, nil, "std has 3 values; samples have 2 channels"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src, err := Open(p, c.opts)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), p) {
					t.Fatalf("error %v, want one naming %s with %q", err, p, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			x, _ := readAll(t, src)
			if !tensor.SameShape(src.SampleShape(), c.shape) || !tensor.SameShape(x.Shape[1:], c.shape) {
				t.Fatalf("sample shape %v, batch %v; want %v", src.SampleShape(), x.Shape, c.shape)
			}
			for i := range c.want {
				if d := x.F32[i] - c.want[i]; d > 1e-6 || d < -1e-6 {
					t.Fatalf("got %v, want %v", x.F32, c.want)
				}
			}
		})
	}
}
