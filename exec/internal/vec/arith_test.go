package vec

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestArith holds the arithmetic rows to float32 arithmetic element by
// element, bit for bit (IEEE sums and quotients round the same in every
// instruction), NaN to NaN, with zeros and infinities among the operands,
// on lengths around the 8- and 16-element blocks, in place and not.
func TestArith(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	special := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())}
	rows := []struct {
		name string
		run  func(dst, a, b []float32)
		want func(a, b float32) float32
	}{
		{"Add", Add, func(a, b float32) float32 { return a + b }},
		{"Sub", Sub, func(a, b float32) float32 { return a - b }},
		{"Div", Div, func(a, b float32) float32 { return a / b }},
	}
	scalars := []struct {
		name string
		run  func(dst, x []float32, s float32)
		want func(x, s float32) float32
	}{
		{"AddScalar", AddScalar, func(x, s float32) float32 { return x + s }},
		{"DivScalar", DivScalar, func(x, s float32) float32 { return x / s }},
		{"ScalarSub", func(dst, x []float32, s float32) { ScalarSub(dst, s, x) }, func(x, s float32) float32 { return s - x }},
		{"ScalarDiv", func(dst, x []float32, s float32) { ScalarDiv(dst, s, x) }, func(x, s float32) float32 { return s / x }},
		{"ScaleShift", func(dst, x []float32, s float32) { ScaleShift(dst, x, s, 0.375) }, func(x, s float32) float32 { return x*s + 0.375 }},
	}
	same := func(g, w float32) bool { return math.Float32bits(g) == math.Float32bits(w) || (g != g && w != w) }
	for _, n := range []int{0, 1, 7, 8, 9, 15, 16, 17, 24, 33, 100} {
		a, b := make([]float32, n), make([]float32, n)
		for i := range a {
			a[i], b[i] = float32(r.NormFloat64()*10), float32(r.NormFloat64())
			if i%7 == 3 {
				a[i] = special[i%len(special)]
			}
			if i%11 == 5 {
				b[i] = special[(i/11)%len(special)]
			}
		}
		for _, op := range rows {
			got := make([]float32, n)
			op.run(got, a, b)
			inPlace := append([]float32(nil), a...)
			op.run(inPlace, inPlace, b)
			for i := range n {
				if w := op.want(a[i], b[i]); !same(got[i], w) || !same(inPlace[i], w) {
					t.Fatalf("%s n=%d element %d: %v / %v in place, want %v", op.name, n, i, got[i], inPlace[i], w)
				}
			}
		}
		for _, s := range append([]float32{float32(r.NormFloat64())}, special...) {
			for _, op := range scalars {
				got := make([]float32, n)
				op.run(got, a, s)
				for i := range n {
					if w := op.want(a[i], s); !same(got[i], w) {
						t.Fatalf("%s n=%d s=%v element %d: %v, want %v", op.name, n, s, i, got[i], w)
					}
				}
			}
		}
	}
}

// TestSubAsAddScalar checks the identity AddScalar's comment relies on:
// x − s and x + (−s) are the same float32, specials included.
func TestSubAsAddScalar(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	x := make([]float32, 64)
	for i := range x {
		x[i] = float32(r.NormFloat64() * 1e3)
	}
	x[3], x[9] = float32(math.Inf(1)), 0
	for _, s := range []float32{1.5, -3e-7, float32(math.Inf(1)), 0} {
		got := make([]float32, len(x))
		AddScalar(got, x, -s)
		for i, v := range x {
			if w := v - s; math.Float32bits(got[i]) != math.Float32bits(w) && !(w != w && got[i] != got[i]) {
				t.Fatalf("s=%v: %v − s = %v, AddScalar gave %v", s, v, w, got[i])
			}
		}
	}
}
