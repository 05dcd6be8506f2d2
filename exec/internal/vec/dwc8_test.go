package vec

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestDWC8 holds DWC8 and DWC16 (the assembly where there is one) to
// their plain loop over windows 1×1 to 5×5, strides 1 to 3, one to three
// groups of eight pixels, output planes wider than the row, with a clamp
// and NaNs. The assembly fuses each multiply-add, the loop rounds the
// product first: they may differ by float32 rounding of the partial sums,
// bounded by 1e-6 of the sum of the terms' magnitudes.
func TestDWC8(t *testing.T) {
	kernels := []struct {
		lanes int
		fn    func(out []float32, ldo int, in []float32, wp int, w, bias []float32, kh, kw, s, n int, lo, hi float32)
	}{{8, DWC8}, {16, DWC16}}
	for _, k := range kernels {
		t.Run(fmt.Sprintf("lanes%d", k.lanes), func(t *testing.T) { testDWC(t, k.lanes, k.fn) })
	}
}

func testDWC(t *testing.T, lanes int, dwc func(out []float32, ldo int, in []float32, wp int, w, bias []float32, kh, kw, s, n int, lo, hi float32)) {
	r := rand.New(rand.NewPCG(41, 42))
	for _, c := range []struct{ kh, kw, s, n int }{
		{3, 3, 1, 1}, {3, 3, 2, 2}, {5, 5, 1, 3}, {5, 5, 2, 1}, {1, 1, 1, 2}, {3, 5, 3, 2}, {2, 1, 1, 1},
	} {
		t.Run(fmt.Sprintf("%dx%d_s%d_n%d", c.kh, c.kw, c.s, c.n), func(t *testing.T) {
			wp := (8*c.n-1)*c.s + c.kw + 3
			in := make([]float32, (c.kh*wp)*lanes)
			for i := range in {
				in[i] = float32(r.NormFloat64())
			}
			in[lanes*2+5] = float32(math.NaN())
			in[lanes*3+lanes-2] = float32(math.NaN()) // in the upper half of DWC16's vector
			w := make([]float32, c.kh*c.kw*lanes)
			for i := range w {
				w[i] = float32(r.NormFloat64())
			}
			bias := make([]float32, lanes)
			for i := range bias {
				bias[i] = float32(r.NormFloat64())
			}
			ldo := 8*c.n + 5
			for _, clamp := range [][2]float32{{float32(math.Inf(-1)), float32(math.Inf(1))}, {0, 1.5}} {
				got, want := make([]float32, lanes*ldo), make([]float32, lanes*ldo)
				dwc(got, ldo, in, wp, w, bias, c.kh, c.kw, c.s, c.n, clamp[0], clamp[1])
				dwcGo(lanes, want, ldo, in, wp, w, bias, c.kh, c.kw, c.s, c.n, clamp[0], clamp[1])
				for ch := range lanes {
					for j := range ldo {
						g, wv := got[ch*ldo+j], want[ch*ldo+j]
						if j >= 8*c.n {
							if g != 0 {
								t.Fatalf("channel %d: wrote %v past the %d outputs", ch, g, 8*c.n)
							}
							continue
						}
						mag := float64(abs32(bias[ch]))
						for ky := range c.kh {
							for kx := range c.kw {
								mag += float64(abs32(w[(ky*c.kw+kx)*lanes+ch] * in[(ky*wp+j*c.s+kx)*lanes+ch]))
							}
						}
						if (g != g) != (wv != wv) || math.Abs(float64(g-wv)) > 1e-6*mag {
							t.Fatalf("clamp %v channel %d output %d: %v, want %v", clamp, ch, j, g, wv)
						}
					}
				}
			}
		})
	}
}

func abs32(x float32) float32 { return float32(math.Abs(float64(x))) }
