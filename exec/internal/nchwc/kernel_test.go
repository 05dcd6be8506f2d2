package nchwc

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestRow checks every row kernel (Row's and RowPlanes') against rowGo,
// and rowGo against a plain sum written from their formula, on random
// operands: each stride, block count and pixel count, with and without a
// residual, clamped and not. The kernels sum in another order than the loops (fused
// multiply-adds), so results agree to float32 rounding over the depth.
func TestRow(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	fill := func(n int) []float32 { return randFloats(r, n) }
	for _, channels := range []int{Block, 1} {
		for stride := 1; stride <= 2; stride++ {
			for _, ocb := range []int{1, 2, 4} {
				for pixels := 1; pixels <= MaxPixels(ocb); pixels++ {
					taps := 1 + r.IntN(5)
					offs := make([]int, taps)
					for i := range offs {
						offs[i] = r.IntN(40) * channels // any order, repeats allowed
					}
					x := fill(40*channels + pixels*stride*channels)
					w := fill(taps * channels * Block * ocb)
					bias := fill(ocb * Block)
					ldy := pixels*Block + 3
					for _, withRes := range []bool{false, true} {
						var res []float32
						if withRes {
							res = fill((ocb-1)*ldy + pixels*Block)
						}
						lo, hi := float32(math.Inf(-1)), float32(math.Inf(1))
						if withRes {
							lo, hi = 0, 0.5
						}
						got := fill((ocb-1)*ldy + pixels*Block)
						want := append([]float32(nil), got...)
						if channels == Block {
							Row(stride, ocb, pixels, x, NewTaps(offs), w, bias, res, got, ldy, lo, hi, x)
						} else {
							RowPlanes(stride, ocb, pixels, x, NewTaps(offs), w, bias, res, got, ldy, lo, hi, nil)
						}
						rowGo(channels, stride, ocb, pixels, x, offs, w, bias, res, want, ldy, lo, hi)
						for o := range ocb {
							for i := range pixels {
								for c := range Block {
									sum := float64(bias[o*Block+c])
									if res != nil {
										sum += float64(res[o*ldy+i*Block+c])
									}
									for tp, off := range offs {
										for k := range channels {
											sum += float64(w[(tp*channels+k)*Block*ocb+o*Block+c]) * float64(x[off+i*stride*channels+k])
										}
									}
									sum = math.Min(math.Max(sum, float64(lo)), float64(hi))
									j := o*ldy + i*Block + c
									tol := 1e-5 * float64(taps*channels)
									if math.Abs(float64(got[j])-sum) > tol || math.Abs(float64(want[j])-sum) > tol {
										t.Fatalf("%d channels a tap, stride %d, %d blocks, %d pixels, residual %v: y[%d] = %v (loop %v), want %v",
											channels, stride, ocb, pixels, withRes, j, got[j], want[j], sum)
									}
								}
							}
							// Between blocks (ldy > pixels·16) nothing is written.
							if o+1 < ocb {
								for j := o*ldy + pixels*Block; j < (o+1)*ldy; j++ {
									if got[j] != want[j] {
										t.Fatalf("stride %d, %d blocks, %d pixels: wrote y[%d] outside the tile", stride, ocb, pixels, j)
									}
								}
							}
						}
					}
				}
			}
		}
	}
}

// TestDepthwise checks every depthwise kernel against depthwiseGo and a
// float64 sum of its formula on random operands, both strides, 1-28
// pixels, 1-25 taps.
func TestDepthwise(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	fill := func(n int) []float32 { return randFloats(r, n) }
	for stride := 1; stride <= 2; stride++ {
		for pixels := 1; pixels <= DepthwiseMaxPixels; pixels++ {
			taps := 1 + r.IntN(25)
			offs := make([]int, taps)
			for i := range offs {
				offs[i] = r.IntN(30) * Block
			}
			x := fill(30*Block + pixels*stride*Block)
			w, bias := fill(taps*Block), fill(Block)
			got, want := fill(pixels*Block), make([]float32, pixels*Block)
			Depthwise(stride, pixels, x, NewTaps(offs), w, bias, got, -0.5, 2)
			depthwiseGo(stride, pixels, x, offs, w, bias, want, -0.5, 2)
			for i := range pixels {
				for c := range Block {
					sum := float64(bias[c])
					for tp, off := range offs {
						sum += float64(w[tp*Block+c]) * float64(x[off+i*stride*Block+c])
					}
					sum = math.Min(math.Max(sum, -0.5), 2)
					j := i*Block + c
					if math.Abs(float64(got[j])-sum) > 1e-5*float64(taps) || math.Abs(float64(want[j])-sum) > 1e-5*float64(taps) {
						t.Fatalf("stride %d, %d pixels: y[%d] = %v (loop %v), want %v", stride, pixels, j, got[j], want[j], sum)
					}
				}
			}
		}
	}
}

// randFloats returns n values uniform in [-1, 1).
func randFloats(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = r.Float32()*2 - 1
	}
	return s
}

// TestRow2 checks every two-row kernel against the reference loop run on
// each row, with and without a residual: the same sums in the same order.
func TestRow2(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for stride := 1; stride <= 2; stride++ {
		for pixels := 1; pixels <= MaxRow2Pixels; pixels++ {
			taps := 1 + r.IntN(6)
			offs := make([]int, taps)
			for i := range offs {
				offs[i] = r.IntN(20) * Block
			}
			inRow := (20 + pixels*stride + r.IntN(5)) * Block
			x := randFloats(r, 2*inRow)
			w, bias := randFloats(r, taps*Block*Block*2), randFloats(r, 2*Block)
			ldy := pixels*Block + 5
			outRow := 2*ldy + 3
			for _, withRes := range []bool{false, true} {
				var res []float32
				if withRes {
					res = randFloats(r, outRow+ldy+pixels*Block)
				}
				got := randFloats(r, outRow+ldy+pixels*Block)
				want := slices.Clone(got)
				Row2(stride, pixels, x, NewTaps(offs), w, bias, res, got, ldy, -1, 1, nil, inRow, outRow)
				rowGo(Block, stride, 2, pixels, x, offs, w, bias, res, want, ldy, -1, 1)
				var res2 []float32
				if res != nil {
					res2 = res[outRow:]
				}
				rowGo(Block, stride, 2, pixels, x[inRow:], offs, w, bias, res2, want[outRow:], ldy, -1, 1)
				for i := range got {
					if d := got[i] - want[i]; d > 1e-4 || d < -1e-4 {
						t.Fatalf("stride %d, %d pixels, residual %v: y[%d] = %v, want %v", stride, pixels, withRes, i, got[i], want[i])
					}
				}
			}
		}
	}
}
