//go:build purego || !amd64

package vec

func scaleRowsBlocks(dst, src, s []float32, n int) bool { return false }
func addRowsBlocks(dst, src, s []float32, n int) bool   { return false }
func meanRowsBlocks(dst, src []float32, n int) bool     { return false }
