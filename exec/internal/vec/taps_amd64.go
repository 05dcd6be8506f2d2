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

// convWindowsAVX512 computes ConvWindows: the first full columns (a
// multiple of 64) of each row in blocks of 64, then tail accumulators of
// 16 columns, the last one masked: bits 0-15 of masks are its outputs, at
// step 2 bits 16-31 and 32-47 the elements of its two loads
// (windowsLayout).
//
//go:noescape
func convWindowsAVX512(dst *float32, ldd int, src *float32, lds, rows, full int, off *int, w *float32, taps, step int, bias float32, tail int, masks uint64)

// useWindowsAVX512 selects convWindowsAVX512 over the AVX2 kernel (tests
// turn it off to check both).
var useWindowsAVX512 = haveAVX512

// convWindowsBlock is ConvWindowsBlock.
func convWindowsBlock() int {
	switch {
	case useWindowsAVX512:
		return 64
	case haveAVX2:
		return 32
	}
	return 1
}

// windowsLayout returns the AVX-512 window kernels' plan for rows of
// cols outputs at step: the columns in 64-column blocks, the 16-column
// accumulators of the tail after them, and the masks of the last one.
func windowsLayout(cols, step int) (full, tail int, masks uint64) {
	full = cols / 64 * 64
	rem := cols - full
	if rem == 0 {
		return full, 0, 0
	}
	tail = (rem + 15) / 16
	last := rem - 16*(tail-1)
	masks = uint64(1)<<last - 1
	if step == 2 {
		// The last accumulator's inputs: elements 0 … 2·last−2 of the
		// thirty-two its two loads cover.
		n := 2*last - 1
		masks |= (uint64(1)<<min(n, 16) - 1) << 16
		masks |= (uint64(1)<<max(n-16, 0) - 1) << 32
	}
	return full, tail, masks
}

// convWindowsBlocks does ConvWindows with vector instructions if it can
// and reports whether it did.
func convWindowsBlocks(dst []float32, ldd int, src []float32, lds, rows, cols int, off []int, w []float32, bias float32, step int) bool {
	if useWindowsAVX512 {
		full, tail, masks := windowsLayout(cols, step)
		convWindowsAVX512(&dst[0], ldd, &src[0], lds, rows, full, &off[0], &w[0], len(off), step, bias, tail, masks)
		return true
	}
	if !haveAVX2 || cols < 8 {
		return false
	}
	convWindowsAVX2(&dst[0], ldd, &src[0], lds, rows, cols, &off[0], &w[0], len(off), step, bias)
	return true
}
