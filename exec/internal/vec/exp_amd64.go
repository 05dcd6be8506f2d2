//go:build !purego

package vec

// expAVX2, siluAVX2 and tanhAVX2 compute Exp, SiLU and Tanh of the first
// n elements, n a positive multiple of 8.
//
//go:noescape
func expAVX2(dst, src *float32, n int)

//go:noescape
func siluAVX2(dst, src *float32, n int)

//go:noescape
func tanhAVX2(dst, src *float32, n int)

// expBlocks, siluBlocks and tanhBlocks do Exp, SiLU and Tanh with vector
// instructions and return the length done: all or nothing.
func expBlocks(dst, src []float32) int  { return blocks8(dst, src, expAVX2) }
func siluBlocks(dst, src []float32) int { return blocks8(dst, src, siluAVX2) }
func tanhBlocks(dst, src []float32) int { return blocks8(dst, src, tanhAVX2) }

// blocks8 runs f over src into dst, 8 elements at a time, the last few
// through a zero-padded block, and returns len(dst); 0 without AVX2 and
// FMA. Every element then takes the same instructions, so a result does
// not depend on where a slice starts (a parallel split, a fused row).
func blocks8(dst, src []float32, f func(dst, src *float32, n int)) int {
	if !haveAVX2 || len(dst) == 0 {
		return 0
	}
	n := len(dst) / 8 * 8
	if n > 0 {
		f(&dst[0], &src[0], n)
	}
	if r := len(dst) - n; r > 0 {
		var b [8]float32
		copy(b[:], src[n:])
		f(&b[0], &b[0], 8)
		copy(dst[n:], b[:r])
	}
	return len(dst)
}
