package vec

// DW3x3 computes one output row of a 3×3 depthwise convolution with
// stride 1 over its interior columns: out[i] = bias + Σ_k w[k]·r0[i+k] +
// Σ_k w[3+k]·r1[i+k] + Σ_k w[6+k]·r2[i+k] for i < len(out). Each input row
// must hold len(out)+2 elements.
func DW3x3(out, r0, r1, r2 []float32, w *[9]float32, bias float32) {
	n := dw3x3Blocks(out, r0, r1, r2, w, bias)
	dw3x3Go(out[n:], r0[n:], r1[n:], r2[n:], w, bias)
}

// dw3x3Go is DW3x3 one element at a time.
func dw3x3Go(out, r0, r1, r2 []float32, w *[9]float32, bias float32) {
	w0, w1, w2, w3, w4, w5, w6, w7, w8 := w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7], w[8]
	for i := range out {
		a, b, c := r0[i:i+3:i+3], r1[i:i+3:i+3], r2[i:i+3:i+3]
		out[i] = bias + (w0*a[0] + w1*a[1] + w2*a[2]) + (w3*b[0] + w4*b[1] + w5*b[2]) + (w6*c[0] + w7*c[1] + w8*c[2])
	}
}
