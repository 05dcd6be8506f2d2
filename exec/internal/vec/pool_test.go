package vec

import (
	"math"
	"math/rand/v2"
	"slices"
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

// TestMaxWindows holds MaxWindows and its twin to a plain loop, bit for
// bit up to the sign of zero, with each vector kernel, at steps 1 and 2,
// on column counts around both kernels' blocks (windowsCols), with row strides
// wider than the rows (whose gaps must stay untouched) and NaNs and
// infinities among the inputs.
func TestMaxWindows(t *testing.T) {
	forWindowsKernels(t, testMaxWindows)
}

func testMaxWindows(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	special := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))}
	for _, cols := range windowsCols {
		for _, step := range []int{1, 2} {
			for _, off := range [][]int{{0}, {0, 1, 2}, {0, 2, 4}, {3, 0, 7, 1}, {0, 120, 240}} {
				const gap = 12345
				const rows = 3
				ldd, lds, src, got, twin := windowsCase(r, rows, cols, step, off, gap)
				for i := range src {
					if r.IntN(30) == 0 {
						src[i] = special[r.IntN(len(special))]
					}
				}
				MaxWindows(got, ldd, src, lds, rows, cols, off, step)
				maxWindowsGo(twin, ldd, src, lds, rows, cols, off, step)
				for i := range got {
					want := float32(gap)
					if c := i % ldd; c < cols {
						want = float32(math.Inf(-1))
						for _, o := range off {
							want = max(want, src[i/ldd*lds+step*c+o])
						}
					}
					for name, g := range map[string]float32{"MaxWindows": got[i], "maxWindowsGo": twin[i]} {
						if g != want && !(g != g && want != want) {
							t.Fatalf("cols=%d step=%d off=%v: %s element %d = %v, want %v", cols, step, off, name, i, g, want)
						}
					}
				}
			}
		}
	}
}

// windowsCase lays out a MaxWindows or ConvWindows test: rows rows of
// cols outputs, row strides wider than the rows, random normal inputs just
// long enough for the taps off at step, and two outputs (got and its
// twin's) filled with gap, which the gaps between rows must keep.
func windowsCase(r *rand.Rand, rows, cols, step int, off []int, gap float32) (ldd, lds int, src, got, twin []float32) {
	ldd = cols + 5
	m := slices.Max(off)
	lds = step*cols + m + 3
	src = make([]float32, (rows-1)*lds+step*(cols-1)+m+step)
	for i := range src {
		src[i] = float32(r.NormFloat64())
	}
	got, twin = make([]float32, rows*ldd), make([]float32, rows*ldd)
	for i := range got {
		got[i], twin[i] = gap, gap
	}
	return ldd, lds, src, got, twin
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

// TestMax holds Max to a plain loop on lengths around its 16-element
// blocks, with the largest element at every position of a block and in
// the tail, infinities included.
func TestMax(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for _, n := range []int{1, 2, 15, 16, 17, 31, 32, 33, 64, 100} {
		for at := range n {
			src := make([]float32, n)
			for i := range src {
				src[i] = float32(r.NormFloat64())
			}
			for _, top := range []float32{5, float32(math.Inf(1))} {
				src[at] = top
				if got := Max(src); got != top {
					t.Fatalf("n=%d, %v at %d: Max = %v", n, top, at, got)
				}
			}
			for i := range src {
				src[i] = float32(math.Inf(-1))
			}
			if got := Max(src); !math.IsInf(float64(got), -1) {
				t.Fatalf("n=%d all -Inf: Max = %v", n, got)
			}
		}
	}
}

// TestDot holds Dot to a sequential float64 sum of the products within
// float64 rounding (1e-12 of the sum of their magnitudes), on lengths
// around its 16-element blocks.
func TestDot(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	for _, n := range []int{0, 1, 15, 16, 17, 33, 64, 100, 257} {
		a, b := make([]float32, n), make([]float32, n)
		for i := range a {
			a[i], b[i] = float32(r.NormFloat64()*100), float32(r.NormFloat64())
		}
		var want, scale float64
		for i := range a {
			p := float64(a[i]) * float64(b[i])
			want += p
			scale += math.Abs(p)
		}
		if got := Dot(a, b); math.Abs(got-want) > 1e-12*scale {
			t.Fatalf("n=%d: Dot = %v, want %v", n, got, want)
		}
	}
}
