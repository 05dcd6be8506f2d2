//go:build purego || !amd64

package vec

func scaleRowsBlocks(dst, src, s []float32, n int) bool { return false }
func addRowsBlocks(dst, src, s []float32, n int) bool   { return false }
func meanRowsBlocks(dst, src []float32, n int) bool     { return false }

func biasClampRowsBlocks(dst []float32, ldd int, src []float32, lds, rows, cols int, bias, lo, hi float32) bool {
	return false
}
