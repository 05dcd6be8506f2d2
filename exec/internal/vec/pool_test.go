package vec

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestMaxTaps holds MaxTaps and its twin to a plain loop, bit for bit,
// on run lengths around the 8- and 32-element blocks, with NaNs (which
// must come out wherever a window holds one, first tap or last) and
// infinities among the inputs.
func TestMaxTaps(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	special := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))}
	for _, n := range []int{1, 7, 8, 9, 31, 32, 33, 40, 97} {
		for _, taps := range []int{1, 4, 9, 25} {
			off := make([]int, taps)
			for i := range off {
				off[i] = r.IntN(30)
			}
			src := make([]float32, 30+n)
			for i := range src {
				src[i] = float32(r.NormFloat64())
				if r.IntN(40) == 0 {
					src[i] = special[r.IntN(len(special))]
				}
			}
			got, twin := make([]float32, n), make([]float32, n)
			MaxTaps(got, src, off)
			maxTapsGo(twin, src, off)
			for i := range n {
				want := float32(math.Inf(-1))
				for _, o := range off {
					want = max(want, src[o+i])
				}
				for name, g := range map[string]float32{"MaxTaps": got[i], "maxTapsGo": twin[i]} {
					if want != want {
						if g == g {
							t.Fatalf("n=%d taps=%d: %s element %d = %v, want NaN", n, taps, name, i, g)
						}
						continue
					}
					if g != want {
						t.Fatalf("n=%d taps=%d: %s element %d = %v, want %v", n, taps, name, i, g, want)
					}
				}
			}
		}
	}
}

// TestSum holds Sum to a sequential float64 sum within float64 rounding
// (1e-12 of the sum of magnitudes) on lengths around the 16-element
// blocks.
func TestSum(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, n := range []int{0, 1, 15, 16, 17, 100, 3136} {
		src := make([]float32, n)
		want, scale := 0.0, 0.0
		for i := range src {
			src[i] = float32(r.NormFloat64() * 100)
			want += float64(src[i])
			scale += math.Abs(float64(src[i]))
		}
		if got := Sum(src); math.Abs(got-want) > 1e-12*scale {
			t.Fatalf("n=%d: Sum = %v, want %v", n, got, want)
		}
	}
}
