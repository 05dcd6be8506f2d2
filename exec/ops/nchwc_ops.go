package ops

import (
	"math"
	"slices"

	"github.com/graft-ml/graft/exec/internal/nchwc"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// The ops beside Conv that keep the blocked layout (NCHWcStage) between
// blocked convolutions: Concat along channels (the fused BatchNormalization
// and clamp of DenseNet's layers included), MaxPool and AveragePool. Each
// takes blocked inputs where the stage says so and returns its output
// blocked where asked and the shapes allow; otherwise it converts the
// blocked inputs and runs the NCHW kernel.

// NCHWcOp reports whether node n is one of the ops with a blocked kernel
// beside Conv, as far as its attributes tell (the shapes are checked when
// it runs).
func NCHWcOp(n *onnx.Node) bool {
	if !nchwc.Fast() || n.Domain != "" || len(n.Outputs) != 1 || n.Outputs[0] == nil {
		return false
	}
	switch n.OpType {
	case "Concat":
		a := n.Attr("axis")
		return a != nil && a.I == 1
	case "MaxPool", "AveragePool":
		w, _, err := poolWindow(n, 2)
		return err == nil && w.dils[0] == 1 && w.dils[1] == 1
	}
	return false
}

// nchwcRunPlain runs c's op on NCHW inputs: the blocked ones (st.In)
// converted.
func nchwcRunPlain(c *RunCtx, run func(*RunCtx) ([]*tensor.Dense, error)) ([]*tensor.Dense, error) {
	plain := *c
	plain.NCHWc = nil
	plain.In = slices.Clone(c.In)
	for i, d := range plain.In {
		if i < 64 && c.NCHWc.In&(1<<i) != 0 {
			plain.In[i] = NCHWcToPlanes(d, c.Threads)
		}
	}
	return run(&plain)
}

// nchwcInputDims returns input i's logical dims, and whether it is a 4-D
// float32 tensor of whole channel blocks.
func nchwcInputDims(c *RunCtx, i int) (nchwcDims, bool) {
	d := c.In[i]
	if d == nil || d.DType != tensor.Float32 {
		return nchwcDims{}, false
	}
	shape := d.Shape
	if c.NCHWc.blocked(i) {
		shape = NCHWcShape(d)
	}
	if len(shape) != 4 || shape[1]%nchwc.Block != 0 {
		return nchwcDims{}, false
	}
	return nchwcDims{shape[0], shape[1], shape[2], shape[3]}, true
}

// nchwcBlocked returns input i blocked: as it is, or converted into a
// buffer that release returns.
func nchwcBlocked(c *RunCtx, i int, d nchwcDims) (x []float32, release func()) {
	if c.NCHWc.blocked(i) {
		return c.In[i].F32, func() {}
	}
	buf := convGetBuf(d.len())
	nchwcFromPlanes(*buf, c.In[i].F32, d, c.Threads)
	return *buf, func() { convBufs.Put(buf) }
}

// concatNCHWcRun is Concat along channels on blocked tensors: each
// input's block planes copied into the output's, through the fused
// BatchNormalization and clamp (Clamp) where there is one. Where the
// output is wanted in NCHW (st.Out false) it is converted at the end: one
// conversion instead of one for each blocked input.
func concatNCHWcRun(c *RunCtx) ([]*tensor.Dense, error) {
	st := c.NCHWc
	dims := make([]nchwcDims, len(c.In))
	ok := len(c.In) > 0 && (c.Clamp == nil || c.Clamp.Func == nil && c.Clamp.RowBias == nil && !c.Clamp.SiLU)
	total := 0
	for i := range c.In {
		var fits bool
		dims[i], fits = nchwcInputDims(c, i)
		d0 := dims[0]
		ok = ok && fits && dims[i].n == d0.n && dims[i].h == d0.h && dims[i].w == d0.w
		total += dims[i].c
	}
	if ok && c.Clamp != nil && c.Clamp.Norm != nil && len(c.Clamp.Norm.Mul) != total {
		ok = false
	}
	if !ok || (!st.Out && st.In == 0) {
		return nchwcRunPlain(c, concatRun)
	}
	out := nchwcDims{dims[0].n, total, dims[0].h, dims[0].w}
	y := newNCHWc(out)
	var lo, hi float32
	var norm *ChannelAffine
	if c.Clamp != nil {
		lo, hi, norm = c.Clamp.Lo, c.Clamp.Hi, c.Clamp.Norm
	}
	// Inputs in NCHW are converted first; then every block plane of every
	// input is one unit of one parallel loop (DenseNet's last Concats have
	// 30 and more inputs of two blocks each).
	srcs := make([][]float32, len(c.In))
	first := make([]int, len(c.In)+1) // units before input i
	for i, d := range dims {
		var release func()
		srcs[i], release = nchwcBlocked(c, i, d)
		defer release()
		first[i+1] = first[i] + d.n*d.c/nchwc.Block
	}
	plane, rl := out.plane(), out.rowLen()
	parallelFor(c.Threads, first[len(dims)], 1, func(u0, u1 int) {
		i := 0
		for u := u0; u < u1; u++ {
			for u >= first[i+1] {
				i++
			}
			d := dims[i]
			k := u - first[i]
			blocks := d.c / nchwc.Block
			b, cb := k/blocks, k%blocks
			ocb := cb
			for j := range i {
				ocb += dims[j].c / nchwc.Block
			}
			dst := y.F32[(b*out.c/nchwc.Block+ocb)*plane:][:plane]
			src := srcs[i][k*plane : (k+1)*plane]
			if c.Clamp == nil {
				copy(dst, src)
				continue
			}
			// The map and clamp go over the interior only: the border
			// stays zero, the next convolution's padding.
			ch := ocb * nchwc.Block
			mul, add := nchwcOnes[:], nchwcZeros[:]
			if norm != nil {
				mul, add = norm.Mul[ch:ch+nchwc.Block], norm.Add[ch:ch+nchwc.Block]
			}
			for yy := 1; yy <= out.h; yy++ {
				o := yy*rl + nchwcHalo*nchwc.Block
				nchwc.Affine(dst[o:], src[o:], out.w, mul, add, lo, hi)
			}
		}
	})
	st.Ran = true
	return nchwcResult(c, y, out), nil
}

// nchwcResult returns the blocked y (dims d) as c's output: as it is
// where the stage asks for it blocked, else converted to NCHW.
func nchwcResult(c *RunCtx, y *tensor.Dense, d nchwcDims) []*tensor.Dense {
	if c.NCHWc.Out {
		c.NCHWc.Blocked = true
		return []*tensor.Dense{y}
	}
	p := tensor.NewUninit(tensor.Float32, d.n, d.c, d.h, d.w)
	nchwcToPlanes(p.F32, y.F32, d, c.Threads)
	tensor.Recycle(y)
	return []*tensor.Dense{p}
}

// nchwcOnes and nchwcZeros are the identity map of one block.
var nchwcOnes = [nchwc.Block]float32{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}
var nchwcZeros [nchwc.Block]float32

// poolNCHWcRun is MaxPool (max) or AveragePool on a blocked input: every
// window's taps are whole pixels, one vector each. Windows that cross the
// map's edge take their taps inside it (MaxPool); AveragePool takes only
// maps where every window lies inside (no padding, no ceil overhang),
// where its divisor is the window's size either way.
func poolNCHWcRun(c *RunCtx, isMax bool) ([]*tensor.Dense, error) {
	st := c.NCHWc
	run := avgPoolRun
	if isMax {
		run = maxPoolRun
	}
	in, ok := nchwcInputDims(c, 0)
	if !ok || len(c.Node.Outputs) != 1 || !st.Out && !st.blocked(0) {
		return nchwcRunPlain(c, run)
	}
	if !st.blocked(0) {
		// An input in NCHW is pooled so, and the output, a quarter of
		// it or less, converted (SqueezeNet's first pool reads the
		// stem's 64 × 111 × 111 output).
		out, err := nchwcRunPlain(c, run)
		if err != nil || len(out) != 1 || out[0].Rank() != 4 {
			return out, err
		}
		d := nchwcDims{out[0].Shape[0], out[0].Shape[1], out[0].Shape[2], out[0].Shape[3]}
		y := newNCHWc(d)
		nchwcFromPlanes(y.F32, out[0].F32, d, c.Threads)
		tensor.Recycle(out[0])
		st.Blocked = true
		return []*tensor.Dense{y}, nil
	}
	w, ceil, err := poolWindow(c.Node, 2)
	if err != nil {
		return nil, err
	}
	var ho, wo, pt, pl int
	ho, pt = w.outDim(0, in.h, ceil)
	wo, pl = w.outDim(1, in.w, ceil)
	kh, kw, sh, sw := w.kernel[0], w.kernel[1], w.strides[0], w.strides[1]
	rowsIn := func(oy int) (lo, hi int) { return max(0, oy*sh-pt), min(in.h, oy*sh-pt+kh) }
	colsIn := func(ox int) (lo, hi int) { return max(0, ox*sw-pl), min(in.w, ox*sw-pl+kw) }
	if ho < 1 || wo < 1 || sh != sw || w.dils[0] != 1 || w.dils[1] != 1 {
		return nchwcRunPlain(c, run)
	}
	if !isMax {
		y0, _ := rowsIn(0)
		_, y1 := rowsIn(ho - 1)
		x0, _ := colsIn(0)
		_, x1 := colsIn(wo - 1)
		if pt != 0 || pl != 0 || y0 != 0 || x0 != 0 || (ho-1)*sh+kh > in.h || (wo-1)*sw+kw > in.w || y1 > in.h || x1 > in.w {
			return nchwcRunPlain(c, run)
		}
	}
	x, release := nchwcBlocked(c, 0, in)
	defer release()
	out := nchwcDims{in.n, in.c, ho, wo}
	y := newNCHWc(out)
	// Output columns [full0, full1) have their whole window inside the
	// row; the rest are computed one at a time over their taps inside.
	full0, _ := convValid(wo, sw, -pl, in.w)
	_, full1 := convValid(wo, sw, -pl+kw-1, in.w)
	full1 = min(full1, wo)
	full0 = min(full0, full1)
	scale := float32(1) / float32(kh*kw)
	planes := in.n * in.c / nchwc.Block
	parallelFor(c.Threads, planes*ho, 1, func(u0, u1 int) {
		offs := make([]int, 0, kh*kw)
		for u := u0; u < u1; u++ {
			p, oy := u/ho, u%ho
			src := x[p*in.plane():]
			dst := y.F32[p*out.plane()+(oy+nchwcHalo)*out.rowLen()+nchwcHalo*nchwc.Block:]
			r0, r1 := rowsIn(oy)
			// n outputs from column ox, whose taps are those of ox's
			// window inside the map, sw pixels further each.
			pixels := func(ox, n int) {
				c0, c1 := colsIn(ox)
				offs = offs[:0]
				for iy := r0; iy < r1; iy++ {
					for ix := c0; ix < c1; ix++ {
						offs = append(offs, (iy+nchwcHalo)*in.rowLen()+(ix+nchwcHalo)*nchwc.Block)
					}
				}
				switch {
				case len(offs) == 0: // a window wholly in the padding
					for i := range n * nchwc.Block {
						dst[ox*nchwc.Block+i] = float32(math.Inf(-1))
					}
				case isMax:
					nchwc.MaxPool(dst[ox*nchwc.Block:], src, offs, n, sw)
				default:
					nchwc.SumPool(dst[ox*nchwc.Block:], src, offs, n, sw, scale)
				}
			}
			for ox := 0; ox < full0; ox++ {
				pixels(ox, 1)
			}
			if full1 > full0 {
				pixels(full0, full1-full0)
			}
			for ox := full1; ox < wo; ox++ {
				pixels(ox, 1)
			}
		}
	})
	st.Ran = true
	return nchwcResult(c, y, out), nil
}
