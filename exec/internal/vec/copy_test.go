package vec

import (
	"math"
	"testing"
)

// TestCopyRows holds CopyRows to a copy per row on column counts around
// its 8- and 32-element blocks, with strides wider than the rows, whose
// gaps must stay untouched.
func TestCopyRows(t *testing.T) {
	for _, cols := range []int{1, 7, 8, 9, 31, 32, 33, 41, 70} {
		rows, ldd, lds := 4, cols+3, cols+5
		src := make([]float32, (rows-1)*lds+cols)
		for i := range src {
			src[i] = float32(i) + 0.5
		}
		got := make([]float32, rows*ldd)
		for i := range got {
			got[i] = -1
		}
		CopyRows(got, ldd, src, lds, rows, cols)
		for i, g := range got {
			want := float32(-1)
			if r, c := i/ldd, i%ldd; c < cols {
				want = src[r*lds+c]
			}
			if g != want {
				t.Fatalf("cols=%d: element %d = %v, want %v", cols, i, g, want)
			}
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
