//go:build purego || !amd64

package vec

func maxTapsBlocks(dst, src []float32, off []int) int { return 0 }
func maxWindowsBlocks(dst []float32, ldd int, src []float32, lds, rows, cols int, off []int, step int) bool {
	return false
}
func sumBlocks(src []float32) (float64, int) { return 0, 0 }

func maxBlocks(src []float32) (float32, int) { return 0, 0 }

func dotBlocks(a, b []float32) (float64, int) { return 0, 0 }
