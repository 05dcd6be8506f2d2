package vec

// Sigmoid sets dst[i] = 1/(1+e^(−src[i])) for every i < len(dst); dst and
// src may be the same slice. e^t is computed as 2^n·p(r), n = round(t·log₂e),
// r = t − n·ln2 (|r| ≤ ln2/2, ln2 split in two parts so r is exact to
// float32), p Cephes' degree-7 polynomial for expf (Moshier, "Cephes Math
// Library", 1984–2000; its error is about one float32 ulp there), and t
// clamped to [−88, 88] so that 2^n stays a normal float32 (sigmoid is 0 or
// 1 to float32 precision beyond). The result is within 4e-7 relative of
// the exact sigmoid (TestSigmoid), and NaN stays NaN.
func Sigmoid(dst, src []float32) {
	src = src[:len(dst)]
	n := sigmoidBlocks(dst, src)
	sigmoidGo(dst[n:], src[n:])
}

// The constants of Sigmoid's e^t, shared with the assembly.
const (
	expClamp = 88.0
	log2e    = 1.44269504088896341
	ln2Hi    = 0.693359375
	ln2Lo    = -2.12194440e-4
	expP0    = 1.9875691500e-4
	expP1    = 1.3981999507e-3
	expP2    = 8.3334519073e-3
	expP3    = 4.1665795894e-2
	expP4    = 1.6666665459e-1
	expP5    = 5.0000001201e-1
)

// sigmoidGo is Sigmoid one element at a time, the same steps in float32.
func sigmoidGo(dst, src []float32) {
	src = src[:len(dst)]
	for i, x := range src {
		dst[i] = sigmoid1(x)
	}
}

// sigmoid1 is Sigmoid of one element.
func sigmoid1(x float32) float32 {
	if x != x {
		return x
	}
	p, k := expReduced(min(max(-x, -expClamp), expClamp))
	e := p * pow2(k)
	return 1 / (1 + e)
}
