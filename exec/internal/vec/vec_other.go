//go:build purego || !amd64

package vec

func clampBlocks(dst, src []float32, lo, hi float32) int { return 0 }

func dw3x3Blocks(out, r0, r1, r2 []float32, w *[9]float32, bias float32) int { return 0 }

func biasClampBlocks(dst, src []float32, bias, lo, hi float32) int { return 0 }
func sigmoidBlocks(dst, src []float32) int                         { return 0 }
func axpyBlocks(dst, src []float32, a float32) int                 { return 0 }
