package ops

import (
	"math"

	"github.com/graft-ml/graft/exec/internal/gemm"
	"github.com/graft-ml/graft/exec/internal/vec"
)

// Depthwise convolution sixteen or eight channels at a time (vec.DWC16
// where it is vector code, then vec.DWC8). Each block of input planes is
// interleaved into a zero-padded buffer holding a pixel's channels side
// by side, so that every window tap is one vector load whatever the
// stride, and the kernel writes the outputs straight back to the
// block's planes. The per-plane path (convDepthwise)
// pays a padded copy and a vector-kernel call per row, and at stride 2 a
// deinterleaving pass: on planes of 28×28 and less the blocked path does
// the same work up to three times faster.

// convDWBlockOK reports whether the blocked path takes the layer: one
// output channel per input channel, no dilation, a 1-D or 2-D window,
// and outputs at most convDWBlockMaxWidth wide.
func convDWBlockOK(g *convShape) bool {
	return g.cout == g.cin && g.cin >= 8 && g.k[0] == 1 && g.in[0] == 1 &&
		g.d == [3]int{1, 1, 1} && g.s[0] == 1 &&
		g.out[2] <= convDWBlockMaxWidth()
}

// convDWBlockMaxWidth is the widest output the blocked path takes: wider
// rows keep the per-plane kernels (vec.ConvWindows) busy enough that the
// interleaving, and its larger buffers, cost more than they save
// (BenchmarkDepthwise, AVX2 windows: 1.3-3x faster at 28 wide and less,
// even at 56, slower at 112). The AVX-512 windows kernel matches it at 28
// wide at stride 1 and beats it at stride 2 (3x3 from 56: 218 against
// 318 us), so there it keeps only narrower outputs.
func convDWBlockMaxWidth() int {
	if vec.ConvWindowsBlock() >= 64 {
		return 27
	}
	return 28
}

// dwBlockGeom is what convDWBlock's scratch depends on: its sizes, and
// where the input lies inside the padded block.
type dwBlockGeom struct{ lanes, h, w, top, left, hp, wp, ks int }

// dwBlockScratch is one goroutine's scratch for convDWBlock: the padded
// block (its zero borders stay as they are: every block overwrites the
// same interior), the interleaved input of planes narrower than eight,
// the block's biases, and a tail group's outputs.
type dwBlockScratch struct {
	padded, flat []float32
	bb           [16]float32
	tail         [16 * 8]float32
}

var dwBlockPool keyedPool[dwBlockGeom, *dwBlockScratch]

// convDWBlock runs the blocked path over the channels of every image it
// can take in blocks (sixteen channels a block where vec.DWC16 is vector
// code, then eight) and returns the number of channels it did, from the
// first; convDepthwise does the rest. wb holds the weights interleaved
// (convDWBlockWeights); ldy and ldx are the plane strides of y and x
// (see convDepthwise).
func convDWBlock(y, x []float32, ldy, ldx int, wb, bias []float32, g *convShape, clamp *Clamp, threads int) int {
	done := 0
	if vec.DWC16Fast() {
		done = convDWBlockLanes(16, 0, y, x, ldy, ldx, wb, bias, g, clamp, threads)
	}
	if g.cin-done >= 8 {
		done += convDWBlockLanes(8, done, y, x, ldy, ldx, wb, bias, g, clamp, threads)
	}
	return done
}

// convDWBlockWeights interleaves the depthwise weights w (a window of ks
// taps a channel) the way convDWBlock's blocks read them: the block of
// lanes channels from c0 holds, at wb[c0·ks:], each tap's weights of its
// lanes channels side by side (tap t, channel c0+c at (t·lanes + c)).
// Built once for a constant weight (convPacked): done for every block of
// every image, the scattered copy was a quarter of a 7×7 layer's time.
func convDWBlockWeights(w []float32, g *convShape) []float32 {
	ks := g.kSize()
	wb := gemm.AlignedFloats(g.cin * ks)
	c0 := 0
	for _, lanes := range []int{16, 8} {
		if lanes == 16 && !vec.DWC16Fast() {
			continue
		}
		for ; c0+lanes <= g.cin; c0 += lanes {
			blk := wb[c0*ks : (c0+lanes)*ks]
			for c := range lanes {
				for t, v := range w[(c0+c)*ks : (c0+c+1)*ks] {
					blk[t*lanes+c] = v
				}
			}
		}
	}
	return wb
}

// convDWBlockLanes runs channels first.. of every image through
// vec.DWC8 (lanes 8) or vec.DWC16 (lanes 16), as many whole blocks of
// lanes channels as there are, and returns how many channels it did.
func convDWBlockLanes(lanes, first int, y, x []float32, ldy, ldx int, wAll, bias []float32, g *convShape, clamp *Clamp, threads int) int {
	H, W, Ho, Wo := g.in[1], g.in[2], g.out[1], g.out[2]
	kh, kw, sh, sw := g.k[1], g.k[2], g.s[1], g.s[2]
	top, left := g.p[1], g.p[2]
	nIn, n, ks := H*W, Ho*Wo, kh*kw
	groups := (Wo + 7) / 8
	// The padded buffer covers every window and the columns read by a
	// row's last group of eight, computed whole.
	hp := max(H+top, (Ho-1)*sh+kh)
	wp := max(W+left, (8*groups-1)*sw+kw)
	blocks := (g.cin - first) / lanes
	if blocks == 0 {
		return 0
	}
	dwc := vec.DWC8
	if lanes == 16 {
		dwc = vec.DWC16
	}
	lo, hi := float32(math.Inf(-1)), float32(math.Inf(1))
	if clamp != nil && clamp.Func == nil {
		lo, hi = clamp.Lo, clamp.Hi
	}
	minUnits := max(1, (1<<15)/max(1, lanes*n*ks))
	key := dwBlockGeom{lanes: lanes, h: H, w: W, top: top, left: left, hp: hp, wp: wp, ks: ks}
	parallelFor(threads, g.batch*blocks, minUnits, func(u0, u1 int) {
		sc := dwBlockPool.get(key, func() *dwBlockScratch {
			// Aligned: a pixel's sixteen channels are then one cache line,
			// and DWC16's loads never straddle two (BenchmarkDepthwise
			// 5×5 over 480 channels of 14×14: 131 -> 123 us).
			sc := &dwBlockScratch{padded: gemm.AlignedFloats(hp * wp * lanes)}
			if W < 8 {
				sc.flat = make([]float32, nIn*lanes)
			}
			return sc
		})
		defer dwBlockPool.put(key, sc)
		padded, flat, bb, tail := sc.padded, sc.flat, sc.bb[:lanes], sc.tail[:lanes*8]
		for u := u0; u < u1; u++ {
			b, c0 := u/blocks, first+u%blocks*lanes
			// Rows of eight or more are interleaved straight into the
			// padded block; narrower planes as one run, then copied
			// row by row (3×3 stride 2 over 192 channels of 28×28,
			// one thread: 57 -> 37 us).
			if W >= 8 {
				for iy := range H {
					dst := padded[((iy+top)*wp+left)*lanes:]
					for h := 0; h < lanes; h += 8 {
						gemm.Transpose8(dst[h:], lanes, x, (b*g.cin+c0+h)*ldx+iy*W, ldx, W)
					}
				}
			} else {
				for h := 0; h < lanes; h += 8 {
					gemm.Transpose8(flat[h:], lanes, x, (b*g.cin+c0+h)*ldx, ldx, nIn)
				}
				for iy := range H {
					copy(padded[((iy+top)*wp+left)*lanes:], flat[iy*W*lanes:(iy+1)*W*lanes])
				}
			}
			wb := wAll[c0*ks : (c0+lanes)*ks]
			for c := range lanes {
				bb[c] = 0
				if bias != nil {
					bb[c] = bias[c0+c]
				}
			}
			out := y[(b*g.cout+c0)*ldy : (b*g.cout+c0+lanes-1)*ldy+n]
			// A row's last group may run past the row: it writes the
			// next row's first pixels, computed afterwards. The last
			// row's spill would reach the next channel, so its last
			// group goes through tail.
			for oy := range Ho {
				in := padded[oy*sh*wp*lanes:]
				if oy < Ho-1 {
					dwc(out[oy*Wo:], ldy, in, wp, wb, bb, kh, kw, sw, groups, lo, hi)
					continue
				}
				full := Wo / 8
				dwc(out[oy*Wo:], ldy, in, wp, wb, bb, kh, kw, sw, full, lo, hi)
				if r := Wo - 8*full; r > 0 {
					dwc(tail, 8, in[8*full*sw*lanes:], wp, wb, bb, kh, kw, sw, 1, lo, hi)
					for c := range lanes {
						copy(out[c*ldy+oy*Wo+8*full:c*ldy+oy*Wo+Wo], tail[c*8:c*8+r])
					}
				}
			}
			if clamp != nil && clamp.Func != nil {
				// One call over the block where its planes are
				// contiguous: the functions' vector loops then run
				// whole (a 7×7 plane ends in a scalar element).
				if ldy == n {
					clamp.Func(out, out)
				} else {
					for c := range lanes {
						p := out[c*ldy : c*ldy+n]
						clamp.Func(p, p)
					}
				}
			}
		}
	})
	return blocks * lanes
}
