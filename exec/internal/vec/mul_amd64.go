//go:build !purego

package vec

// mulAVX2 and scaleAVX2 do Mul and Scale on the first n elements, n a
// positive multiple of 8.
//
//go:noescape
func mulAVX2(dst, a, b *float32, n int)

//go:noescape
func scaleAVX2(dst, src *float32, n int, s float32)

// mulBlocks and scaleBlocks do a prefix of Mul and Scale with vector
// instructions and return its length.
func mulBlocks(dst, a, b []float32) int {
	n := len(dst) / 8 * 8
	if !haveAVX2 || n == 0 {
		return 0
	}
	mulAVX2(&dst[0], &a[0], &b[0], n)
	return n
}

func scaleBlocks(dst, src []float32, s float32) int {
	n := len(dst) / 8 * 8
	if !haveAVX2 || n == 0 {
		return 0
	}
	scaleAVX2(&dst[0], &src[0], n, s)
	return n
}
