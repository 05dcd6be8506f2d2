//go:build purego || !amd64

package vec

func arithBlocks(op arithOp, dst, a, b []float32) int               { return 0 }
func arithScalarBlocks(op arithOp, dst, x []float32, s float32) int { return 0 }

func scaleShiftBlocks(dst, src []float32, m, a float32) int { return 0 }
