//go:build !purego

package vec

// copyRowsAVX is CopyRows for cols of at least 8.
//
//go:noescape
func copyRowsAVX(dst *float32, ldd int, src *float32, lds, rows, cols int)

// copyRowsBlocks does CopyRows with vector moves if it can and reports
// whether it did.
func copyRowsBlocks(dst []float32, ldd int, src []float32, lds, rows, cols int) bool {
	if !haveAVX2 || cols < 8 {
		return false
	}
	copyRowsAVX(&dst[0], ldd, &src[0], lds, rows, cols)
	return true
}
