package exec

import (
	"errors"
	"math"
	"math/cmplx"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// TestSTFTComplex checks a windowed STFT of a complex signal against the
// definition, summed with math/cmplx: ONNX Runtime 1.30 gets this case
// wrong (its output is off by up to 7 where NumPy's np.fft.fft and graft
// agree to 2.4e-7), so it cannot be the reference here.
func TestSTFTComplex(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const total, step, length = 40, 5, 16
	x := tensor.New(tensor.Float32, 1, total, 2)
	for i := range x.F32 {
		x.F32[i] = float32(r.NormFloat64())
	}
	w := tensor.New(tensor.Float32, length)
	for i := range w.F32 {
		w.F32[i] = float32(0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/length))
	}
	g := onnx.NewGraph("stft")
	in, _ := g.AddInput("x", onnx.ShapeOf(tensor.Float32, x.Shape...))
	n := g.AddNode("STFT", "", "stft", []*onnx.Value{in, g.AddConst("step", tensor.FromI64(nil, []int64{step})), g.AddConst("w", w)}, []string{"y"}, onnx.IntAttr("onesided", 0))
	g.Outputs = append(g.Outputs, n.Outputs[0])
	p, err := Compile(onnx.NewModel(g, 17))
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Run(map[string]*tensor.Dense{"x": x}, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	y := out["y"]
	frames := 1 + (total-length)/step
	if !slices.Equal(y.Shape, []int{1, frames, length, 2}) {
		t.Fatalf("shape %v", y.Shape)
	}
	for f := range frames {
		for k := range length {
			var sum complex128
			for j := range length {
				p := (f*step + j) * 2
				v := complex(float64(x.F32[p]), float64(x.F32[p+1])) * complex(float64(w.F32[j]), 0)
				sum += v * cmplx.Exp(complex(0, -2*math.Pi*float64(j*k)/length))
			}
			q := (f*length + k) * 2
			if d := cmplx.Abs(complex(float64(y.F32[q]), float64(y.F32[q+1])) - sum); d > 1e-5*(1+cmplx.Abs(sum)) {
				t.Fatalf("frame %d bin %d: %v%+vi, want %v", f, k, y.F32[q], y.F32[q+1], sum)
			}
		}
	}
}

// TestSpectralORT compares DFT and STFT with ONNX Runtime on the cases
// ONNX's node tests leave out: odd lengths, zero-padding and cutting by
// dft_length, one-sided output, complex input, the inverse along another
// axis, windowed and two-sided STFTs. Both sum float32 products
// in different orders: outputs agree to 1e-4 of the largest magnitude.
func TestSpectralORT(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	randn := func(shape ...int) *tensor.Dense {
		d := tensor.New(tensor.Float32, shape...)
		for i := range d.F32 {
			d.F32[i] = float32(r.NormFloat64())
		}
		return d
	}
	i64 := func(v int64) *tensor.Dense { return tensor.FromI64(nil, []int64{v}) }
	hann := func(n int) *tensor.Dense {
		d := tensor.New(tensor.Float32, n)
		for i := range d.F32 {
			d.F32[i] = float32(0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(n)))
		}
		return d
	}
	cases := []struct {
		name   string
		op     string
		x      *tensor.Dense
		consts []*tensor.Dense // inputs after x; nil leaves one out
		attrs  []*onnx.Attr
	}{
		{"DFT odd length", "DFT", randn(2, 7, 1), nil, nil},
		{"DFT padded onesided", "DFT", randn(2, 9, 3, 1), []*tensor.Dense{i64(12)}, []*onnx.Attr{onnx.IntAttr("onesided", 1)}},
		{"DFT cut", "DFT", randn(1, 11, 1), []*tensor.Dense{i64(8)}, nil},
		{"DFT complex inverse axis 2", "DFT", randn(2, 3, 5, 2), nil, []*onnx.Attr{onnx.IntAttr("axis", 2), onnx.IntAttr("inverse", 1)}},
		{"STFT hann window", "STFT", randn(2, 100, 1), []*tensor.Dense{i64(10), hann(32)}, nil},
		{"STFT length only, two-sided", "STFT", randn(1, 50, 1), []*tensor.Dense{i64(7), nil, i64(15)}, []*onnx.Attr{onnx.IntAttr("onesided", 0)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := onnx.NewGraph("spectral")
			in, err := g.AddInput("x", onnx.ShapeOf(tensor.Float32, c.x.Shape...))
			if err != nil {
				t.Fatal(err)
			}
			ins := []*onnx.Value{in}
			for i, k := range c.consts {
				if k == nil {
					ins = append(ins, nil)
					continue
				}
				ins = append(ins, g.AddConst("k"+string(rune('0'+i)), k))
			}
			n := g.AddNode(c.op, "", "spec", ins, []string{"y"}, c.attrs...)
			g.Outputs = append(g.Outputs, n.Outputs[0])
			m := onnx.NewModel(g, 17)
			if err := InferShapes(m); err != nil {
				t.Fatal(err)
			}
			p, err := Compile(m)
			if err != nil {
				t.Fatal(err)
			}
			out, err := p.Run(map[string]*tensor.Dense{"x": c.x}, RunOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got := out["y"]
			path := filepath.Join(t.TempDir(), "m.onnx")
			if err := m.Save(path); err != nil {
				t.Fatal(err)
			}
			want, err := fixtures.RunORT(path, "x", c.x)
			if errors.Is(err, fixtures.ErrNoORT) && os.Getenv("CI") == "" {
				t.Skip(err)
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Shape, want.Shape) {
				t.Fatalf("shape %v, ONNX Runtime %v", got.Shape, want.Shape)
			}
			scale := 0.0
			for _, v := range want.F32 {
				scale = math.Max(scale, math.Abs(float64(v)))
			}
			for i := range want.F32 {
				if d := math.Abs(float64(got.F32[i] - want.F32[i])); d > 1e-4*scale {
					t.Fatalf("element %d: %v, ONNX Runtime %v (scale %v)", i, got.F32[i], want.F32[i], scale)
				}
			}
		})
	}
}
