// Package vec holds the vectorised loops that elementwise kernels share,
// each an assembly routine on amd64 with a pure-Go twin (build tag
// purego, or other architectures) that the tests hold it to.
package vec

// Clamp sets dst[i] = min(max(src[i], lo), hi) for every i < len(dst);
// dst and src may be the same slice, src must be at least as long as dst.
// It follows the x86 MAXPS/MINPS rule: where src[i] is NaN the result is
// NaN, and where src[i] equals a bound (0 and -0 included) the result is
// src[i]. Relu is Clamp(dst, src, 0, +Inf).
func Clamp(dst, src []float32, lo, hi float32) {
	src = src[:len(dst)]
	n := clampBlocks(dst, src, lo, hi)
	clampGo(dst[n:], src[n:], lo, hi)
}

// clampGo is Clamp one element at a time.
func clampGo(dst, src []float32, lo, hi float32) {
	src = src[:len(dst)]
	for i, v := range src {
		if lo > v {
			v = lo
		}
		if hi < v {
			v = hi
		}
		dst[i] = v
	}
}
