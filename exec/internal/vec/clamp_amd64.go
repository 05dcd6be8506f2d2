//go:build !purego

package vec

import "golang.org/x/sys/cpu"

var haveAVX2 = cpu.X86.HasAVX2

// clampAVX2 clamps the first len(dst)/32*32 elements.
//
//go:noescape
func clampAVX2(dst, src *float32, n int, lo, hi float32)

// clampBlocks clamps a prefix of dst with vector instructions and returns
// its length.
func clampBlocks(dst, src []float32, lo, hi float32) int {
	n := len(dst) / 32 * 32
	if !haveAVX2 || n == 0 {
		return 0
	}
	clampAVX2(&dst[0], &src[0], n, lo, hi)
	return n
}
