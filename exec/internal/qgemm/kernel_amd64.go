//go:build !purego

package qgemm

import "golang.org/x/sys/cpu"

// useAVX2 selects the assembly loops; tests turn it off to compare them
// with their Go twins.
var useAVX2 = cpu.X86.HasAVX2

// Implemented in kernel_amd64.s.

// kernAVX2 is kernGo for kp >= 1 pairs: a 4×16 tile in eight ymm
// accumulators, two rows of B's pair and one broadcast pair of A per
// VPMADDWD.
//
//go:noescape
func kernAVX2(kp int, a *int16, b *uint32, c *int32, ldc int)

// requantAVX2 is requantGo on the first n elements, n a positive multiple
// of 8.
//
//go:noescape
func requantAVX2(dst *int64, src *int32, n int, bias int32, scale, lo, hi float32, zp int32)

// quantizeAVX2 is quantizeGo on the first n elements, n a positive
// multiple of 8.
//
//go:noescape
func quantizeAVX2(dst *int64, src *float32, n int, scale, lo, hi float32, zp int32)

// dequantizeAVX2 is dequantizeGo on the first n elements, n a positive
// multiple of 8.
//
//go:noescape
func dequantizeAVX2(dst *float32, src *int64, n int, zp int64, scale float32)

func dequantizeBlocks(dst []float32, src []int64, zp int64, scale float32) int {
	n := len(dst) / 8 * 8
	if !useAVX2 || n == 0 {
		return 0
	}
	dequantizeAVX2(&dst[0], &src[0], n, zp, scale)
	return n
}

// requantBlocks and quantizeBlocks do a prefix of Requantize and Quantize
// with vector instructions and return its length.
func requantBlocks(dst []int64, src []int32, bias int32, scale, lo, hi float32, zp int32) int {
	n := len(dst) / 8 * 8
	if !useAVX2 || n == 0 {
		return 0
	}
	requantAVX2(&dst[0], &src[0], n, bias, scale, lo, hi, zp)
	return n
}

func quantizeBlocks(dst []int64, src []float32, scale, lo, hi float32, zp int32) int {
	n := len(dst) / 8 * 8
	if !useAVX2 || n == 0 {
		return 0
	}
	quantizeAVX2(&dst[0], &src[0], n, scale, lo, hi, zp)
	return n
}
