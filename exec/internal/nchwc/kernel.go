package nchwc

import "fmt"

// Block is the number of channels a block holds side by side.
const Block = 16

// rowFunc is a row kernel (see Row): x, w, offs, bias, res and y point at
// the first element each uses; res is nil without a residual.
type rowFunc func(x, w *float32, offs *int, taps int, bias, res, y *float32, ldy int, lo, hi float32, pf *float32, inRow, outRow int)

// MaxPixels returns the most pixels one Row call computes for ocb output
// channel blocks (1, 2 or 4).
func MaxPixels(ocb int) int { return min(28, 31-ocb) / ocb }

// Taps are the offsets of a kernel's window taps in its input (see Row),
// with their largest, so that each call checks its bounds at once.
type Taps struct {
	offs []int
	max  int
}

// NewTaps returns offs as Taps; every offset must be at least 0.
func NewTaps(offs []int) Taps {
	m := 0
	for _, o := range offs {
		if o < 0 {
			panic("nchwc: negative tap offset")
		}
		m = max(m, o)
	}
	return Taps{offs: offs, max: m}
}

// Len is the number of taps.
func (t Taps) Len() int { return len(t.offs) }

// Row computes pixels output pixels of one row for ocb blocks of sixteen
// output channels (ocb 1, 2 or 4; pixels 1 to MaxPixels(ocb); stride 1
// or 2):
//
//	y[o·ldy + i·16 + c] = clamp(bias[o·16+c] + res[o·ldy + i·16 + c] +
//	    Σ_t Σ_k w[(t·16+k)·16·ocb + o·16 + c] · x[offs[t] + i·stride·16 + k])
//
// for block o, pixel i and lane c: x holds the input blocked, offs the
// offset of each window tap's input channel block and position relative
// to the tile's first pixel (taps, NewTaps), w the weights of each tap's sixteen input
// channels (packed by PackWeights); res is nil or the residual, laid out
// as y; lo and hi bound the result. prefetch, if not nil, is memory the
// caller's next calls will read (the next weights): the kernel asks for
// it a cache line at a time from its start, one line per four input
// channels, so that it streams in while the tile computes.
func Row(stride, ocb, pixels int, x []float32, taps Taps, w, bias, res, y []float32, ldy int, lo, hi float32, prefetch []float32) {
	row(Block, stride, ocb, pixels, x, taps, w, bias, res, y, ldy, lo, hi, prefetch)
}

// RowPlanes is Row for an input in planes (NCHW, padded by the caller):
// each tap is one input channel at one window position, and pixels lie
// one float apart,
//
//	y[o·ldy + i·16 + c] = clamp(bias[o·16+c] + res[o·ldy + i·16 + c] +
//	    Σ_t w[t·16·ocb + o·16 + c] · x[offs[t] + i·stride])
//
// the first layer of a network, reading an image of three channels,
// writing its output blocked.
func RowPlanes(stride, ocb, pixels int, x []float32, taps Taps, w, bias, res, y []float32, ldy int, lo, hi float32, prefetch []float32) {
	row(1, stride, ocb, pixels, x, taps, w, bias, res, y, ldy, lo, hi, prefetch)
}

// row is Row (channels 16) and RowPlanes (channels 1).
func row(channels, stride, ocb, pixels int, x []float32, tp Taps, w, bias, res, y []float32, ldy int, lo, hi float32, prefetch []float32) {
	checkRow(channels, stride, ocb, pixels, x, tp, w, bias, res, y, ldy)
	if k := rowKernel(channels, stride, ocb, pixels); k != nil {
		callRow(k, x, tp, w, bias, res, y, ldy, lo, hi, prefetch, 0, 0)
		return
	}
	rowGo(channels, stride, ocb, pixels, x, tp.offs, w, bias, res, y, ldy, lo, hi)
}

// checkRow panics unless one row's operands are long enough for a kernel.
func checkRow(channels, stride, ocb, pixels int, x []float32, tp Taps, w, bias, res, y []float32, ldy int) {
	taps := len(tp.offs)
	if stride < 1 || stride > 2 || pixels < 1 || pixels > MaxPixels(ocb) || taps == 0 {
		panic(fmt.Sprintf("nchwc: no row kernel for stride %d, %d blocks, %d pixels, %d taps", stride, ocb, pixels, taps))
	}
	outLen := (ocb-1)*ldy + pixels*Block
	if len(x) < tp.max+(pixels-1)*stride*channels+channels || len(w) < taps*channels*Block*ocb ||
		len(bias) < ocb*Block || len(y) < outLen || (res != nil && len(res) < outLen) {
		panic("nchwc: row operand too short")
	}
}

// callRow calls kernel k on checked operands; inRow and outRow (floats)
// place a two-row kernel's second row.
func callRow(k rowFunc, x []float32, tp Taps, w, bias, res, y []float32, ldy int, lo, hi float32, prefetch []float32, inRow, outRow int) {
	var rp *float32
	if res != nil {
		rp = &res[0]
	}
	// Prefetching never faults; without a request the kernel asks for
	// the weights it is reading anyway.
	pf := &w[0]
	if len(prefetch) > 0 {
		pf = &prefetch[0]
	}
	k(&x[0], &w[0], &tp.offs[0], len(tp.offs), &bias[0], rp, &y[0], ldy, lo, hi, pf, inRow*4, outRow*4)
}

// MaxRow2Pixels is the widest row Row2 takes.
const MaxRow2Pixels = 7

// Row2 is Row for two blocks and two output rows of pixels pixels each
// (1 to MaxRow2Pixels: a 7×7 map's rows, whose single-row tiles of 7
// pixels leave half the registers idle): the second row's input starts
// inRow floats after the first's (x), its output and residual outRow
// floats after theirs (y, res). It prefetches two lines per four input
// channels.
func Row2(stride, pixels int, x []float32, tp Taps, w, bias, res, y []float32, ldy int, lo, hi float32, prefetch []float32, inRow, outRow int) {
	if pixels < 1 || pixels > MaxRow2Pixels || inRow < 0 || outRow < 0 || inRow > len(x) || outRow > len(y) || res != nil && outRow > len(res) {
		panic(fmt.Sprintf("nchwc: no two-row kernel for %d pixels, rows %d and %d floats apart", pixels, inRow, outRow))
	}
	var res2 []float32
	if res != nil {
		res2 = res[outRow:]
	}
	checkRow(Block, stride, 2, pixels, x, tp, w, bias, res, y, ldy)
	checkRow(Block, stride, 2, pixels, x[inRow:], tp, w, bias, res2, y[outRow:], ldy)
	if k := row2Kernel(stride, pixels); k != nil {
		callRow(k, x, tp, w, bias, res, y, ldy, lo, hi, prefetch, inRow, outRow)
		return
	}
	rowGo(Block, stride, 2, pixels, x, tp.offs, w, bias, res, y, ldy, lo, hi)
	rowGo(Block, stride, 2, pixels, x[inRow:], tp.offs, w, bias, res2, y[outRow:], ldy, lo, hi)
}

// rowGo is row's reference loop.
func rowGo(channels, stride, ocb, pixels int, x []float32, offs []int, w, bias, res, y []float32, ldy int, lo, hi float32) {
	var acc [Block]float32
	for o := range ocb {
		for i := range pixels {
			copy(acc[:], bias[o*Block:(o+1)*Block])
			for t, off := range offs {
				xt := x[off+i*stride*channels:]
				wt := w[t*channels*Block*ocb+o*Block:]
				for k := range channels {
					v := xt[k]
					wk := wt[k*Block*ocb : k*Block*ocb+Block]
					for c := range Block {
						acc[c] += wk[c] * v
					}
				}
			}
			out := y[o*ldy+i*Block : o*ldy+(i+1)*Block]
			for c := range Block {
				v := acc[c]
				if res != nil {
					v += res[o*ldy+i*Block+c]
				}
				out[c] = min(max(v, lo), hi)
			}
		}
	}
}

// dwFunc is a depthwise kernel (see Depthwise).
type dwFunc func(x, w *float32, offs *int, taps int, bias, y *float32, lo, hi float32)

// DepthwiseMaxPixels is the most pixels one Depthwise call computes.
const DepthwiseMaxPixels = 28

// Depthwise computes pixels output pixels of one row of a depthwise
// convolution over one block of sixteen channels (stride 1 or 2):
//
//	y[i·16 + c] = clamp(bias[c] + Σ_t w[t·16 + c] · x[offs[t] + i·stride·16 + c])
//
// x holding the block's input blocked, taps the offsets of the window's
// taps relative to the tile's first pixel, w each tap's sixteen weights.
func Depthwise(stride, pixels int, x []float32, tp Taps, w, bias, y []float32, lo, hi float32) {
	taps := len(tp.offs)
	if stride < 1 || stride > 2 || pixels < 1 || pixels > DepthwiseMaxPixels || taps == 0 {
		panic(fmt.Sprintf("nchwc: no depthwise kernel for stride %d, %d pixels, %d taps", stride, pixels, taps))
	}
	if len(x) < tp.max+(pixels-1)*stride*Block+Block || len(w) < taps*Block || len(bias) < Block || len(y) < pixels*Block {
		panic("nchwc: depthwise operand too short")
	}
	if k := dwKernel(stride, pixels); k != nil {
		k(&x[0], &w[0], &tp.offs[0], taps, &bias[0], &y[0], lo, hi)
		return
	}
	depthwiseGo(stride, pixels, x, tp.offs, w, bias, y, lo, hi)
}

// depthwiseGo is Depthwise's reference loop.
func depthwiseGo(stride, pixels int, x []float32, offs []int, w, bias, y []float32, lo, hi float32) {
	for i := range pixels {
		for c := range Block {
			acc := bias[c]
			for t, off := range offs {
				acc += w[t*Block+c] * x[off+i*stride*Block+c]
			}
			y[i*Block+c] = min(max(acc, lo), hi)
		}
	}
}
