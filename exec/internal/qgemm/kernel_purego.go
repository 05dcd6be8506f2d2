//go:build purego || !amd64

package qgemm

// useAVX2 is false: no assembly in this build.
var useAVX2 = false

func kernAVX2(kp int, a *int16, b *uint32, c *int32, ldc int) { panic("qgemm: no assembly") }

func requantBlocks(dst []int64, src []int32, bias int32, scale, lo, hi float32, zp int32) int {
	return 0
}

func quantizeBlocks(dst []int64, src []float32, scale, lo, hi float32, zp int32) int { return 0 }

func dequantizeBlocks(dst []float32, src []int64, zp int64, scale float32) int { return 0 }
