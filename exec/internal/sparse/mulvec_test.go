package sparse

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestMulVec holds MulVec (the 16-bit gather kernel where there is one) to
// the float64 dense product and to its pure-Go twin (mulVecRows), with and
// without accumulating into y and clamping, on odd shapes: rows of 0 to
// 70 nonzeros (around the blocks of 8 and 32), column counts that are not
// multiples of 8, the largest 16-bit column (65535), more columns than 16
// bits index (the 32-bit path, also taken without PrepareMulVec), and a
// sub-range of rows. Tolerance: 1e-5
// of the sum of the products' magnitudes (float32 sums of up to a few
// hundred products round to about 1e-6 of it).
func TestMulVec(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	inf := float32(math.Inf(1))
	for _, tc := range []struct {
		rows, cols int
		density    float64
	}{
		{1, 1, 1}, {71, 70, 0}, {71, 70, 0.5}, {40, 13, 1}, {33, 2100, 0.05},
		{5, 1 << 16, 0.0005}, {3, 70000, 0.0003},
	} {
		w := randomSparse(r, tc.rows, tc.cols, tc.density)
		if tc.rows == 71 && tc.density > 0 {
			// Row i holds exactly i nonzeros, the last ones at the
			// largest columns.
			clear(w)
			for i := range tc.rows {
				for j := range i {
					w[i*tc.cols+tc.cols-1-j] = float32(r.NormFloat64())
				}
			}
		}
		if tc.cols == 1<<16 {
			w[tc.cols-1] = 2 // column 65535
		}
		a := FromDense(w, tc.rows, tc.cols, false)
		a.PrepareMulVec()
		x := make([]float32, tc.cols)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		want := naiveMul(w, tc.rows, tc.cols, x, 1, 1)
		for _, acc := range []bool{false, true} {
			for _, lo := range []float32{-inf, 0} {
				name := fmt.Sprintf("%dx%d_d%g_acc%v_lo%v", tc.rows, tc.cols, tc.density, acc, lo)
				y0 := make([]float32, tc.rows+1)
				for i := range y0 {
					y0[i] = float32(r.NormFloat64())
				}
				y0[tc.rows] = 42 // guard
				// Rows 1..rows-1 by MulVec; row 0 is left alone.
				got := append([]float32(nil), y0...)
				twin := append([]float32(nil), y0...)
				a.MulVec(min(1, tc.rows), tc.rows, got, x, acc, lo, inf)
				a.mulVecRows(min(1, tc.rows), tc.rows, twin, x, acc, lo, inf)
				if got[tc.rows] != 42 || (tc.rows > 1 && got[0] != y0[0]) {
					t.Fatalf("%s: wrote outside the rows", name)
				}
				for i := 1; i < tc.rows; i++ {
					wt, scale := want[i], 0.0
					for c := range tc.cols {
						scale += math.Abs(float64(w[i*tc.cols+c]) * float64(x[c]))
					}
					if acc {
						wt += float64(y0[i])
						scale += math.Abs(float64(y0[i]))
					}
					wt = max(wt, float64(lo))
					if !closeTo(got[i], wt, scale) || !closeTo(twin[i], wt, scale) {
						t.Fatalf("%s row %d: kernel %v, twin %v, want %v", name, i, got[i], twin[i], wt)
					}
				}
			}
		}
	}
}

// TestMulVecParallel compares the parallel product with the serial one,
// and a NaN in x where only zero weights read it with a finite result.
func TestMulVecParallel(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	const rows, cols = 500, 900
	w := randomSparse(r, rows, cols, 0.2)
	for i := range rows {
		w[i*cols+7] = 0
	}
	a := FromDense(w, rows, cols, false)
	a.PrepareMulVec()
	x := make([]float32, cols)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	x[7] = float32(math.NaN())
	inf := float32(math.Inf(1))
	want := make([]float32, rows)
	a.MulVec(0, rows, want, x, false, -inf, inf)
	for _, threads := range []int{1, 2, 3, 8} {
		for range 3 {
			got := make([]float32, rows)
			a.MulVecParallel(threads, got, x, false, -inf, inf)
			for i := range got {
				if got[i] != want[i] || math.IsNaN(float64(got[i])) {
					t.Fatalf("threads %d row %d: %v, serial %v", threads, i, got[i], want[i])
				}
			}
		}
	}
}

// BenchmarkMulVec times the batch-1 product of a 2048×2048 weight (the
// MLP's middle layer) on one thread: MulVec (16-bit indices, scalar
// loads, fused epilogue) against Mul with one column (32-bit indices,
// gathers) and MulVec's pure-Go twin.
func BenchmarkMulVec(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	const k, n = 2048, 2048
	x := make([]float32, k)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	y := make([]float32, n)
	inf := float32(math.Inf(1))
	for _, d := range []float64{0.05, 0.1, 0.2} {
		a := FromDense(randomSparse(r, k, n, d), n, k, true)
		a.PrepareMulVec()
		b.Run(fmt.Sprintf("mul/d%g", d), func(b *testing.B) {
			for b.Loop() {
				a.Mul(0, n, y, 1, x, 1, 1)
			}
		})
		b.Run(fmt.Sprintf("mulvec/d%g", d), func(b *testing.B) {
			for b.Loop() {
				a.MulVec(0, n, y, x, true, 0, inf)
			}
		})
		b.Run(fmt.Sprintf("go/d%g", d), func(b *testing.B) {
			for b.Loop() {
				a.mulVecRows(0, n, y, x, true, 0, inf)
			}
		})
	}
}
