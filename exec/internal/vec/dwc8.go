package vec

// DWC8 computes n·8 outputs of one output row of a depthwise convolution
// for eight channels at once, from an input held eight channels a pixel
// (a zero-padded plane block: element c of pixel (y, x) at (y·wp + x)·8 +
// c) and writes them to the channels' own planes:
//
//	out[c·ldo + j] = clamp(bias[c] + Σ_{ky<kh, kx<kw} w[(ky·kw+kx)·8 + c] ·
//	                       in[(ky·wp + j·s + kx)·8 + c], lo, hi)
//
// for c < 8 and j < 8n, where in starts at the row block of the output
// row and clamp keeps NaNs. The blocked layout makes every tap one vector
// of eight channels at any stride, so stride 2 costs no more than 1 and
// small planes pay no per-row overhead (exec/ops' depthwise
// convolution). in must hold (kh−1)·wp·8 + ((8n−1)·s + kw)·8 elements.
// The assembly multiplies and adds with FMA; the twin rounds each product.
func DWC8(out []float32, ldo int, in []float32, wp int, w, bias []float32, kh, kw, s, n int, lo, hi float32) {
	dwc(8, dwc8Blocks, out, ldo, in, wp, w, bias, kh, kw, s, n, lo, hi)
}

// DWC16 is DWC8 for sixteen channels a pixel: element c of pixel (y, x)
// at (y·wp + x)·16 + c, sixteen weights and biases a tap, and
// out[c·ldo + j] for c < 16. Where the machine has sixteen-float vectors
// (DWC16Fast) each instruction does twice DWC8's work. in must hold
// (kh−1)·wp·16 + ((8n−1)·s + kw)·16 elements.
func DWC16(out []float32, ldo int, in []float32, wp int, w, bias []float32, kh, kw, s, n int, lo, hi float32) {
	dwc(16, dwc16Blocks, out, ldo, in, wp, w, bias, kh, kw, s, n, lo, hi)
}

// dwcBlocksFunc is a vector DWC8 or DWC16 that reports whether it ran.
type dwcBlocksFunc func(out []float32, ldo int, in []float32, wp int, w, bias []float32, kh, kw, s, n int, lo, hi float32) bool

// dwc checks the operands of DWC8 (lanes 8) or DWC16 (lanes 16) and runs
// blocks, or the portable loop where it does not run.
func dwc(lanes int, blocks dwcBlocksFunc, out []float32, ldo int, in []float32, wp int, w, bias []float32, kh, kw, s, n int, lo, hi float32) {
	if n <= 0 {
		return
	}
	_ = in[(kh-1)*wp*lanes+((8*n-1)*s+kw)*lanes-1]
	_ = out[(lanes-1)*ldo+8*n-1]
	_ = w[kh*kw*lanes-1]
	_ = bias[lanes-1]
	if blocks(out, ldo, in, wp, w, bias, kh, kw, s, n, lo, hi) {
		return
	}
	dwcGo(lanes, out, ldo, in, wp, w, bias, kh, kw, s, n, lo, hi)
}

// DWC16Fast reports whether DWC16 runs as vector code on this machine.
func DWC16Fast() bool { return dwc16Fast() }

// dwcGo is DWC8 (lanes 8) or DWC16 (lanes 16) one element at a time.
func dwcGo(lanes int, out []float32, ldo int, in []float32, wp int, w, bias []float32, kh, kw, s, n int, lo, hi float32) {
	for c := range lanes {
		for j := range 8 * n {
			v := bias[c]
			for ky := range kh {
				for kx := range kw {
					v += w[(ky*kw+kx)*lanes+c] * in[((ky*wp+j*s+kx)*lanes)+c]
				}
			}
			if lo > v {
				v = lo
			}
			if hi < v {
				v = hi
			}
			out[c*ldo+j] = v
		}
	}
}
