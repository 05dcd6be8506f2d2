//go:build !purego

package vec

// convTapsAVX2 computes the first n outputs of ConvTaps, n a positive
// multiple of 8, with taps = len(off) > 0.
//
//go:noescape
func convTapsAVX2(dst, src *float32, n int, off *int, w *float32, taps int, bias float32)

// convTapsBlocks does ConvTaps with vector instructions where it can and
// returns the length done: whole 8-element blocks, then one last block
// that overlaps the one before it (dst is never read, so computing some
// outputs twice is harmless); 0 for runs shorter than 8.
func convTapsBlocks(dst, src []float32, off []int, w []float32, bias float32) int {
	n := len(dst) / 8 * 8
	if !haveAVX2 || n == 0 || len(off) == 0 {
		return 0
	}
	convTapsAVX2(&dst[0], &src[0], n, &off[0], &w[0], len(off), bias)
	if m := len(dst); n < m {
		convTapsAVX2(&dst[m-8], &src[m-8], 8, &off[0], &w[0], len(off), bias)
	}
	return len(dst)
}

// convWindowsAVX2 computes ConvWindows, cols at least 8, taps = len(off)
// at least 1, strides in elements.
//
//go:noescape
func convWindowsAVX2(dst *float32, ldd int, src *float32, lds, rows, cols int, off *int, w *float32, taps, step int, bias float32)

// convWindowsBlocks does ConvWindows with vector instructions if it can
// and reports whether it did.
func convWindowsBlocks(dst []float32, ldd int, src []float32, lds, rows, cols int, off []int, w []float32, bias float32, step int) bool {
	if !haveAVX2 || cols < 8 {
		return false
	}
	convWindowsAVX2(&dst[0], ldd, &src[0], lds, rows, cols, &off[0], &w[0], len(off), step, bias)
	return true
}
