//go:build !purego

package sparse

import "golang.org/x/sys/cpu"

var haveAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// rows32AVX2 sets y[j] = Σ_p val[p]·x[col[p]*ldx+j] for j < 32 (ldx in
// elements), over nnz ≥ 0 nonzeros.
//
//go:noescape
func rows32AVX2(y, x *float32, ldx int, col *int32, val *float32, nnz int)

// rows8AVX2 is rows32AVX2 for j < 8.
//
//go:noescape
func rows8AVX2(y, x *float32, ldx int, col *int32, val *float32, nnz int)

// dotAVX2 returns Σ_p val[p]·x[col[p]] for p < n, n a positive multiple
// of 8, gathering eight elements of x at a time.
//
//go:noescape
func dotAVX2(x *float32, col *int32, val *float32, n int) float32

// rowBlocks computes a prefix of one row of Mul (rowGo) with vector
// instructions, blocks of 32 columns and then of 8, and returns its
// length.
func rowBlocks(y, x []float32, ldx int, col []int32, val []float32) int {
	if !haveAVX2 {
		return rowBlocksGo(y, x, ldx, col, val)
	}
	var cp *int32
	var vp *float32
	if len(col) > 0 {
		cp, vp = &col[0], &val[0]
	} else {
		n := len(y) / 8 * 8
		clear(y[:n])
		return n
	}
	j := 0
	for ; j+32 <= len(y); j += 32 {
		rows32AVX2(&y[j], &x[j], ldx, cp, vp, len(col))
	}
	for ; j+8 <= len(y); j += 8 {
		rows8AVX2(&y[j], &x[j], ldx, cp, vp, len(col))
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
