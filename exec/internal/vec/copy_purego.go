//go:build purego || !amd64

package vec

func copyRowsBlocks(dst []float32, ldd int, src []float32, lds, rows, cols int) bool { return false }
