package ops

import (
	"runtime"
	"slices"
	"sync"
	"weak"

	"github.com/graft-ml/graft/exec/internal/gemm"
	"github.com/graft-ml/graft/exec/internal/vec"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Conv family: Conv and ConvTranspose over 1, 2 or 3 spatial dims.
//
// Every kernel works on a 3-D spatial geometry (D, H, W); 1-D and 2-D
// tensors get leading axes of size 1, so one set of loops serves all ranks
// and the 2-D case pays nothing for it. Conv picks one of three paths:
//
//   - pointwise (1×1 window, stride 1, no padding): the input already is
//     the GEMM's right operand, W[Cout/g × Cin/g] · X[Cin/g × H·W];
//   - depthwise 2-D (one input channel per group): a direct kernel, since a
//     GEMM with depth kh·kw is all packing and no arithmetic;
//   - 2-D windows wide enough (convFlatWide): the GEMM packs the im2col
//     matrix straight from zero-padded input rows (convGemmFlat), and
//     3×3 stride-1 layers of 128 channels and more go through Winograd
//     (conv_winograd.go);
//   - everything else: im2col + GEMM per group,
//     W[Cout/g × Cin/g·kd·kh·kw] · cols[Cin/g·kd·kh·kw × Dout·Hout·Wout].
//
// The GEMM paths cut the output positions into column tiles so that the
// im2col tile stays in cache while the GEMM packs it, and so that batch ×
// groups × tiles gives every thread work even at batch 1: a few tiles
// per thread, handed out from a counter on the GEMM's persistent
// workers (gemm.ParallelFor).

func init() {
	register(
		// Ref and Grad are in conv_grad.go.
		&Op{Name: "Conv", Fuses: true, Since: 1, Infer: convInfer, Run: convRun, Ref: convRef64, Grad: convGrad},
		&Op{Name: "ConvTranspose", Since: 1, Infer: convTransposeInfer, Run: convTransposeRun, Ref: convTransposeRef64, Grad: convTransposeGrad},
	)
}

// ---------------------------------------------------------------------------
// Window attributes, shared with the pools (pool.go).

// convWindow holds the window attributes of a convolution or pooling node
// with nd spatial dims. kernel is nil where it is not known.
type convWindow struct {
	autoPad string
	kernel  []int
	strides []int
	dils    []int
	pads    []int // nd begin values, then nd end values
}

// convReadWindow reads auto_pad, kernel_shape, strides, dilations and pads.
// kernel, the window read from a weight tensor, may be nil; kernel_shape
// must agree with it when both are present.
func convReadWindow(n *onnx.Node, nd int, kernel []int) (convWindow, error) {
	w := convWindow{autoPad: attrString(n, "auto_pad", "NOTSET")}
	switch w.autoPad {
	case "NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER":
	default:
		return w, unsupportedf(n, "auto_pad %q", w.autoPad)
	}
	ks, err := attrIntsLen(n, "kernel_shape", nd, nil)
	if err != nil {
		return w, err
	}
	w.kernel = kernel
	if ks != nil {
		w.kernel = convInts(ks)
		for i, k := range kernel {
			if k != w.kernel[i] {
				return w, shapeError(n, "kernel_shape %v does not match weights with window %v", ks, kernel)
			}
		}
	}
	ones := make([]int64, nd)
	for i := range ones {
		ones[i] = 1
	}
	st, err := attrIntsLen(n, "strides", nd, ones)
	if err != nil {
		return w, err
	}
	dl, err := attrIntsLen(n, "dilations", nd, ones)
	if err != nil {
		return w, err
	}
	pd, err := attrIntsLen(n, "pads", 2*nd, make([]int64, 2*nd))
	if err != nil {
		return w, err
	}
	w.strides, w.dils, w.pads = convInts(st), convInts(dl), convInts(pd)
	for i := range nd {
		if w.strides[i] < 1 || w.dils[i] < 1 || (w.kernel != nil && w.kernel[i] < 1) {
			return w, shapeError(n, "kernel %v, strides %v and dilations %v must be positive", w.kernel, st, dl)
		}
		if w.pads[i] < 0 || w.pads[nd+i] < 0 {
			return w, shapeError(n, "negative pads %v", pd)
		}
	}
	return w, nil
}

// outDim returns the output size and begin padding of spatial axis i for
// an input of size in. ceil selects the pools' ceil_mode. The size may be
// below 1, which callers report.
func (w *convWindow) outDim(i, in int, ceil bool) (out, padBegin int) {
	nd := len(w.strides)
	s := w.strides[i]
	ext := (w.kernel[i]-1)*w.dils[i] + 1 // the window's extent in the input
	switch w.autoPad {
	case "VALID":
		return convFloorDiv(in-ext, s) + 1, 0
	case "SAME_UPPER", "SAME_LOWER":
		out = (in + s - 1) / s
		total := max(0, (out-1)*s+ext-in)
		if w.autoPad == "SAME_UPPER" {
			return out, total / 2 // odd padding goes at the end
		}
		return out, total - total/2
	}
	pb := w.pads[i]
	span := in + pb + w.pads[nd+i] - ext
	if !ceil || span < 0 {
		return convFloorDiv(span, s) + 1, pb
	}
	out = (span+s-1)/s + 1
	// As in PyTorch, the last window must start inside the input or the
	// begin padding; ceil_mode never adds a window of end padding alone.
	if (out-1)*s >= in+pb {
		out--
	}
	return out, pb
}

func convInts(v []int64) []int {
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out
}

func convFloorDiv(a, b int) int {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// convValid returns the range [lo, hi) of t in [0, n) for which the input
// index t*s + off lies in [0, size); s >= 1. lo == hi when there is none.
func convValid(n, s, off, size int) (lo, hi int) {
	if off < 0 {
		lo = (-off + s - 1) / s
	}
	if last := size - 1 - off; last >= 0 {
		hi = min(n, last/s+1)
	}
	return min(lo, hi), hi
}

// convSpatialTypes computes the output dims of a window op from the input
// type (rank nd+2) where they are known; unknown elsewhere.
func convSpatialTypes(n *onnx.Node, x onnx.Type, w *convWindow, ceil bool) ([]onnx.Dim, error) {
	nd := len(w.strides)
	dims := make([]onnx.Dim, nd)
	for i := range dims {
		dims[i] = onnx.UnknownDim
		if !x.HasShape || w.kernel == nil || !x.Dims[2+i].Known() {
			continue
		}
		out, _ := w.outDim(i, int(x.Dims[2+i].Value), ceil)
		if out < 1 {
			return nil, shapeError(n, "input %s is smaller than the window %v", x.ShapeString(), w.kernel)
		}
		dims[i] = onnx.Dim{Value: int64(out)}
	}
	return dims, nil
}

// convDimOr returns t's dim i, or an unknown dim when the shape is unknown.
func convDimOr(t onnx.Type, i int) onnx.Dim {
	if t.HasShape && i < len(t.Dims) {
		return t.Dims[i]
	}
	return onnx.UnknownDim
}

// ---------------------------------------------------------------------------
// Geometry

// convShape is the geometry of one convolution, with spatial arrays in
// (D, H, W) order; axes the tensor lacks have size 1, stride 1, no padding.
// For ConvTranspose, in and out are the node's input and output sizes and
// the roles swap inside the kernels (out = in*s - p + k*d).
type convShape struct {
	batch, cin, cout, group int
	in, out, k, s, d, p     [3]int
}

func (g *convShape) inSize() int  { return g.in[0] * g.in[1] * g.in[2] }
func (g *convShape) outSize() int { return g.out[0] * g.out[1] * g.out[2] }
func (g *convShape) kSize() int   { return g.k[0] * g.k[1] * g.k[2] }

// convFloatInput returns input i if it is present and a float32-stored
// tensor (float32, float16, bfloat16); float64 is unsupported.
func convFloatInput(c *RunCtx, i int, what string) (*tensor.Dense, error) {
	t := c.Input(i)
	if t == nil {
		return nil, onnx.NodeErrorf(c.Node, "input %s missing", what)
	}
	switch t.DType {
	case tensor.Float32, tensor.Float16, tensor.BFloat16:
		return t, nil
	}
	return nil, unsupportedf(c.Node, "%s dtype %s", what, t.DType)
}

// convBias returns the optional bias input (index 2) as a slice of n.
func convBias(c *RunCtx, n int) ([]float32, error) {
	if c.Input(2) == nil {
		return nil, nil
	}
	b, err := convFloatInput(c, 2, "B")
	if err != nil {
		return nil, err
	}
	if len(b.Shape) != 1 || b.Shape[0] != n {
		return nil, shapeError(c.Node, "bias shape %v, want [%d]", b.Shape, n)
	}
	return b.F32, nil
}

// convSetup validates a node's X and W (rank, dtype, group) and returns
// them with the number of spatial dims and the group count.
func convSetup(c *RunCtx) (x, w *tensor.Dense, nd, group int, err error) {
	if x, err = convFloatInput(c, 0, "X"); err != nil {
		return
	}
	if w, err = convFloatInput(c, 1, "W"); err != nil {
		return
	}
	nd = len(x.Shape) - 2
	if nd < 1 || len(w.Shape) != len(x.Shape) {
		err = shapeError(c.Node, "X %v and W %v: want equal ranks of at least 3", x.Shape, w.Shape)
		return
	}
	if nd > 3 {
		err = unsupportedf(c.Node, "%d spatial dims", nd)
		return
	}
	g := attrInt(c.Node, "group", 1)
	if g < 1 || g > 1<<31 {
		err = shapeError(c.Node, "group %d", g)
		return
	}
	return x, w, nd, int(g), nil
}

// ---------------------------------------------------------------------------
// Conv

// convOperands reads the X and W types shared by Conv and ConvTranspose:
// the element type, the number of spatial dims (-1 when no rank is known)
// and the kernel's spatial size (nil unless W's is static).
func convOperands(c *InferCtx) (x, w onnx.Type, dt tensor.DType, nd int, kernel []int, err error) {
	x, _ = c.Input(0)
	w, _ = c.Input(1)
	dt = x.DType
	if dt == tensor.Undefined {
		dt = w.DType
	}
	rank := x.Rank()
	if rank < 0 {
		rank = w.Rank()
	}
	if rank < 0 {
		return x, w, dt, -1, nil, nil
	}
	if rank < 3 || (w.HasShape && x.HasShape && len(w.Dims) != len(x.Dims)) {
		return x, w, dt, 0, nil, shapeError(c.Node, "X %s and W %s: want equal ranks of at least 3", x.ShapeString(), w.ShapeString())
	}
	nd = rank - 2
	if w.HasShape {
		kernel = make([]int, nd)
		for i := range kernel {
			if !w.Dims[2+i].Known() {
				return x, w, dt, nd, nil, nil
			}
			kernel[i] = int(w.Dims[2+i].Value)
		}
	}
	return x, w, dt, nd, kernel, nil
}

func convInfer(c *InferCtx) ([]onnx.Type, error) {
	x, w, dt, nd, kernel, err := convOperands(c)
	if err != nil {
		return nil, err
	}
	if nd < 0 {
		return []onnx.Type{{DType: dt}}, nil
	}
	win, err := convReadWindow(c.Node, nd, kernel)
	if err != nil {
		return nil, err
	}
	group := attrInt(c.Node, "group", 1)
	if ci, wc := convDimOr(x, 1), convDimOr(w, 1); ci.Known() && wc.Known() && ci.Value != wc.Value*group {
		return nil, shapeError(c.Node, "X %s has %d channels, W %s with group %d wants %d", x.ShapeString(), ci.Value, w.ShapeString(), group, wc.Value*group)
	}
	spatial, err := convSpatialTypes(c.Node, x, &win, false)
	if err != nil {
		return nil, err
	}
	dims := append([]onnx.Dim{convDimOr(x, 0), convDimOr(w, 0)}, spatial...)
	return []onnx.Type{{DType: dt, HasShape: true, Dims: dims}}, nil
}

func convRun(c *RunCtx) ([]*tensor.Dense, error) {
	if c.NCHWc != nil {
		return convNCHWcRun(c)
	}
	if c.Depthwise != nil {
		return convChainRun(c)
	}
	if c.Residual != nil {
		return convResidualRun(c)
	}
	return convCompute(c)
}

// convCompute is convRun once a fused residual, if any, is set up (see
// convResidualRun): the kernel paths.
func convCompute(c *RunCtx) ([]*tensor.Dense, error) {
	x, w, nd, group, err := convSetup(c)
	if err != nil {
		return nil, err
	}
	n := c.Node
	g := convShape{batch: x.Shape[0], cin: x.Shape[1], cout: w.Shape[0], group: group}
	if g.cin%group != 0 || g.cout%group != 0 || w.Shape[1]*group != g.cin {
		return nil, shapeError(n, "X %v and W %v do not agree with group %d", x.Shape, w.Shape, group)
	}
	win, err := convReadWindow(n, nd, w.Shape[2:])
	if err != nil {
		return nil, err
	}
	outShape := []int{g.batch, g.cout}
	off := 3 - nd
	for i := range 3 {
		g.in[i], g.out[i], g.k[i], g.s[i], g.d[i] = 1, 1, 1, 1, 1
	}
	for i := range nd {
		out, pb := win.outDim(i, x.Shape[2+i], false)
		if out < 1 {
			return nil, shapeError(n, "input %v is smaller than the window %v", x.Shape, win.kernel)
		}
		j := off + i
		g.in[j], g.out[j], g.k[j], g.s[j], g.d[j], g.p[j] = x.Shape[2+i], out, win.kernel[i], win.strides[i], win.dils[i], pb
		outShape = append(outShape, out)
	}
	bias, err := convBias(c, g.cout)
	if err != nil {
		return nil, err
	}
	if _, err := tensor.NumElems(outShape); err != nil {
		return nil, onnx.NodeErrorf(n, "output shape: %w", err)
	}
	if c.Residual != nil && !slices.Equal(c.Residual.Shape, outShape) {
		c.Residual = nil // the Add broadcasts: convResidualRun does it
	}
	// Every path but the empty-input one writes all of y.
	y := tensor.NewUninit(x.DType, outShape...)
	switch {
	case y.Len() == 0:
	case g.cin == 0:
		clear(y.F32)
		convAddBias(y.F32, bias, g.batch, g.cout, g.outSize())
		c.applyClamp(y.F32)
	case g.group == g.cin && g.group > 1 && nd <= 2:
		var wb []float32
		if convDWBlockOK(&g) && convDWBlockEnabled {
			pack := func() []float32 { return convDWBlockWeights(w.F32, &g) }
			var ok bool
			if wb, ok = convPacked(c, 1, convPackDWBlock, 0, pack); !ok {
				wb = pack()
			}
		}
		convDepthwise(y.F32, x.F32, g.outSize(), g.inSize(), w.F32, wb, bias, &g, c.Clamp, c.Threads)
	default:
		if sw := c.sparseFor(w); sw != nil && sw.Shape.Groups == g.group {
			if c.Clamp != nil && c.Clamp.Func != nil {
				// The sparse kernels' epilogue clamps only: Func goes after.
				plain := *c
				plain.Clamp = nil
				convSparse(&plain, y.F32, x.F32, sw, bias, &g)
				c.RanSparse = plain.RanSparse
				c.applyClamp(y.F32)
				break
			}
			convSparse(c, y.F32, x.F32, sw, bias, &g)
			break
		}
		if !c.Direct && convWinogradOK(&g) {
			convWinograd(c, y.F32, x.F32, w, bias, &g)
			break
		}
		if convDenseOK(&g) {
			convDense(c, y.F32, x.F32, w, bias, &g)
			break
		}
		convGemm(c, y.F32, x.F32, w, bias, &g)
	}
	return []*tensor.Dense{y}, nil
}

// convDenseOK reports whether the convolution is a dense layer: one
// output position from one input position per image (a 1×1 window over a
// 1×1 map, as in a squeeze-excitation block), without groups.
func convDenseOK(g *convShape) bool {
	return g.group == 1 && g.inSize() == 1 && g.outSize() == 1 && g.kSize() == 1
}

// convDense runs a dense-layer convolution as Y = X·Wᵀ, X being the
// batch × cin input and Y the batch × cout output in their NCHW layout:
// with one row per image, the product with the weights packed as B is a
// matrix-vector product at batch 1 (gemm's one-row path), where packing
// the weights as A would fill the micro-kernel's 32 columns with one.
func convDense(c *RunCtx, y, x []float32, w *tensor.Dense, bias []float32, g *convShape) {
	pack := func() *gemm.PackedB { return gemm.PackB(true, g.cin, g.cout, w.F32, g.cin) }
	pb, ok := convPacked(c, 1, convPackDense, 0, pack)
	if !ok {
		pb = pack()
	}
	gemm.SgemmPackedB(c.Threads, false, g.batch, 1, x, g.cin, pb, 0, y, g.cout)
	for b := range g.batch {
		row := y[b*g.cout : (b+1)*g.cout]
		if bias != nil {
			vec.Add(row, row, bias)
		}
		c.applyClamp(row)
	}
}

// convAddBias adds bias[m] to every position of channel m (of size n).
func convAddBias(y, bias []float32, batch, m, n int) {
	if bias == nil {
		return
	}
	for b := range batch {
		for j, v := range bias {
			row := y[(b*m+j)*n : (b*m+j+1)*n]
			for i := range row {
				row[i] += v
			}
		}
	}
}

// convColBudget is the size in floats of an im2col tile: with the GEMM's
// packed copy of it, it stays inside a core's L2 cache.
const convColBudget = 1 << 17

// convFlatBudget is convColBudget for convGemmFlat, which has no im2col
// tile: only the GEMM's packed copy and a band of padded input need to
// stay in L2. Wider tiles there mean fewer passes over the weights and
// less padding repeated at the bands' edges: ResNet-18's 256-channel
// layer (14×14) ran 12 % slower with tiles of convColBudget.
const convFlatBudget = 1 << 18

// convTileAlign is the column tile granularity, a multiple of the GEMM
// micro-kernel widths (32 with AVX-512, 16 with AVX2).
const convTileAlign = 32

// convBufs recycles im2col and col2im buffers across nodes and runs.
var convBufs sync.Pool

// convGetBuf returns a pooled buffer of at least n floats.
func convGetBuf(n int) *[]float32 {
	if p, ok := convBufs.Get().(*[]float32); ok {
		if cap(*p) >= n {
			*p = (*p)[:n]
			return p
		}
	}
	s := make([]float32, n)
	return &s
}

// convPackReuse is the number of output columns (batch × positions)
// below which a constant weight's packing is cached: there, packing costs
// more than 12.5/convPackReuse ≈ 5 % of the GEMM (one copy per weight
// against two flops per weight and column at ~25 flops per copied float).
const convPackReuse = 256

// convPackSmall is the most weights (floats) whose packing is cached
// whatever the number of columns: a second copy of them costs little
// memory (ResNet-20's largest layer has 36864), and packing them again
// took 3 µs of a 40 µs layer.
const convPackSmall = 1 << 16

// convScratch holds the packed weights of the last call that packed on
// the fly, for the next such call to pack into: one buffer, as large as
// the largest layer's weights, serves every layer without garbage. Calls
// that use it take turns (a Program runs one node at a time anyway).
var convScratch struct {
	sync.Mutex
	packs []*gemm.PackedA
}

// convPackKey identifies a packed weight tensor in convPackCache: the
// constant it was packed from, which op family packed it (kind) and the
// attribute that shaped the packing (group, transB).
type convPackKey struct {
	t      weak.Pointer[tensor.Dense]
	kind   int
	layout int
}

// Kinds of convPackKey.
const (
	convPackConv = iota
	convPackConvTranspose
	convPackMatMul
	convPackGemm
	convPackWinograd
	convPackDense
	convPackDWBlock
	convPackChain
	convPackNCHWc
	convPackNCHWcPlanes
	convPackNCHWcDW
)

// convPackCache holds weights packed for the GEMM, so that constant
// weights are packed once per model rather than once per run; an entry
// goes when its tensor is garbage collected.
var convPackCache sync.Map

// convPacked returns pack() for input i of the node, computed once and
// cached, when that input is a constant: an initializer, or a value the
// run marks constant (RunCtx.ConstIn); otherwise it returns false and the
// caller decides how to proceed. Only constants qualify: their data
// never changes (onnx.Tensor.Dense is shared and read-only, a folded
// value is the program's), whereas any other input may be a new tensor,
// or a caller's reused buffer, on every run.
func convPacked[T any](c *RunCtx, i, kind, layout int, pack func() T) (T, bool) {
	t := c.In[i]
	if i >= 64 || c.ConstIn&(1<<i) == 0 {
		v := c.Node.Input(i)
		if v == nil || v.Const == nil {
			var zero T
			return zero, false
		}
		if d, err := v.Const.Dense(); err != nil || d != t {
			var zero T
			return zero, false // the run supplied its own value for the initializer
		}
	}
	key := convPackKey{weak.Make(t), kind, layout}
	if p, ok := convPackCache.Load(key); ok {
		return p.(T), true
	}
	p, loaded := convPackCache.LoadOrStore(key, pack())
	if !loaded {
		runtime.AddCleanup(t, func(k convPackKey) { convPackCache.Delete(k) }, key)
	}
	return p.(T), true
}

// convSplit cuts n output columns into tiles of whole micro-kernel
// widths (convTileAlign; the last tile may be narrower), as even as that
// allows.
type convSplit struct {
	n, tiles int
	mcols    int // micro-kernel widths: ceil(n / convTileAlign)
}

// span returns the first column and the width of tile t.
func (s *convSplit) span(t int) (n0, nt int) {
	n0 = min(s.n, convTileAlign*(s.mcols*t/s.tiles))
	n1 := min(s.n, convTileAlign*(s.mcols*(t+1)/s.tiles))
	return n0, n1 - n0
}

// width is the widest tile's width.
func (s *convSplit) width() int {
	return min(s.n, convTileAlign*((s.mcols+s.tiles-1)/s.tiles))
}

// convSplitCols chooses the column tiles for imgs (images × groups) GEMMs
// of depth kg over n output positions, and reports whether there are
// enough units (tiles over all images) to run one at a time per thread
// with serial GEMMs; otherwise there is one tile, and the caller takes
// whole images one after another with a parallel GEMM. A tile's im2col
// matrix fits convColBudget. Where the images alone would leave threads
// idle the columns are cut into at least convUnitsPerThread units per
// thread, which go to threads from a counter (gemm.ParallelFor). budget
// bounds kg × tile width.
func convSplitCols(kg, n, imgs, threads, budget int) (s convSplit, perThread bool) {
	s = convSplit{n: n, mcols: (n + convTileAlign - 1) / convTileAlign}
	budget = max(budget/kg/convTileAlign*convTileAlign, convTileAlign)
	s.tiles = (n + budget - 1) / budget
	if threads > 1 {
		s.tiles = max(s.tiles, (convUnitsPerThread*threads+imgs-1)/imgs)
	}
	s.tiles = max(1, min(s.tiles, s.mcols))
	if threads <= 1 || imgs*s.tiles >= threads {
		return s, true
	}
	s.tiles = 1
	return s, false
}

// convTiles is convSplitCols for callers that cut columns into tiles of
// one width tw (the last one narrower).
func convTiles(kg, n, imgs, threads int) (tw int, perThread bool) {
	s, perThread := convSplitCols(kg, n, imgs, threads, convColBudget)
	return s.width(), perThread
}

// convUnitsPerThread is how many units (image column tiles) per thread
// convTiles aims for where the images alone are too few. One: each thread
// then takes a contiguous part of the map, padding two rows of halo per
// unit fewer, and the next layer's part of the same rows finds them in
// its core's cache more often. Two (which absorbed a late thread) had
// ResNet-20 at batch 1 as fast on two threads as on one: 1.00 → 0.72 ms
// with one (graft bench, 8 alternations; other models within the noise or
// a few per cent faster).
const convUnitsPerThread = 1

// convUnits runs unit(0) … unit(n−1) on up to threads goroutines, each
// taking a contiguous run of units (images, or parts of one image's
// map): consecutive layers then give a core the same images and rows, which
// its cache still holds, where units handed out one at a time went to
// whichever thread was free.
func convUnits(threads, n int, unit func(u int)) {
	parallelFor(threads, n, 1, func(lo, hi int) {
		for u := lo; u < hi; u++ {
			unit(u)
		}
	})
}

// convUnitScratch is one goroutine's scratch for one unit of work: an
// im2col tile or a GEMM output tile, and padded input rows.
type convUnitScratch struct {
	f, pad []float32
}

// convUnitBufs recycles convUnitScratch across units, nodes and runs.
var convUnitBufs = sync.Pool{New: func() any { return new(convUnitScratch) }}

// convGetScratch returns pooled scratch of nf and np floats.
func convGetScratch(nf, np int) *convUnitScratch {
	s := convUnitBufs.Get().(*convUnitScratch)
	if cap(s.f) < nf {
		s.f = make([]float32, nf)
	}
	if cap(s.pad) < np {
		s.pad = make([]float32, np)
	}
	s.f, s.pad = s.f[:nf], s.pad[:np]
	return s
}

// convGemm computes the convolution as per-group GEMMs with packed weights
// (by im2col except for pointwise windows). The output starts as the bias,
// so the GEMM adds onto it (beta = 1) while it is in cache.
func convGemm(c *RunCtx, y, x []float32, w *tensor.Dense, bias []float32, g *convShape) {
	threads := c.Threads
	cg, mg := g.cin/g.group, g.cout/g.group
	kg := cg * g.kSize()
	nIn, n := g.inSize(), g.outSize()
	pointwise := g.kSize() == 1 && g.s == [3]int{1, 1, 1} && g.p == [3]int{} && nIn == n
	// Weights are packed once per group and call; every tile reuses them.
	// Where they serve few output columns (small images, deep layers),
	// packing is a noticeable part of the work, and a constant's packing
	// is kept for later runs. Elsewhere it costs little to repeat, and
	// repeating it, into a recycled buffer, keeps a second copy of the
	// weights out of memory.
	var packs []*gemm.PackedA
	pack := func() []*gemm.PackedA {
		// packs holds storage to reuse: convScratch's, or nothing.
		p := make([]*gemm.PackedA, g.group)
		for gi := range p {
			var reuse *gemm.PackedA
			if gi < len(packs) {
				reuse = packs[gi]
			}
			p[gi] = gemm.PackAInto(reuse, false, mg, kg, w.F32[gi*mg*kg:(gi+1)*mg*kg], kg)
		}
		return p
	}
	ok := false
	if g.batch*n < convPackReuse || len(w.F32) <= convPackSmall {
		packs, ok = convPacked(c, 1, convPackConv, g.group, pack)
	}
	if !ok {
		convScratch.Lock()
		defer convScratch.Unlock()
		packs = convScratch.packs
		packs = pack()
		convScratch.packs = packs
	}
	if f, ok := convFlatGeom(g, true); ok && convFlatEnabled {
		if convFlatBatchedOK(g, &f) {
			convFlatBatched(c, y, x, packs[0], bias, g, &f)
			return
		}
		convGemmFlat(c, y, x, packs, bias, g, &f)
		return
	}
	if pointwise && convPointwiseBatchedOK(g) {
		convPointwiseBatched(c, y, x, packs[0], bias, g)
		return
	}
	imgs := g.batch * g.group
	split, perThread := convSplitCols(kg, n, imgs, threads, convColBudget)
	if pointwise && imgs == 1 && split.mcols <= 4*threads && mg >= 256 {
		// Few output positions against many weights (SqueezeNet's
		// classifier, 1000×512 over 13×13): tiles of their own would each
		// stream all the weights through cache, where one parallel GEMM
		// shares each block of them among a thread's column panels
		// (1.33 -> 1.09 ms).
		split.tiles, perThread = 1, false
	}
	tiles := split.tiles
	unit := func(u int, cols []float32, threads int) {
		t, gi, b := u%tiles, u/tiles%g.group, u/tiles/g.group
		n0, nt := split.span(t)
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
		ep := c.gemmEpilogue(convGroupBias(bias, gi, mg))
		gemm.SgemmPackedA(threads, false, nt, 1, packs[gi], rhs, ldb, 0, yc, n, ep)
	}
	bufLen := 0
	if !pointwise {
		bufLen = kg * split.width()
	}
	if perThread {
		convUnits(threads, imgs*tiles, func(u int) {
			s := convGetScratch(bufLen, 0)
			unit(u, s.f, 1)
			convUnitBufs.Put(s)
		})
		return
	}
	s := convGetScratch(bufLen, 0)
	for u := range imgs * tiles {
		unit(u, s.f, threads)
	}
	convUnitBufs.Put(s)
}

// convPointwiseMaxBatched is the largest map (output positions) whose
// pointwise convolutions over several images run as one GEMM over every
// image's positions (convPointwiseBatched) rather than one per image.
// Per image, a 7×7 map's 49 positions fill two 32-wide micro-kernel tiles
// to 77 %, and every image streams all the weights again; over the batch
// the columns fill whole tiles and each block of weights serves all of
// them, for one more pass over the output (from the GEMM's result to the
// images' planes). At batch 8 (BenchmarkConvPointwiseBatch, two threads)
// the 7×7 layers of MobileNetV2, EfficientNet and DenseNet took 5-18 %
// less time; 14×14 ones (196 positions, seven tiles 88 % full) gained
// nothing where their depth is large and lost up to 20 % where it is
// small (64 to 384 channels, 112 to 672), the copy then weighing more.
// A variable for the benchmark.
var convPointwiseMaxBatched = 64

// convPointwiseBatchedOK reports whether the pointwise convolution g runs
// by convPointwiseBatched.
func convPointwiseBatchedOK(g *convShape) bool {
	return convPointwiseBatchEnabled && g.group == 1 && g.batch > 1 && g.outSize() <= convPointwiseMaxBatched
}

// convPointwiseBatchEnabled turns convPointwiseBatched off when false
// (tests and benchmarks compare it with the per-image GEMMs).
var convPointwiseBatchEnabled = true

// convPointwiseBatched computes a pointwise convolution over a batch of
// small maps as one GEMM, W[Cout × Cin] · X[Cin × batch·positions], whose
// right operand is read from the images' planes as segments of one map
// each, into scratch; the result is then copied to the output, image by
// image.
func convPointwiseBatched(c *RunCtx, y, x []float32, pa *gemm.PackedA, bias []float32, g *convShape) {
	n, m, k := g.outSize(), g.cout, g.cin
	cols := g.batch * n
	rows := make([]int, k)
	for p := range rows {
		rows[p] = p * n
	}
	s := convGetScratch(m*cols, 0)
	defer convUnitBufs.Put(s)
	gemm.SgemmPackedASegments(c.Threads, cols, 1, pa, x, rows, 0, n, k*n, 0, s.f, cols, c.gemmEpilogue(bias))
	// The GEMM splits its rows (output channels) among the threads: so
	// does the copy, each thread reading what it wrote.
	parallelFor(c.Threads, m, max(1, (1<<14)/cols), func(r0, r1 int) {
		for b := range g.batch {
			vec.CopyRows(y[(b*m+r0)*n:], n, s.f[r0*cols+b*n:], cols, r1-r0, n)
		}
	})
}

// convFlatBatchMax is the largest map (output positions), and
// convFlatBatchRows the fewest output channels, of the stride-1
// convolutions over several images that run as one GEMM over every
// image's positions (convFlatBatched) rather than one per image. A 7×7
// map's 49 positions fill two 32-wide micro-kernel tiles to 77 % (63
// flat columns, 14 of them discarded), and every image streams all the
// weights again: ResNet-18's 512-channel 3×3 layers at batch 8 ran at
// 122-136 GFLOP/s where ONNX Runtime took two thirds of the time. Over
// the batch the columns fill whole tiles, but B is packed from the
// segments instead of read in place, which only many rows of weights
// repay: at batch 8 on two threads (BenchmarkConvFlatBatch) 512 channels
// over 7×7 take 8 % less time, 256 about as much, 128 and fewer 7-60 %
// more.
const (
	convFlatBatchMax  = 64
	convFlatBatchRows = 256
)

// convFlatBatchEnabled turns convFlatBatched off when false (tests and
// benchmarks compare it with the per-image GEMMs).
var convFlatBatchEnabled = true

// convFlatBatchedOK reports whether the flat-path convolution g (plan f)
// runs by convFlatBatched.
func convFlatBatchedOK(g *convShape, f *convFlat) bool {
	return convFlatBatchEnabled && g.group == 1 && g.batch > 1 && f.sh == 1 && f.sw == 1 &&
		g.outSize() <= convFlatBatchMax && g.cout >= convFlatBatchRows
}

// convFlatBatched computes a stride-1 convolution over a batch of small
// maps as one GEMM over every image's output positions. The padded input
// is laid out channel by channel as padded rows, each row holding that
// row of every image in turn ([channel][row][image][column]), so that
// output row oy of image b is the segment (oy·batch+b) of a GEMM whose B
// is read in segments of Wo columns wp apart, and a weight tap (channel,
// ky, kx) is one offset for all of them. The product, whose columns run
// [oy][image][ox], is then copied to the images' planes.
func convFlatBatched(c *RunCtx, y, x []float32, pa *gemm.PackedA, bias []float32, g *convShape, f *convFlat) {
	batch, cin, m := g.batch, g.cin, g.cout
	H, W := g.in[1], g.in[2]
	Ho, Wo := g.out[1], g.out[2]
	kh, kw := g.k[1], g.k[2]
	hp, wp := f.hp, f.wp
	rowLen := batch * wp // one padded row of every image
	plane := hp * rowLen
	n, cols := g.outSize(), batch*Ho*Wo
	s := convGetScratch(m*cols, cin*plane)
	defer convUnitBufs.Put(s)
	padded, out := s.pad, s.f
	parallelFor(c.Threads, cin, max(1, convPadChunk/plane), func(c0, c1 int) {
		for ch := c0; ch < c1; ch++ {
			dst := padded[ch*plane : (ch+1)*plane]
			clear(dst)
			for b := range batch {
				vec.CopyRows(dst[f.top*rowLen+b*wp+f.left:], rowLen, x[(b*cin+ch)*H*W:], W, H, W)
			}
		}
	})
	rows := make([]int, 0, cin*kh*kw)
	for ch := range cin {
		for ky := range kh {
			for kx := range kw {
				rows = append(rows, ch*plane+ky*rowLen+kx)
			}
		}
	}
	gemm.SgemmPackedASegments(c.Threads, cols, 1, pa, padded, rows, 0, Wo, wp, 0, out, cols, c.gemmEpilogue(bias))
	parallelFor(c.Threads, m, max(1, (1<<14)/cols), func(r0, r1 int) {
		for r := r0; r < r1; r++ {
			for b := range batch {
				vec.CopyRows(y[(b*m+r)*n:], Wo, out[r*cols+b*Wo:], batch*Wo, Ho, Wo)
			}
		}
	})
}

// convGroupBias returns group gi's mg biases, nil without a bias.
func convGroupBias(bias []float32, gi, mg int) []float32 {
	if bias == nil {
		return nil
	}
	return bias[gi*mg : (gi+1)*mg]
}

// convFlatWide reports whether an output wo wide is wide enough for
// convGemmFlat, which computes kw-1 discarded columns per output row:
// at most a third more multiplications. Measured on ResNet-18 (batch 1, 2
// threads), even its 7×7 layers with 3×3 windows (2/7 more work) ran as
// fast or faster than through im2col, whose copying costs more there.
func convFlatWide(wo, kw int) bool { return 3*(kw-1) <= wo-1 }

// convFlat describes a 2-D convolution computed on zero-padded input
// planes laid out flat (see convGemmFlat). With strides sh × sw each
// padded plane is stored as its sh·sw stride phases (phase (py, px) holds
// the padded rows py, py+sh, … and columns px, px+sw, …), which makes
// every weight tap again one shifted run of one phase.
type convFlat struct {
	hp, wp    int   // one phase of a padded plane: (Ho+(kh-1)/sh) × (Wo+(kw-1)/sw)
	sh, sw    int   // strides: sh·sw phases per plane
	top, left int   // where the input starts inside the padded plane
	nFlat     int   // flat output columns: (Ho-1)·wp + Wo
	rows      []int // per weight tap (channel, ky, kx): its offset in a group's padded planes
}

// plane is the size of one channel's padded plane, all phases.
func (f *convFlat) plane() int { return f.sh * f.sw * f.hp * f.wp }

// convFlatPlan returns the flat plan for g when it applies: 2-D, stride
// and dilation 1, a window larger than 1×1, an output wide enough
// (convFlatWide).
func convFlatPlan(g *convShape) (convFlat, bool) { return convFlatPlanStrided(g, false) }

// convFlatPlanStrided is convFlatPlan, for any strides when strided is
// set: stride-phase planes then replace im2col's strided gathers (the
// ResNet stem, the stride-2 3×3 layers), with (kw-1)/sw discarded columns
// per output row.
func convFlatPlanStrided(g *convShape, strided bool) (convFlat, bool) {
	f, ok := convFlatGeom(g, strided)
	if ok {
		f.rows = f.appendRows(make([]int, 0, g.cin/g.group*g.k[1]*g.k[2]), g)
	}
	return f, ok
}

// convFlatGeom is convFlatPlanStrided without the rows.
func convFlatGeom(g *convShape, strided bool) (convFlat, bool) {
	var f convFlat
	sh, sw := g.s[1], g.s[2]
	if !strided && (sh != 1 || sw != 1) {
		return f, false
	}
	if g.k[0] != 1 || g.in[0] != 1 || g.s[0] != 1 || g.d != [3]int{1, 1, 1} || g.kSize() == 1 || !convFlatWide(g.out[2], 1+(g.k[2]-1)/sw) {
		return f, false
	}
	kh, kw := g.k[1], g.k[2]
	Ho, Wo := g.out[1], g.out[2]
	f.sh, f.sw = sh, sw
	f.hp, f.wp = Ho+(kh-1)/sh, Wo+(kw-1)/sw
	f.top, f.left = g.p[1], g.p[2]
	if sh == 1 && sw == 1 && (f.top+g.in[1] > f.hp || f.left+g.in[2] > f.wp) {
		return f, false // padding at the end would be negative
	}
	f.nFlat = (Ho-1)*f.wp + Wo
	return f, true
}

// appendRows appends to rows the offset of every weight tap (channel,
// ky, kx) of one group of g in f's padded planes.
func (f *convFlat) appendRows(rows []int, g *convShape) []int {
	sh, sw := f.sh, f.sw
	ph, plane := f.hp*f.wp, f.plane()
	kh, kw := g.k[1], g.k[2]
	n := len(rows)
	// One channel's taps, then the same shifted by a plane per channel.
	for ky := range kh {
		for kx := range kw {
			rows = append(rows, (ky%sh*sw+kx%sw)*ph+ky/sh*f.wp+kx/sw)
		}
	}
	for ch := 1; ch < g.cin/g.group; ch++ {
		for _, o := range rows[n : n+kh*kw] {
			rows = append(rows, o+ch*plane)
		}
	}
	return rows
}

// convBandShape returns the geometry of output rows oy0..oy1 of g (a
// flat-path convolution): the convolution of the input rows they read,
// from row iy0 on, with the padding above them (the begin padding where
// the band starts at the top, none elsewhere).
func convBandShape(g *convShape, oy0, oy1 int) (band convShape, iy0 int) {
	band = *g
	sh, kh, top := g.s[1], g.k[1], g.p[1]
	y0, y1 := oy0*sh, (oy1-1)*sh+kh // padded rows read: [y0, y1)
	band.out[1] = oy1 - oy0
	iy0, iy1 := max(0, y0-top), min(g.in[1], y1-top)
	if iy1 <= iy0 {
		// All padding (oversized end padding).
		band.in[1], band.p[1] = 0, 0
		return band, 0
	}
	band.in[1] = iy1 - iy0
	band.p[1] = iy0 + top - y0
	return band, iy0
}

// convGemmFlat computes a convolution without an im2col matrix (strided
// ones over stride phases: see convFlat).
// Input planes are copied into the middle of zero-bordered planes of
// (Ho+kh-1) × (Wo+kw-1), stored flat; then output (oy, ox) sits at flat
// position oy·wp + ox, and weight tap (ch, ky, kx) reads the flat planes
// at offset ch·hp·wp + ky·wp + kx from it. So row r of the im2col matrix
// is made of runs of the padded input, one per output row, which the
// GEMM packs directly (gemm.SgemmPackedASegments).
//
// Where Wo is at least 8 (the packing's vector copies) the GEMM's
// columns can be the output positions, and it writes y directly, bias and
// activation applied as tiles are stored. Narrower outputs, and those
// where the GEMM reads B's rows in place instead of packing them
// (convFlatInPlace), use the flat positions, so that each row of B is one
// run: the kw-1 columns per output row that straddle two rows of the
// plane are computed and dropped when the tile is copied into y
// (convFlatStore).
//
// The columns are cut into tiles (convSplitCols), and each tile pads
// only the input rows its output rows read (convBandShape), into its
// goroutine's own scratch: on two cores, one padded copy shared by all
// tiles cost more to write than the GEMM that read it (its cache lines,
// last read by the other core, had to be taken back from it line by
// line), and a band stays in cache between the padding and the GEMM.
// Each tile re-pads the (kh-1)/sh rows it shares with the next.
func convGemmFlat(c *RunCtx, y, x []float32, packs []*gemm.PackedA, bias []float32, g *convShape, f *convFlat) {
	threads := c.Threads
	cg, mg := g.cin/g.group, g.cout/g.group
	kg := cg * g.k[1] * g.k[2]
	Wo := g.out[2]
	n, nIn := g.outSize(), g.inSize()
	imgs := g.batch * g.group
	// cw is the GEMM's columns per output row, nc their number.
	dense := Wo >= 8 && !convFlatInPlace(g, f)
	cw, nc := f.wp, f.nFlat
	if dense {
		cw, nc = Wo, n
	}
	split, perThread := convSplitCols(kg, nc, imgs, threads, convFlatBudget)
	tiles := split.tiles
	// The tallest band: a tile spans at most this many output rows (one
	// more where it ends in flat columns past a row), and reads
	// (kh-1)/sh more per phase. Every band's padded planes are this tall,
	// so that the taps' offsets (rows) are the same for all.
	bandRows := min(g.out[1], (split.width()+cw-2)/cw+2)
	bf := *f
	bf.hp = bandRows + (g.k[1]-1)/f.sh
	rows := bf.appendRows(make([]int, 0, kg), g)
	padLen := cg * bf.plane()
	unit := func(u int, s *convUnitScratch, threads int) {
		t, gi, b := u%tiles, u/tiles%g.group, u/tiles/g.group
		n0, nt := split.span(t)
		oy0, oy1 := n0/cw, (n0+nt-1)/cw+1
		if (n0+nt-1)%cw >= Wo {
			// Flat columns past the end of an output row read the next
			// row's input: computed and dropped, they keep the tile a
			// whole number of micro-kernel widths.
			oy1++
		}
		band, iy0 := convBandShape(g, oy0, oy1)
		bf := bf
		bf.top = band.p[1]
		padded := s.pad[:padLen]
		xg := x[(b*g.cin+gi*cg)*nIn+iy0*g.in[2]:]
		convPadPlanesAt(padded, xg, nIn, cg, &band, &bf, 1)
		yg := y[(b*g.cout+gi*mg)*n : (b*g.cout+(gi+1)*mg)*n]
		var rg []float32
		if c.Residual != nil {
			rg = c.Residual.F32[(b*g.cout+gi*mg)*n : (b*g.cout+(gi+1)*mg)*n]
		}
		// Column n0 is at output row oy0, which is row 0 of the band.
		n0b := n0 - oy0*cw
		if !dense {
			tile := s.f[:mg*nt]
			gemm.SgemmPackedAIndirect(threads, nt, 1, packs[gi], padded[n0b:], rows, 0, tile, nt, nil)
			convFlatStore(c, yg, rg, tile, bias, g, f, gi, n0, nt)
			return
		}
		ep := c.gemmEpilogue(convGroupBias(bias, gi, mg))
		gemm.SgemmPackedASegments(threads, nt, 1, packs[gi], padded, rows, n0b, Wo, bf.wp, 0, yg[n0:], n, ep)
		if rg != nil {
			for m := range mg {
				c.addResidual(yg[m*n+n0:m*n+n0+nt], rg[m*n+n0:m*n+n0+nt])
			}
		}
	}
	// Each unit adds the residual to what it wrote, while it is in cache.
	c.resDone = c.Residual != nil
	tileLen := 0
	if !dense {
		tileLen = mg * split.width()
	}
	if perThread {
		convUnits(threads, imgs*tiles, func(u int) {
			s := convGetScratch(tileLen, padLen)
			unit(u, s, 1)
			convUnitBufs.Put(s)
		})
		return
	}
	s := convGetScratch(tileLen, padLen)
	for u := range imgs * tiles {
		unit(u, s, threads)
	}
	convUnitBufs.Put(s)
}

// convFlatInPlace reports whether convGemmFlat should compute g over flat
// columns with the GEMM reading B's rows in place (gemm.RowsInPlace),
// rather than over the output positions with B packed from segments.
// Not packing saves a copy of B's kg rows; the flat tile then costs a
// pass over the group's mg output rows (convFlatStore) instead, which
// pays where kg is at least twice mg (SqueezeNet's 3-channel stem, kg 27
// against 64 rows: 484 -> 650 us, so not there). The flat columns
// include kw-1 discarded ones per output row; once rounded up to
// micro-kernel widths, less than an eighth more columns than the
// output's cost less than packing saves (ResNet-20's 32×32 maps: 1088
// against 1024, 54 -> 44 us; its 16×16 maps, 288 against 256, as fast on
// one thread but 30.5 -> 35.9 us on two, where nine panels split five
// and four; 8×8 maps: 96 against 64, 46 -> 66 us).
func convFlatInPlace(g *convShape, f *convFlat) bool {
	kg := g.cin / g.group * g.kSize()
	if !gemm.RowsInPlace() || kg < 2*(g.cout/g.group) {
		return false
	}
	flat := (f.nFlat + convTileAlign - 1) / convTileAlign
	dense := (g.outSize() + convTileAlign - 1) / convTileAlign
	return 8*flat < 9*dense
}

// convFlatStore copies the valid columns of a flat tile (columns n0 to
// n0+nt of group gi's mg output rows, see convGemmFlat) into the group's
// output planes yg, adding the bias and applying the fused activation
// (as RunCtx.biasActivate does). A tile's flat columns are whole output
// rows wp apart, between a partial first and last one, so each channel
// takes at most three calls, and the activation's function one over the
// contiguous run of outputs the tile covers.
func convFlatStore(c *RunCtx, yg, rg, tile, bias []float32, g *convShape, f *convFlat, gi, n0, nt int) {
	mg := g.cout / g.group
	Wo, n, wp := g.out[2], g.outSize(), f.wp
	lo, hi := c.clampBounds()
	var fn func(dst, src []float32)
	if c.Clamp != nil {
		fn = c.Clamp.Func
	}
	end := n0 + nt
	oy0, ox0 := n0/wp, n0%wp
	oy1, ox1 := (end-1)/wp, (end-1)%wp+1 // last row, and its columns' end
	// blocks: (flat column, output row, first column, rows, columns).
	type block struct{ i, oy, ox, rows, cols int }
	var blocks [3]block
	nb := 0
	add := func(b block) {
		if b.rows > 0 && b.cols > 0 {
			blocks[nb] = b
			nb++
		}
	}
	if oy0 == oy1 {
		add(block{n0, oy0, ox0, 1, min(ox1, Wo) - ox0})
	} else {
		add(block{n0, oy0, ox0, 1, Wo - ox0})
		add(block{(oy0 + 1) * wp, oy0 + 1, 0, oy1 - oy0 - 1, Wo})
		add(block{oy1 * wp, oy1, 0, 1, min(ox1, Wo)})
	}
	if nb == 0 {
		return
	}
	first, last := blocks[0], blocks[nb-1]
	y0, y1 := first.oy*Wo+first.ox, (last.oy+last.rows-1)*Wo+last.ox+last.cols
	for m := range mg {
		var bv float32
		if bias != nil {
			bv = bias[gi*mg+m]
		}
		ych, trow := yg[m*n:(m+1)*n], tile[m*nt:(m+1)*nt]
		for _, b := range blocks[:nb] {
			vec.BiasClampRows(ych[b.oy*Wo+b.ox:], Wo, trow[b.i-n0:], wp, b.rows, b.cols, bv, lo, hi)
		}
		if fn != nil {
			fn(ych[y0:y1], ych[y0:y1])
		}
		if rg != nil {
			c.addResidual(ych[y0:y1], rg[m*n+y0:m*n+y1])
		}
	}
}

// convPadPlanes copies the input planes of x into the middle of the
// zero-bordered planes of f, all of them stored flat in padded, split
// into stride phases where f has strides. Input rows and columns that no
// window reads (past the phases' extent) are left out.
func convPadPlanes(padded, x []float32, g *convShape, f *convFlat, threads int) {
	convPadPlanesAt(padded, x, g.inSize(), g.batch*g.cin, g, f, threads)
}

// convPadPlanesAt is convPadPlanes for planes input planes xPlane apart
// in x, each g.in[1] × g.in[2].
func convPadPlanesAt(padded, x []float32, xPlane, planes int, g *convShape, f *convFlat, threads int) {
	H, W := g.in[1], g.in[2]
	plane, ph := f.plane(), f.hp*f.wp
	sh, sw := f.sh, f.sw
	Hr, Wr := max(0, min(H, sh*f.hp-f.top)), max(0, min(W, sw*f.wp-f.left)) // rows and columns read
	// Chunks of at least convPadChunk floats: below that a helper's
	// share is not worth the hand-over.
	parallelFor(threads, planes, max(1, convPadChunk/plane), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			dst := padded[p*plane : (p+1)*plane]
			src := x[p*xPlane:]
			if sh == 1 && sw == 1 {
				convPadPlane(dst, src, W, Hr, Wr, f)
				continue
			}
			clear(dst)
			for iy := range Hr {
				Y := f.top + iy
				src := src[iy*W : iy*W+Wr]
				phase := dst[Y%sh*sw*ph+Y/sh*f.wp:]
				switch sw {
				case 1:
					copy(phase[f.left:f.left+Wr], src)
				case 2:
					// Even input columns land in phase left%2 at column
					// left/2, odd ones in the other phase.
					a := phase[f.left%2*ph+f.left/2:]
					b := phase[(f.left+1)%2*ph+(f.left+1)/2:]
					vec.Deinterleave2(a[:(Wr+1)/2], b[:Wr/2], src)
				default:
					for ix, v := range src {
						X := f.left + ix
						phase[X%sw*ph+X/sw] = v
					}
				}
			}
		}
	})
}

// convPadPlane writes one stride-1 padded plane of f, each element once:
// rows of padding, and input rows (Hr of them, Wr columns each, of an
// input W wide) between their left and right padding.
func convPadPlane(dst, x []float32, W, Hr, Wr int, f *convFlat) {
	wp := f.wp
	clear(dst[:f.top*wp])
	// The padding beside the rows, element by element: a few floats a
	// row, where a call per row (clear) cost more than the row's copy.
	for iy := range Hr {
		row := dst[(f.top+iy)*wp : (f.top+iy+1)*wp]
		for i := range row[:f.left] {
			row[i] = 0
		}
		right := row[f.left+Wr:]
		for i := range right {
			right[i] = 0
		}
	}
	if Hr > 0 && Wr > 0 {
		vec.CopyRows(dst[f.top*wp+f.left:], wp, x, W, Hr, Wr)
	}
	clear(dst[(f.top+Hr)*wp:])
}

// convPadChunk is the fewest floats of padded planes convPadPlanes
// hands to one thread.
const convPadChunk = 1 << 14

// convIm2col writes rows r0..r1 of columns n0..n0+nt of the im2col matrix
// of one group's input channels xg into cols, row r at cols[r*nt:]. Row r is
// (channel, kz, ky, kx) in row-major order; column p is the output position
// (oz, oy, ox) in row-major order; taps in the padding are zero.
//
// A row is written one output row (segment) at a time. Convolutions with
// small outputs have short segments, so the loops avoid calls (clear,
// copy) below convShortRun elements.
func convIm2col(cols, xg []float32, g *convShape, r0, r1, n0, nt int) {
	kd, kh, kw := g.k[0], g.k[1], g.k[2]
	D, H, W := g.in[0], g.in[1], g.in[2]
	Ho, Wo := g.out[1], g.out[2]
	sd, sh, sw := g.s[0], g.s[1], g.s[2]
	oz0, oy0, ox0 := n0/(Ho*Wo), n0/Wo%Ho, n0%Wo
	for r := r0; r < r1; r++ {
		kx := r % kw
		ky := r / kw % kh
		kz := r / kw / kh % kd
		ch := r / (kw * kh * kd)
		plane := xg[ch*D*H*W : (ch+1)*D*H*W]
		dst := cols[r*nt : (r+1)*nt]
		zOff := kz*g.d[0] - g.p[0]
		yOff := ky*g.d[1] - g.p[1]
		xOff := kx*g.d[2] - g.p[2]
		// Output columns [lo, hi) of a whole row read inside the input.
		lo, hi := convValid(Wo, sw, xOff, W)
		oz, oy, ox := oz0, oy0, ox0
		for j := 0; j < nt; {
			seg := dst[j:min(nt, j+Wo-ox)]
			iz, iy := oz*sd+zOff, oy*sh+yOff
			if iz < 0 || iz >= D || iy < 0 || iy >= H {
				convZero(seg)
			} else {
				src := plane[(iz*H+iy)*W : (iz*H+iy+1)*W]
				a, b := max(lo-ox, 0), min(hi-ox, len(seg))
				a = min(a, len(seg))
				b = max(b, a)
				convZero(seg[:a])
				if a == b {
					// No tap of this segment reads inside the input.
				} else if sw == 1 {
					from := src[ox+a+xOff : ox+b+xOff]
					if len(from) < convShortRun {
						for t, v := range from {
							seg[a+t] = v
						}
					} else {
						copy(seg[a:b], from)
					}
				} else {
					base := ox*sw + xOff
					for t := a; t < b; t++ {
						seg[t] = src[base+t*sw]
					}
				}
				convZero(seg[b:])
			}
			j += len(seg)
			ox = 0
			if oy++; oy == Ho {
				oy = 0
				oz++
			}
		}
	}
}

// convFlatEnabled turns the flat path off when false (benchmarks compare
// it with im2col); convDWBlockEnabled the blocked depthwise path.
var convFlatEnabled, convDWBlockEnabled = true, true

// convShortRun is the length below which a plain loop beats a call to
// memmove or memclr.
const convShortRun = 16

func convZero(s []float32) {
	if len(s) < convShortRun {
		for i := range s {
			s[i] = 0
		}
		return
	}
	clear(s)
}

// convDepthwise runs a depthwise convolution (group = cin, each output
// channel reading one input channel) one plane at a time. A 3×3 window
// at stride 1 with one pixel of padding, MobileNet's most common layer,
// takes a dedicated row kernel (convDepthwiseSame3x3); every other window,
// stride, padding and dilation goes through vec.ConvTaps over a
// zero-padded copy of the plane (tapPlan). Where wb is not nil (the
// weights interleaved by convDWBlockWeights, for a layer convDWBlockOK
// takes) the blocked path does the channels it can first. Plane p of x
// starts at x[p·ldx] and of y at y[p·ldy] (g.inSize() and g.outSize()
// for whole tensors; a band of rows of larger planes has larger strides).
func convDepthwise(y, x []float32, ldy, ldx int, w, wb, bias []float32, g *convShape, clamp *Clamp, threads int) {
	mult := g.cout / g.cin
	nIn, n, ks := g.inSize(), g.outSize(), g.kSize()
	// m0 is the first output channel left to do: the blocked path may
	// have done those below it.
	m0 := 0
	if wb != nil {
		if m0 = convDWBlock(y, x, ldy, ldx, wb, bias, g, clamp, threads); m0 == g.cout {
			return
		}
	}
	rest := g.cout - m0
	planes := g.batch * rest
	minPlanes := max(1, (1<<15)/max(1, n*ks))
	same3x3 := g.k == [3]int{1, 3, 3} && g.s == [3]int{1, 1, 1} && g.d == [3]int{1, 1, 1} && g.p == [3]int{0, 1, 1}
	windows := convDWWindowsEnabled && g.s[2] <= 2 && g.out[2] >= 8
	geom := windowGeom{kind: tapConv, h: g.in[1], w: g.in[2], ho: g.out[1], wo: g.out[2],
		k: [2]int{g.k[1], g.k[2]}, s: [2]int{g.s[1], g.s[2]}, d: [2]int{g.d[1], g.d[2]}, pad: [2]int{g.p[1], g.p[2]}}
	parallelFor(threads, planes, minPlanes, func(lo, hi int) {
		var padded, wide []float32
		var taps *tapPlan
		var win *planeWindows
		switch {
		case windows:
			win = getPlaneWindows(geom)
			defer planeWindowsPool.put(geom, win)
		case same3x3:
			padded = make([]float32, (g.in[1]+2)*(g.in[2]+2))
			wide = make([]float32, g.in[1]*(g.in[2]+2))
		default:
			taps = getTapPlan(geom)
			defer tapPlanPool.put(geom, taps)
		}
		for p := lo; p < hi; p++ {
			b, m := p/rest, m0+p%rest
			pl := b*g.cout + m
			var bv float32
			if bias != nil {
				bv = bias[m]
			}
			ic := b*g.cin + m/mult
			yp, xp := y[pl*ldy:pl*ldy+n], x[ic*ldx:ic*ldx+nIn]
			switch {
			case win != nil:
				win.run(yp, xp, w[m*ks:(m+1)*ks], bv)
			case same3x3:
				convDepthwiseSame3x3(yp, xp, (*[9]float32)(w[m*ks:(m+1)*ks]), bv, g.in[1], g.in[2], padded, wide)
			default:
				taps.w, taps.bias = w[m*ks:(m+1)*ks], bv
				taps.run(yp, xp)
			}
			if clamp != nil {
				clamp.Apply(yp)
			}
		}
	})
}

// convDWWindowsEnabled selects planeWindows for depthwise planes of
// outputs 8 or more wide at column strides 1 and 2 (tests and benchmarks
// turn it off to compare).
var convDWWindowsEnabled = true

// convDepthwiseSame3x3 convolves one H×W plane with a 3×3 filter, stride
// 1 and one pixel of zero padding, MobileNet's most common layer. It
// copies the plane into the middle of a zero-bordered (H+2)×(W+2) buffer,
// so that every output is an interior one, and then runs the vector row
// kernel once over the whole buffer as if it were a single row: output
// (y, x) is at wide[y*(W+2)+x], and the two columns per row that straddle
// a row boundary are computed and dropped. Small planes (7×7, 14×14),
// where the border is a large part of the work, gain most.
func convDepthwiseSame3x3(out, in []float32, w *[9]float32, bias float32, H, W int, padded, wide []float32) {
	pw := W + 2
	for y := range H {
		copy(padded[(y+1)*pw+1:(y+1)*pw+1+W], in[y*W:(y+1)*W])
	}
	// The borders of padded stay zero: only the interior is ever written.
	if W >= 16 {
		// Rows long enough for whole vector blocks go straight to out.
		for y := range H {
			vec.DW3x3(out[y*W:(y+1)*W], padded[y*pw:], padded[(y+1)*pw:], padded[(y+2)*pw:], w, bias)
		}
		return
	}
	n := (H-1)*pw + W
	vec.DW3x3(wide[:n], padded, padded[pw:], padded[2*pw:], w, bias)
	for y := range H {
		copy(out[y*W:(y+1)*W], wide[y*pw:y*pw+W])
	}
}

// ---------------------------------------------------------------------------
// ConvTranspose

// convTransposeGeom reads ConvTranspose's attributes for an input with
// spatial sizes in (-1 where unknown) and returns the output sizes (-1
// where unknown) and begin paddings.
func convTransposeGeom(n *onnx.Node, in, kernel []int) (out, padBegin []int, win convWindow, err error) {
	nd := len(in)
	if win, err = convReadWindow(n, nd, kernel); err != nil {
		return
	}
	outPad, err := attrIntsLen(n, "output_padding", nd, make([]int64, nd))
	if err != nil {
		return
	}
	outShape := attrInts(n, "output_shape")
	if len(outShape) == nd+2 { // early exporters wrote the full shape
		outShape = outShape[2:]
	}
	if outShape != nil && len(outShape) != nd {
		err = shapeError(n, "output_shape %v for %d spatial dims", outShape, nd)
		return
	}
	out, padBegin = make([]int, nd), make([]int, nd)
	for i := range nd {
		s, op := win.strides[i], int(outPad[i])
		if op < 0 || op >= max(s, win.dils[i]) {
			err = shapeError(n, "output_padding %v must be below strides or dilations", outPad)
			return
		}
		if in[i] < 0 || win.kernel == nil {
			out[i] = -1
			continue
		}
		full := s*(in[i]-1) + op + (win.kernel[i]-1)*win.dils[i] + 1 // output before padding is removed
		switch {
		case outShape != nil || win.autoPad == "SAME_UPPER" || win.autoPad == "SAME_LOWER":
			if outShape != nil {
				out[i] = int(outShape[i])
			} else {
				out[i] = in[i] * s
			}
			// total is negative when the output is larger than the full
			// result; floor division then leaves the surplus at the end,
			// as ONNX's reference does.
			total := full - out[i]
			if win.autoPad == "SAME_UPPER" {
				padBegin[i] = convFloorDiv(total, 2)
			} else {
				padBegin[i] = total - convFloorDiv(total, 2)
			}
		case win.autoPad == "VALID":
			out[i] = full
		default:
			padBegin[i] = win.pads[i]
			out[i] = full - win.pads[i] - win.pads[nd+i]
		}
		if out[i] < 1 {
			err = shapeError(n, "output size %d on spatial axis %d", out[i], i)
			return
		}
	}
	return
}

func convTransposeInfer(c *InferCtx) ([]onnx.Type, error) {
	x, w, dt, nd, kernel, err := convOperands(c)
	if err != nil {
		return nil, err
	}
	if nd < 0 {
		return []onnx.Type{{DType: dt}}, nil
	}
	in := make([]int, nd)
	for i := range nd {
		in[i] = -1
		if d := convDimOr(x, 2+i); d.Known() {
			in[i] = int(d.Value)
		}
	}
	out, _, _, err := convTransposeGeom(c.Node, in, kernel)
	if err != nil {
		return nil, err
	}
	cout := onnx.UnknownDim
	if d := convDimOr(w, 1); d.Known() {
		cout = onnx.Dim{Value: d.Value * attrInt(c.Node, "group", 1)}
	}
	dims := []onnx.Dim{convDimOr(x, 0), cout}
	for _, o := range out {
		if o < 0 {
			dims = append(dims, onnx.UnknownDim)
		} else {
			dims = append(dims, onnx.Dim{Value: int64(o)})
		}
	}
	return []onnx.Type{{DType: dt, HasShape: true, Dims: dims}}, nil
}

func convTransposeRun(c *RunCtx) ([]*tensor.Dense, error) {
	x, w, nd, group, err := convSetup(c)
	if err != nil {
		return nil, err
	}
	n := c.Node
	g := convShape{batch: x.Shape[0], cin: x.Shape[1], cout: w.Shape[1] * group, group: group}
	if w.Shape[0] != g.cin || g.cin%group != 0 {
		return nil, shapeError(n, "X %v and W %v do not agree with group %d", x.Shape, w.Shape, group)
	}
	out, pb, win, err := convTransposeGeom(n, x.Shape[2:], w.Shape[2:])
	if err != nil {
		return nil, err
	}
	bias, err := convBias(c, g.cout)
	if err != nil {
		return nil, err
	}
	off := 3 - nd
	for i := range 3 {
		g.in[i], g.out[i], g.k[i], g.s[i], g.d[i] = 1, 1, 1, 1, 1
	}
	for i := range nd {
		j := off + i
		g.in[j], g.out[j], g.k[j], g.s[j], g.d[j], g.p[j] = x.Shape[2+i], out[i], win.kernel[i], win.strides[i], win.dils[i], pb[i]
	}
	outShape := append([]int{g.batch, g.cout}, out...)
	if _, err := tensor.NumElems(outShape); err != nil {
		return nil, onnx.NodeErrorf(n, "output shape: %w", err)
	}
	y := tensor.New(x.DType, outShape...)
	if y.Len() > 0 {
		convTransposeGemm(c, y.F32, x.F32, w, &g)
		convAddBias(y.F32, bias, g.batch, g.cout, g.outSize())
	}
	return []*tensor.Dense{y}, nil
}

// convTransposeGemm computes, per image and group, cols = W_gᵀ·X_g (rows
// are (output channel, kz, ky, kx), columns input positions) and scatters
// cols into the output (col2im).
func convTransposeGemm(c *RunCtx, y, x []float32, w *tensor.Dense, g *convShape) {
	threads := c.Threads
	cg, mg := g.cin/g.group, g.cout/g.group
	nIn, nOut, ks := g.inSize(), g.outSize(), g.kSize()
	rows := mg * ks
	imgs := g.batch * g.group
	pack := func() []*gemm.PackedA {
		p := make([]*gemm.PackedA, g.group)
		for gi := range p {
			p[gi] = gemm.PackA(true, rows, cg, w.F32[gi*cg*rows:(gi+1)*cg*rows], rows)
		}
		return p
	}
	packs, ok := convPacked(c, 1, convPackConvTranspose, g.group, pack)
	if !ok {
		packs = pack()
	}
	unit := func(u int, cols []float32, threads int) {
		b, gi := u/g.group, u%g.group
		xg := x[(b*g.cin+gi*cg)*nIn : (b*g.cin+(gi+1)*cg)*nIn]
		gemm.SgemmPackedA(threads, false, nIn, 1, packs[gi], xg, nIn, 0, cols, nIn, nil)
		yg := y[(b*g.cout+gi*mg)*nOut : (b*g.cout+(gi+1)*mg)*nOut]
		// Output channels are independent: each reads its own ks rows.
		parallelFor(threads, mg, max(1, (1<<15)/max(1, ks*nIn)), func(m0, m1 int) {
			convCol2im(yg, cols, g, m0, m1)
		})
	}
	if threads > 1 && imgs >= threads {
		parallelFor(threads, imgs, 1, func(lo, hi int) {
			buf := convGetBuf(rows * nIn)
			for u := lo; u < hi; u++ {
				unit(u, *buf, 1)
			}
			convBufs.Put(buf)
		})
		return
	}
	buf := convGetBuf(rows * nIn)
	for u := range imgs {
		unit(u, *buf, threads)
	}
	convBufs.Put(buf)
}

// convCol2im accumulates rows of cols for output channels m0..m1 of one
// group into yg: input position (iz, iy, ix) with tap (kz, ky, kx) lands
// on output (iz*s - p + kz*d, ...) when that is inside the output.
func convCol2im(yg, cols []float32, g *convShape, m0, m1 int) {
	D, H, W := g.in[0], g.in[1], g.in[2]
	Do, Ho, Wo := g.out[0], g.out[1], g.out[2]
	kd, kh, kw := g.k[0], g.k[1], g.k[2]
	nIn, nOut := g.inSize(), g.outSize()
	for m := m0; m < m1; m++ {
		plane := yg[m*nOut : (m+1)*nOut]
		for kz := range kd {
			for ky := range kh {
				for kx := range kw {
					r := ((m*kd+kz)*kh+ky)*kw + kx
					src := cols[r*nIn : (r+1)*nIn]
					xOff := kx*g.d[2] - g.p[2]
					lo, hi := convValid(W, g.s[2], xOff, Wo)
					for iz := range D {
						oz := iz*g.s[0] - g.p[0] + kz*g.d[0]
						if oz < 0 || oz >= Do {
							continue
						}
						for iy := range H {
							oy := iy*g.s[1] - g.p[1] + ky*g.d[1]
							if oy < 0 || oy >= Ho {
								continue
							}
							srow := src[(iz*H+iy)*W : (iz*H+iy+1)*W]
							drow := plane[(oz*Ho+oy)*Wo : (oz*Ho+oy+1)*Wo]
							for ix := lo; ix < hi; ix++ {
								drow[ix*g.s[2]+xOff] += srow[ix]
							}
						}
					}
				}
			}
		}
	}
}
