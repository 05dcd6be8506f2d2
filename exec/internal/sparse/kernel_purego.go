//go:build purego || !amd64

package sparse

// rowBlocks computes a prefix of one row of a product (rowGo), with the
// epilogue ep when it is not nil, and returns its length.
func rowBlocks(y, x []float32, ldx int, col []int32, val []float32, ep *[3]float32, slack bool) int {
	return rowBlocksGo(y, x, ldx, col, val, ep)
}

// dotBlocks computes Σ val[p]·x[col[p]] over a prefix of the nonzeros and
// returns the sum and the prefix's length.
func dotBlocks(x []float32, col []int32, val []float32) (float32, int) {
	return dotGo(x, col, val), len(col)
}

// spmv would compute rows of a product with one column; the pure-Go build
// has no vector gathers, and Mul takes dot one row at a time instead.
func (a *CSR) spmv(r0, r1 int, y []float32, ldy int, x []float32, col []int32) bool {
	return false
}

// mulVec would compute MulVec with vector gathers; the pure-Go build has
// none, and MulVec takes mulVecGo.
func (a *CSR) mulVec(r0, r1 int, y, x []float32, acc bool, lo, hi float32) bool {
	return false
}
