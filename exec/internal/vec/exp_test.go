package vec

import (
	"math"
	"math/rand/v2"
	"testing"
)

// mathInputs returns arguments for the transcendental kernels: normal
// samples at several scales, a sweep across [−lim, lim], and the edge
// values (signed zeros, subnormals, the clamp points, ±Inf, NaN, the
// largest floats).
func mathInputs(lim float64) []float32 {
	r := rand.New(rand.NewPCG(11, 12))
	var xs []float32
	for _, s := range []float64{1e-3, 0.5, 3, 20} {
		for range 3000 {
			xs = append(xs, float32(r.NormFloat64()*s))
		}
	}
	for v := -lim; v <= lim; v += lim / 997 {
		xs = append(xs, float32(v))
	}
	return append(xs, 0, float32(math.Copysign(0, -1)), 1e-40, -1e-40, 1e-30, -1e-30, 0.625, -0.625,
		0.62500006, 88, -88, 88.72, 88.73, 89, -87.3, -100, -103.9, -104, -110, 9, -9,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), math.MaxFloat32, -math.MaxFloat32)
}

// ulps is the distance from got to the exact want in units of float32's
// spacing at want (the smallest subnormal below the normal range).
func ulps(got float32, want float64) float64 {
	if math.IsInf(want, 0) || math.Abs(want) > math.MaxFloat32 {
		if float64(got) == math.Copysign(math.Inf(1), want) {
			return 0
		}
		return math.Inf(1)
	}
	w := float32(want)
	spacing := math.Abs(float64(math.Nextafter32(w, float32(math.Inf(1))) - w))
	if w == float32(math.Inf(1)) || spacing == 0 {
		spacing = math.Abs(float64(w - math.Nextafter32(w, 0)))
	}
	return math.Abs(float64(got)-want) / spacing
}

// checkMath runs a kernel, its one-element twin and the kernel in place
// on xs and holds all three to ref within maxUlps, NaN to NaN.
func checkMath(t *testing.T, name string, kernel, twin func(dst, src []float32), ref func(float64) float64, xs []float32, maxUlps float64) {
	t.Helper()
	worst := 0.0
	for _, n := range []int{len(xs), 1, 7, 8, 9, 17} { // with and without scalar tails
		got, tw := make([]float32, n), make([]float32, n)
		kernel(got, xs[:n])
		twin(tw, xs[:n])
		inPlace := append([]float32(nil), xs[:n]...)
		kernel(inPlace, inPlace)
		for i, x := range xs[:n] {
			w := ref(float64(x))
			for k, g := range [3]float32{got[i], tw[i], inPlace[i]} {
				if math.IsNaN(w) {
					if g == g {
						t.Fatalf("%s(%v) = %v (variant %d), want NaN", name, x, g, k)
					}
					continue
				}
				u := ulps(g, w)
				if !(u <= maxUlps) {
					t.Fatalf("%s(%v) = %v (variant %d), want %v: %.2f ulps", name, x, g, k, w, u)
				}
				worst = max(worst, u)
			}
		}
	}
	t.Logf("%s: max error %.2f ulps", name, worst)
}

// TestExp holds Exp to math.Exp within 1 ulp (subnormal results: one subnormal step).
func TestExp(t *testing.T) {
	checkMath(t, "Exp", Exp, expGo, math.Exp, mathInputs(110), 1)
}

// TestTanh holds Tanh to math.Tanh within 1.5 ulps, and checks that −0
// keeps its sign.
func TestTanh(t *testing.T) {
	checkMath(t, "Tanh", Tanh, tanhGo, math.Tanh, mathInputs(12), 1.5)
	negZero := float32(math.Copysign(0, -1))
	for _, n := range []int{1, 8} {
		dst := make([]float32, n)
		src := make([]float32, n)
		for i := range src {
			src[i] = negZero
		}
		Tanh(dst, src)
		if math.Float32bits(dst[0]) != math.Float32bits(negZero) {
			t.Fatalf("Tanh(-0) = %v", dst[0])
		}
	}
}

// TestSiLU holds SiLU to x·σ(x) within 4 ulps (Sigmoid's 4e-7 and the
// product's rounding), and to Sigmoid then a product bit for bit, which
// is what makes fusing the pair exact.
func TestSiLU(t *testing.T) {
	xs := mathInputs(100)
	silu := func(x float64) float64 {
		if math.IsInf(x, -1) {
			return math.Inf(-1) // see SiLU's doc: σ(−Inf) is tiny, not 0
		}
		return x / (1 + math.Exp(-x))
	}
	var finite []float32
	for _, x := range xs {
		if !math.IsInf(float64(x), -1) && x > -80 { // below, x·σ(x) is subnormal and graded by Sigmoid's absolute 1e-38
			finite = append(finite, x)
		}
	}
	checkMath(t, "SiLU", SiLU, siluGo, silu, finite, 4)
	got, sig := make([]float32, len(xs)), make([]float32, len(xs))
	SiLU(got, xs)
	Sigmoid(sig, xs)
	for i, x := range xs {
		want := x * sig[i]
		if math.Float32bits(got[i]) != math.Float32bits(want) && !(want != want && got[i] != got[i]) {
			t.Fatalf("SiLU(%v) = %v, Sigmoid times x = %v", x, got[i], want)
		}
	}
}

func BenchmarkExp(b *testing.B)  { benchUnary(b, Exp) }
func BenchmarkTanh(b *testing.B) { benchUnary(b, Tanh) }
func BenchmarkSiLU(b *testing.B) { benchUnary(b, SiLU) }

func benchUnary(b *testing.B, f func(dst, src []float32)) {
	s := make([]float32, 1<<14)
	for i := range s {
		s[i] = float32(i%200-100) / 10
	}
	dst := make([]float32, len(s))
	b.SetBytes(int64(8 * len(s)))
	for b.Loop() {
		f(dst, s)
	}
}

// TestErf holds Erf to math.Erf within 1.5 ulps, and checks that −0
// keeps its sign.
func TestErf(t *testing.T) {
	xs := append(mathInputs(6), 1, -1, 0.99999994, -0.99999994, 1.0000001, 3.9999998, 4, -4, 4.0000005, 2.5)
	checkMath(t, "Erf", Erf, erfGo, math.Erf, xs, 1.5)
	negZero := float32(math.Copysign(0, -1))
	for _, n := range []int{1, 8} {
		dst, src := make([]float32, n), make([]float32, n)
		for i := range src {
			src[i] = negZero
		}
		Erf(dst, src)
		if math.Float32bits(dst[0]) != math.Float32bits(negZero) {
			t.Fatalf("Erf(-0) = %v", dst[0])
		}
	}
}

func BenchmarkErf(b *testing.B) { benchUnary(b, Erf) }
