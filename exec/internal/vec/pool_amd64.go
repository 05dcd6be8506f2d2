//go:build !purego

package vec

// maxTapsAVX2 computes the first n outputs of MaxTaps, n a positive
// multiple of 8, with taps = len(off) > 0.
//
//go:noescape
func maxTapsAVX2(dst, src *float32, n int, off *int, taps int)

// maxTapsBlocks does MaxTaps with vector instructions where it can and
// returns the length done, with an overlapping last block like
// convTapsBlocks.
func maxTapsBlocks(dst, src []float32, off []int) int {
	n := len(dst) / 8 * 8
	if !haveAVX2 || n == 0 || len(off) == 0 {
		return 0
	}
	maxTapsAVX2(&dst[0], &src[0], n, &off[0], len(off))
	if m := len(dst); n < m {
		maxTapsAVX2(&dst[m-8], &src[m-8], 8, &off[0], len(off))
	}
	return len(dst)
}

// maxWindowsAVX2 computes MaxWindows, cols at least 8, taps = len(off)
// at least 1, strides in elements.
//
//go:noescape
func maxWindowsAVX2(dst *float32, ldd int, src *float32, lds, rows, cols int, off *int, taps, step int)

// maxWindowsAVX512 computes MaxWindows as convWindowsAVX512 computes
// ConvWindows (full, tail and masks from windowsLayout).
//
//go:noescape
func maxWindowsAVX512(dst *float32, ldd int, src *float32, lds, rows, full int, off *int, taps, step int, tail int, masks uint64)

// maxWindowsBlocks does MaxWindows with vector instructions if it can and
// reports whether it did.
func maxWindowsBlocks(dst []float32, ldd int, src []float32, lds, rows, cols int, off []int, step int) bool {
	if useWindowsAVX512 {
		full, tail, masks := windowsLayout(cols, step)
		maxWindowsAVX512(&dst[0], ldd, &src[0], lds, rows, full, &off[0], len(off), step, tail, masks)
		return true
	}
	if !haveAVX2 || cols < 8 {
		return false
	}
	maxWindowsAVX2(&dst[0], ldd, &src[0], lds, rows, cols, &off[0], len(off), step)
	return true
}

// sumAVX2 returns the float64 sum of the first n elements of src, n a
// positive multiple of 16.
//
//go:noescape
func sumAVX2(src *float32, n int) float64

// maxAVX2 returns the largest of the first n elements, n a positive
// multiple of 16 (see Max for NaNs).
//
//go:noescape
func maxAVX2(src *float32, n int) float32

// maxBlocks returns the largest of a prefix of src found with vector
// instructions and the prefix's length.
func maxBlocks(src []float32) (float32, int) {
	n := len(src) / 16 * 16
	if !haveAVX2 || n == 0 {
		return 0, 0
	}
	return maxAVX2(&src[0], n), n
}

// dotAVX2 returns the float64 dot product of the first n elements of a
// and b, n a positive multiple of 16.
//
//go:noescape
func dotAVX2(a, b *float32, n int) float64

// dotBlocks returns the dot product of a prefix of a and b computed with
// vector instructions, and the prefix's length.
func dotBlocks(a, b []float32) (float64, int) {
	n := len(a) / 16 * 16
	if !haveAVX2 || n == 0 {
		return 0, 0
	}
	return dotAVX2(&a[0], &b[0], n), n
}

// sumBlocks sums a prefix of src with vector instructions and returns the
// sum and the prefix's length.
func sumBlocks(src []float32) (float64, int) {
	n := len(src) / 16 * 16
	if !haveAVX2 || n == 0 {
		return 0, 0
	}
	return sumAVX2(&src[0], n), n
}
