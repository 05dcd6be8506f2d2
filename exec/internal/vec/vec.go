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

// BiasClamp sets dst[i] = min(max(src[i]+bias, lo), hi) for every
// i < len(dst), with Clamp's rule for NaNs and bounds; dst and src may be
// the same slice. A convolution adds its bias and fused activation to an
// output row in this one pass.
func BiasClamp(dst, src []float32, bias, lo, hi float32) {
	src = src[:len(dst)]
	n := biasClampBlocks(dst, src, bias, lo, hi)
	biasClampGo(dst[n:], src[n:], bias, lo, hi)
}

// biasClampGo is BiasClamp one element at a time.
func biasClampGo(dst, src []float32, bias, lo, hi float32) {
	src = src[:len(dst)]
	for i, v := range src {
		v += bias
		if lo > v {
			v = lo
		}
		if hi < v {
			v = hi
		}
		dst[i] = v
	}
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
