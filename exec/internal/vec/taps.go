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

// ConvWindows sets dst[r·ldd + c] = bias + Σ_t w[t]·src[r·lds + step·c +
// off[t]] for r < rows and c < cols: rows of depthwise-convolution
// outputs whose window taps lie at the offsets off (with weights w) from
// each window's start in a zero-padded plane, step (1 or 2) the stride
// between windows along a row. One call does a whole plane (exec/ops).
// src must hold step − 1 elements past the last tap read (the stride-2
// blocks load pairs). Rounding as in ConvTaps: a fused multiply-add a tap
// on amd64, products rounded first in the twin.
func ConvWindows(dst []float32, ldd int, src []float32, lds, rows, cols int, off []int, w []float32, bias float32, step int) {
	if len(w) < len(off) {
		panic("vec: ConvWindows needs a weight a tap")
	}
	if !checkWindows(dst, ldd, src, lds, rows, cols, off, step) {
		return
	}
	if convWindowsBlocks(dst, ldd, src, lds, rows, cols, off, w, bias, step) {
		return
	}
	convWindowsGo(dst, ldd, src, lds, rows, cols, off, w, bias, step)
}

// ConvWindowsBlock returns the widest block of columns ConvWindows
// computes at once on this machine: 64 with AVX-512, 32 with AVX2, 1
// for the portable loop. Callers choosing between it and other kernels
// by row width use it.
func ConvWindowsBlock() int { return convWindowsBlock() }

// convWindowsGo is ConvWindows one output at a time.
func convWindowsGo(dst []float32, ldd int, src []float32, lds, rows, cols int, off []int, w []float32, bias float32, step int) {
	for r := range rows {
		out, in := dst[r*ldd:r*ldd+cols], src[r*lds:]
		for c := range out {
			v := bias
			for t, o := range off {
				v += w[t] * in[step*c+o]
			}
			out[c] = v
		}
	}
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
