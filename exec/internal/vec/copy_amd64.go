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

// biasClampRowsAVX512 is BiasClampRows for rows, cols >= 1.
//
//go:noescape
func biasClampRowsAVX512(dst *float32, ldd int, src *float32, lds, rows, cols int, bias, lo, hi float32)

// biasClampRowsBlocks does BiasClampRows with vector instructions if it
// can and reports whether it did.
func biasClampRowsBlocks(dst []float32, ldd int, src []float32, lds, rows, cols int, bias, lo, hi float32) bool {
	if !haveAVX512 {
		return false
	}
	biasClampRowsAVX512(&dst[0], ldd, &src[0], lds, rows, cols, bias, lo, hi)
	return true
}
