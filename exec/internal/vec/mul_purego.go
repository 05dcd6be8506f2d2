//go:build purego || !amd64

package vec

func mulBlocks(dst, a, b []float32) int             { return 0 }
func scaleBlocks(dst, src []float32, s float32) int { return 0 }
