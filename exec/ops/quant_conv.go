package ops

import (
	"sync/atomic"

	"github.com/graft-ml/graft/exec/internal/gemm"
	"github.com/graft-ml/graft/exec/internal/qgemm"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// ConvInteger and QLinearConv on qgemm: per image and group, the weights
// less their zero points (one qgemm.PackedA per group, packed once) times
// the im2col of x less its zero point, which quantIm2col writes straight
// into qgemm's packed layout. Padding reads the zero point, so it is 0
// after the shift and contributes nothing. The output positions are taken
// in blocks of at most quantColBudget/K columns, so that a block's packed
// im2col (and its sums) stay in cache; blocks are the unit of work
// handed to goroutines.

// quantColBudget is the number of int16s of packed im2col per block:
// 64 KiB, half of a typical L2's share per core.
const quantColBudget = 32 << 10

// quantConvWeights returns w less its zero point zw, packed for qgemm, one
// PackedA per group (mg rows of cg·kSize).
func quantConvWeights(c *RunCtx, w, zw *tensor.Dense, wi, zi int, g *quantConvGeom) []*qgemm.PackedA {
	return quantPacked(c, wi, zi, quantPackConv, g.group, func() []*qgemm.PackedA {
		cg, mg := g.cin/g.group, g.cout/g.group
		k := cg * g.kSize()
		a := make([]int16, mg*k)
		packs := make([]*qgemm.PackedA, g.group)
		for gi := range g.group {
			for m := range mg {
				ch := gi*mg + m
				z := quantZP(zw, ch)
				for i, v := range w.I64[ch*k : (ch+1)*k] {
					a[m*k+i] = int16(v - z)
				}
			}
			packs[gi] = qgemm.PackA(mg, k, a, k)
		}
		return packs
	})
}

// quantConvPlan checks the operands of an integer convolution: x and w,
// int8 or uint8, with zero points zx (per tensor) and zw (per tensor or
// per output channel), and returns the geometry.
func quantConvPlan(c *RunCtx, x, w, zx, zw *tensor.Dense) (*quantConvGeom, error) {
	for _, t := range []struct {
		t    *tensor.Dense
		what string
	}{{x, "x"}, {w, "w"}, {zx, "x's zero point"}, {zw, "w's zero point"}} {
		if err := quantProductType(c, t.t, t.what); err != nil {
			return nil, err
		}
	}
	g, err := quantConvSetup(c, x, w)
	if err != nil {
		return nil, err
	}
	if zw != nil && zw.Len() != 1 && zw.Len() != g.cout {
		return nil, shapeError(c.Node, "w's zero point has %d values for %d output channels", zw.Len(), g.cout)
	}
	if err := tensor.CheckAlloc(tensor.Int32, g.outShape()); err != nil {
		return nil, onnx.NodeErrorf(c.Node, "output: %w", err)
	}
	return g, nil
}

// quantConv computes the int32 convolution of x and w (checked by
// quantConvPlan, which gave g) less their zero points. It hands each block
// of sums to emit: acc holds the block's mg rows (the output channels of
// group gi) of cw sums each, for output positions [j0, j0+cw) of image b.
// emit may be called from several goroutines at once, for different
// blocks. wi and zi are the node's input indices of w and zw.
func quantConv(c *RunCtx, g *quantConvGeom, x, w, zx, zw *tensor.Dense, wi, zi int, emit func(b, gi, j0, cw int, acc []int32)) {
	packs := quantConvWeights(c, w, zw, wi, zi, g)

	s := quantScratchPool.Get().(*quantScratch)
	defer quantScratchPool.Put(s)
	pad := quantPadding(g)
	xp := s.int16s(g.batch * g.cin * pad.plane)
	quantPadInput(xp, x, quantZP(zx, 0), g, pad)
	cg, mg := g.cin/g.group, g.cout/g.group
	k, os := cg*g.kSize(), g.outSize()
	tap := pad.taps(s, g, cg)

	imgs := g.batch * g.group
	cw := max(qgemm.NR, quantColBudget/max(k, 1)/qgemm.NR*qgemm.NR)
	threads := 1
	if c.Threads > 1 && g.batch*g.cout*os*k >= quantParallelMACs {
		threads = c.Threads
		// At least two blocks per goroutine, so that one that starts late
		// does not hold up the rest.
		want := (2*threads + imgs - 1) / imgs
		cw = min(cw, max(qgemm.NR, ((os+want-1)/want+qgemm.NR-1)/qgemm.NR*qgemm.NR))
	}
	chunks := (os + cw - 1) / cw
	units := imgs * chunks
	block := func(s *quantScratch, u int) {
		b, gi, j0 := u/(g.group*chunks), u/chunks%g.group, u%chunks*cw
		n := min(cw, os-j0)
		xg := xp[(b*g.cin+gi*cg)*pad.plane : (b*g.cin+(gi+1)*cg)*pad.plane]
		quantIm2col(&s.pb, xg, tap, pad.positions(s, g, j0, n))
		acc := s.int32s(mg * n)
		qgemm.Gemm(packs[gi], &s.pb, acc, n)
		emit(b, gi, j0, n, acc)
	}
	if threads == 1 || units == 1 {
		for u := range units {
			block(s, u)
		}
		return
	}
	var next atomic.Int64
	gemm.Parallel(min(threads, units), func(int) {
		ws := quantScratchPool.Get().(*quantScratch)
		defer quantScratchPool.Put(ws)
		for u := int(next.Add(1) - 1); u < units; u = int(next.Add(1) - 1) {
			block(ws, u)
		}
	})
}

// quantPad is the layout of a convolution's input planes copied with
// their padding made explicit: dims (D, H, W) each large enough for every
// window, plane their product. The input lies at offset g.p in each dim.
type quantPad struct {
	dims  [3]int
	plane int
}

func quantPadding(g *quantConvGeom) quantPad {
	var p quantPad
	p.plane = 1
	for i := range 3 {
		span := (g.out[i]-1)*g.s[i] + (g.k[i]-1)*g.d[i] + 1
		p.dims[i] = max(g.p[i]+g.in[i], span)
		p.plane *= p.dims[i]
	}
	return p
}

// quantPadInput sets xp, batch·cin planes of pad.plane, to x less its
// zero point zx inside, and to 0 (the zero point, shifted) around it.
func quantPadInput(xp []int16, x *tensor.Dense, zx int64, g *quantConvGeom, pad quantPad) {
	if pad.plane == g.inSize() {
		for i, v := range x.I64 {
			xp[i] = int16(v - zx)
		}
		return
	}
	clear(xp)
	is := g.inSize()
	for pl := range g.batch * g.cin {
		src := x.I64[pl*is : (pl+1)*is]
		dst := xp[pl*pad.plane : (pl+1)*pad.plane]
		for id := range g.in[0] {
			for ih := range g.in[1] {
				row := src[(id*g.in[1]+ih)*g.in[2] : (id*g.in[1]+ih+1)*g.in[2]]
				at := ((id+g.p[0])*pad.dims[1]+ih+g.p[1])*pad.dims[2] + g.p[2]
				out := dst[at : at+len(row)]
				for i, v := range row {
					out[i] = int16(v - zx)
				}
			}
		}
	}
}

// taps returns, for each row ci·kSize + (kd·kh_n + kh)·kw_n + kw of the
// im2col matrix, the offset of that kernel tap in a group's padded planes,
// in s's storage.
func (p quantPad) taps(s *quantScratch, g *quantConvGeom, cg int) []int {
	tap := s.taps[:0]
	for ci := range cg {
		for kd := range g.k[0] {
			for kh := range g.k[1] {
				for kw := range g.k[2] {
					tap = append(tap, ci*p.plane+(kd*g.d[0]*p.dims[1]+kh*g.d[1])*p.dims[2]+kw*g.d[2])
				}
			}
		}
	}
	s.taps = tap
	return tap
}

// positions returns, for output positions [j0, j0+n), the offset in a
// padded plane of each one's window (its tap (0, 0, 0)), in s's storage.
func (p quantPad) positions(s *quantScratch, g *quantConvGeom, j0, n int) []int {
	if cap(s.pos) < n {
		s.pos = make([]int, n)
	}
	pos := s.pos[:n]
	ow, oh, od := j0%g.out[2], j0/g.out[2]%g.out[1], j0/(g.out[2]*g.out[1])
	for t := range pos {
		pos[t] = (od*g.s[0]*p.dims[1]+oh*g.s[1])*p.dims[2] + ow*g.s[2]
		if ow++; ow == g.out[2] {
			if ow, oh = 0, oh+1; oh == g.out[1] {
				oh, od = 0, od+1
			}
		}
	}
	return pos
}

// quantIm2col resets pb to the packed im2col matrix of one image's group
// of padded planes xg: element (r, j) is xg[tap[r]+pos[j]]. Each panel of
// NR positions is filled pair of rows by pair of rows, in the order the
// words lie in memory.
func quantIm2col(pb *qgemm.PackedB, xg []int16, tap, pos []int) {
	k, n := len(tap), len(pos)
	pb.Reset(k, n)
	ps := pb.PanelStride()
	for j0 := 0; j0 < n; j0 += qgemm.NR {
		po := pos[j0:min(j0+qgemm.NR, n)]
		panel := pb.Data[j0/qgemm.NR*ps : (j0/qgemm.NR+1)*ps]
		for q := range k / 2 {
			xa, xb := xg[tap[2*q]:], xg[tap[2*q+1]:]
			d := panel[q*qgemm.NR : q*qgemm.NR+len(po)]
			for t, o := range po {
				d[t] = uint32(uint16(xa[o])) | uint32(uint16(xb[o]))<<16
			}
		}
		if k%2 == 1 {
			xa := xg[tap[k-1]:]
			d := panel[k/2*qgemm.NR : k/2*qgemm.NR+len(po)]
			for t, o := range po {
				d[t] = uint32(uint16(xa[o]))
			}
		}
	}
}
