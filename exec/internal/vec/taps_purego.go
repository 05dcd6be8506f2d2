//go:build purego || !amd64

package vec

func convTapsBlocks(dst, src []float32, off []int, w []float32, bias float32) int { return 0 }

func convWindowsBlocks(dst []float32, ldd int, src []float32, lds, rows, cols int, off []int, w []float32, bias float32, step int) bool {
	return false
}

func convWindowsBlock() int { return 1 }
