package fitting

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/graft-ml/graft/tensor"
)

// naiveConv is the definition of a square Conv (ONNX Conv, group 1) in
// float64: y[n,o,i,j] = b[o] + Σ_c,ky,kx w[o,c,ky,kx]·x[n,c,i·s+ky−pad,j·s+kx−pad],
// zero outside x. It returns float32 NCHW.
func naiveConv(x *tensor.Dense, w, b []float64, out int, pt Patches) *tensor.Dense {
	n, c, h, wd := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	k, s := pt.K, pt.stride()
	oh, ow := (h+2*pt.Pad-k)/s+1, (wd+2*pt.Pad-k)/s+1
	y := tensor.New(tensor.Float32, n, out, oh, ow)
	for img := range n {
		for o := range out {
			for i := range oh {
				for j := range ow {
					v := b[o]
					for ch := range c {
						for ky := range k {
							for kx := range k {
								iy, ix := i*s+ky-pt.Pad, j*s+kx-pt.Pad
								if iy < 0 || iy >= h || ix < 0 || ix >= wd {
									continue
								}
								v += w[((o*c+ch)*k+ky)*k+kx] * float64(x.F32[((img*c+ch)*h+iy)*wd+ix])
							}
						}
					}
					y.F32[((img*out+o)*oh+i)*ow+j] = float32(v)
				}
			}
		}
	}
	return y
}

func randNCHW(seed uint64, shape ...int) *tensor.Dense {
	rng := newRand(seed)
	x := tensor.New(tensor.Float32, shape...)
	copy(x.F32, gaussian(rng, 1, x.Len(), 0.5, 1))
	return x
}

var convCases = []Patches{{K: 1}, {K: 3, Pad: 1}, {K: 3, Stride: 2}, {K: 2, Pad: 1, Stride: 2}, {K: 3, Pad: 2}}

// TestUnfold checks that a Conv is the Gemm of the unfolded patches with
// the weight read as (Out, C·K·K): both sides are computed in float64 from
// the same float32 inputs and rounded to float32, so they agree to one
// float32 rounding (6e-8 relative; 1e-7 allowed).
func TestUnfold(t *testing.T) {
	const n, c, h, w, out = 2, 3, 5, 6, 4
	for _, pt := range convCases {
		t.Run(fmt.Sprintf("k%d_pad%d_stride%d", pt.K, pt.Pad, pt.Stride), func(t *testing.T) {
			x := randNCHW(200, n, c, h, w)
			rng := newRand(201)
			a := &Affine{In: c * pt.K * pt.K, Out: out, W: randMatrix(rng, out, c*pt.K*pt.K), B: randMatrix(rng, 1, out)}
			want := naiveConv(x, a.W, a.B, out, pt)
			u, err := Unfold(x, pt)
			if err != nil {
				t.Fatal(err)
			}
			oh, ow := want.Shape[2], want.Shape[3]
			if u.Shape[0] != n*oh*ow || u.Shape[1] != a.In {
				t.Fatalf("unfolded shape %v, want [%d %d]", u.Shape, n*oh*ow, a.In)
			}
			got, row, y := make([]float64, want.Len()), make([]float64, a.In), make([]float64, out)
			ref := make([]float64, want.Len())
			for r := range u.Shape[0] {
				for i := range row {
					row[i] = float64(u.F32[r*a.In+i])
				}
				a.Apply(y, row)
				img, pos := r/(oh*ow), r%(oh*ow)
				for o := range out {
					got[(img*out+o)*oh*ow+pos] = float64(float32(y[o]))
				}
			}
			for i, v := range want.F32 {
				ref[i] = float64(v)
			}
			if d := relDiff(got, ref); d > 1e-7 {
				t.Errorf("unfold·Wᵀ differs from the conv by %.3g relative", d)
			}
		})
	}
	// Pixels is the 1x1 unfold: pixel (n,i,j) holds the C channel values.
	x := randNCHW(202, 2, 3, 2, 2)
	px, err := Pixels(x)
	if err != nil {
		t.Fatal(err)
	}
	for r := range 8 {
		for ch := range 3 {
			img, pos := r/4, r%4
			if px.F32[r*3+ch] != x.F32[(img*3+ch)*4+pos] {
				t.Fatalf("pixel row %d channel %d = %v, want %v", r, ch, px.F32[r*3+ch], x.F32[(img*3+ch)*4+pos])
			}
		}
	}
}

// TestAddConv checks that AddConv, which unfolds one chunk at a time,
// accumulates exactly what Add does on the fully unfolded batch (the rows
// come in the same order and chunks, so the sums are bit-identical), over
// more rows than a chunk; and that fitting an exact conv recovers its
// weights (to 1e-5: b is rounded to float32).
func TestAddConv(t *testing.T) {
	const n, ca, cb, h, w = 5, 3, 4, 16, 16
	for _, pt := range []Patches{{K: 1}, {K: 3, Pad: 1}, {K: 3, Stride: 2}} {
		t.Run(fmt.Sprintf("k%d_pad%d_stride%d", pt.K, pt.Pad, pt.Stride), func(t *testing.T) {
			a := randNCHW(210, n, ca, h, w)
			rng := newRand(211)
			in := ca * pt.K * pt.K
			wt, bias := randMatrix(rng, cb, in), randMatrix(rng, 1, cb)
			b := naiveConv(a, wt, bias, cb, pt)
			s, _ := NewStats(in, cb)
			if err := AddConv(s, a, b, pt); err != nil {
				t.Fatal(err)
			}
			ua, err := Unfold(a, pt)
			if err != nil {
				t.Fatal(err)
			}
			pb, err := Pixels(b)
			if err != nil {
				t.Fatal(err)
			}
			ref := statsOf(t, ua.F32, pb.F32, in, cb)
			if s.N() != ref.N() || relDiff(upper(s), upper(ref)) != 0 || relDiff(s.mean, ref.mean) != 0 {
				t.Errorf("AddConv differs from Add on the unfolded batch")
			}
			f, err := Linear(s, LinearOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if d := maxAbsDiff(f.W, wt); d > 1e-5 {
				t.Errorf("fitted conv weights off by %.3g", d)
			}
			if d := maxAbsDiff(f.B, bias); d > 1e-5 {
				t.Errorf("fitted conv bias off by %.3g", d)
			}
		})
	}
}

func TestConvErrors(t *testing.T) {
	a := randNCHW(220, 2, 3, 8, 8)
	s, _ := NewStats(27, 4)
	nanA := a.Clone()
	nanA.F32[(1*3+2)*64+3*8+5] = float32(math.NaN())
	cases := []struct {
		name string
		s    *Stats
		a, b *tensor.Dense
		pt   Patches
		want string
	}{
		{"size", s, a, tensor.New(tensor.Float32, 2, 4, 7, 8), Patches{K: 3, Pad: 1}, "B is 7×8 but a 3×3 conv (pad 1, stride 1) on A's 8×8 gives 8×8"},
		{"images", s, a, tensor.New(tensor.Float32, 3, 4, 8, 8), Patches{K: 3, Pad: 1}, "A holds 2 images, B 3"},
		{"channels", s, a, tensor.New(tensor.Float32, 2, 5, 8, 8), Patches{K: 3, Pad: 1}, "B has 5 channels"},
		{"rank", s, a, tensor.New(tensor.Float32, 2, 4, 64), Patches{K: 3, Pad: 1}, "want a float32 NCHW tensor"},
		{"dtype", s, a, tensor.New(tensor.Float64, 2, 4, 8, 8), Patches{K: 3, Pad: 1}, "want a float32 NCHW tensor"},
		{"pad", s, a, tensor.New(tensor.Float32, 2, 4, 8, 8), Patches{K: 1, Pad: 1}, "padding must be below the kernel size"},
		{"kernel", s, a, tensor.New(tensor.Float32, 2, 4, 8, 8), Patches{K: 0}, "want k ≥ 1"},
		{"too_small", s, a, tensor.New(tensor.Float32, 2, 4, 8, 8), Patches{K: 11, Pad: 1}, "smaller than the 11×11 kernel"},
		{"nan", s, nanA, tensor.New(tensor.Float32, 2, 4, 8, 8), Patches{K: 3, Pad: 1}, "activation A image 1 channel 2 pixel (3,5) is NaN"},
		{"nil_stats", nil, a, a, Patches{K: 1}, "nil stats"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := AddConv(c.s, c.a, c.b, c.pt)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
			if s.N() != 0 {
				t.Fatalf("a rejected call added %d samples", s.N())
			}
		})
	}
}
