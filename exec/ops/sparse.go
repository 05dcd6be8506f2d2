package ops

import (
	"math"

	"github.com/graft-ml/graft/exec/internal/sparse"
	"github.com/graft-ml/graft/exec/internal/vec"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Sparse products: Gemm, MatMul and Conv with a pruned constant weight.
//
// exec decides at Compile which nodes multiply by a sparse form of their
// weight (input 1) and hands it to the kernel in RunCtx.Sparse. The
// weight becomes one CSR matrix per convolution group (one for Gemm and
// MatMul) with a row per output unit or channel and a column per input
// feature (for a Conv, per input channel and tap, in im2col's order), and
// every product is then Y = W·X for a dense X (exec/internal/sparse):
//
//   - Gemm and MatMul: yᵀ = Wᵀ·op(A)ᵀ, the batch rows of A transposed into
//     columns (free at batch 1, and when Gemm's transA already stores
//     A that way) and the result transposed back with alpha, beta·C and a
//     fused clamp; at batch 1 (alpha 1, beta 0 or 1) a dot product per
//     output (sparse.MulVec) adding C and a bounded clamp as it stores;
//   - Conv: the GEMM form, W·cols, over the same column tiles as convGemm,
//     with the input itself as cols for pointwise windows. Depthwise
//     convolutions keep their direct kernel.
//
// A zero weight (either sign) contributes nothing, even where its input
// is infinite or NaN; a dense product gives NaN there.

// SparseWeight is input 1 of a Gemm, MatMul or Conv node, a constant, in
// compressed sparse row form (see NewSparseWeight).
type SparseWeight struct {
	// W is the dense constant the sparse form was built from. exec hands
	// the sparse form to a run only when input 1 is this very tensor, so
	// a run that supplies its own weight gets the dense product.
	W *tensor.Dense
	// Shape is the product's shape, NNZ the nonzero weights and Density
	// NNZ over Groups·Rows·Cols.
	Shape   SparseShape
	NNZ     int
	Density float64
	groups  []*sparse.CSR
}

// SparseShape is the shape of the products a sparse weight serves: Groups
// products (convolution groups; 1 for Gemm and MatMul), each computing Rows
// outputs (units or channels) as sums over Cols inputs.
type SparseShape struct{ Groups, Rows, Cols int }

// SparseLayout reports whether node n can multiply by input 1 in sparse
// form when that input is the constant w, and the shape of the product:
// a float32-stored (float32, float16, bfloat16) weight of a default-domain
// Gemm, a MatMul with a 2-D B, or a Conv other than a depthwise one.
func SparseLayout(n *onnx.Node, w *tensor.Dense) (SparseShape, bool) {
	if n.Domain != "" || w == nil || w.F32 == nil || len(w.F32) == 0 {
		return SparseShape{}, false
	}
	switch n.OpType {
	case "Gemm", "MatMul":
		if w.Rank() != 2 {
			return SparseShape{}, false
		}
		k, cols := w.Shape[0], w.Shape[1]
		if n.OpType == "Gemm" && attrInt(n, "transB", 0) != 0 {
			k, cols = cols, k
		}
		return SparseShape{Groups: 1, Rows: cols, Cols: k}, true
	case "Conv":
		nd := w.Rank() - 2
		if nd < 1 || nd > 3 {
			return SparseShape{}, false
		}
		group := attrInt(n, "group", 1)
		if group < 1 || int64(w.Shape[0])%group != 0 {
			return SparseShape{}, false
		}
		if group > 1 && w.Shape[1] == 1 && nd <= 2 {
			return SparseShape{}, false // depthwise: convDepthwise
		}
		return SparseShape{Groups: int(group), Rows: w.Shape[0] / int(group), Cols: w.Len() / w.Shape[0]}, true
	}
	return SparseShape{}, false
}

// NewSparseWeight builds the sparse form of w for node n, or returns nil
// when SparseLayout refuses the pair (or a group has 2³¹ nonzeros).
func NewSparseWeight(n *onnx.Node, w *tensor.Dense) *SparseWeight {
	s, ok := SparseLayout(n, w)
	if !ok {
		return nil
	}
	sw := &SparseWeight{W: w, Shape: s}
	for gi := range s.Groups {
		var a *sparse.CSR
		switch n.OpType {
		case "Gemm", "MatMul":
			// Rows are output units: B's columns (B stored K×N), or its
			// rows when Gemm's transB stores it as N×K.
			stored := n.OpType == "Gemm" && attrInt(n, "transB", 0) != 0
			a = sparse.FromDense(w.F32, s.Rows, s.Cols, !stored)
			if a != nil {
				a.PrepareMulVec() // batch 1: sparseRows
			}
		default:
			// Conv: W is (Cout, Cin/g, k...), so group gi's rows are
			// contiguous, each in im2col's (channel, taps) order.
			size := s.Rows * s.Cols
			a = sparse.FromDense(w.F32[gi*size:(gi+1)*size], s.Rows, s.Cols, false)
		}
		if a == nil {
			return nil
		}
		sw.groups = append(sw.groups, a)
		sw.NNZ += a.NNZ()
	}
	sw.Density = float64(sw.NNZ) / (float64(s.Groups) * float64(s.Rows) * float64(s.Cols))
	return sw
}

// sparseFor returns the sparse form of input 1 to use in this run: the
// one exec attached, if input 1 is the tensor it was built from and the
// data are float32-stored.
func (c *RunCtx) sparseFor(w *tensor.Dense) *SparseWeight {
	if c.Sparse == nil || c.Sparse.W != w || w.F32 == nil {
		return nil
	}
	return c.Sparse
}

// sparseRows computes y = alpha·op(A)·W + beta·y for the m×n matrix y (y
// already holds C, broadcast, when beta ≠ 0), with op(A) m×k and the
// sparse weight W k×n. A is m×k row-major, or k×m when transA.
func sparseRows(c *RunCtx, sw *SparseWeight, y, a []float32, transA bool, m, k, n int, alpha, beta float32) {
	w := sw.groups[0]
	if m == 1 && alpha == 1 && (beta == 0 || beta == 1) {
		// A fully connected layer at batch 1: one dot product per
		// output, C (already in y) and a bounded clamp added as each is
		// stored. The caller's clamp pass then changes nothing.
		lo, hi := float32(math.Inf(-1)), float32(math.Inf(1))
		if c.Clamp != nil && c.Clamp.Func == nil {
			lo, hi = c.Clamp.Lo, c.Clamp.Hi
		}
		w.MulVecParallel(c.Threads, y, a, beta == 1, lo, hi)
		c.RanSparse = true
		return
	}
	// X = op(A)ᵀ, k×m: A itself when transA stores it so, or at batch 1.
	x := a
	if !transA && m > 1 {
		xt := tensor.NewUninit(tensor.Float32, k*m)
		defer tensor.Recycle(xt)
		sparseTranspose(xt.F32, a, m, k)
		x = xt.F32
	}
	// T = W·X, n×m, then y = alpha·Tᵀ + beta·y.
	var t []float32
	if m == 1 && alpha == 1 && beta == 0 {
		t = y
	} else {
		tt := tensor.NewUninit(tensor.Float32, n*m)
		defer tensor.Recycle(tt)
		t = tt.F32
	}
	w.MulParallel(c.Threads, t, m, x, m, m)
	if !(m == 1 && alpha == 1 && beta == 0) {
		sparseTransposeAdd(y, t, n, m, alpha, beta)
	}
	c.RanSparse = true
}

// sparseTranspose writes the r×q row-major matrix src transposed into
// dst (q×r). It reads four rows of src at a time along their length and
// writes four adjacent elements of each row of dst: every access
// streams, whatever the strides (a blocked transpose with row strides a
// multiple of 2 KiB, as at K = 2048, keeps missing the L1 cache, its rows
// all mapping to the same few sets).
func sparseTranspose(dst, src []float32, r, q int) {
	i := 0
	for ; i+4 <= r; i += 4 {
		r0, r1, r2, r3 := src[i*q:(i+1)*q], src[(i+1)*q:(i+2)*q], src[(i+2)*q:(i+3)*q], src[(i+3)*q:(i+4)*q]
		for j := range q {
			d := dst[j*r+i : j*r+i+4 : j*r+i+4]
			d[0], d[1], d[2], d[3] = r0[j], r1[j], r2[j], r3[j]
		}
	}
	for ; i < r; i++ {
		for j := range q {
			dst[j*r+i] = src[i*q+j]
		}
	}
}

// sparseTransposeAdd sets y = alpha·tᵀ + beta·y for the r×q matrix t and
// the q×r matrix y (beta = 0 ignores y's contents), four rows of y at a
// time as in sparseTranspose.
func sparseTransposeAdd(y, t []float32, r, q int, alpha, beta float32) {
	i := 0
	for ; i+4 <= q; i += 4 {
		y0, y1, y2, y3 := y[i*r:(i+1)*r], y[(i+1)*r:(i+2)*r], y[(i+2)*r:(i+3)*r], y[(i+3)*r:(i+4)*r]
		for j := range r {
			s := t[j*q+i : j*q+i+4 : j*q+i+4]
			if beta == 0 {
				y0[j], y1[j], y2[j], y3[j] = alpha*s[0], alpha*s[1], alpha*s[2], alpha*s[3]
			} else {
				y0[j] = alpha*s[0] + beta*y0[j]
				y1[j] = alpha*s[1] + beta*y1[j]
				y2[j] = alpha*s[2] + beta*y2[j]
				y3[j] = alpha*s[3] + beta*y3[j]
			}
		}
	}
	for ; i < q; i++ {
		yr := y[i*r : (i+1)*r]
		for j := range yr {
			v := alpha * t[j*q+i]
			if beta != 0 {
				v += beta * yr[j]
			}
			yr[j] = v
		}
	}
}

// convSparse is convGemm with a sparse weight: per image, group and column
// tile, im2col (or the input itself for pointwise windows) and then
// W·cols, bias and fused clamp applied row by row while the tile is in
// cache. Stride-1 2-D windows read the zero-padded input planes directly
// instead (convSparseFlat).
func convSparse(c *RunCtx, y, x []float32, sw *SparseWeight, bias []float32, g *convShape) {
	if f, ok := convFlatPlan(g); ok {
		convSparseFlat(c, y, x, sw, bias, g, &f)
		return
	}
	threads := c.Threads
	cg, mg := g.cin/g.group, g.cout/g.group
	kg := cg * g.kSize()
	nIn, n := g.inSize(), g.outSize()
	pointwise := g.kSize() == 1 && g.s == [3]int{1, 1, 1} && g.p == [3]int{} && nIn == n
	imgs := g.batch * g.group
	tw, perThread := convTiles(kg, n, imgs, threads)
	tiles := (n + tw - 1) / tw
	lo, hi := c.clampBounds()
	unit := func(u int, cols []float32, threads int) {
		t, gi, b := u%tiles, u/tiles%g.group, u/tiles/g.group
		n0 := t * tw
		nt := min(tw, n-n0)
		xg := x[(b*g.cin+gi*cg)*nIn : (b*g.cin+(gi+1)*cg)*nIn]
		rhs, ldb := xg[n0:], n
		if !pointwise {
			rhs, ldb = cols[:kg*nt], nt
			if threads > 1 && kg*nt >= 1<<16 {
				parallelFor(threads, kg, 1, func(r0, r1 int) { convIm2col(rhs, xg, g, r0, r1, n0, nt) })
			} else {
				convIm2col(rhs, xg, g, 0, kg, n0, nt)
			}
		}
		yc := y[(b*g.cout+gi*mg)*n+n0:]
		sw.groups[gi].MulParallel(threads, yc, n, rhs, ldb, nt)
		if bias != nil || c.Clamp != nil {
			for m := range mg {
				row := yc[m*n : m*n+nt]
				var bv float32
				if bias != nil {
					bv = bias[gi*mg+m]
				}
				vec.BiasClamp(row, row, bv, lo, hi)
			}
		}
	}
	bufLen := 0
	if !pointwise {
		bufLen = kg * tw
	}
	c.RanSparse = true
	if perThread {
		parallelFor(threads, imgs*tiles, 1, func(lo, hi int) {
			buf := convGetBuf(bufLen)
			for u := lo; u < hi; u++ {
				unit(u, *buf, 1)
			}
			convBufs.Put(buf)
		})
		return
	}
	buf := convGetBuf(bufLen)
	for u := range imgs * tiles {
		unit(u, *buf, threads)
	}
	convBufs.Put(buf)
}

// convSparseFlat is convGemmFlat with a sparse weight, and without its
// tiles: the input planes are copied into zero-bordered planes laid out
// flat, where column (tap) r of the im2col matrix is the run starting at
// f.rows[r], so output row oy of every channel of a group is the product
// of the group's weights with the runs at oy·wp plus each nonzero's tap
// offset (sparse.MulAt). It is computed straight into y, bias and clamp
// applied in registers; no im2col matrix is built and no column is
// computed to be dropped.
func convSparseFlat(c *RunCtx, y, x []float32, sw *SparseWeight, bias []float32, g *convShape, f *convFlat) {
	threads := c.Threads
	cg, mg := g.cin/g.group, g.cout/g.group
	Ho, Wo, n := g.out[1], g.out[2], g.outSize()
	plane := f.hp * f.wp
	// Spare elements at the end: MulAt reads whole blocks of columns.
	padT := tensor.NewUninit(tensor.Float32, g.batch*g.cin*plane+sparse.MulAtSlack)
	defer tensor.Recycle(padT)
	padded := padT.F32
	clear(padded[g.batch*g.cin*plane:])
	convPadPlanes(padded, x, g, f, threads)
	// Each nonzero's offset in its group's padded planes, and each
	// group's bias and clamp.
	offs := make([]*sparse.Offsets, g.group)
	eps := make([]*sparse.Epilogue, g.group)
	lo, hi := c.clampBounds()
	for gi, a := range sw.groups {
		offs[gi] = a.Offsets(func(col int32) int32 { return int32(f.rows[col]) })
		if bias != nil || c.Clamp != nil {
			eps[gi] = &sparse.Epilogue{Lo: lo, Hi: hi}
			if bias != nil {
				eps[gi].Bias = bias[gi*mg : (gi+1)*mg]
			}
		}
	}
	units := g.batch * g.group * Ho
	unit := func(u, threads int) {
		oy, gi, b := u%Ho, u/Ho%g.group, u/Ho/g.group
		src := padded[(b*g.cin+gi*cg)*plane+oy*f.wp:]
		yo := y[(b*g.cout+gi*mg)*n+oy*Wo:]
		sw.groups[gi].MulAtParallel(threads, yo, n, src, offs[gi], Wo, eps[gi])
	}
	c.RanSparse = true
	if threads > 1 && units >= 2*threads {
		parallelFor(threads, units, 1, func(lo, hi int) {
			for u := lo; u < hi; u++ {
				unit(u, 1)
			}
		})
		return
	}
	for u := range units {
		unit(u, threads)
	}
}
