package vec

// ScaleRows sets dst[r·n+i] = src[r·n+i]·s[r] for r < len(s) and i < n:
// each row of src times its own scalar in one call, as a
// squeeze-excitation gate scales a feature map's channels. dst may be
// src.
func ScaleRows(dst, src, s []float32, n int) {
	if !checkRows(dst, src, s, n) {
		return
	}
	if scaleRowsBlocks(dst, src, s, n) {
		return
	}
	for r, v := range s {
		for i := r * n; i < (r+1)*n; i++ {
			dst[i] = src[i] * v
		}
	}
}

// AddRows sets dst[r·n+i] = src[r·n+i] + s[r] for r < len(s) and i < n:
// a per-channel bias over a feature map in one call. dst may be src.
func AddRows(dst, src, s []float32, n int) {
	if !checkRows(dst, src, s, n) {
		return
	}
	if addRowsBlocks(dst, src, s, n) {
		return
	}
	for r, v := range s {
		for i := r * n; i < (r+1)*n; i++ {
			dst[i] = src[i] + v
		}
	}
}

// checkRows panics unless dst and src hold len(s) rows of n, and reports
// whether there is anything to do.
func checkRows(dst, src, s []float32, n int) bool {
	if n < 0 {
		panic("vec: negative row length")
	}
	if len(s) == 0 || n == 0 {
		return false
	}
	_ = dst[len(s)*n-1]
	_ = src[len(s)*n-1]
	return true
}

// MeanRows sets dst[r] to the mean of src[r·n:(r+1)·n] for r < len(dst),
// summed in float64 and divided by n: a global average pool over planes
// of n in one call. n must be positive.
func MeanRows(dst, src []float32, n int) {
	if n <= 0 {
		panic("vec: MeanRows needs rows of at least one element")
	}
	if len(dst) == 0 {
		return
	}
	_ = src[len(dst)*n-1]
	if meanRowsBlocks(dst, src, n) {
		return
	}
	for r := range dst {
		var s float64
		for _, v := range src[r*n : (r+1)*n] {
			s += float64(v)
		}
		dst[r] = float32(s / float64(n))
	}
}

// BiasClampRows sets dst[r*ldd+j] = min(max(src[r*lds+j]+bias, lo), hi)
// for r < rows and j < cols: BiasClamp over a block of rows in one call,
// as a convolution stores the rows of an output channel from a tile whose
// rows are longer than the output's. NaNs stay NaN.
func BiasClampRows(dst []float32, ldd int, src []float32, lds, rows, cols int, bias, lo, hi float32) {
	if rows <= 0 || cols <= 0 {
		return
	}
	if ldd < 0 || lds < 0 {
		panic("vec: BiasClampRows needs non-negative row strides")
	}
	_ = dst[(rows-1)*ldd+cols-1]
	_ = src[(rows-1)*lds+cols-1]
	if biasClampRowsBlocks(dst, ldd, src, lds, rows, cols, bias, lo, hi) {
		return
	}
	for r := range rows {
		biasClampGo(dst[r*ldd:r*ldd+cols], src[r*lds:r*lds+cols], bias, lo, hi)
	}
}
