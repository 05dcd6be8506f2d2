//go:build !purego

package vec

// deinterleave2AVX2 does Deinterleave2 for the first n of each, n a
// positive multiple of 8.
//
//go:noescape
func deinterleave2AVX2(even, odd, src *float32, n int)

// deinterleave2Blocks does a prefix of Deinterleave2 with vector
// instructions, whole blocks of 8 pairs, and returns its length.
func deinterleave2Blocks(even, odd, src []float32) int {
	n := len(odd) / 8 * 8
	if !haveAVX2 || n == 0 {
		return 0
	}
	deinterleave2AVX2(&even[0], &odd[0], &src[0], n)
	return n
}
