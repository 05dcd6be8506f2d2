//go:build !purego

package vec

// Implemented in rows_amd64.s, for rows, n ≥ 1.

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
