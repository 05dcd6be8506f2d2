//go:build purego || !amd64

package vec

func convTapsBlocks(dst, src []float32, off []int, w []float32, bias float32) int { return 0 }
