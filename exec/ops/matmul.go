package ops

import (
	"github.com/graft-ml/graft/exec/internal/gemm"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// MatMul family: MatMul and Gemm. float32 (and float16/bfloat16, stored as
// float32) products go to the SGEMM in exec/internal/gemm; float64 and
// integer MatMuls, rare in exported models, take a plain loop.

func init() {
	register(
		&Op{Name: "MatMul", Since: 1, Fuses: true, Infer: matmulInfer, Run: matmulRun},
		// Gemm 6 broadcast C only with broadcast=1 (else C is M×N); 7
		// made C broadcast unidirectionally, a superset, and 11 made it
		// optional.
		&Op{Name: "Gemm", Since: 6, Fuses: true, Infer: gemmInfer, Run: gemmRun},
	)
}

// ---------------------------------------------------------------------------
// MatMul

// matmulInfer applies numpy's matmul rules: a 1-D A gains a leading 1 and
// a 1-D B a trailing 1, both removed from the result; the leading (batch)
// dims broadcast.
func matmulInfer(c *InferCtx) ([]onnx.Type, error) {
	a, _ := c.Input(0)
	b, _ := c.Input(1)
	dt := a.DType
	if dt == tensor.Undefined {
		dt = b.DType
	}
	if a.DType != tensor.Undefined && b.DType != tensor.Undefined && a.DType != b.DType {
		return nil, shapeError(c.Node, "A is %s but B is %s", a.DType, b.DType)
	}
	if !a.HasShape || !b.HasShape {
		return []onnx.Type{{DType: dt}}, nil
	}
	ad, bd := a.Dims, b.Dims
	if len(ad) == 0 || len(bd) == 0 {
		return nil, shapeError(c.Node, "MatMul of scalars %s and %s", a.ShapeString(), b.ShapeString())
	}
	if len(ad) == 1 {
		ad = []onnx.Dim{{Value: 1}, ad[0]}
	}
	if len(bd) == 1 {
		bd = []onnx.Dim{bd[0], {Value: 1}}
	}
	ka, kb := ad[len(ad)-1], bd[len(bd)-2]
	if ka.Known() && kb.Known() && ka.Value != kb.Value {
		return nil, shapeError(c.Node, "inner dims of %s and %s differ", a.ShapeString(), b.ShapeString())
	}
	batch, err := broadcastTypes(
		onnx.Type{HasShape: true, Dims: ad[:len(ad)-2]},
		onnx.Type{HasShape: true, Dims: bd[:len(bd)-2]})
	if err != nil {
		return nil, shapeError(c.Node, "batch dims: %v", err)
	}
	dims := batch.Dims
	if len(a.Dims) > 1 {
		dims = append(dims, ad[len(ad)-2])
	}
	if len(b.Dims) > 1 {
		dims = append(dims, bd[len(bd)-1])
	}
	return []onnx.Type{{DType: dt, HasShape: true, Dims: dims}}, nil
}

// matmulShape is a batched product's layout: out[i] = A[aOff[i]] · B[bOff[i]]
// for each of the broadcast batch entries, with A m×k and B k×n.
type matmulShape struct {
	m, n, k    int
	out        []int // output shape
	aOff, bOff []int // element offsets of each batch entry's matrices
	bShared    bool  // B has no batch entries of its own: one k×n matrix
}

func matmulPlan(n *onnx.Node, as, bs []int) (*matmulShape, error) {
	if len(as) == 0 || len(bs) == 0 {
		return nil, shapeError(n, "MatMul of scalars %v and %v", as, bs)
	}
	a2, b2 := as, bs
	if len(as) == 1 {
		a2 = []int{1, as[0]}
	}
	if len(bs) == 1 {
		b2 = []int{bs[0], 1}
	}
	p := &matmulShape{m: a2[len(a2)-2], k: a2[len(a2)-1], n: b2[len(b2)-1]}
	if b2[len(b2)-2] != p.k {
		return nil, shapeError(n, "inner dims of %v and %v differ", as, bs)
	}
	ab, bb := a2[:len(a2)-2], b2[:len(b2)-2]
	batch, err := broadcastShapes(ab, bb)
	if err != nil {
		return nil, shapeError(n, "batch dims: %v", err)
	}
	p.out = append([]int{}, batch...)
	if len(as) > 1 {
		p.out = append(p.out, p.m)
	}
	if len(bs) > 1 {
		p.out = append(p.out, p.n)
	}
	if _, err := tensor.NumElems(p.out); err != nil {
		return nil, onnx.NodeErrorf(n, "output shape: %w", err)
	}
	nb, _ := tensor.NumElems(batch)
	p.bShared = matmulProd(bb) == 1
	// Offsets by walking the batch index; a dim of size 1 in an operand
	// repeats its matrix (stride 0).
	aStr, bStr := matmulBatchStrides(ab, batch, p.m*p.k), matmulBatchStrides(bb, batch, p.k*p.n)
	p.aOff, p.bOff = make([]int, nb), make([]int, nb)
	idx := make([]int, len(batch))
	ao, bo := 0, 0
	for i := range nb {
		p.aOff[i], p.bOff[i] = ao, bo
		for d := len(batch) - 1; d >= 0; d-- {
			idx[d]++
			ao += aStr[d]
			bo += bStr[d]
			if idx[d] < batch[d] {
				break
			}
			ao -= aStr[d] * idx[d]
			bo -= bStr[d] * idx[d]
			idx[d] = 0
		}
	}
	return p, nil
}

// matmulBatchStrides returns the element stride of each dim of the
// broadcast batch shape in an operand with batch dims dims and matrices of
// size mat (0 where the operand's dim is 1 or missing).
func matmulBatchStrides(dims, batch []int, mat int) []int {
	s := make([]int, len(batch))
	off := len(batch) - len(dims)
	acc := mat
	for i := len(dims) - 1; i >= 0; i-- {
		if dims[i] != 1 {
			s[off+i] = acc
		}
		acc *= dims[i]
	}
	return s
}

func matmulProd(s []int) int {
	p := 1
	for _, d := range s {
		p *= d
	}
	return p
}

func matmulRun(c *RunCtx) ([]*tensor.Dense, error) {
	a, b := c.Input(0), c.Input(1)
	if a == nil || b == nil {
		return nil, onnx.NodeErrorf(c.Node, "MatMul needs inputs A and B")
	}
	if a.DType != b.DType {
		return nil, shapeError(c.Node, "A is %s but B is %s", a.DType, b.DType)
	}
	p, err := matmulPlan(c.Node, a.Shape, b.Shape)
	if err != nil {
		return nil, err
	}
	switch a.DType {
	case tensor.String, tensor.Undefined:
		return nil, unsupportedf(c.Node, "dtype %s", a.DType)
	}
	var y *tensor.Dense
	if a.DType == tensor.Float32 {
		// Every float32 path stores all of Y (the GEMMs with beta 0).
		y = tensor.NewUninit(a.DType, p.out...)
	} else {
		y = tensor.New(a.DType, p.out...) // the plain loops accumulate
	}
	switch {
	case y.Len() == 0:
	case a.DType == tensor.Float64:
		matmulNaiveBatched(y.F64, a.F64, b.F64, p)
	case y.I64 != nil:
		matmulNaiveBatched(y.I64, a.I64, b.I64, p)
	case c.Clamp != nil:
		// A fused bias and activation, applied to the product while it
		// is in cache: cheaper than the Add and Relu kernels' passes and
		// tensors. The product itself is computed without them (the
		// sparse kernel would clamp before the bias).
		if matmulFusedBlocks(c, y.F32, a.F32, b, p) {
			break
		}
		plain := *c
		plain.Clamp = nil
		matmulF32(&plain, y.F32, a.F32, b, p)
		c.RanSparse = plain.RanSparse
		parallelFor(c.Threads, len(y.F32)/p.n, max(1, elemMinChunk/p.n), func(lo, hi int) {
			c.Clamp.ApplyRows(y.F32[lo*p.n:hi*p.n], p.n)
		})
	default:
		matmulF32(c, y.F32, a.F32, b, p)
	}
	return []*tensor.Dense{y}, nil
}

// matmulBlockFloats bounds a row block of matmulFusedBlocks' output, so
// that the block is still in the core's L2 cache when its bias and
// activation are applied.
const matmulBlockFloats = 1 << 15

// matmulFusedBlocks computes a product by a constant B shared by the
// whole batch (a linear layer's weight) with the fused bias and
// activation (c.Clamp), as blocks of rows each thread multiplies and then
// finishes while the block is in its cache, and reports whether it did.
// Done as one parallel GEMM and then one pass over the output, the pass
// read the output back from memory at batch 8 (the transformer's 512×1024
// products are 2 MB).
func matmulFusedBlocks(c *RunCtx, y, a []float32, bt *tensor.Dense, p *matmulShape) bool {
	if !p.bShared || c.sparseFor(bt) != nil {
		return false
	}
	m, n, k := len(p.aOff)*p.m, p.n, p.k
	pb, ok := matmulPackedB(c, bt.F32, k, n)
	if !ok || m < 2*matmulBlockAlign {
		return false
	}
	// Whole micro-kernel heights, at least one block per thread.
	per := max(matmulBlockFloats/n, matmulBlockAlign) / matmulBlockAlign * matmulBlockAlign
	blocks := max((m+per-1)/per, min(c.Threads, m/matmulBlockAlign))
	per = (m + blocks - 1) / blocks
	per = (per + matmulBlockAlign - 1) / matmulBlockAlign * matmulBlockAlign
	blocks = (m + per - 1) / per
	convUnits(c.Threads, blocks, func(u int) {
		r0, r1 := u*per, min(m, (u+1)*per)
		yb := y[r0*n : r1*n]
		gemm.SgemmPackedB(1, false, r1-r0, 1, a[r0*k:r1*k], k, pb, 0, yb, n)
		c.Clamp.ApplyRows(yb, n)
	})
	return true
}

// matmulBlockAlign is the row multiple of matmulFusedBlocks' blocks (the
// micro-kernel's height).
const matmulBlockAlign = 8

// matmulPackedB returns the k×n B shared by a batch (input 1) packed
// once for all runs, when it is a constant: see convPacked.
func matmulPackedB(c *RunCtx, b []float32, k, n int) (*gemm.PackedB, bool) {
	return convPacked(c, 1, convPackMatMul, 0, func() *gemm.PackedB { return gemm.PackB(false, k, n, b, n) })
}

// matmulF32 runs a batched float32 product as SGEMMs, or as a sparse
// product when B is a pruned constant (sparse.go).
func matmulF32(c *RunCtx, y, a []float32, bt *tensor.Dense, p *matmulShape) {
	b := bt.F32
	threads := c.Threads
	m, n, k := p.m, p.n, p.k
	nb := len(p.aOff)
	if sw := c.sparseFor(bt); sw != nil && p.bShared {
		sparseRows(c, sw, y, a, false, nb*m, k, n, 1, 0)
		return
	}
	if p.bShared {
		// One B for every batch entry, and then A's batch dims are the
		// output's, so its matrices lie back to back: a [B,S,K]×[K,N]
		// product is one (B·S)×K×N GEMM. A constant B (a weight) is
		// packed once for all runs.
		pb, ok := matmulPackedB(c, b, k, n)
		if ok {
			gemm.SgemmPackedB(threads, false, nb*m, 1, a, k, pb, 0, y, n)
		} else {
			gemm.SgemmParallel(threads, false, false, nb*m, n, k, 1, a, k, b, n, 0, y, n)
		}
		return
	}
	one := func(i, threads int) {
		gemm.SgemmParallel(threads, false, false, m, n, k, 1, a[p.aOff[i]:p.aOff[i]+m*k], k,
			b[p.bOff[i]:p.bOff[i]+k*n], n, 0, y[i*m*n:(i+1)*m*n], n)
	}
	work := m * n * k
	if matmulPerBatch(nb, work, threads) {
		parallelFor(threads, nb, max(1, (1<<17)/max(1, work)), func(lo, hi int) {
			for i := lo; i < hi; i++ {
				one(i, 1)
			}
		})
		return
	}
	for i := range nb {
		one(i, threads)
	}
}

// matmulPerBatch reports whether nb products of work multiply-adds each
// should run one per thread (serial GEMMs) rather than one after another
// with a parallel GEMM: yes when each product is too small for the GEMM to
// split, or when the batch entries spread evenly enough over the threads.
func matmulPerBatch(nb, work, threads int) bool {
	if threads <= 1 || nb <= 1 {
		return false
	}
	if work < 1<<19 {
		return true
	}
	rounds := (nb + threads - 1) / threads
	return 4*nb >= 3*threads*rounds // at least 75% of the threads busy
}

// matmulNaiveBatched is the plain loop for float64 and integer products.
func matmulNaiveBatched[T float64 | int64](y, a, b []T, p *matmulShape) {
	m, n, k := p.m, p.n, p.k
	for i := range p.aOff {
		am := a[p.aOff[i] : p.aOff[i]+m*k]
		bm := b[p.bOff[i] : p.bOff[i]+k*n]
		ym := y[i*m*n : (i+1)*m*n]
		for r := range m {
			yr := ym[r*n : (r+1)*n]
			for q, av := range am[r*k : (r+1)*k] {
				for j, bv := range bm[q*n : (q+1)*n] {
					yr[j] += av * bv
				}
			}
		}
	}
}

// ---------------------------------------------------------------------------
// Gemm

// gemmDims returns M, K from A's dims and K, N from B's, honouring transA
// and transB.
func gemmDims[D any](n *onnx.Node, a, b []D) (m, ka, kb, nn D) {
	if attrInt(n, "transA", 0) != 0 {
		m, ka = a[1], a[0]
	} else {
		m, ka = a[0], a[1]
	}
	if attrInt(n, "transB", 0) != 0 {
		kb, nn = b[1], b[0]
	} else {
		kb, nn = b[0], b[1]
	}
	return
}

func gemmInfer(c *InferCtx) ([]onnx.Type, error) {
	a, _ := c.Input(0)
	b, _ := c.Input(1)
	dt := a.DType
	if dt == tensor.Undefined {
		dt = b.DType
	}
	if (a.HasShape && len(a.Dims) != 2) || (b.HasShape && len(b.Dims) != 2) {
		return nil, shapeError(c.Node, "A %s and B %s must be matrices", a.ShapeString(), b.ShapeString())
	}
	ad, bd := a.Dims, b.Dims
	if !a.HasShape {
		ad = []onnx.Dim{onnx.UnknownDim, onnx.UnknownDim}
	}
	if !b.HasShape {
		bd = []onnx.Dim{onnx.UnknownDim, onnx.UnknownDim}
	}
	m, ka, kb, n := gemmDims(c.Node, ad, bd)
	if ka.Known() && kb.Known() && ka.Value != kb.Value {
		return nil, shapeError(c.Node, "inner dims of A %s and B %s differ", a.ShapeString(), b.ShapeString())
	}
	return []onnx.Type{{DType: dt, HasShape: true, Dims: []onnx.Dim{m, n}}}, nil
}

func gemmRun(c *RunCtx) ([]*tensor.Dense, error) {
	node := c.Node
	a, b, cc := c.Input(0), c.Input(1), c.Input(2)
	if a == nil || b == nil {
		return nil, onnx.NodeErrorf(node, "Gemm needs inputs A and B")
	}
	if len(a.Shape) != 2 || len(b.Shape) != 2 {
		return nil, shapeError(node, "A %v and B %v must be matrices", a.Shape, b.Shape)
	}
	if a.DType != b.DType || (cc != nil && cc.DType != a.DType) {
		return nil, shapeError(node, "inputs of mixed dtypes")
	}
	m, k, kb, n := gemmDims(node, a.Shape, b.Shape)
	if k != kb {
		return nil, shapeError(node, "inner dims of A %v and B %v differ", a.Shape, b.Shape)
	}
	if cc != nil {
		// C broadcasts unidirectionally to [M, N].
		if len(cc.Shape) > 2 {
			return nil, shapeError(node, "C %v does not broadcast to [%d %d]", cc.Shape, m, n)
		}
		if out, err := broadcastShapes(cc.Shape, []int{m, n}); err != nil || out[0] != m || out[1] != n {
			return nil, shapeError(node, "C %v does not broadcast to [%d %d]", cc.Shape, m, n)
		}
	}
	transA, transB := attrInt(node, "transA", 0) != 0, attrInt(node, "transB", 0) != 0
	alpha, beta := attrFloat(node, "alpha", 1), attrFloat(node, "beta", 1)
	var y *tensor.Dense
	if a.DType == tensor.Float32 && (cc == nil || beta == 0) {
		y = tensor.NewUninit(a.DType, m, n) // the GEMM stores all of Y (beta 0)
	} else {
		y = tensor.New(a.DType, m, n)
	}
	lda, ldb := k, n
	if transA {
		lda = m
	}
	if transB {
		ldb = k
	}
	switch a.DType {
	case tensor.Float32, tensor.Float16, tensor.BFloat16:
		if cc == nil || beta == 0 {
			beta = 0
		} else {
			gemmFillC(y.F32, cc.F32, cc.Shape, m, n)
		}
		if m == 0 || n == 0 {
			break
		}
		if sw := c.sparseFor(b); sw != nil {
			sparseRows(c, sw, y.F32, a.F32, transA, m, k, n, alpha, beta)
			c.applyClamp(y.F32)
			break
		}
		// B is usually a constant weight: pack it once for all runs.
		layout := 0
		if transB {
			layout = 1
		}
		pb, ok := convPacked(c, 1, convPackGemm, layout, func() *gemm.PackedB { return gemm.PackB(transB, k, n, b.F32, ldb) })
		if ok {
			gemm.SgemmPackedB(c.Threads, transA, m, alpha, a.F32, lda, pb, beta, y.F32, n)
		} else {
			gemm.SgemmParallel(c.Threads, transA, transB, m, n, k, alpha, a.F32, lda, b.F32, ldb, beta, y.F32, n)
		}
		c.applyClamp(y.F32)
	case tensor.Float64:
		if cc != nil {
			gemmFillC(y.F64, cc.F64, cc.Shape, m, n)
		}
		gemmNaive64(y.F64, a.F64, b.F64, transA, transB, m, n, k, lda, ldb, float64(alpha), float64(beta))
	default:
		return nil, unsupportedf(node, "dtype %s", a.DType)
	}
	return []*tensor.Dense{y}, nil
}

// gemmFillC writes C, broadcast to m×n, into y.
func gemmFillC[T float32 | float64](y, c []T, shape []int, m, n int) {
	rows, cols := 1, 1
	if len(shape) == 2 {
		rows, cols = shape[0], shape[1]
	} else if len(shape) == 1 {
		cols = shape[0]
	}
	for i := range m {
		row := y[i*n : (i+1)*n]
		src := c[(i%rows)*cols : (i%rows+1)*cols]
		if cols == n {
			copy(row, src)
			continue
		}
		for j := range row {
			row[j] = src[0]
		}
	}
}

// gemmNaive64 computes y = alpha·op(A)·op(B) + beta·y in float64.
func gemmNaive64(y, a, b []float64, transA, transB bool, m, n, k, lda, ldb int, alpha, beta float64) {
	for i := range m {
		for j := range n {
			var s float64
			for p := range k {
				// Index by the stored layout only: reading a[i*lda+p]
				// for a transposed A ran past its end.
				var av, bv float64
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += av * bv
			}
			y[i*n+j] = alpha*s + beta*y[i*n+j]
		}
	}
}
