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

// expAVX512, siluAVX512 and sigmoidAVX512 compute Exp, SiLU and Sigmoid
// of the first n elements, n a positive multiple of 16, bit for bit as
// the AVX2 kernels do.
//
//go:noescape
func expAVX512(dst, src *float32, n int)

//go:noescape
func siluAVX512(dst, src *float32, n int)

//go:noescape
func sigmoidAVX512(dst, src *float32, n int)

// useMathAVX512 selects the AVX-512 Exp, SiLU and Sigmoid (tests turn it
// off to check the AVX2 ones).
var useMathAVX512 = haveAVX512

// expBlocks, siluBlocks and tanhBlocks do Exp, SiLU and Tanh with vector
// instructions and return the length done: all or nothing.
func expBlocks(dst, src []float32) int {
	if useMathAVX512 {
		return blocks16(dst, src, expAVX512)
	}
	return blocks8(dst, src, expAVX2)
}

func siluBlocks(dst, src []float32) int {
	if useMathAVX512 {
		return blocks16(dst, src, siluAVX512)
	}
	return blocks8(dst, src, siluAVX2)
}

func tanhBlocks(dst, src []float32) int { return blocks8(dst, src, tanhAVX2) }

// blocks16 is blocks8 for the AVX-512 kernels, sixteen elements at a
// time.
func blocks16(dst, src []float32, f func(dst, src *float32, n int)) int {
	if len(dst) == 0 {
		return 0
	}
	n := len(dst) / 16 * 16
	if n > 0 {
		f(&dst[0], &src[0], n)
	}
	if r := len(dst) - n; r > 0 {
		var b [16]float32
		copy(b[:], src[n:])
		f(&b[0], &b[0], 16)
		copy(dst[n:], b[:r])
	}
	return len(dst)
}

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
