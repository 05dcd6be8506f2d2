package vec

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestMulScale holds Mul and Scale to the float32 products bit for bit
// (a product rounds the same in any instruction), NaN to NaN, on lengths
// around the 8- and 32-element blocks, in place and not.
func TestMulScale(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	for _, n := range []int{0, 1, 7, 8, 9, 31, 32, 33, 41, 100} {
		a, b := make([]float32, n), make([]float32, n)
		for i := range a {
			a[i], b[i] = float32(r.NormFloat64()*10), float32(r.NormFloat64())
			if i%9 == 4 {
				a[i] = float32(math.NaN())
			}
		}
		s := float32(r.NormFloat64())
		got, scaled := make([]float32, n), make([]float32, n)
		Mul(got, a, b)
		Scale(scaled, a, s)
		inPlace := append([]float32(nil), a...)
		Mul(inPlace, inPlace, b)
		for i := range n {
			same := func(g, w float32) bool { return g == w || (g != g && w != w) }
			if !same(got[i], a[i]*b[i]) || !same(inPlace[i], a[i]*b[i]) {
				t.Fatalf("n=%d: Mul element %d = %v / %v, want %v", n, i, got[i], inPlace[i], a[i]*b[i])
			}
			if !same(scaled[i], s*a[i]) {
				t.Fatalf("n=%d: Scale element %d = %v, want %v", n, i, scaled[i], s*a[i])
			}
		}
	}
}
