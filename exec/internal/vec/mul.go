package vec

// Mul sets dst[i] = a[i]·b[i] for every i < len(dst); a and b must be at
// least as long as dst, and dst may be either of them.
func Mul(dst, a, b []float32) {
	a, b = a[:len(dst)], b[:len(dst)]
	n := mulBlocks(dst, a, b)
	mulGo(dst[n:], a[n:], b[n:])
}

// mulGo is Mul one element at a time.
func mulGo(dst, a, b []float32) {
	a, b = a[:len(dst)], b[:len(dst)]
	for i := range dst {
		dst[i] = a[i] * b[i]
	}
}

// Scale sets dst[i] = s·src[i] for every i < len(dst); src must be at
// least as long as dst, and dst may be src. (A squeeze-excitation gate
// scales each channel's plane this way.)
func Scale(dst, src []float32, s float32) {
	src = src[:len(dst)]
	n := scaleBlocks(dst, src, s)
	scaleGo(dst[n:], src[n:], s)
}

// scaleGo is Scale one element at a time.
func scaleGo(dst, src []float32, s float32) {
	src = src[:len(dst)]
	for i, v := range src {
		dst[i] = s * v
	}
}
