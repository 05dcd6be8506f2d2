package vec

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestSigmoid holds Sigmoid (the AVX2 loop where available) and its
// one-element twin to the float64 sigmoid: within 4e-7 relative (about
// three float32 ulps: the polynomial's error, the rounding of r, and the
// division), plus 1e-38 for results in float32's subnormal range. NaN
// stays NaN; the infinities give 0 and 1.
func TestSigmoid(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var xs []float32
	for range 5000 {
		xs = append(xs, float32(r.NormFloat64()*8))
	}
	for v := float32(-100); v <= 100; v += 0.37 {
		xs = append(xs, v)
	}
	xs = append(xs, 0, float32(math.Copysign(0, -1)), 88, -88, 87.9, -87.9, 1e-8, -1e-8,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), math.MaxFloat32, -math.MaxFloat32)
	want := func(x float32) float64 { return 1 / (1 + math.Exp(-float64(x))) }
	for _, n := range []int{len(xs), 7, 8, 9, 33} { // lengths with and without a scalar tail
		got, twin := make([]float32, n), make([]float32, n)
		Sigmoid(got, xs[:n])
		sigmoidGo(twin, xs[:n])
		for i, x := range xs[:n] {
			w := want(x)
			for name, g := range map[string]float32{"Sigmoid": got[i], "sigmoidGo": twin[i]} {
				if math.IsNaN(float64(x)) {
					if g == g {
						t.Fatalf("%s(NaN) = %v", name, g)
					}
					continue
				}
				if d := math.Abs(float64(g) - w); d > 4e-7*w+1e-38 {
					t.Fatalf("%s(%v) = %v, want %v (relative error %.2g)", name, x, g, w, d/w)
				}
			}
		}
	}
	inPlace := append([]float32(nil), xs...)
	Sigmoid(inPlace, inPlace)
	ref := make([]float32, len(xs))
	Sigmoid(ref, xs)
	for i := range ref {
		if math.Float32bits(inPlace[i]) != math.Float32bits(ref[i]) {
			t.Fatalf("in place, element %d: %v, want %v", i, inPlace[i], ref[i])
		}
	}
}

func BenchmarkSigmoid(b *testing.B) {
	s := make([]float32, 1<<16)
	for i := range s {
		s[i] = float32(i%200-100) / 10
	}
	dst := make([]float32, len(s))
	b.SetBytes(int64(8 * len(s)))
	for b.Loop() {
		Sigmoid(dst, s)
	}
}
