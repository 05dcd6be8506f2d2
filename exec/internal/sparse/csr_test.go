package sparse

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// randomSparse returns a rows×cols row-major matrix with about density of
// its entries nonzero (some of them negative zeros, which count as zero).
func randomSparse(r *rand.Rand, rows, cols int, density float64) []float32 {
	w := make([]float32, rows*cols)
	for i := range w {
		switch {
		case r.Float64() < density:
			w[i] = float32(r.NormFloat64())
		case r.IntN(10) == 0:
			w[i] = float32(math.Copysign(0, -1))
		}
	}
	return w
}

// naiveMul is the dense reference of Mul in float64.
func naiveMul(w []float32, rows, cols int, x []float32, ldx, n int) []float64 {
	y := make([]float64, rows*n)
	for r := range rows {
		for j := range n {
			var s float64
			for c := range cols {
				s += float64(w[r*cols+c]) * float64(x[c*ldx+j])
			}
			y[r*n+j] = s
		}
	}
	return y
}

// closeTo reports whether got is within 1e-5 of want relative to the
// row's scale: float32 sums of up to a few hundred products round to
// about 1e-6 of the sum of their magnitudes.
func closeTo(got float32, want, scale float64) bool {
	return math.Abs(float64(got)-want) <= 1e-5*math.Max(scale, 1e-30)
}

// TestMul holds Mul (the assembly blocks and gathers where there are any)
// to the float64 dense product across widths around the 8- and 32-column
// blocks and the 16-nonzero gather rounds, with padded leading
// dimensions, empty rows and densities from 0 to 1.
func TestMul(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, rows := range []int{1, 5, 33} {
		for _, cols := range []int{1, 17, 70, 2100} { // 2100: column tiles of 32 (mulTileFloats)
			for _, density := range []float64{0, 0.05, 0.3, 1} {
				for _, n := range []int{1, 2, 7, 8, 9, 31, 32, 33, 40, 65, 100} {
					name := fmt.Sprintf("%dx%d_d%g_w%d", rows, cols, density, n)
					w := randomSparse(r, rows, cols, density)
					a := FromDense(w, rows, cols, false)
					ldx, ldy := n+r.IntN(3), n+r.IntN(3)
					x := make([]float32, (cols-1)*ldx+n)
					for i := range x {
						x[i] = float32(r.NormFloat64())
					}
					// Guard values in y's padding and after it must
					// survive.
					y := make([]float32, (rows-1)*ldy+n+4)
					for i := range y {
						y[i] = 42
					}
					a.Mul(0, rows, y, ldy, x, ldx, n)
					want := naiveMul(w, rows, cols, x, ldx, n)
					for i := range rows {
						for j := range ldy {
							k := i*ldy + j
							if k >= len(y) {
								break
							}
							if j >= n {
								if y[k] != 42 {
									t.Fatalf("%s: padding y[%d] written", name, k)
								}
								continue
							}
							var scale float64
							for c := range cols {
								scale += math.Abs(float64(w[i*cols+c]) * float64(x[c*ldx+j]))
							}
							if !closeTo(y[k], want[i*n+j], scale) {
								t.Fatalf("%s: Y[%d,%d] = %v, want %v", name, i, j, y[k], want[i*n+j])
							}
						}
					}
					if y[len(y)-1] != 42 {
						t.Fatalf("%s: wrote past the last row", name)
					}
				}
			}
		}
	}
}

// TestBlocksMatchTwins holds the vector blocks to the pure-Go loops they
// replace (rowGo, dotGo) on long rows.
func TestBlocksMatchTwins(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, nnz := range []int{0, 1, 3, 16, 17, 100, 333} {
		const cols = 500
		col := make([]int32, nnz)
		val := make([]float32, nnz)
		for p := range col {
			col[p] = int32(r.IntN(cols))
			val[p] = float32(r.NormFloat64())
		}
		for _, n := range []int{1, 8, 40, 96} {
			x := make([]float32, cols*n)
			for i := range x {
				x[i] = float32(r.NormFloat64())
			}
			want := make([]float32, n)
			rowGo(want, x, n, col, val)
			got := make([]float32, n)
			done := rowBlocks(got, x, n, col, val, nil, false)
			twin := make([]float32, n)
			doneGo := rowBlocksGo(twin, x, n, col, val, nil)
			for j := range done {
				if math.Abs(float64(got[j]-want[j])) > 1e-4 {
					t.Fatalf("nnz %d n %d: rowBlocks[%d] = %v, rowGo %v", nnz, n, j, got[j], want[j])
				}
			}
			for j := range doneGo {
				if math.Abs(float64(twin[j]-want[j])) > 1e-4 {
					t.Fatalf("nnz %d n %d: rowBlocksGo[%d] = %v, rowGo %v", nnz, n, j, twin[j], want[j])
				}
			}
		}
		x := make([]float32, cols)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		s, done := dotBlocks(x, col, val)
		for p := done; p < nnz; p++ {
			s += val[p] * x[col[p]]
		}
		if d := math.Abs(float64(s - dotGo(x, col, val))); d > 1e-4 {
			t.Fatalf("nnz %d: dot blocks %v, dotGo %v", nnz, s, dotGo(x, col, val))
		}
	}
}

// TestFromDense checks the layout: rows, columns ascending, transposed
// storage, and that zeros of both signs are dropped.
func TestFromDense(t *testing.T) {
	negZero := float32(math.Copysign(0, -1))
	w := []float32{
		0, 2, negZero,
		4, 0, 6,
	}
	a := FromDense(w, 2, 3, false)
	if a.NNZ() != 3 || fmt.Sprint(a.RowPtr, a.Col, a.Val) != "[0 1 3] [1 0 2] [2 4 6]" {
		t.Fatalf("got %v %v %v", a.RowPtr, a.Col, a.Val)
	}
	// The same matrix stored transposed (3×2).
	wt := []float32{0, 4, 2, 0, negZero, 6}
	b := FromDense(wt, 2, 3, true)
	if fmt.Sprint(b.RowPtr, b.Col, b.Val) != fmt.Sprint(a.RowPtr, a.Col, a.Val) {
		t.Fatalf("transposed: got %v %v %v", b.RowPtr, b.Col, b.Val)
	}
	if d := a.Density(); d != 0.5 {
		t.Fatalf("density %v, want 0.5", d)
	}
}

// TestSplit checks that the ranges cover the rows in order, each
// non-empty, with nonzeros spread about evenly.
func TestSplit(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, rows := range []int{1, 2, 3, 100} {
		w := randomSparse(r, rows, 50, 0.2)
		a := FromDense(w, rows, 50, false)
		for _, parts := range []int{1, 2, 3, 8, 200} {
			b := a.Split(parts)
			if b[0] != 0 || b[len(b)-1] != rows || len(b)-1 > parts {
				t.Fatalf("rows %d parts %d: bounds %v", rows, parts, b)
			}
			for i := 1; i < len(b); i++ {
				if b[i] <= b[i-1] {
					t.Fatalf("rows %d parts %d: empty range in %v", rows, parts, b)
				}
			}
		}
	}
	// Skewed rows: the first row holds more than half the nonzeros (10
	// of 19), so it is a part of its own.
	w := make([]float32, 10*10)
	for c := range 10 {
		w[c] = 1
	}
	for i := 1; i < 10; i++ {
		w[i*10] = 1
	}
	a := FromDense(w, 10, 10, false)
	if b := a.Split(2); fmt.Sprint(b) != "[0 1 10]" {
		t.Fatalf("skewed split %v, want [0 1 10]", b)
	}
}

// TestMulParallel compares the parallel product with the serial one.
func TestMulParallel(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	const rows, cols, n = 300, 400, 33
	w := randomSparse(r, rows, cols, 0.3)
	a := FromDense(w, rows, cols, false)
	x := make([]float32, cols*n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	want := make([]float32, rows*n)
	a.Mul(0, rows, want, n, x, n, n)
	for _, threads := range []int{1, 2, 3, 7} {
		got := make([]float32, rows*n)
		a.MulParallel(threads, got, n, x, n, n)
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("threads %d: element %d = %v, serial %v", threads, i, got[i], want[i])
			}
		}
	}
}

// TestPanics checks the constant-message panics on short operands.
func TestPanics(t *testing.T) {
	a := FromDense([]float32{1, 0, 0, 1}, 2, 2, false)
	for name, f := range map[string]func(){
		"x too short": func() { a.Mul(0, 2, make([]float32, 4), 2, make([]float32, 3), 2, 2) },
		"y too short": func() { a.Mul(0, 2, make([]float32, 3), 2, make([]float32, 4), 2, 2) },
		"bad rows":    func() { a.Mul(0, 3, make([]float32, 6), 2, make([]float32, 4), 2, 2) },
		"ld < w":      func() { a.Mul(0, 2, make([]float32, 6), 2, make([]float32, 6), 1, 2) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

// TestSpmv holds the whole-row gather kernel (where there is one) to
// dotGo on rows of every length from 0 to 70, covering the blocks of 32,
// of 8 and the masked partial block, with a strided y.
func TestSpmv(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	const cols = 300
	w := make([]float32, 71*cols)
	for row := range 71 {
		for _, c := range r.Perm(cols)[:row] {
			w[row*cols+c] = float32(r.NormFloat64())
		}
	}
	a := FromDense(w, 71, cols, false)
	x := make([]float32, cols)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	for _, ldy := range []int{1, 3} {
		y := make([]float32, 71*ldy)
		a.Mul(0, 71, y, ldy, x, 1, 1)
		for row := range 71 {
			lo, hi := a.RowPtr[row], a.RowPtr[row+1]
			want := dotGo(x, a.Col[lo:hi], a.Val[lo:hi])
			if d := math.Abs(float64(y[row*ldy] - want)); d > 1e-5*(1+math.Abs(float64(want))) {
				t.Fatalf("ldy %d row %d (%d nonzeros): %v, dotGo %v", ldy, row, hi-lo, y[row*ldy], want)
			}
		}
		// Rows 10..20 alone leave the others untouched.
		z := make([]float32, 71*ldy)
		a.Mul(10, 20, z, ldy, x, 1, 1)
		for i, v := range z {
			if row := i / ldy; (row < 10 || row >= 20 || i%ldy != 0) && v != 0 {
				t.Fatalf("ldy %d: element %d outside rows 10..20 written", ldy, i)
			}
		}
	}
}

// TestMulAt holds MulAt to Mul on the same X laid out by row offsets
// (overlapping, as a convolution's taps overlap), with and without the
// epilogue (bias, clamp, NaN kept), at widths around the blocks of 8 and
// 32 so that partial blocks are stored under a mask.
func TestMulAt(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	const rows, cols = 9, 40
	nan := float32(math.NaN())
	for _, w := range []int{1, 3, 8, 13, 16, 25, 32, 37, 50, 70} {
		for _, withEp := range []bool{false, true} {
			wd := randomSparse(r, rows, cols, 0.3)
			a := FromDense(wd, rows, cols, false)
			// Row c of X starts at rowOff[c] of a buffer with MulAtSlack spare
			// elements at the end.
			buf := make([]float32, 3*cols+w+MulAtSlack)
			for i := range buf {
				buf[i] = float32(r.NormFloat64())
			}
			buf[5] = nan
			rowOff := make([]int, cols)
			for c := range rowOff {
				rowOff[c] = r.IntN(3*cols + 1)
			}
			off := a.Offsets(func(c int32) int32 { return int32(rowOff[c]) })
			xd := make([]float32, cols*w)
			for c := range cols {
				copy(xd[c*w:(c+1)*w], buf[rowOff[c]:])
			}
			var ep *Epilogue
			if withEp {
				ep = &Epilogue{Bias: make([]float32, rows), Lo: -0.5, Hi: 1}
				for i := range ep.Bias {
					ep.Bias[i] = float32(r.NormFloat64())
				}
			}
			want := make([]float32, rows*w)
			a.Mul(0, rows, want, w, xd, w, w)
			if ep != nil {
				for i := range want {
					want[i] = (&rowEpilogue{ep.Bias[i/w], ep.Lo, ep.Hi}).apply(want[i])
				}
			}
			for _, threads := range []int{1, 2} {
				ldy := w + 2
				got := make([]float32, rows*ldy)
				for i := range got {
					got[i] = 42
				}
				a.MulAtParallel(threads, got, ldy, buf, off, w, ep)
				for i := range rows {
					for j := range ldy {
						g := got[i*ldy+j]
						if j >= w {
							if g != 42 {
								t.Fatalf("w %d: padding Y[%d,%d] written", w, i, j)
							}
							continue
						}
						wv := want[i*w+j]
						if math.IsNaN(float64(wv)) != math.IsNaN(float64(g)) || (!math.IsNaN(float64(wv)) && math.Abs(float64(g-wv)) > 1e-5*(1+math.Abs(float64(wv)))) {
							t.Fatalf("w %d ep %v threads %d: Y[%d,%d] = %v, want %v", w, withEp, threads, i, j, g, wv)
						}
					}
				}
			}
		}
	}
}
