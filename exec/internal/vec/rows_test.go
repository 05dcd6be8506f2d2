package vec

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestRows holds ScaleRows, AddRows and MeanRows to plain loops on row
// lengths around the sixteen-float vectors and their masked tails, in
// place and not, with NaNs and infinities (which must stay in their own
// rows), and checks that nothing past the rows is written.
func TestRows(t *testing.T) {
	r := rand.New(rand.NewPCG(51, 52))
	for _, n := range []int{1, 7, 15, 16, 17, 33, 49, 196} {
		for _, rows := range []int{1, 3, 10} {
			t.Run(fmt.Sprintf("n%d_rows%d", n, rows), func(t *testing.T) {
				src := make([]float32, rows*n)
				for i := range src {
					src[i] = float32(r.NormFloat64() * 10)
				}
				src[n/2] = float32(math.NaN())
				if rows > 1 {
					src[n+n/3] = float32(math.Inf(1))
				}
				s := make([]float32, rows)
				for i := range s {
					s[i] = float32(r.NormFloat64())
				}
				for _, f := range []struct {
					name string
					fn   func(dst, src, s []float32, n int)
					op   func(x, v float32) float32
				}{
					{"ScaleRows", ScaleRows, func(x, v float32) float32 { return x * v }},
					{"AddRows", AddRows, func(x, v float32) float32 { return x + v }},
				} {
					for _, inPlace := range []bool{false, true} {
						dst := make([]float32, rows*n+3)
						for i := range dst {
							dst[i] = -5
						}
						in := src
						if inPlace {
							copy(dst, src)
							in = dst[:rows*n]
						}
						f.fn(dst, in, s, n)
						for i, g := range dst {
							want := float32(-5)
							if i < rows*n {
								want = f.op(src[i], s[i/n])
							}
							if math.Float32bits(g) != math.Float32bits(want) && !(g != g && want != want) {
								t.Fatalf("%s in place %v: element %d = %v, want %v", f.name, inPlace, i, g, want)
							}
						}
					}
				}
				means := make([]float32, rows+1)
				means[rows] = -5
				MeanRows(means[:rows], src, n)
				for r := range rows {
					var sum, mag float64
					for _, v := range src[r*n : (r+1)*n] {
						sum += float64(v)
						mag += math.Abs(float64(v))
					}
					want := sum / float64(n)
					g := float64(means[r])
					if math.IsNaN(want) || math.IsInf(want, 0) {
						if g != want && !(math.IsNaN(g) && math.IsNaN(want)) {
							t.Fatalf("MeanRows row %d = %v, want %v", r, g, want)
						}
						continue
					}
					// Summed in another order: float32 rounding of the mean.
					if math.Abs(g-want) > 1.2e-7*mag/float64(n) {
						t.Fatalf("MeanRows row %d = %v, want %v", r, g, want)
					}
				}
				if means[rows] != -5 {
					t.Fatalf("MeanRows wrote past its rows")
				}
			})
		}
	}
}

// TestBiasClampRows holds BiasClampRows to biasClampGo per row on column
// counts around its 16-element vectors and mask, with strides wider than
// the rows (the gaps must stay untouched), NaNs in the input (they stay
// NaN) and an infinite bound.
func TestBiasClampRows(t *testing.T) {
	nan := float32(math.NaN())
	for _, cols := range []int{1, 7, 15, 16, 17, 31, 32, 33, 58} {
		for _, hi := range []float32{0.75, float32(math.Inf(1))} {
			rows, ldd, lds := 3, cols+2, cols+5
			src := make([]float32, (rows-1)*lds+cols)
			for i := range src {
				src[i] = float32(i%11)*0.25 - 1
			}
			src[len(src)/2] = nan
			got := make([]float32, rows*ldd)
			for i := range got {
				got[i] = -7
			}
			BiasClampRows(got, ldd, src, lds, rows, cols, 0.125, -0.5, hi)
			for r := range rows {
				want := make([]float32, cols)
				biasClampGo(want, src[r*lds:r*lds+cols], 0.125, -0.5, hi)
				for c := range ldd {
					g := got[r*ldd+c]
					w := float32(-7)
					if c < cols {
						w = want[c]
					}
					if g != w && !(g != g && w != w) {
						t.Fatalf("cols=%d hi=%v: row %d column %d = %v, want %v", cols, hi, r, c, g, w)
					}
				}
			}
		}
	}
}
