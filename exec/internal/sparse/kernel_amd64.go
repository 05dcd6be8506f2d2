//go:build !purego

package sparse

import "golang.org/x/sys/cpu"

var haveAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// rows32AVX2 sets y[j] = Σ_p val[p]·x[col[p]*ldx+j] for j < count ≤ 32
// (ldx in elements), over nnz ≥ 0 nonzeros, then applies ep (bias, lo,
// hi) when it is not nil. It reads 32 columns of x whatever count is.
//
//go:noescape
func rows32AVX2(y, x *float32, ldx int, col *int32, val *float32, nnz int, ep *[3]float32, count int)

// rows16AVX2 is rows32AVX2 for j < count ≤ 16, reading 16 columns.
//
//go:noescape
func rows16AVX2(y, x *float32, ldx int, col *int32, val *float32, nnz int, ep *[3]float32, count int)

// rows8AVX2 is rows32AVX2 for j < count ≤ 8, reading 8 columns.
//
//go:noescape
func rows8AVX2(y, x *float32, ldx int, col *int32, val *float32, nnz int, ep *[3]float32, count int)

// dotAVX2 returns Σ_p val[p]·x[col[p]] for p < n, n a positive multiple
// of 8, gathering eight elements of x at a time.
//
//go:noescape
func dotAVX2(x *float32, col *int32, val *float32, n int) float32

// rowBlocks computes a prefix of one row of a product (rowGo), with the
// epilogue ep when it is not nil, with vector instructions: blocks of 32
// columns, then of 8; or, when slack allows reading up to 31 elements
// past each row of X that the row uses, the rest in one block of 8, 16
// or 32 stored under a mask. It returns the columns done.
func rowBlocks(y, x []float32, ldx int, col []int32, val []float32, ep *[3]float32, slack bool) int {
	if !haveAVX2 {
		return rowBlocksGo(y, x, ldx, col, val, ep)
	}
	var cp *int32
	var vp *float32
	if len(col) > 0 {
		cp, vp = &col[0], &val[0]
	}
	j := 0
	for ; j+32 <= len(y); j += 32 {
		rows32AVX2(&y[j], &x[j], ldx, cp, vp, len(col), ep, 32)
	}
	if rest := len(y) - j; slack && rest > 0 {
		// One call for the rest, its columns past len(y) read but not
		// stored.
		switch {
		case rest > 16:
			rows32AVX2(&y[j], &x[j], ldx, cp, vp, len(col), ep, rest)
		case rest > 8:
			rows16AVX2(&y[j], &x[j], ldx, cp, vp, len(col), ep, rest)
		default:
			rows8AVX2(&y[j], &x[j], ldx, cp, vp, len(col), ep, rest)
		}
		return len(y)
	}
	for ; j+8 <= len(y); j += 8 {
		rows8AVX2(&y[j], &x[j], ldx, cp, vp, len(col), ep, 8)
	}
	return j
}

// dotBlocks computes Σ val[p]·x[col[p]] over a prefix of the nonzeros with
// vector gathers and returns the sum and the prefix's length.
func dotBlocks(x []float32, col []int32, val []float32) (float32, int) {
	if !haveAVX2 {
		return dotGo(x, col, val), len(col)
	}
	n := len(col) / 8 * 8
	if n == 0 {
		return 0, 0
	}
	return dotAVX2(&x[0], &col[0], &val[0], n), n
}

// spmvAVX2 sets y[r*ldy] = Σ_p val[p]·x[col[p]] over the nonzeros p of
// rows r < rows, in [rowptr[r], rowptr[r+1]).
//
//go:noescape
func spmvAVX2(y *float32, ldy int, x *float32, rowptr, col *int32, val *float32, rows int)

// spmv sets y[(r-r0)*ldy] = Σ_p val[p]·x[col[p]] over the nonzeros p of
// rows r0 ≤ r < r1 with vector gathers, and reports whether it could.
func (a *CSR) spmv(r0, r1 int, y []float32, ldy int, x []float32, col []int32) bool {
	if !haveAVX2 || len(a.Val) == 0 || len(x) == 0 {
		return false
	}
	spmvAVX2(&y[0], ldy, &x[0], &a.RowPtr[r0], &col[0], &a.Val[0], r1-r0)
	return true
}

// spmv16sAVX2 sets y[r] = min(max(s + y[r], lo), hi) (no "+ y[r]" when
// acc is 0), s = Σ_p val[p]·x[col[p]] over the nonzeros p of rows
// r < rows, in [rowptr[r], rowptr[r+1]); col holds 16-bit indices, and
// colSlack readable elements past the last nonzero's.
//
//go:noescape
func spmv16sAVX2(y, x *float32, rowptr *int32, col *uint16, val *float32, rows, acc int, lo, hi float32)

// mulVec computes MulVec with 16-bit indices in assembly, and
// reports whether it could.
func (a *CSR) mulVec(r0, r1 int, y, x []float32, acc bool, lo, hi float32) bool {
	if !haveAVX2 || a.col16 == nil || len(a.Val) == 0 || len(x) == 0 {
		return false
	}
	ac := 0
	if acc {
		ac = 1
	}
	col := a.col16[:cap(a.col16)]
	spmv16sAVX2(&y[r0], &x[0], &a.RowPtr[r0], &col[0], &a.Val[0], r1-r0, ac, lo, hi)
	return true
}
