package gemm

import (
	"math"
	"runtime"

	"github.com/graft-ml/graft/exec/internal/vec"
)

// parallelMinWork is the smallest m*n*k (multiply-adds) for which
// SgemmParallel uses more than one goroutine: below it the cost of starting
// goroutines and of duplicated packing outweighs the gain. 1<<19 MACs is
// about 5 µs of single-thread work.
var parallelMinWork = 1 << 19

// Sgemm computes C = alpha*op(A)*op(B) + beta*C for row-major matrices, where
// op(X) is X or Xᵀ. A is m×k (k×m if transA), B is k×n (n×k if transB), C is
// m×n; lda, ldb, ldc are row strides. When beta == 0, C is not read.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	SgemmParallel(1, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// SgemmParallel is Sgemm split across up to threads goroutines (threads <= 1
// means serial). Small products are computed serially whatever threads is.
func SgemmParallel(threads int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic("gemm: negative dimension")
	}
	checkA(transA, m, k, a, lda)
	checkB(transB, k, n, b, ldb)
	checkC(m, n, c, ldc)
	as := aSrc{trans: transA, a: a, lda: lda}
	bs := bSrc{trans: transB, b: b, ldb: ldb}
	sgemm(threads, active, m, n, k, alpha, as, bs, beta, c, ldc, nil)
}

// SgemmPackedA computes C = alpha*op(A)*op(B) + beta*C where op(A) (m×k) was
// packed by PackA, B is k×n (n×k if transB) with row stride ldb, and C is m×n
// with row stride ldc. It uses up to threads goroutines. ep, if not nil,
// finishes C's elements (see Epilogue).
func SgemmPackedA(threads int, transB bool, n int, alpha float32, pa *PackedA, b []float32, ldb int, beta float32, c []float32, ldc int, ep *Epilogue) {
	if pa == nil {
		panic("gemm: nil PackedA")
	}
	if n < 0 {
		panic("gemm: negative dimension")
	}
	m, k := pa.m, pa.k
	checkB(transB, k, n, b, ldb)
	checkC(m, n, c, ldc)
	checkEpilogue(m, ep)
	as := aSrc{pk: pa}
	bs := bSrc{trans: transB, b: b, ldb: ldb}
	sgemm(threads, pa.kern, m, n, k, alpha, as, bs, beta, c, ldc, ep)
}

// SgemmPackedAIndirect computes C = alpha*op(A)*B + beta*C where op(A)
// (m×k) was packed by PackA and row p of B (k×n) is b[rows[p]:rows[p]+n].
// Rows may overlap or repeat: a stride-1 convolution's B is its
// zero-padded input read at one shifted offset per weight tap, an im2col
// matrix that is never written out.
func SgemmPackedAIndirect(threads, n int, alpha float32, pa *PackedA, b []float32, rows []int, beta float32, c []float32, ldc int, ep *Epilogue) {
	SgemmPackedASegments(threads, n, alpha, pa, b, rows, 0, max(n, 1), 0, beta, c, ldc, ep)
}

// SgemmPackedASegments is SgemmPackedAIndirect for a B whose rows are
// made of segments: element (p, j) of B is b[rows[p] + (i/seg)·stride +
// i%seg] with i = col0 + j. A convolution's B read from zero-padded
// input planes stride wide has one segment per output row, seg output
// columns long, so that B's columns, and C's, are exactly the output
// positions (from col0 on). Segments are packed fastest when seg is a
// multiple of 8.
func SgemmPackedASegments(threads, n int, alpha float32, pa *PackedA, b []float32, rows []int, col0, seg, stride int, beta float32, c []float32, ldc int, ep *Epilogue) {
	if pa == nil {
		panic("gemm: nil PackedA")
	}
	if n < 0 || col0 < 0 {
		panic("gemm: negative dimension")
	}
	if seg < 1 || (col0+n > seg && stride < seg) {
		panic("gemm: segments shorter than 1 or overlapping")
	}
	m, k := pa.m, pa.k
	if len(rows) != k {
		panic("gemm: B needs one row offset per depth step")
	}
	if n > 0 {
		// The last column lies furthest into b.
		last := col0 + n - 1
		end := last/seg*stride + last%seg + 1
		for _, o := range rows {
			if o < 0 || o+end > len(b) {
				panic("gemm: B row out of range")
			}
		}
	}
	checkC(m, n, c, ldc)
	checkEpilogue(m, ep)
	as := aSrc{pk: pa}
	bs := bSrc{b: b, rows: rows, seg: seg, segStride: stride, col0: col0}
	sgemm(threads, pa.kern, m, n, k, alpha, as, bs, beta, c, ldc, ep)
}

// SgemmPackedB computes C = alpha*op(A)*op(B) + beta*C where A is m×k (k×m if
// transA) with row stride lda, op(B) (k×n) was packed by PackB, and C is m×n
// with row stride ldc. It uses up to threads goroutines.
func SgemmPackedB(threads int, transA bool, m int, alpha float32, a []float32, lda int, pb *PackedB, beta float32, c []float32, ldc int) {
	if pb == nil {
		panic("gemm: nil PackedB")
	}
	if m < 0 {
		panic("gemm: negative dimension")
	}
	k, n := pb.k, pb.n
	checkA(transA, m, k, a, lda)
	checkC(m, n, c, ldc)
	if m == 1 && !transA && k > 0 && alpha != 0 {
		gemvPackedB(threads, alpha, a[:k], pb, beta, c[:n])
		return
	}
	as := aSrc{trans: transA, a: a, lda: lda}
	bs := bSrc{pk: pb}
	sgemm(threads, pb.kern, m, n, k, alpha, as, bs, beta, c, ldc, nil)
}

func checkA(trans bool, m, k int, a []float32, lda int) {
	rows, cols := m, k
	if trans {
		rows, cols = k, m
		if lda < m {
			panic("gemm: lda < m")
		}
	} else if lda < k {
		panic("gemm: lda < k")
	}
	if rows > 0 && cols > 0 && len(a) < (rows-1)*lda+cols {
		panic("gemm: a too short")
	}
}

func checkB(trans bool, k, n int, b []float32, ldb int) {
	rows, cols := k, n
	if trans {
		rows, cols = n, k
		if ldb < k {
			panic("gemm: ldb < k")
		}
	} else if ldb < n {
		panic("gemm: ldb < n")
	}
	if rows > 0 && cols > 0 && len(b) < (rows-1)*ldb+cols {
		panic("gemm: b too short")
	}
}

func checkC(m, n int, c []float32, ldc int) {
	if ldc < n {
		panic("gemm: ldc < n")
	}
	if m > 0 && n > 0 && len(c) < (m-1)*ldc+n {
		panic("gemm: c too short")
	}
}

// aSrc is the left operand: raw (trans, a, lda) or packed (pk). row0 is the
// first row of op(A) used, a multiple of mr when pk != nil.
type aSrc struct {
	trans bool
	a     []float32
	lda   int
	pk    *PackedA
	row0  int
}

// panels returns rows ic..ic+mb (relative to row0) of op(A) over depths
// pc..pc+kb in packed form.
func (s *aSrc) panels(ws *workspace, kn *kernel, ic, mb, pc, kb int) []float32 {
	n := roundUp(mb, kn.mr) * kb
	if s.pk != nil {
		off := pc*s.pk.mp + (s.row0+ic)*kb
		return s.pk.data[off : off+n]
	}
	buf := ws.bufA(n)
	packA(buf, s.trans, s.a, s.lda, s.row0+ic, mb, pc, kb, kn.mr)
	return buf
}

// bSrc is the right operand: raw (trans, b, ldb), rows of b at offsets
// (rows) made of segments (seg, segStride: see SgemmPackedASegments), or
// packed (pk). col0 is the first column of op(B) used, a multiple of nr
// when pk != nil.
type bSrc struct {
	trans          bool
	b              []float32
	ldb            int
	rows           []int
	seg, segStride int
	pk             *PackedB
	col0           int
}

// panels returns columns jc..jc+nb (relative to col0) of op(B) over depths
// pc..pc+kb in packed form.
func (s *bSrc) panels(ws *workspace, kn *kernel, jc, nb, pc, kb int) []float32 {
	n := roundUp(nb, kn.nr) * kb
	if s.pk != nil {
		off := pc*s.pk.np + (s.col0+jc)*kb
		return s.pk.data[off : off+n]
	}
	buf := ws.bufB(n)
	if s.rows != nil {
		packBRows(buf, s.b, s.rows[pc:pc+kb], s.col0+jc, nb, kn.nr, s.seg, s.segStride)
		return buf
	}
	packB(buf, s.trans, s.b, s.ldb, s.col0+jc, nb, pc, kb, kn.nr)
	return buf
}

// sgemm validates nothing: the callers have checked shapes and lengths.
func sgemm(threads int, kn *kernel, m, n, k int, alpha float32, as aSrc, bs bSrc, beta float32, c []float32, ldc int, ep *Epilogue) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		if ep != nil {
			ep.apply(c, ldc, m, n, 0)
			ep.applyFunc(c, ldc, m, n)
		}
		return
	}
	if threads > 1 && float64(m)*float64(n)*float64(k) >= float64(parallelMinWork) {
		mt := (m + kn.mr - 1) / kn.mr // row tiles
		nt := (n + kn.nr - 1) / kn.nr // column tiles
		// Each goroutine packs its own copy of the operand that is not split,
		// so split the dimension that makes the duplicated packing smaller,
		// and never split a pre-packed operand's other side needlessly.
		splitN := n >= m
		switch {
		case as.pk != nil:
			// Split a pre-packed A's columns of B, unless B is so much
			// narrower than A is tall (a convolution over a 7×7 map:
			// 49 columns against 960 rows of weights) that each thread
			// reading all of A costs more than packing all of B.
			splitN = m <= gemmSplitRatio*n
		case bs.pk != nil:
			splitN = n > gemmSplitRatio*m
		}
		if splitN && nt < 2 && mt >= 2 {
			splitN = false
		} else if !splitN && mt < 2 && nt >= 2 {
			splitN = true
		}
		units, step := mt, kn.mr
		if splitN {
			units, step = nt, kn.nr
		}
		t := min(threads, units, runtime.GOMAXPROCS(0))
		if t > 1 {
			b := batches.Get().(*batch)
			b.call = gemmCall{kn: kn, m: m, n: n, k: k, alpha: alpha, beta: beta,
				as: as, bs: bs, c: c, ldc: ldc, ep: ep, splitN: splitN, units: units, step: step, t: t}
			runBatch(b, t, t-1)
			return
		}
	}
	kn.run(m, n, k, alpha, &as, &bs, beta, c, ldc, ep, 0)
}

// gemmSplitRatio is how many times longer the pre-packed operand's
// dimension must be than the other's for sgemm to split it: packing an
// element of the operand not split costs a read and a write, where the
// pre-packed one is only read.
var gemmSplitRatio = 2

// gemmCall is a product split into t parts along n (splitN) or m, in units
// of step columns or rows.
type gemmCall struct {
	kn             *kernel
	m, n, k        int
	alpha, beta    float32
	as             aSrc
	bs             bSrc
	c              []float32
	ldc            int
	ep             *Epilogue
	splitN         bool
	units, step, t int
}

// part computes part i of g.
func (g *gemmCall) part(i int) {
	lo, hi := g.units*i/g.t*g.step, g.units*(i+1)/g.t*g.step
	as, bs := g.as, g.bs
	if g.splitN {
		hi = min(hi, g.n)
		bs.col0 += lo
		g.kn.run(g.m, hi-lo, g.k, g.alpha, &as, &bs, g.beta, g.c[lo:], g.ldc, g.ep, 0)
	} else {
		hi = min(hi, g.m)
		as.row0 += lo
		g.kn.run(hi-lo, g.n, g.k, g.alpha, &as, &bs, g.beta, g.c[lo*g.ldc:], g.ldc, g.ep, lo)
	}
}

// run is the serial blocked driver for m, n, k >= 1. Row 0 of c is row
// row0 of the whole product, for ep's bias.
func (kn *kernel) run(m, n, k int, alpha float32, as *aSrc, bs *bSrc, beta float32, c []float32, ldc int, ep *Epilogue, row0 int) {
	ws := wsPool.Get().(*workspace)
	tmp := ws.bufTmp(kn.mr * kn.nr)
	var rb *rowsB
	if bs.inPlace(kn, n) {
		rb = &ws.rb
	}
	for jc := 0; jc < n; jc += kn.nc {
		nb := min(kn.nc, n-jc)
		for pc := 0; pc < k; pc += kn.kc {
			kb := min(kn.kc, k-pc)
			be := beta
			if pc > 0 {
				be = 1
			}
			var bp []float32
			if rb != nil {
				rb.set(ws, kn, bs, jc, nb, pc, kb)
			} else {
				bp = bs.panels(ws, kn, jc, nb, pc, kb)
			}
			// The epilogue goes with the last block of depth.
			var last *Epilogue
			if pc+kb == k {
				last = ep
			}
			for ic := 0; ic < m; ic += kn.mc {
				mb := min(kn.mc, m-ic)
				ap := as.panels(ws, kn, ic, mb, pc, kb)
				kn.macro(mb, nb, kb, alpha, ap, bp, rb, be, c[ic*ldc+jc:], ldc, tmp, last, row0+ic)
				if last != nil {
					last.applyFunc(c[ic*ldc+jc:], ldc, mb, nb)
				}
			}
		}
	}
	ws.rb.b, ws.rb.offs = nil, nil // the caller's: not kept in the pool
	wsPool.Put(ws)
}

// macro multiplies packed panels ap (mb×kb) and bp (kb×nb) into C, and
// applies ep, if not nil, to the finished tiles (row 0 of c being row
// row0 of the product). With rb set, B is read in place instead (bp is
// not used): whole panels by kn.rows, the narrower last one packed.
func (kn *kernel) macro(mb, nb, kb int, alpha float32, ap, bp []float32, rb *rowsB, beta float32, c []float32, ldc int, tmp []float32, ep *Epilogue, row0 int) {
	mr, nr, fn := kn.mr, kn.nr, kn.fn
	// Tile t's place: column tile by column tile (each B micro-panel
	// stays in L1 while every row tile uses it), or, for a block of
	// little depth, row tile by row tile (see macroRowsFirstDepth).
	nj, ni := (nb+nr-1)/nr, (mb+mr-1)/mr
	rowsFirst := kb <= macroRowsFirstDepth
	for t := range nj * ni {
		jr, ir := t/ni*nr, t%ni*mr
		if rowsFirst {
			ir, jr = t/nj*mr, t%nj*nr
		}
		cols := min(nr, nb-jr)
		var bpan, bIn *float32
		switch {
		case rb == nil:
			bpan = &bp[jr*kb]
		case cols == nr:
			bIn = &rb.b[rb.col+jr]
		default:
			bpan = &rb.tail[0]
		}
		rows := min(mr, mb-ir)
		apan := &ap[ir*kb]
		if bIn != nil {
			if rows == mr {
				kn.rows(kb, apan, bIn, &rb.offs[0], &c[ir*ldc+jr], ldc, alpha, beta)
				if ep != nil {
					ep.apply(c[ir*ldc+jr:], ldc, rows, cols, row0+ir)
				}
				continue
			}
			kn.rows(kb, apan, bIn, &rb.offs[0], &tmp[0], nr, 1, 0)
			kn.storeTmp(c[ir*ldc+jr:], ldc, tmp, rows, cols, alpha, beta, ep, row0+ir)
			continue
		}
		if rows == mr && cols == nr {
			// The callers' length checks guarantee that the whole tile
			// lies inside c: (ir+mr-1)*ldc + jr+nr-1 <= (m-1)*ldc + n-1.
			switch {
			case ep == nil:
				fn(kb, apan, bpan, &c[ir*ldc+jr], ldc, alpha, beta)
			case kn.ep != nil:
				kn.ep(kb, apan, bpan, &c[ir*ldc+jr], ldc, alpha, beta, ep.biasAt(row0+ir), ep.Lo, ep.Hi)
			default:
				fn(kb, apan, bpan, &c[ir*ldc+jr], ldc, alpha, beta)
				ep.apply(c[ir*ldc+jr:], ldc, rows, cols, row0+ir)
			}
			continue
		}
		if rows == mr && kn.epMask != nil {
			// Columns short of a panel: stored in place, with masks.
			bias, lo, hi := &noBias[0], float32(math.Inf(-1)), float32(math.Inf(1))
			if ep != nil {
				bias, lo, hi = ep.biasAt(row0+ir), ep.Lo, ep.Hi
			}
			mask := kn.epMask
			switch {
			case kn.epHalf != nil && 2*cols <= nr:
				mask = kn.epHalf
			case kn.ep24 != nil && 4*cols <= 3*nr:
				mask = kn.ep24
			}
			mask(kb, apan, bpan, &c[ir*ldc+jr], ldc, alpha, beta, bias, lo, hi, cols)
			continue
		}
		fn(kb, apan, bpan, &tmp[0], nr, 1, 0)
		kn.storeTmp(c[ir*ldc+jr:], ldc, tmp, rows, cols, alpha, beta, ep, row0+ir)
	}
}

// storeTmp stores the rows × cols corner of a tile computed into tmp
// (alpha = 1, beta = 0) into c as alpha·tmp + beta·c, and applies ep.
func (kn *kernel) storeTmp(c []float32, ldc int, tmp []float32, rows, cols int, alpha, beta float32, ep *Epilogue, row0 int) {
	nr := kn.nr
	for r := range rows {
		crow := c[r*ldc : r*ldc+cols]
		trow := tmp[r*nr : r*nr+cols]
		if beta == 0 {
			for j, v := range trow {
				crow[j] = alpha * v
			}
		} else {
			for j, v := range trow {
				crow[j] = alpha*v + beta*crow[j]
			}
		}
	}
	if ep != nil {
		ep.apply(c, ldc, rows, cols, row0)
	}
}

// macroRowsFirstDepth is the deepest block whose tiles the macro-kernel
// visits row tile by row tile. A shallow product writes much of C for
// little work: a pointwise convolution of 16 to 32 input channels, or a
// stem over 3 channels (depth 27), stores a tile every few hundred
// cycles. Column tile by column tile, those stores go to as many rows of
// C as the block has (up to mc), each a separate stream of writes to
// memory that is not in cache, which the prefetchers do not follow; row
// tile by row tile they go to mr streams, each sequential. B's panels
// then come from L2 for every tile instead of L1, which costs a deep
// block more than it saves. Measured on an AVX-512 Xeon, 2 threads,
// batch 8 (graft bench --profile): MobileNetV2's 16 -> 96 channel
// expansion over 112×112 4.4 -> 2.1 ms, SqueezeNet's 3×3 stem 4.4 ->
// 2.3 ms, DenseNet-121's 1×1 layers of 96 and 128 input channels over
// 56×56 2.7 -> 2.1 and 3.5 -> 2.7 ms (with 128 rather than 64); ResNet-18
// within the noise with 128, 3-5 % slower when every block (256 deep)
// went row tile first.
const macroRowsFirstDepth = 128

// rowsInPlace lets tests and benchmarks turn off reading B in place.
var rowsInPlace = true

// RowsInPlace reports whether SgemmPackedAIndirect reads B's rows where
// they are, without packing them, on this machine.
func RowsInPlace() bool { return rowsInPlace && active.rows != nil }

// SetRowsInPlace turns reading B in place on or off (for benchmarks that
// compare the two), and returns the previous setting.
func SetRowsInPlace(on bool) bool {
	old := rowsInPlace
	rowsInPlace = on
	return old
}

// rowsB is one depth block of a B read in place (see rowsFunc): row p of
// the block, from column col on, is b[offs[p]+col:]. tail holds the
// block's last panel packed where it is narrower than a whole one.
type rowsB struct {
	b    []float32
	offs []int
	col  int
	tail []float32
}

// inPlace reports whether the driver can read B's n columns in place: the
// kernel can, and B is made of rows at offsets whose columns from col0 to
// col0+n lie in one segment.
func (s *bSrc) inPlace(kn *kernel, n int) bool {
	return rowsInPlace && kn.rows != nil && s.rows != nil && s.pk == nil && s.col0+n <= s.seg
}

// set points r at columns jc..jc+nb (relative to s.col0) of s over depths
// pc..pc+kb, packing the narrower last panel.
func (r *rowsB) set(ws *workspace, kn *kernel, s *bSrc, jc, nb, pc, kb int) {
	r.b, r.offs, r.col = s.b, s.rows[pc:pc+kb], s.col0+jc
	if w := nb % kn.nr; w != 0 {
		r.tail = ws.bufB(kn.nr * kb)
		packBRows(r.tail, s.b, r.offs, r.col+nb-w, w, kn.nr, s.seg, s.segStride)
	}
}

// checkEpilogue panics unless ep's bias covers m rows.
func checkEpilogue(m int, ep *Epilogue) {
	if ep != nil && ep.Bias != nil && len(ep.Bias) < m {
		panic("gemm: epilogue bias shorter than C's rows")
	}
}

// noBias is the bias of an Epilogue without one, for the kernels that
// read mr values.
var noBias [32]float32

// bias returns row i's bias.
func (ep *Epilogue) bias(i int) float32 {
	if ep.Bias == nil {
		return 0
	}
	return ep.Bias[i]
}

// biasAt points at the bias of rows i… for a kernel's epilogue.
func (ep *Epilogue) biasAt(i int) *float32 {
	if ep.Bias == nil {
		return &noBias[0]
	}
	return &ep.Bias[i]
}

// apply finishes a rows×cols tile of c (row stride ldc) whose first row
// is row row0 of the product.
func (ep *Epilogue) apply(c []float32, ldc, rows, cols, row0 int) {
	for r := range rows {
		row := c[r*ldc : r*ldc+cols]
		vec.BiasClamp(row, row, ep.bias(row0+r), ep.Lo, ep.Hi)
	}
}

// applyFunc maps the rows of a rows×cols block of c (row stride ldc)
// through ep.Func, if set: after apply, once the block is finished.
func (ep *Epilogue) applyFunc(c []float32, ldc, rows, cols int) {
	if ep.Func == nil {
		return
	}
	for r := range rows {
		row := c[r*ldc : r*ldc+cols]
		ep.Func(row, row)
	}
}

// scaleC sets C = beta*C (C = 0 when beta == 0, whatever C held).
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	if beta == 1 {
		return
	}
	for i := range m {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// gemvPackedB is SgemmPackedB for one row of A (a batch-1 dense layer):
// the micro-kernel would compute mr rows to use one, so each panel of B is
// instead multiplied by the row directly, one panel at a time (its nr
// sums in a stack array), the panels cut into parts that the threads
// claim as they come free (ParallelFor: the polling workers, not a
// goroutine per call, whose wake-up cost as much as a 512-wide layer).
func gemvPackedB(threads int, alpha float32, a []float32, pb *PackedB, beta float32, c []float32) {
	kn := pb.kern
	nr, kc := kn.nr, kn.kc
	panels := pb.np / nr
	body := func(q0, q1 int) {
		var sums [gemvMaxNR]float32
		for q := q0; q < q1; q++ {
			acc := sums[:nr]
			clear(acc)
			for pc := 0; pc < pb.k; pc += kc {
				kb := min(kc, pb.k-pc)
				gemvPanel(kb, a[pc:pc+kb], pb.data[pc*pb.np+q*nr*kb:][:nr*kb], nr, acc)
			}
			for j, v := range acc[:min(nr, pb.n-q*nr)] {
				v *= alpha
				if beta != 0 {
					v += beta * c[q*nr+j]
				}
				c[q*nr+j] = v
			}
		}
	}
	t := min(max(threads, 1), panels, runtime.GOMAXPROCS(0))
	if t <= 1 || pb.k*pb.n < parallelMinWork/4 {
		body(0, panels)
		return
	}
	// A few parts a thread, so that one that starts late takes fewer.
	parts := min(panels, 4*t)
	ParallelFor(t, parts, func(i int) { body(panels*i/parts, panels*(i+1)/parts) })
}

// gemvMaxNR bounds the kernels' panel width nr (gemvPackedB's sums).
const gemvMaxNR = 64
