// Package sparse multiplies a constant sparse matrix, held in compressed
// sparse row (CSR) form, by dense float32 operands: the kernels behind
// graft's sparse execution of pruned Gemm, MatMul and Conv weights.
//
// One product covers every case: Y[r, j] = Σ_c A[r, c]·X[c, j] for the rows
// r of A and the first w columns of X, with X and Y dense and row-major
// (leading dimensions ldx and ldy). A fully connected layer at batch M is
// yᵀ = Wᵀ·xᵀ (A = the weight with one row per output unit, X = the batch
// transposed, w = M); a convolution is Y = W·cols, the GEMM form of
// exec/ops's im2col, with w = the output positions of a tile.
//
// Each row's nonzeros are read once per column block and multiplied into
// register accumulators (AVX2 FMA, blocks of 32 and 8 columns); at w = 1
// each row is a dot product with a gather of X. MulVec, the product of a
// fully connected layer at batch 1, is that dot product with 16-bit
// column indices and X's elements loaded one by one (faster than AVX2
// gathers on AMD Zen 4), with the bias and the activation's clamp added
// as it stores. The pure-Go twins (build
// tag purego, or another architecture) hold the same loops one element at
// a time, and the tests hold the assembly to them.
//
// Unstructured pruning leaves nonzeros scattered, so blocked formats (BSR)
// would store mostly zeros: at 10 % density a 1×4 block holds one nonzero
// on average. CSR with int32 column indices costs 8 bytes per nonzero
// against 4 per element dense, so it reads less memory below 50 % density.
//
// Kernels panic on operands too short for the matrix (constant messages,
// like the GEMM's); the callers have checked shapes before.
package sparse

import (
	"math"
	"runtime"
	"sync/atomic"

	"github.com/graft-ml/graft/exec/internal/gemm"
)

// CSR is a Rows×Cols matrix in compressed sparse row form: row r's
// nonzeros are Val[RowPtr[r]:RowPtr[r+1]], in columns Col[RowPtr[r]:
// RowPtr[r+1]], ascending.
type CSR struct {
	Rows, Cols int
	RowPtr     []int32
	Col        []int32
	Val        []float32

	// col16 is Col as 16-bit indices, with colSlack zeros past its
	// length, for MulVec (see PrepareMulVec), or nil.
	col16 []uint16
	// split caches Split(parts) for the last parts MulVecParallel used.
	split atomic.Pointer[[]int]
}

// colSlack is how many indices past a row's last the 16-bit kernel reads
// (a block of eight widened at once).
const colSlack = 8

// Count returns the nonzeros of the rows×cols matrix stored in w (as for
// FromDense): the entries that are not zero of either sign.
func Count(w []float32) int {
	n := 0
	for _, v := range w {
		if v != 0 {
			n++
		}
	}
	return n
}

// FromDense builds the CSR of the rows×cols matrix stored row-major in w,
// element (r, c) at w[r*cols+c]; when trans, w holds the transpose
// (cols×rows) and element (r, c) is at w[c*rows+r]. Zeros of either sign
// are dropped, so a product skips them even where X holds an infinity or
// a NaN (a dense product gives NaN there). It returns nil when the matrix
// has 2³¹ nonzeros or more.
func FromDense(w []float32, rows, cols int, trans bool) *CSR {
	if len(w) < rows*cols {
		panic("sparse: w too short")
	}
	nnz := Count(w[:rows*cols])
	if nnz > math.MaxInt32 {
		return nil
	}
	a := &CSR{Rows: rows, Cols: cols, RowPtr: make([]int32, rows+1), Col: make([]int32, 0, nnz), Val: make([]float32, 0, nnz)}
	for r := range rows {
		for c := range cols {
			var v float32
			if trans {
				v = w[c*rows+r]
			} else {
				v = w[r*cols+c]
			}
			if v != 0 {
				a.Col = append(a.Col, int32(c))
				a.Val = append(a.Val, v)
			}
		}
		a.RowPtr[r+1] = int32(len(a.Val))
	}
	return a
}

// PrepareMulVec adds the 16-bit copy of the column indices that MulVec's
// kernel reads (2 bytes per nonzero), when a.Cols ≤ 2¹⁶; without it
// MulVec multiplies as Mul does. Call it before a is shared.
func (a *CSR) PrepareMulVec() {
	if a.Cols > 1<<16 || a.col16 != nil {
		return
	}
	a.col16 = make([]uint16, len(a.Col), len(a.Col)+colSlack)
	for p, c := range a.Col {
		a.col16[p] = uint16(c)
	}
}

// NNZ returns the number of stored nonzeros.
func (a *CSR) NNZ() int { return len(a.Val) }

// Density returns the fraction of the matrix's entries that are nonzero.
func (a *CSR) Density() float64 {
	if a.Rows == 0 || a.Cols == 0 {
		return 0
	}
	return float64(len(a.Val)) / (float64(a.Rows) * float64(a.Cols))
}

// Split cuts the rows into at most parts contiguous ranges of about equal
// nonzero counts and returns their bounds: range i is [b[i], b[i+1]).
func (a *CSR) Split(parts int) []int {
	parts = max(1, min(parts, a.Rows))
	b := make([]int, 0, parts+1)
	b = append(b, 0)
	nnz := len(a.Val)
	r := 0
	for i := 1; i < parts; i++ {
		// The first row at which the nonzeros before it reach i/parts
		// of them (and at least one more row than the range before).
		target := int32(nnz * i / parts)
		r = max(r+1, b[len(b)-1]+1)
		for r < a.Rows && a.RowPtr[r] < target {
			r++
		}
		if r >= a.Rows {
			break
		}
		b = append(b, r)
	}
	return append(b, a.Rows)
}

// Epilogue is applied to each output of a product as it is stored:
// y = min(max(y + Bias[r], Lo), Hi) for output row r (no bias when Bias
// is nil). NaNs stay NaN, as in vec.BiasClamp. A convolution adds its
// bias and fused activation this way while the output is in registers.
type Epilogue struct {
	Bias   []float32
	Lo, Hi float32
}

// rowEpilogue is Epilogue for one row, as the kernels take it: bias, lo,
// hi.
type rowEpilogue [3]float32

func (e *rowEpilogue) apply(v float32) float32 {
	v += e[0]
	if e[1] > v {
		v = e[1]
	}
	if e[2] < v {
		v = e[2]
	}
	return v
}

// Mul sets Y[r, j] = Σ_c A[r, c]·X[c, j] for rows r0 ≤ r < r1 and columns
// j < w, where X[c, j] = x[c*ldx+j] and Y[r, j] = y[r*ldy+j]; it
// overwrites those elements of y and reads nothing else of it.
func (a *CSR) Mul(r0, r1 int, y []float32, ldy int, x []float32, ldx, w int) {
	a.check(r0, r1, y, ldy, w)
	if w <= 0 || r0 == r1 {
		return
	}
	if ldx < w {
		panic("sparse: leading dimension < w")
	}
	if a.Cols > 0 && len(x) < (a.Cols-1)*ldx+w {
		panic("sparse: x too short")
	}
	// Columns go in tiles whose rows of X, read again for every row of
	// A, stay in a core's L2 cache.
	tile := w
	if a.Cols > 0 {
		tile = max(32, mulTileFloats/a.Cols/32*32)
	}
	a.mul(r0, r1, y, ldy, x, ldx, a.Col, w, tile, nil, false)
}

// Offsets places the rows of X for MulAt: nonzero p of A (in storage
// order, as Val) multiplies the row of X starting at element Of[p] of x.
// A convolution's GEMM form reads its columns this way straight from
// zero-padded input planes (see exec/ops), with no im2col copy.
type Offsets struct {
	of  []int32
	max int32
}

// Offsets returns the offsets of a's nonzeros, at(c) for those in column
// c; at must not return a negative offset.
func (a *CSR) Offsets(at func(col int32) int32) *Offsets {
	o := &Offsets{of: make([]int32, len(a.Col))}
	for p, c := range a.Col {
		v := at(c)
		if v < 0 {
			panic("sparse: negative offset")
		}
		o.of[p] = v
		o.max = max(o.max, v)
	}
	return o
}

// MulAt is Mul with the rows of X placed by off, and with the epilogue ep
// applied to every output when it is not nil. x must hold MulAtSlack
// elements past the last any nonzero multiplies: the kernels read whole
// blocks and store the partial last one under a mask.
func (a *CSR) MulAt(r0, r1 int, y []float32, ldy int, x []float32, off *Offsets, w int, ep *Epilogue) {
	a.check(r0, r1, y, ldy, w)
	if w <= 0 || r0 == r1 {
		return
	}
	if len(off.of) != len(a.Val) {
		panic("sparse: offsets do not match the nonzeros")
	}
	if int(off.max)+w+MulAtSlack > len(x) {
		panic("sparse: offset outside x")
	}
	if ep != nil && ep.Bias != nil && len(ep.Bias) < r1 {
		panic("sparse: bias too short")
	}
	a.mul(r0, r1, y, ldy, x, 1, off.of, w, w, ep, true)
}

// MulAtSlack is how many elements past the columns it uses MulAt may
// read (a block of 32 holds up to 31 more).
const MulAtSlack = 31

// check panics unless rows r0..r1 of a w-column Y fit in y.
func (a *CSR) check(r0, r1 int, y []float32, ldy, w int) {
	if r0 < 0 || r1 > a.Rows || r0 > r1 {
		panic("sparse: bad row range")
	}
	if w <= 0 || r0 == r1 {
		return
	}
	if ldy < w {
		panic("sparse: leading dimension < w")
	}
	if len(y) < (r1-1)*ldy+w {
		panic("sparse: y too short")
	}
}

// mul is Mul's loop, X's row for nonzero p at x[col[p]*ldx:], in column
// tiles of tile, with the epilogue ep if not nil; slack allows reading
// whole blocks of eight columns past w.
func (a *CSR) mul(r0, r1 int, y []float32, ldy int, x []float32, ldx int, col []int32, w, tile int, ep *Epilogue, slack bool) {
	if w == 1 && ldx == 1 && ep == nil {
		if a.spmv(r0, r1, y[r0*ldy:], ldy, x, col) {
			return
		}
		for r := r0; r < r1; r++ {
			lo, hi := a.RowPtr[r], a.RowPtr[r+1]
			y[r*ldy] = dot(x, col[lo:hi], a.Val[lo:hi])
		}
		return
	}
	var re *rowEpilogue
	if ep != nil {
		re = &rowEpilogue{0, ep.Lo, ep.Hi}
	}
	for j0 := 0; j0 < w; j0 += tile {
		wt := min(tile, w-j0)
		xs := x[j0:]
		for r := r0; r < r1; r++ {
			lo, hi := a.RowPtr[r], a.RowPtr[r+1]
			cols, val := col[lo:hi], a.Val[lo:hi]
			yr := y[r*ldy+j0 : r*ldy+j0+wt]
			if re != nil && ep.Bias != nil {
				re[0] = ep.Bias[r]
			}
			j := rowBlocks(yr, xs, ldx, cols, val, (*[3]float32)(re), slack)
			for ; j < wt; j++ {
				var s float32
				for p, c := range cols {
					s += val[p] * xs[int(c)*ldx+j]
				}
				if re != nil {
					s = re.apply(s)
				}
				yr[j] = s
			}
		}
	}
}

// MulVec is Mul for one column with an epilogue, the product of a fully
// connected layer at batch 1: y[r] = min(max(s + y[r], lo), hi) for
// rows r0 ≤ r < r1, with s = Σ_c A[r, c]·x[c], and without "+ y[r]"
// (y's contents ignored) unless acc. Pass ±Inf for no clamp; a NaN sum
// stays NaN. x must hold a.Cols elements and y r1.
//
// Each row is a dot product of its nonzeros with x read at their columns,
// eight at a time (with 16-bit column indices after PrepareMulVec, else
// Mul's gathers): at batch 1 nothing is reused across columns, and the
// product streams the matrix once, 6 bytes per nonzero.
func (a *CSR) MulVec(r0, r1 int, y, x []float32, acc bool, lo, hi float32) {
	if r0 < 0 || r1 > a.Rows || r0 > r1 {
		panic("sparse: bad row range")
	}
	if len(y) < r1 {
		panic("sparse: y too short")
	}
	if len(x) < a.Cols {
		panic("sparse: x too short")
	}
	if r0 == r1 {
		return
	}
	if a.mulVec(r0, r1, y, x, acc, lo, hi) {
		return
	}
	a.mulVecRows(r0, r1, y, x, acc, lo, hi)
}

// mulVecRows is MulVec a row at a time: dotGo, one nonzero at a time,
// with 16-bit indices (the pure-Go twin of the kernel); dot, with gathers
// where there are, with 32-bit ones.
func (a *CSR) mulVecRows(r0, r1 int, y, x []float32, acc bool, lo, hi float32) {
	ep := rowEpilogue{0, lo, hi}
	for r := r0; r < r1; r++ {
		p0, p1 := a.RowPtr[r], a.RowPtr[r+1]
		var s float32
		if a.col16 != nil {
			s = dotGo(x, a.col16[p0:p1], a.Val[p0:p1])
		} else {
			s = dot(x, a.Col[p0:p1], a.Val[p0:p1])
		}
		if acc {
			ep[0] = y[r]
		}
		y[r] = ep.apply(s)
	}
}

// MulVecParallel is MulVec over all rows, on the caller and up to
// threads-1 of the GEMM's workers (see parallel).
func (a *CSR) MulVecParallel(threads int, y, x []float32, acc bool, lo, hi float32) {
	a.parallel(threads, 1, func(r0, r1 int) { a.MulVec(r0, r1, y, x, acc, lo, hi) })
}

// mulTileFloats bounds the part of X one column tile of Mul reads:
// 2¹⁶ floats, 256 KiB, a quarter of a Zen 4 core's L2 cache.
const mulTileFloats = 1 << 16

// MulParallel is Mul over all rows, on the caller and up to threads-1 of
// the GEMM's workers (see parallel).
func (a *CSR) MulParallel(threads int, y []float32, ldy int, x []float32, ldx, w int) {
	a.parallel(threads, w, func(r0, r1 int) { a.Mul(r0, r1, y, ldy, x, ldx, w) })
}

// MulAtParallel is MulAt over all rows, as MulParallel.
func (a *CSR) MulAtParallel(threads int, y []float32, ldy int, x []float32, off *Offsets, w int, ep *Epilogue) {
	a.parallel(threads, w, func(r0, r1 int) { a.MulAt(r0, r1, y, ldy, x, off, w, ep) })
}

// parallel runs rows(r0, r1) over all of a's rows, cut into chunks of
// about equal nonzero counts, four per thread, which the caller and up to
// threads-1 of the GEMM's workers take in turn from a shared counter; the
// caller waits only for chunks a worker has begun. So on a busy machine,
// where a worker may not get a core for a whole scheduler time slice, the
// product takes no longer than on the caller alone. Small products
// (w columns) run on the caller alone.
func (a *CSR) parallel(threads, w int, rows func(r0, r1 int)) {
	// Below about 2¹⁵ multiply-adds a helper's start-up costs more than
	// its share of the work.
	if threads <= 1 || a.NNZ()*w < 1<<15 || a.Rows < 2 {
		rows(0, a.Rows)
		return
	}
	c := &mulChunks{bounds: a.splitCached(4 * threads)}
	n := int32(len(c.bounds) - 1)
	run := func() {
		for {
			i := c.next.Add(1) - 1
			if i >= n {
				return
			}
			rows(c.bounds[i], c.bounds[i+1])
			c.done.Add(1)
		}
	}
	for range threads - 1 {
		gemm.Go(threads-1, run)
	}
	run()
	for c.done.Load() < n {
		runtime.Gosched()
	}
}

// splitCached returns Split(parts), computed once per parts in a row:
// a program calls a layer's product with the same thread count each run.
func (a *CSR) splitCached(parts int) []int {
	if b := a.split.Load(); b != nil && len(*b) > 0 && (*b)[0] == parts {
		return (*b)[1:]
	}
	b := append([]int{parts}, a.Split(parts)...)
	a.split.Store(&b)
	return b[1:]
}

// mulChunks is MulParallel's shared state: the chunks' row bounds, the
// next chunk to take and the number finished.
type mulChunks struct {
	bounds     []int
	next, done atomic.Int32
}

// dot returns Σ_p val[p]·x[col[p]], vector blocks first.
func dot(x []float32, col []int32, val []float32) float32 {
	s, n := dotBlocks(x, col, val)
	for p := n; p < len(col); p++ {
		s += val[p] * x[col[p]]
	}
	return s
}

// dotGo is dot one nonzero at a time, with four partial sums, for 32- or
// 16-bit column indices.
func dotGo[I int32 | uint16](x []float32, col []I, val []float32) float32 {
	var s0, s1, s2, s3 float32
	p := 0
	for ; p+4 <= len(col); p += 4 {
		c, v := col[p:p+4:p+4], val[p:p+4:p+4]
		s0 += v[0] * x[c[0]]
		s1 += v[1] * x[c[1]]
		s2 += v[2] * x[c[2]]
		s3 += v[3] * x[c[3]]
	}
	for ; p < len(col); p++ {
		s0 += val[p] * x[col[p]]
	}
	return (s0 + s1) + (s2 + s3)
}

// rowGo sets y[j] = Σ_p val[p]·x[col[p]*ldx+j] for j < len(y): one row of
// Mul, one element at a time.
func rowGo(y, x []float32, ldx int, col []int32, val []float32) {
	for j := range y {
		var s float32
		for p, c := range col {
			s += val[p] * x[int(c)*ldx+j]
		}
		y[j] = s
	}
}

// rowBlocksGo computes rowGo in blocks of 32 columns, each summed in an
// array over the row's nonzeros, which reads x a contiguous block at a
// time, and applies ep (when not nil) to them; it returns the columns
// done (all but fewer than 32).
func rowBlocksGo(y, x []float32, ldx int, col []int32, val []float32, ep *[3]float32) int {
	j := 0
	for ; j+32 <= len(y); j += 32 {
		var acc [32]float32
		for p, c := range col {
			v := val[p]
			xr := (*[32]float32)(x[int(c)*ldx+j:])
			for t := range acc {
				acc[t] += v * xr[t]
			}
		}
		if ep != nil {
			for t := range acc {
				acc[t] = (*rowEpilogue)(ep).apply(acc[t])
			}
		}
		copy(y[j:j+32], acc[:])
	}
	return j
}
