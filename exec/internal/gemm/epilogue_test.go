package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestEpilogue holds a product with an Epilogue to the same product
// without one followed by the plain loop c = min(max(c+bias, lo), hi),
// bit for bit (the kernels add the bias and clamp after the same sums),
// for every kernel, on shapes with edge tiles and several blocks of
// depth, split among threads either way, with beta 0 and 1, without a
// bias, with a Func after the clamp, and with NaNs in C reaching the
// clamp.
func TestEpilogue(t *testing.T) {
	old := active
	defer func() { active = old }()
	r := rand.New(rand.NewPCG(31, 32))
	inf := float32(math.Inf(1))
	for _, kn := range kernels() {
		active = kn
		for _, s := range [][3]int{{1, 1, 1}, {kn.mr, kn.nr, 7}, {3*kn.mr + 1, 2*kn.nr + 3, kn.kc + 5}, {2 * kn.mr, 100, 2*kn.kc + 1}, {2 * kn.mr, kn.nr + 20, 9}} {
			m, n, k := s[0], s[1], s[2]
			for _, ep := range []Epilogue{
				{Bias: randSlice(r, m), Lo: 0, Hi: inf},
				{Bias: randSlice(r, m), Lo: -0.25, Hi: 0.5},
				{Lo: 0, Hi: 6},
				{Bias: randSlice(r, m), Lo: -inf, Hi: inf},
				{Bias: randSlice(r, m), Lo: -inf, Hi: inf, Func: cube},
				{Lo: 0, Hi: 6, Func: cube},
			} {
				for _, beta := range []float32{0, 1} {
					for _, threads := range []int{1, 2, 3} {
						name := fmt.Sprintf("%s/%dx%dx%d/lo%v/beta%v/t%d", kn.name, m, n, k, ep.Lo, beta, threads)
						a, b := randSlice(r, m*k), randSlice(r, k*n)
						if m*k > 3 {
							a[3] = float32(math.NaN()) // a NaN row of C
						}
						c0 := randSlice(r, m*n)
						pa := PackA(false, m, k, a, k)
						want := slices.Clone(c0)
						SgemmPackedA(threads, false, n, 1, pa, b, n, beta, want, n, nil)
						for i := range m {
							for j := range n {
								v := want[i*n+j] + ep.bias(i)
								if ep.Lo > v {
									v = ep.Lo
								}
								if ep.Hi < v {
									v = ep.Hi
								}
								if ep.Func != nil {
									v = v * v * v
								}
								want[i*n+j] = v
							}
						}
						got := slices.Clone(c0)
						SgemmPackedA(threads, false, n, 1, pa, b, n, beta, got, n, &ep)
						rows := make([]int, k)
						for p := range rows {
							rows[p] = p * n
						}
						viaRows := slices.Clone(c0)
						SgemmPackedAIndirect(threads, n, 1, pa, b, rows, beta, viaRows, n, &ep)
						for i := range want {
							same := func(x float32) bool {
								return math.Float32bits(x) == math.Float32bits(want[i]) || (x != x && want[i] != want[i])
							}
							if !same(got[i]) || !same(viaRows[i]) {
								t.Fatalf("%s: element %d (row %d) = %v (indirect %v), want %v", name, i, i/n, got[i], viaRows[i], want[i])
							}
						}
					}
				}
			}
		}
	}
}

// cube is an epilogue Func: x³ in place.
func cube(dst, src []float32) {
	for i, v := range src[:len(dst)] {
		dst[i] = v * v * v
	}
}

// TestEpilogueShortBias checks that a bias shorter than C's rows is
// refused rather than read past.
func TestEpilogueShortBias(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic for a bias of 2 values on 3 rows")
		}
	}()
	buf := make([]float32, 9)
	SgemmPackedA(1, false, 3, 1, PackA(false, 3, 3, buf, 3), buf, 3, 0, buf, 3, &Epilogue{Bias: make([]float32, 2)})
}
