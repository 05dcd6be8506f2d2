package ops

import (
	"runtime"
	"sync"
	"weak"

	"github.com/graft-ml/graft/exec/internal/gemm"
	"github.com/graft-ml/graft/exec/internal/qgemm"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// The integer products of MatMulInteger, QLinearMatMul, ConvInteger and
// QLinearConv run on qgemm: each operand, less its zero point, becomes
// int16 (it lies in [-255, 383] for int8/uint8 values and zero points), and
// qgemm sums the products exactly in int32. A constant weight (with a
// constant zero point) is packed once per model (quantPacked); the
// activation side is packed on every run, a convolution's directly by its
// im2col (quant_conv.go). QLinear* outputs are requantized as each block of
// int32 sums comes out of the product, while it is in cache.

// quantParallelMACs is the number of multiply-adds below which a product
// runs on the calling goroutine: about 10 µs of qgemm's AVX2 kernel, more
// than waking a helper costs.
const quantParallelMACs = 1 << 20

// quantProductType checks that t, an operand of an integer product (or its
// zero point), is int8 or uint8, whose values less a zero point fit the
// int16s qgemm multiplies.
func quantProductType(c *RunCtx, t *tensor.Dense, what string) error {
	if t != nil && t.DType != tensor.Uint8 && t.DType != tensor.Int8 {
		return unsupportedf(c.Node, "%s of dtype %s (integer products take int8 and uint8)", what, t.DType)
	}
	return nil
}

// quantPackKey identifies a packed weight in quantPackCache: the constant
// weight and zero point it was packed from, which op family packed it
// (kind) and the attribute that shaped the packing (a convolution's group).
type quantPackKey struct {
	w, zp  weak.Pointer[tensor.Dense]
	kind   int
	layout int
}

// Kinds of quantPackKey.
const (
	quantPackConv = iota
	quantPackMatMul
)

// quantPackCache holds weights packed for qgemm, so that constant weights
// are packed once per model rather than once per run; an entry goes when
// its weight or zero point is garbage collected.
var quantPackCache sync.Map

// quantConstInput reports whether input i of the node is absent or a
// constant initializer that the run did not replace (see convPacked).
func quantConstInput(c *RunCtx, i int) bool {
	t := c.Input(i)
	if t == nil {
		return true
	}
	v := c.Node.Input(i)
	if v == nil || v.Const == nil {
		return false
	}
	d, err := v.Const.Dense()
	return err == nil && d == t
}

// quantPacked returns pack(), computed once and cached when the weight
// (input wi) and its zero point (input zi, which may be absent) are
// constants, and computed afresh otherwise.
func quantPacked[T any](c *RunCtx, wi, zi, kind, layout int, pack func() T) T {
	if !quantConstInput(c, wi) || !quantConstInput(c, zi) {
		return pack()
	}
	w, zp := c.Input(wi), c.Input(zi)
	key := quantPackKey{w: weak.Make(w), kind: kind, layout: layout}
	if zp != nil {
		key.zp = weak.Make(zp)
	}
	if p, ok := quantPackCache.Load(key); ok {
		return p.(T)
	}
	p, loaded := quantPackCache.LoadOrStore(key, pack())
	if !loaded {
		drop := func(k quantPackKey) { quantPackCache.Delete(k) }
		runtime.AddCleanup(w, drop, key)
		if zp != nil {
			runtime.AddCleanup(zp, drop, key)
		}
	}
	return p.(T)
}

// quantScratch is one goroutine's working memory for an integer product:
// the packed activation operand, the int32 sums, an unpacked int16 copy of
// an operand and a convolution's tap and window offsets.
type quantScratch struct {
	pb   qgemm.PackedB
	acc  []int32
	s16  []int16
	pos  []int
	taps []int
}

var quantScratchPool = sync.Pool{New: func() any { return new(quantScratch) }}

// int32s returns s.acc with length n.
func (s *quantScratch) int32s(n int) []int32 {
	if cap(s.acc) < n {
		s.acc = make([]int32, n)
	}
	return s.acc[:n]
}

// int16s returns s.s16 with length n.
func (s *quantScratch) int16s(n int) []int16 {
	if cap(s.s16) < n {
		s.s16 = make([]int16, n)
	}
	return s.s16[:n]
}

// quantZP returns zero point zp's entry i (0 when zp is nil; entry 0 when
// it has one value).
func quantZP(zp *tensor.Dense, i int) int64 {
	switch {
	case zp == nil:
		return 0
	case len(zp.I64) == 1:
		return zp.I64[0]
	}
	return zp.I64[i]
}

// quantBounds returns the qgemm bounds of a quantized output: its dtype's
// range and zero point.
func quantBounds(lo, hi, zp float32) qgemm.Bounds {
	return qgemm.Bounds{Lo: int32(lo), Hi: int32(hi), ZP: int32(zp)}
}

// quantMatMulPlan checks the operands of an integer matrix product: A
// and B, int8 or uint8, batched as MatMul, with A's zero point za per row
// of A (or per tensor) and B's zb per column of B (or per tensor).
func quantMatMulPlan(c *RunCtx, a, b, za, zb *tensor.Dense) (*matmulShape, error) {
	p, err := matmulPlan(c.Node, a.Shape, b.Shape)
	if err != nil {
		return nil, err
	}
	for _, t := range []struct {
		t    *tensor.Dense
		what string
	}{{a, "A"}, {b, "B"}, {za, "A's zero point"}, {zb, "B's zero point"}} {
		if err := quantProductType(c, t.t, t.what); err != nil {
			return nil, err
		}
	}
	if za != nil && za.Len() != 1 && (a.Rank() < 2 || za.Len() != p.m) {
		return nil, shapeError(c.Node, "A's zero point has %d values for %d rows", za.Len(), p.m)
	}
	if zb != nil && zb.Len() != 1 && zb.Len() != p.n {
		return nil, shapeError(c.Node, "B's zero point has %d values for %d columns", zb.Len(), p.n)
	}
	if err := tensor.CheckAlloc(tensor.Int32, p.out); err != nil {
		return nil, onnx.NodeErrorf(c.Node, "output: %w", err)
	}
	return p, nil
}

// quantMatMul computes the int32 products of A and B (checked by
// quantMatMulPlan, which gave p) less their zero points, handing each
// batch entry's m×n sums (row stride n) to emit. bi and zbi are the node's
// input indices of B and its zero point.
func quantMatMul(c *RunCtx, p *matmulShape, a, b, za, zb *tensor.Dense, bi, zbi int, emit func(e int, acc []int32)) {
	m, n, k := p.m, p.n, p.k
	packB := func(pb *qgemm.PackedB, s *quantScratch, off int) {
		src := s.int16s(k * n)
		for i, v := range b.I64[off : off+k*n] {
			src[i] = int16(v - quantZP(zb, i%n))
		}
		qgemm.PackB(pb, k, n, src, n)
	}
	s := quantScratchPool.Get().(*quantScratch)
	defer quantScratchPool.Put(s)
	var shared *qgemm.PackedB
	if p.bShared {
		shared = quantPacked(c, bi, zbi, quantPackMatMul, 0, func() *qgemm.PackedB {
			pb := new(qgemm.PackedB)
			packB(pb, s, 0)
			return pb
		})
	}
	acc := s.int32s(m * n)
	a16 := make([]int16, m*k)
	for e := range p.aOff {
		for i, v := range a.I64[p.aOff[e] : p.aOff[e]+m*k] {
			a16[i] = int16(v - quantZP(za, i/k))
		}
		pa := qgemm.PackA(m, k, a16, k)
		pb := shared
		if pb == nil {
			pb = &s.pb
			packB(pb, s, p.bOff[e])
		}
		quantGemmParallel(c.Threads, pa, pb, acc, n)
		emit(e, acc)
	}
}

// quantGemmParallel is qgemm.Gemm split by column panels across up to
// threads goroutines when the product is large enough to gain from it.
func quantGemmParallel(threads int, pa *qgemm.PackedA, pb *qgemm.PackedB, c []int32, ldc int) {
	panels := (pb.N + qgemm.NR - 1) / qgemm.NR
	t := min(threads, panels)
	if t <= 1 || pa.M*pb.N*pa.K < quantParallelMACs {
		qgemm.Gemm(pa, pb, c, ldc)
		return
	}
	gemm.Parallel(t, func(i int) {
		qgemm.GemmPanels(pa, pb, i*panels/t, (i+1)*panels/t, c, ldc)
	})
}

// quantStoreInt32 stores int32 sums in an Int32 tensor's int64 storage.
func quantStoreInt32(dst []int64, acc []int32) {
	acc = acc[:len(dst)]
	for i, v := range acc {
		dst[i] = int64(v)
	}
}
