//go:build !purego

package vec

// Implemented in rows_amd64.s, for rows, n (or cols) ≥ 1.

//go:noescape
func scaleRowsAVX512(dst, src, s *float32, rows, n int)

//go:noescape
func addRowsAVX512(dst, src, s *float32, rows, n int)

//go:noescape
func meanRowsAVX512(dst, src *float32, rows, n int, nf float64)

func scaleRowsBlocks(dst, src, s []float32, n int) bool {
	if !haveAVX512 {
		return false
	}
	scaleRowsAVX512(&dst[0], &src[0], &s[0], len(s), n)
	return true
}

func addRowsBlocks(dst, src, s []float32, n int) bool {
	if !haveAVX512 {
		return false
	}
	addRowsAVX512(&dst[0], &src[0], &s[0], len(s), n)
	return true
}

func meanRowsBlocks(dst, src []float32, n int) bool {
	if !haveAVX512 {
		return false
	}
	meanRowsAVX512(&dst[0], &src[0], len(dst), n, float64(n))
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
