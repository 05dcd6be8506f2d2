//go:build purego || !amd64

package vec

func expBlocks(dst, src []float32) int  { return 0 }
func siluBlocks(dst, src []float32) int { return 0 }
func tanhBlocks(dst, src []float32) int { return 0 }
