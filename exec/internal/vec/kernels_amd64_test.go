//go:build !purego

package vec

import (
	"math"
	"testing"
)

// forWindowsKernels runs test with each vector kernel of ConvWindows this
// machine has: AVX-512 where present, then AVX2.
func forWindowsKernels(t *testing.T, test func(t *testing.T)) {
	defer func(on bool) { useWindowsAVX512 = on }(useWindowsAVX512)
	if haveAVX512 {
		useWindowsAVX512 = true
		t.Run("avx512", test)
	}
	useWindowsAVX512 = false
	t.Run("avx2", test)
}

// TestMathAVX512MatchesAVX2 holds the AVX-512 Exp, SiLU and Sigmoid to
// the AVX2 kernels bit for bit (NaN to NaN), on the accuracy tests'
// inputs and a fine sweep of the ranges where 2^n scaling is delicate:
// subnormal and overflowing results, and the clamps. The accuracy tests
// run whichever kernel the machine selects, so this carries their bounds
// over to the other.
func TestMathAVX512MatchesAVX2(t *testing.T) {
	if !haveAVX512 || !haveAVX2 {
		t.Skip("needs AVX-512 and AVX2")
	}
	defer func(on bool) { useMathAVX512 = on }(useMathAVX512)
	xs := mathInputs(110)
	for v := float32(-110); v <= 110; v += 1.0 / 64 {
		xs = append(xs, v, math.Nextafter32(v, 200))
	}
	for _, f := range []struct {
		name string
		fn   func(dst, src []float32)
	}{{"Exp", Exp}, {"SiLU", SiLU}, {"Sigmoid", Sigmoid}} {
		for _, n := range []int{len(xs), 1, 15, 16, 17, 33} {
			useMathAVX512 = true
			wide := make([]float32, n)
			f.fn(wide, xs[:n])
			useMathAVX512 = false
			narrow := make([]float32, n)
			f.fn(narrow, xs[:n])
			for i := range wide {
				a, b := wide[i], narrow[i]
				if math.Float32bits(a) != math.Float32bits(b) && !(a != a && b != b) {
					t.Fatalf("%s(%v): AVX-512 %v (%#x), AVX2 %v (%#x)", f.name, xs[i], a, math.Float32bits(a), b, math.Float32bits(b))
				}
			}
		}
	}
}
