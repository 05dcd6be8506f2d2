package vec

// Axpy sets dst[i] += a·src[i] for every i < len(dst); src must be at
// least as long as dst. On amd64 with FMA each sum is one fused
// multiply-add; the twin rounds the product first, so the two may differ
// in the last bit.
func Axpy(dst, src []float32, a float32) {
	src = src[:len(dst)]
	n := axpyBlocks(dst, src, a)
	axpyGo(dst[n:], src[n:], a)
}

// axpyGo is Axpy one element at a time.
func axpyGo(dst, src []float32, a float32) {
	src = src[:len(dst)]
	for i, v := range src {
		dst[i] += a * v
	}
}
