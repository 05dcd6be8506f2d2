//go:build !purego

package vec

import "golang.org/x/sys/cpu"

var haveAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// haveAVX512 reports AVX-512 Foundation (cpu checks that the OS saves the
// zmm and mask registers).
var haveAVX512 = cpu.X86.HasAVX512F

// clampAVX2 clamps the first len(dst)/32*32 elements.
//
//go:noescape
func clampAVX2(dst, src *float32, n int, lo, hi float32)

// clampBlocks clamps a prefix of dst with vector instructions and returns
// its length.
func clampBlocks(dst, src []float32, lo, hi float32) int {
	n := len(dst) / 32 * 32
	if !haveAVX2 || n == 0 {
		return 0
	}
	clampAVX2(&dst[0], &src[0], n, lo, hi)
	return n
}

// dw3x3AVX2 computes the first n outputs of DW3x3, n a multiple of 16.
//
//go:noescape
func dw3x3AVX2(out, r0, r1, r2 *float32, n int, w *[9]float32, bias float32)

// dw3x3Blocks computes a prefix of DW3x3's row with vector instructions
// and returns its length: all of it when it is at least one block long,
// since a last block that overlaps the one before it just computes some
// outputs twice, cheaper than a scalar tail.
func dw3x3Blocks(out, r0, r1, r2 []float32, w *[9]float32, bias float32) int {
	n := len(out) / 16 * 16
	if !haveAVX2 || n == 0 {
		return 0
	}
	// The loads reach two elements past each output block.
	m := len(out)
	_, _, _ = r0[m+1], r1[m+1], r2[m+1]
	dw3x3AVX2(&out[0], &r0[0], &r1[0], &r2[0], n, w, bias)
	if n < m {
		dw3x3AVX2(&out[m-16], &r0[m-16], &r1[m-16], &r2[m-16], 16, w, bias)
	}
	return m
}

// biasClampAVX2 adds bias and clamps the first n elements, n a positive
// multiple of 32.
//
//go:noescape
func biasClampAVX2(dst, src *float32, n int, bias, lo, hi float32)

// biasClamp8AVX2 is biasClampAVX2 for n a positive multiple of 8.
//
//go:noescape
func biasClamp8AVX2(dst, src *float32, n int, bias, lo, hi float32)

// biasClampBlocks does a prefix of BiasClamp with vector instructions and
// returns its length: blocks of 32, then of 8. (No overlapping last block:
// dst may be src, and adding the bias twice would be wrong.)
func biasClampBlocks(dst, src []float32, bias, lo, hi float32) int {
	if !haveAVX2 {
		return 0
	}
	n := len(dst) / 32 * 32
	if n > 0 {
		biasClampAVX2(&dst[0], &src[0], n, bias, lo, hi)
	}
	if m := (len(dst) - n) / 8 * 8; m > 0 {
		biasClamp8AVX2(&dst[n], &src[n], m, bias, lo, hi)
		n += m
	}
	return n
}

// sigmoidAVX2 computes Sigmoid of the first n elements, n a positive
// multiple of 8.
//
//go:noescape
func sigmoidAVX2(dst, src *float32, n int)

// sigmoidBlocks does Sigmoid with vector instructions (blocks16 or
// blocks8) and
// returns the length done: all or nothing.
func sigmoidBlocks(dst, src []float32) int {
	if useMathAVX512 {
		return blocks16(dst, src, sigmoidAVX512)
	}
	return blocks8(dst, src, sigmoidAVX2)
}

// axpyAVX2 does Axpy on the first n elements, n a positive multiple of 8.
//
//go:noescape
func axpyAVX2(dst, src *float32, n int, a float32)

// axpyBlocks does a prefix of Axpy with vector instructions and returns
// its length.
func axpyBlocks(dst, src []float32, a float32) int {
	n := len(dst) / 8 * 8
	if !haveAVX2 || n == 0 {
		return 0
	}
	axpyAVX2(&dst[0], &src[0], n, a)
	return n
}
