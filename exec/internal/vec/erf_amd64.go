//go:build !purego

package vec

// erfAVX2 computes Erf of the first n elements, n a positive multiple
// of 8.
//
//go:noescape
func erfAVX2(dst, src *float32, n int)

// erfBlocks does Erf with vector instructions (blocks8) and returns the
// length done: all or nothing.
func erfBlocks(dst, src []float32) int { return blocks8(dst, src, erfAVX2) }
