package ops

import (
	"slices"

	"github.com/graft-ml/graft/exec/internal/gemm"
	"github.com/graft-ml/graft/exec/internal/nchwc"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Convolutions over the blocked channel layout (NCHW16c). A blocked
// tensor of shape N×C×H×W holds, for each image and block of sixteen
// channels, an (H+2)×(W+2) map of pixels whose sixteen channels lie side
// by side, with a border (halo) of one zero pixel around it: a 3×3 window
// padded by one reads the border instead of testing for the edge, so the
// row kernels (nchwc.Row) have no edge cases and no padded copy is made.
// Kernels write only the interior; whoever allocates a blocked tensor
// clears its border once.

// nchwcHalo is the border of zero pixels around every blocked map.
const nchwcHalo = 1

// nchwcDims describes a blocked tensor: batch, channels (a multiple of
// nchwc.Block) and the map's interior size.
type nchwcDims struct{ n, c, h, w int }

// rowLen, plane and len are, in floats, a bordered row of one block, one
// block's bordered map, and the whole tensor.
func (d nchwcDims) rowLen() int { return (d.w + 2*nchwcHalo) * nchwc.Block }
func (d nchwcDims) plane() int  { return (d.h + 2*nchwcHalo) * d.rowLen() }
func (d nchwcDims) len() int    { return d.n * d.c / nchwc.Block * d.plane() }

// at returns the offset of pixel (y, x) of the interior of block cb of
// image b.
func (d nchwcDims) at(b, cb, y, x int) int {
	return (b*d.c/nchwc.Block+cb)*d.plane() + (y+nchwcHalo)*d.rowLen() + (x+nchwcHalo)*nchwc.Block
}

// nchwcFromPlanes writes x (NCHW, d's shape) into the blocked dst,
// borders cleared.
func nchwcFromPlanes(dst, x []float32, d nchwcDims, threads int) {
	blocks := d.c / nchwc.Block
	hw := d.h * d.w
	parallelFor(threads, d.n*blocks, 1, func(u0, u1 int) {
		for u := u0; u < u1; u++ {
			b, cb := u/blocks, u%blocks
			p := dst[u*d.plane() : (u+1)*d.plane()]
			clear(p[:d.rowLen()])
			clear(p[(d.h+nchwcHalo)*d.rowLen():])
			src := (b*d.c + cb*nchwc.Block) * hw
			for y := range d.h {
				row := p[(y+nchwcHalo)*d.rowLen():]
				clear(row[:nchwcHalo*nchwc.Block])
				clear(row[(d.w+nchwcHalo)*nchwc.Block : d.rowLen()])
				for h := 0; h < nchwc.Block; h += 8 {
					gemm.Transpose8(row[nchwcHalo*nchwc.Block+h:], nchwc.Block, x, src+h*hw+y*d.w, hw, d.w)
				}
			}
		}
	})
}

// nchwcToPlanes writes the blocked src (d's shape) to y in NCHW.
func nchwcToPlanes(y, src []float32, d nchwcDims, threads int) {
	blocks := d.c / nchwc.Block
	hw := d.h * d.w
	parallelFor(threads, d.n*blocks, 1, func(u0, u1 int) {
		for u := u0; u < u1; u++ {
			b, cb := u/blocks, u%blocks
			dst := y[(b*d.c+cb*nchwc.Block)*hw:]
			for yy := range d.h {
				row := src[d.at(b, cb, yy, 0):]
				x := 0
				// Eight pixels at a time are eight rows of sixteen
				// channels, transposed into the sixteen planes.
				for ; x+8 <= d.w; x += 8 {
					gemm.Transpose8(dst[yy*d.w+x:], hw, row, x*nchwc.Block, nchwc.Block, nchwc.Block)
				}
				for ; x < d.w; x++ {
					for c := range nchwc.Block {
						dst[c*hw+yy*d.w+x] = row[x*nchwc.Block+c]
					}
				}
			}
		}
	})
}

// nchwcOK reports whether the blocked path computes convolution g: 2-D,
// one group, channels in whole blocks, stride 1 or 2, no dilation, and a
// padding the border covers (at most one pixel on every side).
func nchwcOK(g *convShape) bool {
	if g.group != 1 || g.cin%nchwc.Block != 0 || g.cout%nchwc.Block != 0 || g.in[0] != 1 || g.k[0] != 1 {
		return false
	}
	if g.d != [3]int{1, 1, 1} || g.s[1] != g.s[2] || g.s[1] > 2 || g.s[0] != 1 {
		return false
	}
	for i := 1; i <= 2; i++ {
		// The window's last position, in bordered coordinates, must lie
		// inside the bordered map.
		first := nchwcHalo - g.p[i]
		last := first + (g.out[i]-1)*g.s[i] + g.k[i] - 1
		if first < 0 || last > g.in[i]+2*nchwcHalo-1 {
			return false
		}
	}
	return true
}

// nchwcBlocksPerTile is how many output channel blocks one row kernel
// computes for an output row wo wide: four where a row is narrow (7×7
// maps fit 7 pixels × 4 blocks less one), else two, where one broadcast
// feeds two multiply-adds; one where cout has a single block.
func nchwcBlocksPerTile(cout, wo int) int {
	blocks := cout / nchwc.Block
	switch {
	case blocks%4 == 0 && wo <= nchwc.MaxPixels(4):
		return 4
	case blocks%2 == 0:
		return 2
	}
	return 1
}

// nchwcWeights packs W (cout × cin × kh × kw) for nchwc.Row in groups of
// ocb output blocks: group j holds, for each tap (input block, ky, kx) in
// turn and each of its sixteen input channels, the 16·ocb weights of the
// group's output channels.
func nchwcWeights(w []float32, g *convShape, ocb int) []float32 {
	kh, kw := g.k[1], g.k[2]
	ks := kh * kw
	groupCh := ocb * nchwc.Block
	packed := gemm.AlignedFloats(g.cout * g.cin * ks)
	i := 0
	for o0 := 0; o0 < g.cout; o0 += groupCh {
		for ib := 0; ib < g.cin; ib += nchwc.Block {
			for t := range ks {
				for ic := ib; ic < ib+nchwc.Block; ic++ {
					for o := o0; o < o0+groupCh; o++ {
						packed[i] = w[(o*g.cin+ic)*ks+t]
						i++
					}
				}
			}
		}
	}
	return packed
}

// nchwcTaps returns each tap's offset from the tile's first input pixel,
// in nchwcWeights' order: input block, then window row and column.
func nchwcTaps(g *convShape, in nchwcDims) []int {
	kh, kw := g.k[1], g.k[2]
	offs := make([]int, 0, g.cin/nchwc.Block*kh*kw)
	for ib := 0; ib < g.cin/nchwc.Block; ib++ {
		for ky := range kh {
			for kx := range kw {
				offs = append(offs, ib*in.plane()+ky*in.rowLen()+kx*nchwc.Block)
			}
		}
	}
	return offs
}

// convNCHWc computes convolution g (nchwcOK) from the blocked x into the
// blocked y, whose borders the caller has cleared: y = clamp(W∗x + bias +
// res), res being nil or a blocked tensor of y's shape. wp is W packed by
// nchwcWeights for ocb blocks a tile.
func convNCHWc(y, x, res, wp, bias []float32, g *convShape, ocb int, lo, hi float32, threads int) {
	out := nchwcDims{g.batch, g.cout, g.out[1], g.out[2]}
	convNCHWcInto(y, out, 0, x, res, wp, bias, g, ocb, lo, hi, threads)
}

// convNCHWcInto is convNCHWc writing y's blocks block0 on: y (of dims
// out) may hold more channels than g's output, a Concat's output that g's
// is a part of. res is laid out as g's output alone.
func convNCHWcInto(y []float32, out nchwcDims, block0 int, x, res, wp, bias []float32, g *convShape, ocb int, lo, hi float32, threads int) {
	in := nchwcDims{g.batch, g.cin, g.in[1], g.in[2]}
	rd := nchwcDims{g.batch, g.cout, g.out[1], g.out[2]}
	Ho, Wo, s := g.out[1], g.out[2], g.s[2]
	taps := nchwc.NewTaps(nchwcTaps(g, in))
	groups := g.cout / nchwc.Block / ocb
	groupW := taps.Len() * nchwc.Block * nchwc.Block * ocb
	biases := make([]float32, g.cout)
	copy(biases, bias)
	tiles := (Wo + nchwc.MaxPixels(ocb) - 1) / nchwc.MaxPixels(ocb)
	// Units go group by group over an image's rows: a thread keeps its
	// group's weights in cache over the rows (row by row, every group of
	// a row in turn, was no faster on any layer of BenchmarkConvNCHWc and
	// half as fast on 512 channels over 7×7). Over a batch, images go
	// outside the groups where an image's input outweighs all the weights
	// (DenseNet at batch 8: 192 → 172 ms), inside where the weights
	// outweigh an image (ResNet-18's deep layers).
	imagesInside := len(wp) > in.plane()*in.c/nchwc.Block
	// Each call asks for the next group's weights a part at a time
	// (nchwc.Row's prefetch: one line per four input channels of each
	// tap), so that they stream in while this group's rows compute
	// from cache instead of when the next group starts: ResNet-18's
	// 512-channel 7×7 layers, whose 9.4 MB of weights a batch-1 run
	// reads from memory, 1.10 → 0.79 ms each in the model.
	pfCall := taps.Len() * 4 * 64 / 4 // floats a call prefetches
	// Rows of at most nchwc.MaxRow2Pixels (7×7 maps) go two at a time,
	// so that a call fills the registers a row of 7 leaves half idle
	// (nchwc.Row2).
	rows := 1
	if nchwcRow2 && ocb == 2 && tiles == 1 && Wo <= nchwc.MaxRow2Pixels && Ho > 1 {
		rows = 2
	}
	hu := (Ho + rows - 1) / rows // units a group of an image
	pfCall *= rows
	parallelFor(threads, g.batch*groups*hu, 1, func(u0, u1 int) {
		for u := u0; u < u1; u++ {
			ry, gi, b := u%hu, u/hu%groups, u/hu/groups
			call := ry * tiles // the call's place in its group's run
			if imagesInside {
				b, gi = u/hu%g.batch, u/hu/g.batch
				call = (b*hu + ry) * tiles
			}
			oy := ry * rows
			iy := oy*s - g.p[1]
			w := wp[gi*groupW : (gi+1)*groupW]
			bb := biases[gi*ocb*nchwc.Block:]
			for t := range tiles {
				ox0, ox1 := Wo*t/tiles, Wo*(t+1)/tiles
				ix := ox0*s - g.p[2]
				yo := out.at(b, block0+gi*ocb, oy, ox0)
				var r []float32
				if res != nil {
					r = res[rd.at(b, gi*ocb, oy, ox0):]
				}
				var pf []float32
				if next := (gi+1)*groupW + (call+t)*pfCall; gi+1 < groups && next < (gi+2)*groupW {
					pf = wp[next:]
				}
				xt := x[in.at(b, 0, iy, ix):]
				if rows == 2 && oy+1 < Ho {
					nchwc.Row2(s, ox1-ox0, xt, taps, w, bb, r, y[yo:], out.plane(), lo, hi, pf, s*in.rowLen(), out.rowLen())
					continue
				}
				nchwc.Row(s, ocb, ox1-ox0, xt, taps, w, bb, r, y[yo:], out.plane(), lo, hi, pf)
			}
		}
	})
}

// nchwcRow2 turns the two-row tiles off when false (benchmarks compare).
var nchwcRow2 = true

// NCHWcStage asks a Conv to read or write the blocked layout
// (RunCtx.NCHWc): the executor keeps a chain of convolutions blocked
// between them and converts only where a value leaves the chain.
// A blocked tensor of logical shape N×C×H×W is a Dense of shape
// N × C/16 × (H+2) × (W+2) × 16 (NCHWcShape), borders zero.
type NCHWcStage struct {
	// In has bit i set where input i is blocked; Res says RunCtx.Residual
	// is.
	In  uint64
	Res bool
	// Out asks for the output blocked; the kernel sets Blocked where it
	// returned it so (a geometry the blocked path does not take returns
	// the output in NCHW, whatever Out asked), and Ran where the blocked
	// kernels computed it.
	Out, Blocked, Ran bool
	// Into, if not nil, offers a blocked tensor to write the output into
	// instead, from a block on: the output of the Concat that alone reads
	// this Conv's (see exec's planConcatInto). A Conv that takes the offer
	// (the shapes fit; a blocked output of whole blocks) returns that
	// tensor and sets WroteInto. Into is called with the output's batch
	// and map size, at most once.
	Into      func(n, h, w int) (y *tensor.Dense, block int)
	WroteInto bool
}

// blocked reports whether input i is blocked.
func (st *NCHWcStage) blocked(i int) bool { return i < 64 && st.In&(1<<i) != 0 }

// NCHWcEligible reports whether Conv node n, whose weight w is a
// constant, may run on the blocked path: 2-D, one group or one a channel
// (depthwise), input and output channels in whole blocks, equal strides
// of 1 or 2, no dilation, and explicit padding of at most one pixel (or
// auto_pad); or, where the input channels are not whole blocks (an
// image's three), any padding, planes then true: the input is read in
// NCHW and the output written blocked (convNCHWcPlanes). The map's size
// is checked when it runs.
func NCHWcEligible(n *onnx.Node, w *tensor.Dense) (ok, planes bool) {
	if !nchwc.Fast() || w == nil || w.DType != tensor.Float32 || w.Rank() != 4 {
		return false, false
	}
	win, err := convReadWindow(n, 2, w.Shape[2:])
	if err != nil {
		return false, false
	}
	group := 1
	if a := n.Attr("group"); a != nil {
		group = int(a.I)
	}
	depthwise := group > 1 && w.Shape[1] == 1 && group == w.Shape[0]
	if group != 1 && !depthwise {
		return false, false
	}
	if w.Shape[0]%nchwc.Block != 0 || win.strides[0] != win.strides[1] || win.strides[0] > 2 || win.dils[0] != 1 || win.dils[1] != 1 {
		return false, false
	}
	if !depthwise && w.Shape[1]%nchwc.Block != 0 {
		return true, true
	}
	for i := range 2 {
		if win.pads[i] > nchwcHalo || win.pads[i+2] > nchwcHalo {
			return false, false
		}
	}
	return true, false
}

// NCHWcShape returns the shape of a blocked tensor's logical NCHW value.
func NCHWcShape(d *tensor.Dense) []int {
	s := d.Shape
	return []int{s[0], s[1] * nchwc.Block, s[2] - 2*nchwcHalo, s[3] - 2*nchwcHalo}
}

// NCHWcToPlanes returns the NCHW tensor that the blocked d holds.
func NCHWcToPlanes(d *tensor.Dense, threads int) *tensor.Dense {
	shape := NCHWcShape(d)
	y := tensor.NewUninit(d.DType, shape...)
	nchwcToPlanes(y.F32, d.F32, nchwcDims{shape[0], shape[1], shape[2], shape[3]}, threads)
	return y
}

// newNCHWc returns a blocked tensor of d's shape, borders cleared.
func newNCHWc(d nchwcDims) *tensor.Dense {
	y := tensor.NewUninit(tensor.Float32, d.n, d.c/nchwc.Block, d.h+2*nchwcHalo, d.w+2*nchwcHalo, nchwc.Block)
	rl := d.rowLen()
	for p := 0; p < len(y.F32); p += d.plane() {
		clear(y.F32[p : p+rl])
		for yy := 1; yy <= d.h; yy++ {
			row := y.F32[p+yy*rl : p+(yy+1)*rl]
			clear(row[:nchwcHalo*nchwc.Block])
			clear(row[rl-nchwcHalo*nchwc.Block:])
		}
		clear(y.F32[p+(d.h+nchwcHalo)*rl : p+d.plane()])
	}
	return y
}

// convNCHWcRun is Conv with c.NCHWc set: on the blocked path where the
// geometry allows, converting input 0 and the residual where they come
// in NCHW, and the output where asked in NCHW; else, the inputs
// converted to NCHW, on convRun's paths.
func convNCHWcRun(c *RunCtx) ([]*tensor.Dense, error) {
	st := c.NCHWc
	plain := *c
	plain.NCHWc = nil
	x := c.In[0]
	xShape := x.Shape
	if st.blocked(0) {
		xShape = NCHWcShape(x)
	}
	g, ok := nchwcGeometry(c, xShape)
	planes := ok && !st.blocked(0) && st.Out && g.cin%nchwc.Block != 0 && nchwcPlanesOK(&g)
	depthwise := ok && g.group > 1 && nchwcDWOK(&g) && c.Residual == nil
	if !planes && !depthwise && !(ok && g.group == 1 && nchwcOK(&g)) {
		if st.blocked(0) {
			plain.In = slices.Clone(c.In)
			plain.In[0] = NCHWcToPlanes(x, c.Threads)
		}
		if st.Res && c.Residual != nil {
			plain.Residual = NCHWcToPlanes(c.Residual, c.Threads)
		}
		out, err := convRun(&plain)
		c.RanSparse = plain.RanSparse
		return out, err
	}
	in := nchwcDims{g.batch, g.cin, g.in[1], g.in[2]}
	outD := nchwcDims{g.batch, g.cout, g.out[1], g.out[2]}
	xb := x.F32
	if !st.blocked(0) && !planes {
		buf := convGetBuf(in.len())
		defer convBufs.Put(buf)
		xb = *buf
		nchwcFromPlanes(xb, x.F32, in, c.Threads)
	}
	var rb []float32
	if r := c.Residual; r != nil {
		rb = r.F32
		if !st.Res {
			buf := convGetBuf(outD.len())
			defer convBufs.Put(buf)
			rb = *buf
			nchwcFromPlanes(rb, r.F32, outD, c.Threads)
		}
	}
	w := c.In[1]
	ocb := nchwcBlocksPerTile(g.cout, g.out[2])
	pack := func() []float32 { return nchwcWeights(w.F32, &g, ocb) }
	kind := convPackNCHWc
	if depthwise {
		pack, kind, ocb = func() []float32 { return nchwcDWWeights(w.F32, &g) }, convPackNCHWcDW, 1
	}
	if planes {
		pack = func() []float32 { return nchwcPlanesWeights(w.F32, &g, ocb) }
		kind = convPackNCHWcPlanes
	}
	wp, ok := convPacked(c, 1, kind, ocb, pack)
	if !ok {
		wp = pack()
	}
	bias, err := convBias(c, g.cout)
	if err != nil {
		return nil, err
	}
	lo, hi := c.clampBounds()
	st.Ran = true
	if depthwise {
		y := newNCHWc(outD)
		convDWNCHWc(y.F32, xb, wp, bias, &g, lo, hi, c.Threads)
		return nchwcResult(c, y, outD), nil
	}
	if planes {
		y := newNCHWc(outD)
		convNCHWcPlanes(y.F32, x.F32, rb, wp, bias, &g, ocb, lo, hi, c.Threads)
		st.Blocked = true
		return []*tensor.Dense{y}, nil
	}
	if st.Out && st.Into != nil {
		if y, blk := st.Into(g.batch, g.out[1], g.out[2]); y != nil && y.Rank() == 5 {
			d := NCHWcShape(y)
			into := nchwcDims{d[0], d[1], d[2], d[3]}
			if into.n == g.batch && into.h == g.out[1] && into.w == g.out[2] && blk >= 0 && (blk*nchwc.Block+g.cout) <= into.c {
				convNCHWcInto(y.F32, into, blk, xb, rb, wp, bias, &g, ocb, lo, hi, c.Threads)
				st.Blocked, st.WroteInto = true, true
				return []*tensor.Dense{y}, nil
			}
		}
	}
	if st.Out {
		y := newNCHWc(outD)
		convNCHWc(y.F32, xb, rb, wp, bias, &g, ocb, lo, hi, c.Threads)
		st.Blocked = true
		return []*tensor.Dense{y}, nil
	}
	buf := convGetBuf(outD.len())
	defer convBufs.Put(buf)
	convNCHWc(*buf, xb, rb, wp, bias, &g, ocb, lo, hi, c.Threads)
	y := tensor.NewUninit(tensor.Float32, g.batch, g.cout, g.out[1], g.out[2])
	nchwcToPlanes(y.F32, *buf, outD, c.Threads)
	return []*tensor.Dense{y}, nil
}

// nchwcGeometry returns the geometry of c's Conv for an input of logical
// shape xShape, and whether a blocked kernel may compute it (float32
// data, one group, a residual of the output's shape, a clamp of bounds
// only); nchwcOK and nchwcPlanesOK tell which.
func nchwcGeometry(c *RunCtx, xShape []int) (g convShape, ok bool) {
	x, w := c.In[0], c.Input(1)
	if x.DType != tensor.Float32 || w == nil || w.DType != tensor.Float32 || w.Rank() != 4 || len(xShape) != 4 ||
		c.Sparse != nil || c.Depthwise != nil || (c.Clamp != nil && c.Clamp.Func != nil) {
		return g, false
	}
	group := 1
	if a := c.Node.Attr("group"); a != nil {
		group = int(a.I)
	}
	// One group, or one a channel (depthwise: convDWNCHWc).
	if group != 1 && (w.Shape[1] != 1 || group != xShape[1] || group != w.Shape[0]) || group == 1 && xShape[1] != w.Shape[1] {
		return g, false
	}
	win, err := convReadWindow(c.Node, 2, w.Shape[2:])
	if err != nil {
		return g, false
	}
	g = convShape{batch: xShape[0], cin: xShape[1], cout: w.Shape[0], group: group}
	g.in[0], g.out[0], g.k[0], g.s[0], g.d[0] = 1, 1, 1, 1, 1
	for i := range 2 {
		out, pb := win.outDim(i, xShape[2+i], false)
		if out < 1 {
			return g, false
		}
		g.in[1+i], g.out[1+i], g.k[1+i], g.s[1+i], g.d[1+i], g.p[1+i] = xShape[2+i], out, win.kernel[i], win.strides[i], win.dils[i], pb
	}
	if b := c.Input(2); b != nil && (b.DType != tensor.Float32 || b.Len() != g.cout) {
		return g, false
	}
	if r := c.Residual; r != nil {
		rShape := r.Shape
		if c.NCHWc.Res {
			rShape = NCHWcShape(r)
		}
		if r.DType != tensor.Float32 || !slices.Equal(rShape, []int{g.batch, g.cout, g.out[1], g.out[2]}) {
			return g, false
		}
	}
	return g, true
}

// nchwcPlanesOK reports whether convNCHWcPlanes computes convolution g:
// 2-D, one group, output channels in whole blocks, equal strides of 1 or
// 2, no dilation; any input channels and padding.
func nchwcPlanesOK(g *convShape) bool {
	return g.group == 1 && g.cout%nchwc.Block == 0 && g.in[0] == 1 && g.k[0] == 1 && g.s[0] == 1 &&
		g.d == [3]int{1, 1, 1} && g.s[1] == g.s[2] && g.s[1] <= 2
}

// nchwcPlanesWeights packs W for nchwc.RowPlanes in groups of ocb output
// blocks: group j holds, for each tap (input channel, ky, kx) in turn,
// the 16·ocb weights of the group's output channels.
func nchwcPlanesWeights(w []float32, g *convShape, ocb int) []float32 {
	ks := g.k[1] * g.k[2]
	groupCh := ocb * nchwc.Block
	packed := gemm.AlignedFloats(g.cout * g.cin * ks)
	i := 0
	for o0 := 0; o0 < g.cout; o0 += groupCh {
		for ic := range g.cin {
			for t := range ks {
				for o := o0; o < o0+groupCh; o++ {
					packed[i] = w[(o*g.cin+ic)*ks+t]
					i++
				}
			}
		}
	}
	return packed
}

// convNCHWcPlanes computes convolution g (nchwcPlanesOK) from x in NCHW
// into the blocked y, whose borders the caller has cleared (see
// convNCHWc): each image is copied into zero-padded planes covering every
// window, whose taps the row kernels (nchwc.RowPlanes) then read one
// input channel at a time.
func convNCHWcPlanes(y, x, res, wp, bias []float32, g *convShape, ocb int, lo, hi float32, threads int) {
	H, W, Ho, Wo, s := g.in[1], g.in[2], g.out[1], g.out[2], g.s[2]
	kh, kw := g.k[1], g.k[2]
	hp, wpad := (Ho-1)*s+kh, (Wo-1)*s+kw
	plane := hp * wpad
	buf := convGetBuf(g.batch * g.cin * plane)
	defer convBufs.Put(buf)
	padded := *buf
	parallelFor(threads, g.batch*g.cin, 1, func(p0, p1 int) {
		for p := p0; p < p1; p++ {
			dst := padded[p*plane : (p+1)*plane]
			clear(dst)
			src := x[p*H*W : (p+1)*H*W]
			for iy := range H {
				py := iy + g.p[1]
				if py < 0 || py >= hp {
					continue
				}
				x0, x1 := max(0, -g.p[2]), min(W, wpad-g.p[2])
				if x1 > x0 {
					copy(dst[py*wpad+x0+g.p[2]:], src[iy*W+x0:iy*W+x1])
				}
			}
		}
	})
	offs := make([]int, 0, g.cin*kh*kw)
	for ic := range g.cin {
		for ky := range kh {
			for kx := range kw {
				offs = append(offs, ic*plane+ky*wpad+kx)
			}
		}
	}
	taps := nchwc.NewTaps(offs)
	out := nchwcDims{g.batch, g.cout, Ho, Wo}
	groups := g.cout / nchwc.Block / ocb
	groupW := taps.Len() * nchwc.Block * ocb
	biases := make([]float32, g.cout)
	copy(biases, bias)
	tiles := (Wo + nchwc.MaxPixels(ocb) - 1) / nchwc.MaxPixels(ocb)
	parallelFor(threads, g.batch*groups*Ho, 1, func(u0, u1 int) {
		for u := u0; u < u1; u++ {
			oy, gi, b := u%Ho, u/Ho%groups, u/Ho/groups
			w := wp[gi*groupW : (gi+1)*groupW]
			bb := biases[gi*ocb*nchwc.Block:]
			img := padded[b*g.cin*plane:]
			for t := range tiles {
				ox0, ox1 := Wo*t/tiles, Wo*(t+1)/tiles
				yo := out.at(b, gi*ocb, oy, ox0)
				var r []float32
				if res != nil {
					r = res[yo:]
				}
				nchwc.RowPlanes(s, ocb, ox1-ox0, img[oy*s*wpad+ox0*s:], taps, w, bb, r, y[yo:], out.plane(), lo, hi, nil)
			}
		}
	})
}

// nchwcDWOK reports whether convDWNCHWc computes convolution g: depthwise
// (one channel a group) over whole blocks, otherwise as nchwcOK.
func nchwcDWOK(g *convShape) bool {
	dense := *g
	dense.group = 1
	return g.group == g.cin && g.cout == g.cin && nchwcOK(&dense)
}

// nchwcDWWeights packs a depthwise W (C × 1 × kh × kw) for
// nchwc.Depthwise: block b holds, for each tap in turn, its sixteen
// channels' weights.
func nchwcDWWeights(w []float32, g *convShape) []float32 {
	ks := g.k[1] * g.k[2]
	packed := gemm.AlignedFloats(g.cout * ks)
	for ch := range g.cout {
		b, c := ch/nchwc.Block, ch%nchwc.Block
		for t := range ks {
			packed[(b*ks+t)*nchwc.Block+c] = w[ch*ks+t]
		}
	}
	return packed
}

// convDWNCHWc computes the depthwise convolution g (nchwcDWOK) from the
// blocked x into the blocked y (borders cleared by the caller), a row of
// one block a unit: each tap is one multiply-add of whole pixels, no
// interleaving or padding copy.
func convDWNCHWc(y, x, wp, bias []float32, g *convShape, lo, hi float32, threads int) {
	in := nchwcDims{g.batch, g.cin, g.in[1], g.in[2]}
	out := nchwcDims{g.batch, g.cout, g.out[1], g.out[2]}
	Ho, Wo, s := g.out[1], g.out[2], g.s[2]
	kh, kw := g.k[1], g.k[2]
	offs := make([]int, 0, kh*kw)
	for ky := range kh {
		for kx := range kw {
			offs = append(offs, ky*in.rowLen()+kx*nchwc.Block)
		}
	}
	taps := nchwc.NewTaps(offs)
	blocks := g.cin / nchwc.Block
	biases := make([]float32, g.cout)
	copy(biases, bias)
	tiles := (Wo + nchwc.DepthwiseMaxPixels - 1) / nchwc.DepthwiseMaxPixels
	parallelFor(threads, g.batch*blocks*Ho, 1, func(u0, u1 int) {
		for u := u0; u < u1; u++ {
			oy, cb, b := u%Ho, u/Ho%blocks, u/Ho/blocks
			w := wp[cb*len(offs)*nchwc.Block:]
			bb := biases[cb*nchwc.Block:]
			for t := range tiles {
				ox0, ox1 := Wo*t/tiles, Wo*(t+1)/tiles
				nchwc.Depthwise(s, ox1-ox0, x[in.at(b, cb, oy*s-g.p[1], ox0*s-g.p[2]):], taps, w, bb, y[out.at(b, cb, oy, ox0):], lo, hi)
			}
		}
	})
}

// NewNCHWc returns a blocked tensor of logical shape n × c × h × w (c a
// multiple of the block), borders cleared.
func NewNCHWc(n, c, h, w int) *tensor.Dense { return newNCHWc(nchwcDims{n, c, h, w}) }

// NCHWcCopyInto copies the value d (blocked if blocked, else NCHW) into
// the blocked y's channel blocks from block on: a Concat's input that was
// not written in place. It reports false where the shapes do not fit.
func NCHWcCopyInto(y *tensor.Dense, block int, d *tensor.Dense, blocked bool, threads int) bool {
	ys := NCHWcShape(y)
	shape := d.Shape
	if blocked {
		shape = NCHWcShape(d)
	}
	if d.DType != tensor.Float32 || len(shape) != 4 || shape[0] != ys[0] || shape[2] != ys[2] || shape[3] != ys[3] ||
		shape[1]%nchwc.Block != 0 || block < 0 || block*nchwc.Block+shape[1] > ys[1] {
		return false
	}
	into := nchwcDims{ys[0], ys[1], ys[2], ys[3]}
	src := nchwcDims{shape[0], shape[1], shape[2], shape[3]}
	blocks := src.c / nchwc.Block
	for b := range src.n {
		dst := y.F32[(b*into.c/nchwc.Block+block)*into.plane():][:blocks*into.plane()]
		if blocked {
			copy(dst, d.F32[b*blocks*src.plane():(b+1)*blocks*src.plane()])
			continue
		}
		one := nchwcDims{1, src.c, src.h, src.w}
		nchwcFromPlanes(dst, d.F32[b*src.c*src.h*src.w:], one, threads)
	}
	return true
}
