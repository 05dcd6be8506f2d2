package vec

import "math"

// Exp sets dst[i] = e^src[i] for every i < len(dst); dst and src may be
// the same slice. It takes Sigmoid's steps (2^n·p(r), Cephes' expf
// polynomial) with src clamped to [−104, 89]: past 89 the result
// overflows to +Inf, and below −104 it rounds to 0. 2^n is applied as two
// normal factors, so results in float32's subnormal range are right too.
// Within 1 float32 ulp of the exact e^x for normal results (TestExp
// measures 0.91 ulps at most), within 1.5e-45 absolute below
// them; NaN stays NaN.
func Exp(dst, src []float32) {
	src = src[:len(dst)]
	n := expBlocks(dst, src)
	expGo(dst[n:], src[n:])
}

// Exp's clamp: e^89 overflows float32, and e^−104 is below half the
// smallest subnormal.
const (
	expLo = -104.0
	expHi = 89.0
)

// expGo is Exp one element at a time, the same steps in float32.
func expGo(dst, src []float32) {
	src = src[:len(dst)]
	for i, x := range src {
		if x != x {
			dst[i] = x
			continue
		}
		dst[i] = exp1(min(max(x, expLo), expHi))
	}
}

// exp1 is e^t for t in [−104, 89] (see Exp).
func exp1(t float32) float32 {
	p, k := expReduced(t)
	k1 := k >> 1
	return p * pow2(k1) * pow2(k-k1)
}

// expReduced splits e^t into p·2^k with k the nearest integer to t/ln 2
// and p the polynomial of the remainder, in the float32 steps of the
// assembly kernels (Exp, Sigmoid, Tanh, SiLU).
func expReduced(t float32) (p float32, k int32) {
	// Adding and taking away 1.5·2^23 rounds to the nearest integer,
	// ties to even, as VROUNDPS does.
	const round = 0x1.8p23
	n := t*log2e + round
	n -= round
	r := t - n*ln2Hi
	r -= n * ln2Lo
	p = float32(expP0)
	p = p*r + expP1
	p = p*r + expP2
	p = p*r + expP3
	p = p*r + expP4
	p = p*r + expP5
	p = p*r*r + r + 1
	return p, int32(n)
}

// pow2 is 2^k for −126 ≤ k ≤ 127.
func pow2(k int32) float32 { return math.Float32frombits(uint32(k+127) << 23) }

// SiLU sets dst[i] = src[i]·σ(src[i]) (SiLU, or Swish with β = 1) for
// every i < len(dst); dst and src may be the same slice. σ is Sigmoid's,
// so the result is bit for bit Sigmoid followed by a product with src:
// fusing the two changes nothing. Within 2 float32 ulps of x·σ(x) for
// x > −80 (TestSiLU measures 1.97); below, where the result is tiny,
// within Sigmoid's 1e-38 absolute times |x|. SiLU(−Inf) is −Inf, as
// Sigmoid then Mul give (σ(−Inf) comes out 6e−39, not 0).
func SiLU(dst, src []float32) {
	src = src[:len(dst)]
	n := siluBlocks(dst, src)
	siluGo(dst[n:], src[n:])
}

// siluGo is SiLU one element at a time.
func siluGo(dst, src []float32) {
	src = src[:len(dst)]
	for i, x := range src {
		dst[i] = x * sigmoid1(x)
	}
}

// Tanh sets dst[i] = tanh(src[i]) for every i < len(dst); dst and src may
// be the same slice. As in Cephes' tanhf (Moshier, "Cephes Math Library"),
// |x| ≤ 0.625 takes the odd polynomial x + x·z·T(z), z = x², which keeps
// the relative accuracy near 0 (and the sign of −0); elsewhere it is
// sign(x)·(1 − 2/(e^(2|x|)+1)), with Exp's e^t. Within 1.5 float32 ulps
// (1.8e-7 relative) of the exact tanh (TestTanh measures 1.17 at most);
// ±Inf give ±1 and NaN stays NaN.
func Tanh(dst, src []float32) {
	src = src[:len(dst)]
	n := tanhBlocks(dst, src)
	tanhGo(dst[n:], src[n:])
}

// Tanh's polynomial T(z), Cephes' tanhf coefficients, and the cut-over.
const (
	tanhT0  = -5.70498872745e-3
	tanhT1  = 2.06390887954e-2
	tanhT2  = -5.37397155531e-2
	tanhT3  = 1.33314422036e-1
	tanhT4  = -3.33332819422e-1
	tanhCut = 0.625
)

// tanhGo is Tanh one element at a time, the same steps in float32.
func tanhGo(dst, src []float32) {
	src = src[:len(dst)]
	for i, x := range src {
		a := math.Float32frombits(math.Float32bits(x) &^ (1 << 31))
		if a <= tanhCut {
			z := x * x
			p := float32(tanhT0)
			p = p*z + tanhT1
			p = p*z + tanhT2
			p = p*z + tanhT3
			p = p*z + tanhT4
			// The sign of x, set again, keeps −0 (x·z·p + x is +0 there).
			v := x*z*p + x
			dst[i] = math.Float32frombits(math.Float32bits(v) | math.Float32bits(x)&(1<<31))
			continue
		}
		if x != x {
			dst[i] = x
			continue
		}
		e := exp1(min(a+a, expHi))
		v := 1 - 2/(e+1)
		dst[i] = math.Float32frombits(math.Float32bits(v) | math.Float32bits(x)&(1<<31))
	}
}
