package vec

import "math"

// Erf sets dst[i] = erf(src[i]) for every i < len(dst); dst and src may
// be the same slice. For |x| < 1, erf x = x + x·P(x²) (P being erf(x)/x
// − 1, so that the rounding of 2/√π does not reach the result); for 1 ≤ |x| < 4,
// erf x = sign(x)·(1 − e^(−x²)·R(u)), u = (|x| − 2.5)/1.5 ∈ [−1, 1], with
// Exp's e^t; from 4 on, erf rounds to ±1 in float32, and |x| is clamped
// there. P (degree 6) and R (degree 12, of erfc(x)·e^(x²)) are
// least-squares fits at Chebyshev nodes made for graft, relative errors
// 1.2e-9 and 6e-9 in float64. Within 1.5 float32 ulps of math.Erf (TestErf
// measures 1.07 at most); −0 stays −0 and NaN stays NaN.
func Erf(dst, src []float32) {
	src = src[:len(dst)]
	n := erfBlocks(dst, src)
	erfGo(dst[n:], src[n:])
}

// Erf's polynomials, lowest degree first (erfSmall is P, with 2/√π − 1
// as its constant), and the map from |x| to u.
var (
	erfSmall = [7]float32{0.12837916612625122, -0.3761262595653534, 0.1128358244895935, -0.026853691786527634,
		0.005188100039958954, -0.0008008194854483008, 7.847263623261824e-05}
	erfLarge = [13]float32{0.21080636978149414, -0.11152100563049316, 0.05611051619052887, -0.027005670592188835,
		0.01248917542397976, -0.005567649845033884, 0.0024040043354034424, -0.0010163822444155812,
		0.0004099894722457975, -0.00014469305460806936, 5.9020225307904184e-05, -3.6655379517469555e-05,
		1.2445789252524264e-05}
)

const (
	erfUScale = float32(2.0 / 3)
	erfUShift = float32(-5.0 / 3)
)

// erfGo is Erf one element at a time, the same steps in float32.
func erfGo(dst, src []float32) {
	src = src[:len(dst)]
	for i, x := range src {
		if x != x {
			dst[i] = x
			continue
		}
		a := math.Float32frombits(math.Float32bits(x) &^ (1 << 31))
		if a < 1 {
			z := x * x
			p := erfSmall[6]
			for k := 5; k >= 0; k-- {
				p = p*z + erfSmall[k]
			}
			dst[i] = x*p + x
			continue
		}
		a = min(a, 4)
		e := exp1(-(a * a))
		u := a*erfUScale + erfUShift
		r := erfLarge[12]
		for k := 11; k >= 0; k-- {
			r = r*u + erfLarge[k]
		}
		v := 1 - e*r
		dst[i] = math.Float32frombits(math.Float32bits(v) | math.Float32bits(x)&(1<<31))
	}
}
