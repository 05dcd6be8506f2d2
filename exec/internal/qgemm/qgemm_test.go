package qgemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// refGemm is the definition: c[i*n+j] = Σ_p a[i*k+p]·b[p*n+j] in int32
// arithmetic (wrapping).
func refGemm(m, n, k int, a, b []int16) []int32 {
	c := make([]int32, m*n)
	for i := range m {
		for j := range n {
			var s int32
			for p := range k {
				s += int32(a[i*k+p]) * int32(b[p*n+j])
			}
			c[i*n+j] = s
		}
	}
	return c
}

// forEachKernel runs f with the assembly loops and with their Go twins.
func forEachKernel(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	saved := useAVX2
	defer func() { useAVX2 = saved }()
	for _, asm := range []bool{false, true} {
		if asm && !saved {
			continue // no assembly on this CPU or build
		}
		useAVX2 = asm
		name := "go"
		if asm {
			name = "avx2"
		}
		t.Run(name, f)
	}
}

// TestGemm compares Gemm with refGemm at sizes around the tile (MR, NR),
// odd and even depths, and two value ranges: [-255, 255] (a quantized
// operand less its zero point, the intended use) and all of int16, where
// the sums wrap and must still agree with int32 arithmetic.
func TestGemm(t *testing.T) {
	forEachKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		sizes := []int{1, 3, 4, 5, 15, 16, 17, 37}
		for _, full := range []bool{false, true} {
			for _, m := range sizes {
				for _, n := range sizes {
					for _, k := range []int{0, 1, 2, 3, 27, 72, 255} {
						a, b := make([]int16, m*k), make([]int16, k*n)
						for i := range a {
							a[i] = randInt16(r, full)
						}
						for i := range b {
							b[i] = randInt16(r, full)
						}
						want := refGemm(m, n, k, a, b)
						var pb PackedB
						PackB(&pb, k, n, b, n)
						const ldc = 41 // wider than n: rows do not touch
						c := make([]int32, (m-1)*ldc+n+3)
						for i := range c {
							c[i] = -7 // guard value
						}
						Gemm(PackA(m, k, a, k), &pb, c, ldc)
						for i := range m {
							for j := range n {
								if got := c[i*ldc+j]; got != want[i*n+j] {
									t.Fatalf("full=%v %dx%dx%d: c[%d][%d] = %d, want %d", full, m, n, k, i, j, got, want[i*n+j])
								}
							}
							for j := n; j < ldc && i*ldc+j < len(c); j++ {
								if c[i*ldc+j] != -7 {
									t.Fatalf("full=%v %dx%dx%d: wrote c[%d][%d] beyond the matrix", full, m, n, k, i, j)
								}
							}
						}
					}
				}
			}
		}
	})
}

func randInt16(r *rand.Rand, full bool) int16 {
	if full {
		return int16(r.Uint32())
	}
	return int16(r.IntN(511) - 255)
}

// TestPackedBOffset checks that writing each pair through Offset, into
// storage full of junk, packs what Gemm needs (the padding, left as junk
// here, never reaches a result), and that GemmPanels over a split of the
// panels computes what Gemm does.
func TestPackedBOffset(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, c := range []struct{ m, n, k int }{{8, 256, 27}, {16, 64, 72}, {5, 33, 9}, {2, 10, 16}} {
		t.Run(fmt.Sprintf("%dx%dx%d", c.m, c.n, c.k), func(t *testing.T) {
			a, b := make([]int16, c.m*c.k), make([]int16, c.k*c.n)
			for i := range a {
				a[i] = randInt16(r, false)
			}
			for i := range b {
				b[i] = randInt16(r, false)
			}
			pb := PackedB{Data: make([]uint32, 1<<14)}
			for i := range pb.Data {
				pb.Data[i] = r.Uint32()
			}
			pb.Reset(c.k, c.n)
			for q := range Pairs(c.k) {
				for j := range c.n {
					hi := int16(r.Uint32()) // row k when k is odd: any value
					if 2*q+1 < c.k {
						hi = b[(2*q+1)*c.n+j]
					}
					pb.Data[pb.Offset(q, j)] = Pair(b[2*q*c.n+j], hi)
				}
			}
			pa := PackA(c.m, c.k, a, c.k)
			want := refGemm(c.m, c.n, c.k, a, b)
			got := make([]int32, c.m*c.n)
			panels := (c.n + NR - 1) / NR
			mid := panels / 2
			GemmPanels(pa, &pb, 0, mid, got, c.n)
			GemmPanels(pa, &pb, mid, panels, got, c.n)
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("element %d: got %d, want %d", i, got[i], want[i])
				}
			}
		})
	}
}

// refQuant is ONNX Runtime's formula: round half to even, add the zero
// point in float32, saturate.
func refQuant(v float32, q Bounds) int64 {
	r := float32(math.RoundToEven(float64(v))) + float32(q.ZP)
	return int64(min(max(r, float32(q.Lo)), float32(q.Hi)))
}

// quantInputs returns float32 values that exercise the rounding: exact
// halves (ties go to even), values a ulp either side of them, values
// beyond the range and beyond int32, infinities and zeros.
func quantInputs(r *rand.Rand, n int) []float32 {
	special := []float32{0.5, 1.5, 2.5, -0.5, -1.5, 127.5, 128.5, -128.5, 254.5, 255.5,
		math.Nextafter32(0.5, 1), math.Nextafter32(0.5, 0), math.Nextafter32(-2.5, 0),
		3e9, -3e9, 1e30, -1e30, float32(math.Inf(1)), float32(math.Inf(-1)), 0, float32(math.Copysign(0, -1))}
	out := make([]float32, n)
	for i := range out {
		if i%3 == 0 {
			out[i] = special[r.IntN(len(special))]
		} else {
			out[i] = float32(r.NormFloat64() * 200)
		}
	}
	return out
}

var bounds = []Bounds{{0, 255, 0}, {0, 255, 128}, {0, 255, 255}, {-128, 127, 0}, {-128, 127, -5}}

// TestRequantize holds Requantize to refQuant(float32(acc+bias)·scale)
// bit for bit, on lengths around the 8-element block, and the assembly to
// its Go twin on NaN (both give Lo).
func TestRequantize(t *testing.T) {
	forEachKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(5, 6))
		for _, n := range []int{0, 1, 7, 8, 9, 16, 33, 100} {
			for _, q := range bounds {
				src := make([]int32, n)
				for i := range src {
					switch i % 4 {
					case 0:
						src[i] = int32(r.Uint32()) // anything, wrapping with the bias
					default:
						src[i] = int32(r.IntN(20001) - 10000)
					}
				}
				bias := int32(r.IntN(2001) - 1000)
				scale := float32(r.Float64()*0.05 + 1e-4)
				dst := make([]int64, n+1)
				dst[n] = -99 // guard
				Requantize(dst[:n], src, bias, scale, q)
				for i := range n {
					if want := refQuant(float32(src[i]+bias)*scale, q); dst[i] != want {
						t.Fatalf("n=%d %+v: element %d (%d+%d)·%g = %d, want %d", n, q, i, src[i], bias, scale, dst[i], want)
					}
				}
				if dst[n] != -99 {
					t.Fatalf("n=%d: wrote past the end", n)
				}
			}
		}
		nan := make([]int64, 9)
		Requantize(nan, make([]int32, 9), 0, float32(math.NaN()), Bounds{-128, 127, 3})
		for i, v := range nan {
			if v != -128 {
				t.Fatalf("NaN scale: element %d = %d, want -128", i, v)
			}
		}
	})
}

// TestQuantize holds Quantize to refQuant(x/scale) bit for bit.
func TestQuantize(t *testing.T) {
	forEachKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(7, 8))
		for _, n := range []int{0, 1, 7, 8, 9, 16, 33, 100} {
			for _, q := range bounds {
				for _, scale := range []float32{1, 0.5, 0.0173, 3.1} {
					src := quantInputs(r, n)
					dst := make([]int64, n+1)
					dst[n] = -99
					Quantize(dst[:n], src, scale, q)
					for i := range n {
						if want := refQuant(src[i]/scale, q); dst[i] != want {
							t.Fatalf("n=%d %+v: %g/%g = %d, want %d", n, q, src[i], scale, dst[i], want)
						}
					}
					if dst[n] != -99 {
						t.Fatalf("n=%d: wrote past the end", n)
					}
				}
			}
		}
		src := []float32{float32(math.NaN()), 1, float32(math.NaN()), 2, 3, 4, 5, 6, float32(math.NaN())}
		dst := make([]int64, len(src))
		Quantize(dst, src, 1, Bounds{0, 255, 10})
		for i, v := range src {
			if v != v && dst[i] != 0 {
				t.Fatalf("NaN input %d: got %d, want 0", i, dst[i])
			}
		}
	})
}

// TestDequantize holds Dequantize to float32(int32(x-zp))·scale bit for
// bit, for uint8, int8 and 16-bit values and zero points, on lengths
// around the 8-element block.
func TestDequantize(t *testing.T) {
	forEachKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(9, 10))
		for _, n := range []int{0, 1, 7, 8, 9, 16, 33, 100} {
			for _, rng := range [][2]int64{{0, 255}, {-128, 127}, {-32768, 32767}, {0, 65535}} {
				src := make([]int64, n)
				for i := range src {
					src[i] = rng[0] + r.Int64N(rng[1]-rng[0]+1)
				}
				zp := rng[0] + r.Int64N(rng[1]-rng[0]+1)
				scale := float32(r.Float64()*0.1 + 1e-3)
				dst := make([]float32, n+1)
				dst[n] = -99
				Dequantize(dst[:n], src, zp, scale)
				for i := range n {
					if want := float32(int32(src[i]-zp)) * scale; dst[i] != want {
						t.Fatalf("n=%d: (%d-%d)·%g = %g, want %g", n, src[i], zp, scale, dst[i], want)
					}
				}
				if dst[n] != -99 {
					t.Fatalf("n=%d: wrote past the end", n)
				}
			}
		}
	})
}

func BenchmarkGemm(b *testing.B) {
	for _, c := range []struct{ m, n, k int }{{8, 256, 27}, {16, 64, 72}, {64, 784, 576}} {
		b.Run(fmt.Sprintf("%dx%dx%d", c.m, c.n, c.k), func(b *testing.B) {
			a, bm := make([]int16, c.m*c.k), make([]int16, c.k*c.n)
			for i := range a {
				a[i] = int16(i%511 - 255)
			}
			for i := range bm {
				bm[i] = int16(i%509 - 254)
			}
			pa := PackA(c.m, c.k, a, c.k)
			var pb PackedB
			PackB(&pb, c.k, c.n, bm, c.n)
			out := make([]int32, c.m*c.n)
			for b.Loop() {
				Gemm(pa, &pb, out, c.n)
			}
			b.ReportMetric(2*float64(c.m*c.n*c.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GOP/s")
		})
	}
}

func BenchmarkRequantize(b *testing.B) {
	src := make([]int32, 4096)
	for i := range src {
		src[i] = int32(i*37%20000 - 10000)
	}
	dst := make([]int64, len(src))
	for b.Loop() {
		Requantize(dst, src, 5, 0.01, Bounds{0, 255, 3})
	}
}
