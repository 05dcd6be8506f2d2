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
