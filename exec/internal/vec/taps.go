package vec

// ConvTaps sets dst[i] = bias + Σ_t w[t]·src[off[t]+i] for every
// i < len(dst): a run of outputs of a depthwise convolution (or of a
// pooling sum) whose window taps lie at the offsets off in a zero-padded
// plane, the run being an output row or, at stride 1, several rows read
// as one (convolution in exec/ops). Every off[t] must be at least 0 and
// src must hold max(off)+len(dst) elements; w must be as long as off.
// On amd64 with FMA each tap is a fused multiply-add into one of eight
// accumulators of 8 outputs; the twin rounds each product first, so the
// two may differ in the last bits.
func ConvTaps(dst, src []float32, off []int, w []float32, bias float32) {
	w = w[:len(off)]
	m := 0
	for _, o := range off {
		if o < 0 {
			panic("vec: negative tap offset")
		}
		m = max(m, o)
	}
	if len(dst) == 0 {
		return
	}
	_ = src[m+len(dst)-1]
	n := convTapsBlocks(dst, src, off, w, bias)
	convTapsGo(dst[n:], src[n:], off, w, bias)
}

// convTapsGo is ConvTaps one tap at a time over the whole of dst.
func convTapsGo(dst, src []float32, off []int, w []float32, bias float32) {
	for i := range dst {
		dst[i] = bias
	}
	for t, o := range off {
		wt := w[t]
		s := src[o : o+len(dst)]
		for i, v := range s {
			dst[i] += wt * v
		}
	}
}
