//go:build purego || !amd64

package vec

func copyRowsBlocks(dst []float32, ldd int, src []float32, lds, rows, cols int) bool { return false }

func biasClampRowsBlocks(dst []float32, ldd int, src []float32, lds, rows, cols int, bias, lo, hi float32) bool {
	return false
}
