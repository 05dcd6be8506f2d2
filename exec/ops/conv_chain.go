package ops

import (
	"sync"

	"github.com/graft-ml/graft/exec/internal/gemm"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// A pointwise convolution whose output only a depthwise convolution
// reads (the 1×1 expansion and k×k depthwise layer of MobileNet's and
// EfficientNet's inverted residual blocks) can run with it band of rows
// by band of rows (RunCtx.Depthwise): each goroutine computes the
// expanded rows a band of depthwise outputs reads into a scratch that
// stays in its cache, runs the depthwise convolution over them, and
// keeps the rows the next band shares. The expanded tensor, the largest
// of these networks (MobileNetV2's first expansion: 96 channels of
// 112×112, 4.8 MB an image), is then never written to memory and read
// back. The values are those of the two convolutions run one after the
// other: the same products in the same order.

// DepthwiseStage is a depthwise Conv fused after a pointwise one (see
// RunCtx.Depthwise).
type DepthwiseStage struct {
	Node *onnx.Node    // the depthwise Conv
	W    *tensor.Dense // its weight, [C, 1, kh, kw]
	Bias *tensor.Dense // its bias, or nil
	// Clamp, if not nil, is the activation fused into the depthwise Conv.
	Clamp *Clamp
	// ConstIn marks the depthwise Conv's inputs that are the program's
	// constants, as RunCtx.ConstIn does for the node's own.
	ConstIn uint64
	// Banded is set by the kernel when it ran the pair band by band;
	// otherwise it ran them one after the other.
	Banded bool
}

// convChainMinBytes is the smallest expanded image (channels × rows ×
// columns × 4 bytes), and convChainMinBatchBytes the smallest expanded
// batch, the pair runs in bands. Smaller ones stay in cache between the
// two layers anyway and keep the paths tuned for small maps
// (convPointwiseBatched); and at batch 1, where a band must also split
// an image between the threads, the rows the bands share are computed
// twice: EfficientNet-B0's 5×5 pair over 56×56 took 0.45 ms in bands
// against 0.37 ms as two layers (2 threads, an AVX-512 Xeon), where at
// batch 8 MobileNetV2's first pair took 2.8 against 4.9 ms. Variables for
// the tests.
var (
	convChainMinBytes      = 1 << 20
	convChainMinBatchBytes = 8 << 20
)

// convChainScratchBytes bounds a goroutine's scratch of expanded rows.
// Bands of few rows cost more in per-band work than they save: with
// 256 KB (two output rows of MobileNetV2's first pair) the pair took
// 4.7 ms at batch 8 against 3.3 ms with 1 MB (11 rows) and 3.6-3.8 ms
// with larger ones (BenchmarkConvChain's shapes, 2 threads, an AVX-512
// Xeon with 2 MB of L2 a core). A variable for the tests.
var convChainScratchBytes = 1 << 20

// convChainGeom is a fused pair's geometry: the input is batch images of
// cin channels, the pointwise layer makes m channels of the same size,
// and dw is the depthwise layer over one image of them.
type convChainGeom struct {
	dw            convShape
	batch, cin, m int
}

// convChainRun runs a Conv with a depthwise Conv fused after it: in bands
// where convChainPlan takes the pair, else one after the other.
func convChainRun(c *RunCtx) ([]*tensor.Dense, error) {
	st := c.Depthwise
	pw := *c
	pw.Depthwise = nil
	if geom, ok := convChainPlan(c); ok {
		st.Banded = true
		return convChain(c, geom)
	}
	st.Banded = false
	mid, err := convRun(&pw)
	if err != nil {
		return nil, err
	}
	dw := RunCtx{Node: st.Node, Opset: c.Opset, In: []*tensor.Dense{mid[0], st.W, st.Bias}, Threads: c.Threads, Clamp: st.Clamp, Direct: c.Direct, ConstIn: st.ConstIn}
	out, err := convRun(&dw)
	tensor.Recycle(mid[0])
	return out, err
}

// DepthwiseChainBands reports whether a pointwise Conv of weight w over
// an input of shape x (NCHW) expands to enough data that its pairing with
// the depthwise Conv after it runs in bands (see convChainPlan); the
// executor prefers the blocked layout for the pair otherwise.
func DepthwiseChainBands(x []int, w *tensor.Dense) bool {
	if len(x) != 4 || w == nil || w.Rank() != 4 {
		return false
	}
	img := int64(w.Shape[0]) * int64(x[2]) * int64(x[3]) * 4
	return img >= int64(convChainMinBytes) && img*int64(x[0]) >= int64(convChainMinBatchBytes)
}

// convChainPlan reports whether the pair runs in bands, and its
// geometry: float32 data, a pointwise first layer (1×1 window, strides
// and dilations 1, no padding, one group, dense weights), a depthwise
// second (a group per channel, dilations 1, padding smaller than the
// window), and an expanded image and batch of at least convChainMinBytes
// and convChainMinBatchBytes. Anything
// else runs unfused, which also reports any error in the operands.
func convChainPlan(c *RunCtx) (convChainGeom, bool) {
	st := c.Depthwise
	x, w := c.Input(0), c.Input(1)
	wd := st.W
	if c.Sparse != nil || c.Residual != nil || x == nil || w == nil || wd == nil ||
		x.DType != tensor.Float32 || w.DType != tensor.Float32 || wd.DType != tensor.Float32 ||
		x.Rank() != 4 || w.Rank() != 4 || wd.Rank() != 4 {
		return convChainGeom{}, false
	}
	if b := c.Input(2); b != nil && (b.DType != tensor.Float32 || b.Len() != w.Shape[0]) {
		return convChainGeom{}, false
	}
	if b := st.Bias; b != nil && (b.DType != tensor.Float32 || b.Len() != wd.Shape[0]) {
		return convChainGeom{}, false
	}
	batch, cin, h, wid := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	m := w.Shape[0]
	if w.Shape[1] != cin || w.Shape[2] != 1 || w.Shape[3] != 1 || attrInt(c.Node, "group", 1) != 1 ||
		wd.Shape[0] != m || wd.Shape[1] != 1 || attrInt(st.Node, "group", 1) != int64(m) {
		return convChainGeom{}, false
	}
	if img := int64(m) * int64(h) * int64(wid) * 4; batch < 1 || m < 1 || cin < 1 ||
		img < int64(convChainMinBytes) || img*int64(batch) < int64(convChainMinBatchBytes) {
		return convChainGeom{}, false
	}
	pwin, err := convReadWindow(c.Node, 2, []int{1, 1})
	if err != nil {
		return convChainGeom{}, false
	}
	for i, in := range []int{h, wid} {
		if out, pb := pwin.outDim(i, in, false); out != in || pb != 0 || pwin.strides[i] != 1 || pwin.dils[i] != 1 {
			return convChainGeom{}, false
		}
	}
	kh, kw := wd.Shape[2], wd.Shape[3]
	dwin, err := convReadWindow(st.Node, 2, []int{kh, kw})
	if err != nil {
		return convChainGeom{}, false
	}
	g := convShape{batch: 1, cin: m, cout: m, group: m}
	g.in[0], g.out[0], g.k[0], g.s[0], g.d[0] = 1, 1, 1, 1, 1
	for i, in := range []int{h, wid} {
		out, pb := dwin.outDim(i, in, false)
		k := []int{kh, kw}[i]
		if out < 1 || dwin.dils[i] != 1 || pb >= k || (out-1)*dwin.strides[i]+k-pb-in >= k {
			return convChainGeom{}, false
		}
		g.in[1+i], g.out[1+i], g.k[1+i], g.s[1+i], g.d[1+i], g.p[1+i] = in, out, k, dwin.strides[i], 1, pb
	}
	return convChainGeom{dw: g, batch: batch, cin: cin, m: m}, true
}

// convChainScratch is one goroutine's expanded rows.
var convChainScratch sync.Pool

// convChain runs the pair in bands (see the comment at the top).
func convChain(c *RunCtx, geom convChainGeom) ([]*tensor.Dense, error) {
	st := c.Depthwise
	x, w := c.In[0], c.In[1]
	g := geom.dw
	m, cin := geom.m, geom.cin
	h, wid, ho, wo := g.in[1], g.in[2], g.out[1], g.out[2]
	kh, sh := g.k[1], g.s[1]
	pwBias, err := convBias(c, m)
	if err != nil {
		return nil, err
	}
	var dwBias []float32
	if st.Bias != nil {
		dwBias = st.Bias.F32
	}
	pack := func() *gemm.PackedA { return gemm.PackA(false, m, cin, w.F32, cin) }
	pa, ok := convPacked(c, 1, convPackChain, 0, pack)
	if !ok {
		pa = pack()
	}
	dwc := RunCtx{Node: st.Node, In: []*tensor.Dense{nil, st.W, st.Bias}, ConstIn: st.ConstIn}
	var wb []float32
	if convDWBlockOK(&g) && convDWBlockEnabled {
		pack := func() []float32 { return convDWBlockWeights(st.W.F32, &g) }
		if wb, ok = convPacked(&dwc, 1, convPackDWBlock, 0, pack); !ok {
			wb = pack()
		}
	}
	ep := c.gemmEpilogue(pwBias)

	// Band: output rows a goroutine computes at once, as many as keep
	// the expanded rows they read within convChainScratchBytes. Chunk:
	// output rows of one image a goroutine takes, so that every thread
	// has about two.
	rowBytes := 4 * m * wid
	band := max(1, min(ho, (convChainScratchBytes/rowBytes-kh)/sh+1))
	chunks := min(ho, max(1, (2*c.Threads+geom.batch-1)/geom.batch))
	maxRows := (band-1)*sh + kh
	y := tensor.NewUninit(tensor.Float32, geom.batch, m, ho, wo)
	nIn, nOut := h*wid, ho*wo
	parallelFor(c.Threads, geom.batch*chunks, 1, func(u0, u1 int) {
		need := m * maxRows * wid
		sp, _ := convChainScratch.Get().(*[]float32)
		if sp == nil || cap(*sp) < need {
			s := make([]float32, need)
			sp = &s
		}
		defer convChainScratch.Put(sp)
		scr := (*sp)[:need]
		ldm := maxRows * wid // a channel's rows in scr
		for u := u0; u < u1; u++ {
			b, chunk := u/chunks, u%chunks
			r0, r1 := ho*chunk/chunks, ho*(chunk+1)/chunks
			xb := x.F32[b*cin*nIn : (b+1)*cin*nIn]
			yb := y.F32[b*m*nOut : (b+1)*m*nOut]
			have0, have1 := 0, 0 // expanded input rows in scr, from row 0
			for o0 := r0; o0 < r1; o0 += band {
				o1 := min(r1, o0+band)
				bg, i0 := convBandShape(&g, o0, o1)
				i1 := i0 + bg.in[1]
				// The rows this band shares with the last one move to the
				// top of scr; only the rest are computed.
				from := i0
				if i0 < have1 {
					if i0 > have0 {
						keep := (have1 - i0) * wid
						for ch := range m {
							copy(scr[ch*ldm:ch*ldm+keep], scr[ch*ldm+(i0-have0)*wid:])
						}
					}
					from = have1
				}
				if from < i1 {
					gemm.SgemmPackedA(1, false, (i1-from)*wid, 1, pa, xb[from*wid:], nIn, 0, scr[(from-i0)*wid:], ldm, ep)
				}
				have0, have1 = i0, i1
				convDepthwise(yb[o0*wo:], scr, nOut, ldm, st.W.F32, wb, dwBias, &bg, st.Clamp, 1)
			}
		}
	})
	return []*tensor.Dense{y}, nil
}
