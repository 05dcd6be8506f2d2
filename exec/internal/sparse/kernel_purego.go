//go:build purego || !amd64

package sparse

// rowBlocks computes a prefix of one row of Mul (rowGo) and returns its
// length.
func rowBlocks(y, x []float32, ldx int, col []int32, val []float32) int {
	return rowBlocksGo(y, x, ldx, col, val)
}

// dotBlocks computes Σ val[p]·x[col[p]] over a prefix of the nonzeros and
// returns the sum and the prefix's length.
func dotBlocks(x []float32, col []int32, val []float32) (float32, int) {
	return dotGo(x, col, val), len(col)
}
