package vec

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestConvTaps holds ConvTaps (the assembly where there is one) and its
// twin to a float64 loop, on run lengths around the 8- and 64-element
// blocks and 1, 9, 25 and 49 taps at scattered offsets. The tolerance,
// 1e-6 of the sum of |w·x|, covers float32 rounding over 50 terms.
func TestConvTaps(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 5, 7, 8, 9, 16, 63, 64, 65, 71, 130, 200} {
		for _, taps := range []int{1, 9, 25, 49} {
			off := make([]int, taps)
			w := make([]float32, taps)
			for i := range off {
				off[i] = r.IntN(40)
				w[i] = float32(r.NormFloat64())
			}
			src := make([]float32, 40+n)
			for i := range src {
				src[i] = float32(r.NormFloat64())
			}
			bias := float32(r.NormFloat64())
			got, twin := make([]float32, n), make([]float32, n)
			ConvTaps(got, src, off, w, bias)
			convTapsGo(twin, src, off, w, bias)
			for i := range n {
				want, scale := float64(bias), math.Abs(float64(bias))
				for k, o := range off {
					p := float64(w[k]) * float64(src[o+i])
					want += p
					scale += math.Abs(p)
				}
				for name, g := range map[string]float32{"ConvTaps": got[i], "convTapsGo": twin[i]} {
					if d := math.Abs(float64(g) - want); d > 1e-6*scale {
						t.Fatalf("n=%d taps=%d: %s element %d = %v, want %v", n, taps, name, i, g, want)
					}
				}
			}
		}
	}
}

// TestConvTapsBounds checks the panics on offsets that would read
// outside src.
func TestConvTapsBounds(t *testing.T) {
	for _, c := range []struct {
		name string
		off  []int
		src  int
	}{{"negative", []int{0, -1}, 20}, {"past the end", []int{0, 5}, 12}} {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			ConvTaps(make([]float32, 8), make([]float32, c.src), c.off, make([]float32, len(c.off)), 0)
		})
	}
}

func BenchmarkConvTaps(b *testing.B) {
	// A 3×3 window over a 56-wide zero-bordered plane, one 56×56 output.
	const pw = 58
	off := []int{0, 1, 2, pw, pw + 1, pw + 2, 2 * pw, 2*pw + 1, 2*pw + 2}
	w := make([]float32, 9)
	src := make([]float32, pw*58)
	dst := make([]float32, 55*pw+56)
	b.SetBytes(int64(4 * len(dst)))
	for b.Loop() {
		ConvTaps(dst, src, off, w, 0)
	}
}

func BenchmarkDW3x3Row(b *testing.B) {
	const pw = 58
	var w [9]float32
	src := make([]float32, pw*58+2)
	dst := make([]float32, 55*pw+56)
	b.SetBytes(int64(4 * len(dst)))
	for b.Loop() {
		DW3x3(dst, src, src[pw:], src[2*pw:], &w, 0)
	}
}

// TestConvWindows holds ConvWindows and its twin to a float64 sum within
// float32 rounding (2e-6 of the sum of magnitudes), at steps 1 and 2, on
// column counts around the blocks of both kernels (AVX2: 8 and 32, the
// last block overlapping; AVX-512: 16 and 64, the last one masked), with
// row strides wider than the rows, whose gaps must stay untouched.
func TestConvWindows(t *testing.T) {
	forWindowsKernels(t, testConvWindows)
}

func testConvWindows(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	for _, cols := range windowsCols {
		for _, step := range []int{1, 2} {
			for i, off := range [][]int{{0}, {0, 1, 2}, {0, 2, 4, 130, 132, 134}, {3, 0, 7, 1, 250}} {
				const gap, bias = 12345, 0.25
				// One to four rows: the AVX-512 kernel does rows in
				// pairs, then a last single one.
				rows := 1 + i
				ldd, lds, src, got, twin := windowsCase(r, rows, cols, step, off, gap)
				w := make([]float32, len(off))
				for i := range w {
					w[i] = float32(r.NormFloat64())
				}
				ConvWindows(got, ldd, src, lds, rows, cols, off, w, bias, step)
				convWindowsGo(twin, ldd, src, lds, rows, cols, off, w, bias, step)
				for i := range got {
					want, scale := float64(gap), 0.0
					if c := i % ldd; c < cols {
						want, scale = bias, bias
						for k, o := range off {
							p := float64(w[k]) * float64(src[i/ldd*lds+step*c+o])
							want += p
							scale += math.Abs(p)
						}
					}
					for name, g := range map[string]float32{"ConvWindows": got[i], "convWindowsGo": twin[i]} {
						if math.Abs(float64(g)-want) > 2e-6*scale {
							t.Fatalf("rows=%d cols=%d step=%d off=%v: %s element %d = %v, want %v", rows, cols, step, off, name, i, g, want)
						}
					}
				}
			}
		}
	}
}

// windowsCols are the row widths the window kernels' tests try: around
// every block size of the AVX2 (8, 32) and AVX-512 (16, 64) kernels.
var windowsCols = []int{1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 56, 63, 64, 65, 111, 127, 128, 143}

// BenchmarkConvWindows times a 3×3 depthwise plane of 112×112 outputs
// (MobileNetV2's first depthwise layer) on its zero-padded input, in
// cache, at steps 1 and 2.
func BenchmarkConvWindows(b *testing.B) {
	for _, step := range []int{1, 2} {
		b.Run(fmt.Sprintf("step=%d", step), func(b *testing.B) {
			const hw = 112
			wp := step*hw + 2
			rows, cols := hw/step, hw/step
			src := make([]float32, (step*rows+2)*wp+step)
			dst := make([]float32, rows*cols)
			off := []int{0, 1, 2, wp, wp + 1, wp + 2, 2 * wp, 2*wp + 1, 2*wp + 2}
			w := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9}
			for b.Loop() {
				ConvWindows(dst, cols, src, step*wp, rows, cols, off, w, 0.5, step)
			}
			b.ReportMetric(float64(rows*cols*len(off)*2)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
