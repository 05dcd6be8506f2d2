package vec

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestClamp holds Clamp (the assembly loop where there is one) to
// clampGo's element rule on every length around the 32-element blocks,
// with NaNs, infinities, signed zeros and values on the bounds, in place
// and out of place.
func TestClamp(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	special := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0, float32(math.Copysign(0, -1)), 6, -6}
	bounds := [][2]float32{{0, float32(math.Inf(1))}, {0, 6}, {-1, 1}, {float32(math.Inf(-1)), float32(math.Inf(1))}, {2, 1}}
	for _, n := range []int{0, 1, 31, 32, 33, 63, 64, 65, 200} {
		for _, b := range bounds {
			src := make([]float32, n)
			for i := range src {
				src[i] = float32(r.NormFloat64() * 5)
				if r.IntN(5) == 0 {
					src[i] = special[r.IntN(len(special))]
				}
			}
			want := make([]float32, n)
			clampGo(want, src, b[0], b[1])
			got := make([]float32, n)
			Clamp(got, src, b[0], b[1])
			inPlace := append([]float32(nil), src...)
			Clamp(inPlace, inPlace, b[0], b[1])
			for i := range want {
				w := math.Float32bits(want[i])
				if math.IsNaN(float64(want[i])) {
					if !math.IsNaN(float64(got[i])) || !math.IsNaN(float64(inPlace[i])) {
						t.Fatalf("n=%d bounds %v: element %d of NaN gave %v / %v", n, b, i, got[i], inPlace[i])
					}
					continue
				}
				if math.Float32bits(got[i]) != w || math.Float32bits(inPlace[i]) != w {
					t.Fatalf("n=%d bounds %v: element %d (%v) gave %v / %v, want %v", n, b, i, src[i], got[i], inPlace[i], want[i])
				}
			}
		}
	}
}

// TestBiasClamp holds BiasClamp to its one-element twin like TestClamp.
func TestBiasClamp(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	inf := float32(math.Inf(1))
	// 8, 14, 28 and 47 take the 8-wide blocks (47 = 32 + 8 + 7).
	for _, n := range []int{0, 5, 8, 14, 28, 32, 33, 47, 100} {
		for _, b := range [][3]float32{{0.5, 0, inf}, {-1, 0, 6}, {2, -inf, inf}} {
			src := make([]float32, n)
			for i := range src {
				src[i] = float32(r.NormFloat64() * 4)
				if i%7 == 3 {
					src[i] = float32(math.NaN())
				}
			}
			want, got := make([]float32, n), make([]float32, n)
			inPlace := append([]float32(nil), src...)
			biasClampGo(want, src, b[0], b[1], b[2])
			BiasClamp(got, src, b[0], b[1], b[2])
			BiasClamp(inPlace, inPlace, b[0], b[1], b[2])
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) || math.Float32bits(inPlace[i]) != math.Float32bits(want[i]) {
					t.Fatalf("n=%d %v: element %d (%v) gave %v, want %v", n, b, i, src[i], got[i], want[i])
				}
			}
		}
	}
}

func BenchmarkClamp(b *testing.B) {
	s := make([]float32, 1<<16)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	dst := make([]float32, len(s))
	b.SetBytes(int64(8 * len(s)))
	for b.Loop() {
		Clamp(dst, s, 0, 6)
	}
}

// TestDW3x3 holds DW3x3 to its one-element-at-a-time twin on row lengths
// around the 16-wide blocks. Fused multiply-adds round once where the twin
// rounds twice, so they agree to a few ulps of the terms' magnitude
// (1e-5 relative to Σ|terms| is ample).
func TestDW3x3(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var w [9]float32
	for i := range w {
		w[i] = float32(r.NormFloat64())
	}
	for _, n := range []int{1, 15, 16, 17, 31, 32, 33, 56, 112} {
		rows := make([][]float32, 3)
		for k := range rows {
			rows[k] = make([]float32, n+2)
			for i := range rows[k] {
				rows[k][i] = float32(r.NormFloat64())
			}
		}
		got, want := make([]float32, n), make([]float32, n)
		DW3x3(got, rows[0], rows[1], rows[2], &w, 0.5)
		dw3x3Go(want, rows[0], rows[1], rows[2], &w, 0.5)
		for i := range want {
			mag := float32(0.5)
			for k := range 9 {
				mag += float32(math.Abs(float64(w[k] * rows[k/3][i+k%3])))
			}
			if d := math.Abs(float64(got[i] - want[i])); d > 1e-5*float64(mag) {
				t.Fatalf("n=%d: output %d = %v, want %v", n, i, got[i], want[i])
			}
		}
	}
}

// TestAxpy holds Axpy to its twin within the rounding of one product
// (FMA rounds once, the twin twice).
func TestAxpy(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, n := range []int{0, 3, 8, 13, 32, 47, 100} {
		src := make([]float32, n+3)
		dst := make([]float32, n)
		for i := range src {
			src[i] = float32(r.NormFloat64())
		}
		for i := range dst {
			dst[i] = float32(r.NormFloat64())
		}
		want := append([]float32(nil), dst...)
		axpyGo(want, src, 0.7)
		Axpy(dst, src, 0.7)
		for i := range want {
			if d := math.Abs(float64(dst[i] - want[i])); d > 1e-6*(1+math.Abs(float64(want[i]))) {
				t.Fatalf("n=%d: element %d = %v, want %v", n, i, dst[i], want[i])
			}
		}
	}
}
