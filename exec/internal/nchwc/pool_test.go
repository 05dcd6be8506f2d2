package nchwc

import (
	"math/rand/v2"
	"testing"
)

// TestPixelKernels checks MaxPool, SumPool and Affine against plain loops
// (the purego build runs the loops themselves) on random data, 1-9 taps,
// strides 1-2 and 1-13 pixels. The vector kernels do the same float32
// operations in the same order, so results are equal.
func TestPixelKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for trial := range 200 {
		n, stride, taps := 1+r.IntN(13), 1+r.IntN(2), 1+r.IntN(9)
		offs := make([]int, taps)
		for i := range offs {
			offs[i] = r.IntN(20) * Block
		}
		src := make([]float32, 20*Block+n*stride*Block)
		for i := range src {
			src[i] = r.Float32()*4 - 2
		}
		dst := make([]float32, n*Block)
		MaxPool(dst, src, offs, n, stride)
		for i := range n {
			for c := range Block {
				want := src[offs[0]+i*stride*Block+c]
				for _, o := range offs[1:] {
					want = max(want, src[o+i*stride*Block+c])
				}
				if dst[i*Block+c] != want {
					t.Fatalf("trial %d: MaxPool pixel %d lane %d = %v, want %v", trial, i, c, dst[i*Block+c], want)
				}
			}
		}
		scale := r.Float32()
		SumPool(dst, src, offs, n, stride, scale)
		for i := range n {
			for c := range Block {
				var want float32
				for _, o := range offs {
					want += src[o+i*stride*Block+c]
				}
				if want *= scale; dst[i*Block+c] != want {
					t.Fatalf("trial %d: SumPool pixel %d lane %d = %v, want %v", trial, i, c, dst[i*Block+c], want)
				}
			}
		}
		sc, sh := src[:Block], src[Block:2*Block]
		Affine(dst, src[2*Block:], n, sc, sh, -0.5, 1)
		for i := range n * Block {
			c := i % Block
			// One fused multiply-add in the kernel: compare within a
			// rounding of the product.
			want := min(max(src[2*Block+i]*sc[c]+sh[c], -0.5), 1)
			if d := dst[i] - want; d > 1e-6 || d < -1e-6 {
				t.Fatalf("trial %d: Affine element %d = %v, want %v", trial, i, dst[i], want)
			}
		}
	}
}
