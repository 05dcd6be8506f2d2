package ops

import (
	"sync"

	"github.com/graft-ml/graft/exec/internal/gemm"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Gradients of Conv and ConvTranspose, their float64 references, and the
// private op ConvFilterGrad.
//
// For y = Conv(x, W): dx = ConvTranspose(dy, W) with Conv's strides,
// dilations, group and pads, and output_padding chosen so that the result
// has x's size (the rows and columns no window reached get zero); dW =
// ConvFilterGrad(x, dy), the correlation of x with dy, computed per image
// and group as dy_g · im2col(x_g)ᵀ with the packed SGEMM; dB sums dy over
// the batch and spatial axes. ConvTranspose is the adjoint of Conv, so its
// rule swaps the roles: dx = Conv(dy, W) and dW = ConvFilterGrad(dy, x).
//
// The init below sets fields of the "Conv" and "ConvTranspose" entries
// registered in conv.go (Grad, and Ref, the float64 reference); they
// belong there once conv.go is free to edit.

func init() {
	register(&Op{Name: "ConvFilterGrad", Domain: GraftDomain, Since: 1, Infer: convFilterGradInfer, Run: convFilterGradRun})
}

// convGradGeom is the static geometry a rule needs: per spatial axis the
// input and output sizes, kernel, stride, dilation and both paddings.
type convGradGeom struct {
	nd                       int
	in, out, k, s, d, pb, pe []int
}

func (g *convGradGeom) attrs(group int64) []*onnx.Attr {
	i64 := func(v []int) []int64 {
		out := make([]int64, len(v))
		for i, x := range v {
			out[i] = int64(x)
		}
		return out
	}
	return []*onnx.Attr{
		onnx.IntsAttr("kernel_shape", i64(g.k)...),
		onnx.IntsAttr("strides", i64(g.s)...),
		onnx.IntsAttr("dilations", i64(g.d)...),
		onnx.IntsAttr("pads", append(i64(g.pb), i64(g.pe)...)...),
		onnx.IntAttr("group", group),
	}
}

// convStatic reads the spatial sizes of x and W's kernel, which the rules
// need to be static.
func convStatic(c *GradCtx) (in, kernel []int, err error) {
	x, w := c.In(0).Type, c.In(1).Type
	if !x.HasShape || !w.HasShape || len(x.Dims) != len(w.Dims) || len(x.Dims) < 3 {
		return nil, nil, c.Errorf("needs the ranks of X %s and W %s", x.ShapeString(), w.ShapeString())
	}
	nd := len(x.Dims) - 2
	in, kernel = make([]int, nd), make([]int, nd)
	for i := range nd {
		xd, wd := x.Dims[2+i], w.Dims[2+i]
		if !xd.Known() || !wd.Known() {
			return nil, nil, c.Errorf("needs static spatial sizes, X is %s and W %s", x.ShapeString(), w.ShapeString())
		}
		in[i], kernel[i] = int(xd.Value), int(wd.Value)
	}
	return in, kernel, nil
}

func convGrad(c *GradCtx) ([]*onnx.Value, error) {
	n := c.Node
	in, kernel, err := convStatic(c)
	if err != nil {
		if g, ok := convGradDynamic(c); ok {
			return g, nil
		}
		return nil, err
	}
	nd := len(in)
	win, err := convReadWindow(n, nd, kernel)
	if err != nil {
		return nil, err
	}
	g := convGradGeom{nd: nd}
	outPad := make([]int64, nd)
	for i := range nd {
		out, pb := win.outDim(i, in[i], false)
		s, d, k := win.strides[i], win.dils[i], kernel[i]
		ext := (k-1)*d + 1
		pe := win.pads[nd+i]
		if win.autoPad != "NOTSET" {
			pe = max(0, (out-1)*s+ext-in[i]-pb)
		}
		op := in[i] + pb + pe - ext - s*(out-1)
		if op < 0 || op >= max(s, d) {
			return nil, c.Unsupportedf("input size %d, window %d, stride %d and pads %d,%d leave %d rows unreached", in[i], ext, s, pb, pe, op)
		}
		outPad[i] = int64(op)
		g.in = append(g.in, in[i])
		g.out = append(g.out, out)
		g.k, g.s, g.d = append(g.k, k), append(g.s, s), append(g.d, d)
		g.pb, g.pe = append(g.pb, pb), append(g.pe, pe)
	}
	group := attrInt(n, "group", 1)
	x, w, dy := c.In(0), c.In(1), c.DY[0]
	res := make([]*onnx.Value, len(n.Inputs))
	if c.Needs(0) {
		attrs := append(g.attrs(group), onnx.IntsAttr("output_padding", outPad...))
		res[0] = c.Emit("ConvTranspose", []*onnx.Value{dy, w}, attrs...)
	}
	if c.Needs(1) {
		res[1] = c.Private("ConvFilterGrad", []*onnx.Value{x, dy}, g.attrs(group)...)
	}
	if c.Needs(2) {
		res[2] = c.ReduceSum(dy, convBiasAxes(nd), false)
	}
	return res, nil
}

// convGradDynamic is convGrad for an X whose spatial sizes are known only
// at run time (a fully convolutional net exported with dynamic H and W),
// with a static kernel and explicit pads or auto_pad VALID. The filter
// and bias gradients need no sizes. For dx, ConvTranspose with the begin
// pads only gives every position from the first input row to the end of
// the last window: a Slice to Shape(X) drops what lay in the end padding,
// and a Pad at the end adds the rows no window reached as zeros (both
// sized at run time).
func convGradDynamic(c *GradCtx) ([]*onnx.Value, bool) {
	n := c.Node
	x, w, dy := c.In(0), c.In(1), c.DY[0]
	xt, wt := x.Type, w.Type
	if c.Opset < 11 || !xt.HasShape || !wt.HasShape || len(xt.Dims) != len(wt.Dims) || len(xt.Dims) < 3 {
		return nil, false
	}
	nd := len(xt.Dims) - 2
	kernel := make([]int, nd)
	for i := range nd {
		if !wt.Dims[2+i].Known() {
			return nil, false
		}
		kernel[i] = int(wt.Dims[2+i].Value)
	}
	win, err := convReadWindow(n, nd, kernel)
	if err != nil || (win.autoPad != "NOTSET" && win.autoPad != "VALID") {
		return nil, false
	}
	g := convGradGeom{nd: nd}
	strided := false
	for i := range nd {
		pb, pe := 0, 0
		if win.autoPad == "NOTSET" {
			pb, pe = win.pads[i], win.pads[nd+i]
		}
		g.k, g.s, g.d = append(g.k, kernel[i]), append(g.s, win.strides[i]), append(g.d, win.dils[i])
		g.pb, g.pe = append(g.pb, pb), append(g.pe, pe)
		strided = strided || win.strides[i] > 1
	}
	group := attrInt(n, "group", 1)
	res := make([]*onnx.Value, len(n.Inputs))
	if c.Needs(0) {
		open := g
		open.pe = make([]int, nd)
		dx := c.Emit("ConvTranspose", []*onnx.Value{dy, w}, open.attrs(group)...)
		r := int64(nd + 2)
		spatial := make([]int64, nd)
		for i := range spatial {
			spatial[i] = int64(2 + i)
		}
		tail := func(v *onnx.Value) *onnx.Value {
			return c.Op1("Slice", c.Shape(v), c.Int64s(2), c.Int64s(r))
		}
		dx = c.Op1("Slice", dx, c.Int64s(make([]int64, nd)...), tail(x), c.Int64s(spatial...))
		if strided {
			short := c.Op1("Sub", tail(x), tail(dx))
			pads := c.Emit("Concat", []*onnx.Value{c.Int64s(make([]int64, nd+4)...), short}, onnx.IntAttr("axis", 0))
			dx = c.Op1("Pad", dx, pads)
		}
		res[0] = dx
	}
	if c.Needs(1) {
		res[1] = c.Private("ConvFilterGrad", []*onnx.Value{x, dy}, g.attrs(group)...)
	}
	if c.Needs(2) {
		res[2] = c.ReduceSum(dy, convBiasAxes(nd), false)
	}
	return res, true
}

func convBiasAxes(nd int) []int64 {
	axes := []int64{0}
	for i := range nd {
		axes = append(axes, int64(2+i))
	}
	return axes
}

func convTransposeGrad(c *GradCtx) ([]*onnx.Value, error) {
	n := c.Node
	in, kernel, err := convStatic(c)
	if err != nil {
		return nil, err
	}
	nd := len(in)
	out, pb, win, err := convTransposeGeom(n, in, kernel)
	if err != nil {
		return nil, err
	}
	outPad, _ := attrIntsLen(n, "output_padding", nd, make([]int64, nd))
	g := convGradGeom{nd: nd}
	for i := range nd {
		s, d, k := win.strides[i], win.dils[i], kernel[i]
		ext := (k-1)*d + 1
		full := s*(in[i]-1) + int(outPad[i]) + ext
		pe := full - out[i] - pb[i]
		if pb[i] < 0 || pe < 0 || int(outPad[i]) >= s {
			return nil, c.Unsupportedf("padding %d,%d with output_padding %d and stride %d", pb[i], pe, outPad[i], s)
		}
		g.in, g.out = append(g.in, out[i]), append(g.out, in[i])
		g.k, g.s, g.d = append(g.k, k), append(g.s, s), append(g.d, d)
		g.pb, g.pe = append(g.pb, pb[i]), append(g.pe, pe)
	}
	group := attrInt(n, "group", 1)
	x, w, dy := c.In(0), c.In(1), c.DY[0]
	res := make([]*onnx.Value, len(n.Inputs))
	if c.Needs(0) {
		res[0] = c.Emit("Conv", []*onnx.Value{dy, w}, g.attrs(group)...)
	}
	if c.Needs(1) {
		res[1] = c.Private("ConvFilterGrad", []*onnx.Value{dy, x}, g.attrs(group)...)
	}
	if c.Needs(2) {
		res[2] = c.ReduceSum(dy, convBiasAxes(nd), false)
	}
	return res, nil
}

// ---------------------------------------------------------------------------
// ConvFilterGrad(X, dY) -> dW, attributes kernel_shape, strides, dilations,
// pads, group as on the Conv: dW[m, c, k] = Σ_n Σ_o dY[n, m, o] ·
// X[n, g·C/group + c, o·s - pb + k·d] for output channel m of group g.
// dY's spatial size is the Conv's output size.

func convFilterGradInfer(c *InferCtx) ([]onnx.Type, error) {
	x, _ := c.Input(0)
	dy, _ := c.Input(1)
	k := attrInts(c.Node, "kernel_shape")
	group := attrInt(c.Node, "group", 1)
	dims := []onnx.Dim{convDimOr(dy, 1), onnx.UnknownDim}
	if d := convDimOr(x, 1); d.Known() {
		dims[1] = onnx.Dim{Value: d.Value / group}
	}
	for _, v := range k {
		dims = append(dims, onnx.Dim{Value: v})
	}
	return []onnx.Type{{DType: x.DType, HasShape: k != nil, Dims: dims}}, nil
}

// convFilterGeom reads ConvFilterGrad's operands into a convShape (with
// in the X size and out the dY size) and dW's shape.
func convFilterGeom(c *RunCtx) (x, dy *tensor.Dense, g convShape, wShape []int, err error) {
	n := c.Node
	x, dy = c.Input(0), c.Input(1)
	if x == nil || dy == nil || len(x.Shape) != len(dy.Shape) || len(x.Shape) < 3 || len(x.Shape) > 5 {
		err = shapeError(n, "want X and dY of equal rank 3 to 5")
		return
	}
	if x.DType != dy.DType || (x.DType != tensor.Float32 && x.DType != tensor.Float64) {
		err = unsupportedf(n, "dtypes %s and %s", x.DType, dy.DType)
		return
	}
	nd := len(x.Shape) - 2
	win, err := convReadWindow(n, nd, nil)
	if err != nil {
		return
	}
	if win.kernel == nil {
		err = shapeError(n, "kernel_shape missing")
		return
	}
	group := int(attrInt(n, "group", 1))
	g = convShape{batch: x.Shape[0], cin: x.Shape[1], cout: dy.Shape[1], group: group}
	if group < 1 || g.cin%group != 0 || g.cout%group != 0 || dy.Shape[0] != g.batch {
		err = shapeError(n, "X %v and dY %v do not agree with group %d", x.Shape, dy.Shape, group)
		return
	}
	for i := range 3 {
		g.in[i], g.out[i], g.k[i], g.s[i], g.d[i] = 1, 1, 1, 1, 1
	}
	wShape = []int{g.cout, g.cin / group}
	off := 3 - nd
	for i := range nd {
		j := off + i
		g.in[j], g.out[j], g.k[j], g.s[j], g.d[j], g.p[j] = x.Shape[2+i], dy.Shape[2+i], win.kernel[i], win.strides[i], win.dils[i], win.pads[i]
		wShape = append(wShape, win.kernel[i])
	}
	return
}

func convFilterGradRun(c *RunCtx) ([]*tensor.Dense, error) {
	x, dy, g, wShape, err := convFilterGeom(c)
	if err != nil {
		return nil, err
	}
	dw := tensor.New(x.DType, wShape...)
	if dw.Len() == 0 || g.batch == 0 {
		return []*tensor.Dense{dw}, nil
	}
	if x.DType == tensor.Float64 {
		convFilterDirect(dw.F64, x.F64, dy.F64, &g, c.Threads)
		return []*tensor.Dense{dw}, nil
	}
	cg, mg := g.cin/g.group, g.cout/g.group
	if cg == 1 && mg == 1 {
		convFilterDirect(dw.F32, x.F32, dy.F32, &g, c.Threads)
		return []*tensor.Dense{dw}, nil
	}
	// Per image and group: dW_g (mg × cg·K) += dY_g (mg × P) · colsᵀ,
	// cols = im2col(X_g) (cg·K × P). The images are split between the
	// threads, each summing its share into its own dW with serial GEMMs
	// (a step's GEMMs are small: parallelising each one cost more than it
	// gained), and the shares are added at the end.
	ks, nIn, nOut := g.kSize(), g.inSize(), g.outSize()
	rows := cg * ks
	workers := max(1, min(c.Threads, g.batch))
	partial := make([][]float32, workers)
	partial[0] = dw.F32
	chunk := (g.batch + workers - 1) / workers
	parallelFor(workers, g.batch, chunk, func(b0, b1 int) {
		w := b0 / chunk
		acc := partial[w]
		if acc == nil {
			acc = make([]float32, len(dw.F32))
			partial[w] = acc
		}
		buf, _ := convFilterBufs.Get().(*[]float32)
		if buf == nil || cap(*buf) < rows*nOut {
			b := make([]float32, rows*nOut)
			buf = &b
		}
		defer convFilterBufs.Put(buf)
		cols := (*buf)[:rows*nOut]
		for b := b0; b < b1; b++ {
			for gi := range g.group {
				xg := x.F32[(b*g.cin+gi*cg)*nIn : (b*g.cin+(gi+1)*cg)*nIn]
				convIm2col(cols, xg, &g, 0, rows, 0, nOut)
				dyg := dy.F32[(b*g.cout+gi*mg)*nOut : (b*g.cout+(gi+1)*mg)*nOut]
				dwg := acc[gi*mg*rows : (gi+1)*mg*rows]
				gemm.SgemmParallel(1, false, true, mg, rows, nOut, 1, dyg, nOut, cols, nOut, 1, dwg, rows)
			}
		}
	})
	for _, p := range partial[1:] {
		for i, v := range p {
			dw.F32[i] += v
		}
	}
	return []*tensor.Dense{dw}, nil
}

// convFilterBufs recycles ConvFilterGrad's im2col buffers.
var convFilterBufs sync.Pool

// convFilterDirect is ConvFilterGrad's reference loop, parallel over
// output channels; float32 depthwise convolutions use it too.
func convFilterDirect[T float32 | float64](dw, x, dy []T, g *convShape, threads int) {
	cg, mg := g.cin/g.group, g.cout/g.group
	ks, nIn, nOut := g.kSize(), g.inSize(), g.outSize()
	parallelFor(threads, g.cout, 1, func(m0, m1 int) {
		for m := m0; m < m1; m++ {
			gi := m / mg
			for ci := range cg {
				ch := gi*cg + ci
				for kz := range g.k[0] {
					for ky := range g.k[1] {
						for kx := range g.k[2] {
							var acc float64
							for b := range g.batch {
								xp := x[(b*g.cin+ch)*nIn : (b*g.cin+ch+1)*nIn]
								dp := dy[(b*g.cout+m)*nOut : (b*g.cout+m+1)*nOut]
								for oz := range g.out[0] {
									iz := oz*g.s[0] - g.p[0] + kz*g.d[0]
									if iz < 0 || iz >= g.in[0] {
										continue
									}
									for oy := range g.out[1] {
										iy := oy*g.s[1] - g.p[1] + ky*g.d[1]
										if iy < 0 || iy >= g.in[1] {
											continue
										}
										xr := xp[(iz*g.in[1]+iy)*g.in[2] : (iz*g.in[1]+iy+1)*g.in[2]]
										dr := dp[(oz*g.out[1]+oy)*g.out[2] : (oz*g.out[1]+oy+1)*g.out[2]]
										lo, hi := convValid(g.out[2], g.s[2], kx*g.d[2]-g.p[2], g.in[2])
										for ox := lo; ox < hi; ox++ {
											acc += float64(dr[ox]) * float64(xr[ox*g.s[2]-g.p[2]+kx*g.d[2]])
										}
									}
								}
							}
							dw[(m*cg+ci)*ks+(kz*g.k[1]+ky)*g.k[2]+kx] = T(acc)
						}
					}
				}
			}
		}
	})
}

// ---------------------------------------------------------------------------
// float64 references for Conv and ConvTranspose.

// convRef64Geom mirrors convRun's and convTransposeRun's geometry for
// float64 operands.
func convRef64Geom(c *RunCtx, transpose bool) (x, w *tensor.Dense, g convShape, outShape []int, err error) {
	n := c.Node
	x, w = c.Input(0), c.Input(1)
	if x == nil || w == nil || x.DType != tensor.Float64 || w.DType != tensor.Float64 {
		err = unsupportedf(n, "float64 reference needs float64 X and W")
		return
	}
	nd := len(x.Shape) - 2
	if nd < 1 || nd > 3 || len(w.Shape) != len(x.Shape) {
		err = shapeError(n, "X %v and W %v: want equal ranks 3 to 5", x.Shape, w.Shape)
		return
	}
	group := int(attrInt(n, "group", 1))
	if group < 1 {
		err = shapeError(n, "group %d", group)
		return
	}
	for i := range 3 {
		g.in[i], g.out[i], g.k[i], g.s[i], g.d[i] = 1, 1, 1, 1, 1
	}
	off := 3 - nd
	if !transpose {
		g = convShape{batch: x.Shape[0], cin: x.Shape[1], cout: w.Shape[0], group: group, in: g.in, out: g.out, k: g.k, s: g.s, d: g.d}
		if g.cin%group != 0 || g.cout%group != 0 || w.Shape[1]*group != g.cin {
			err = shapeError(n, "X %v and W %v do not agree with group %d", x.Shape, w.Shape, group)
			return
		}
		var win convWindow
		if win, err = convReadWindow(n, nd, w.Shape[2:]); err != nil {
			return
		}
		outShape = []int{g.batch, g.cout}
		for i := range nd {
			out, pb := win.outDim(i, x.Shape[2+i], false)
			if out < 1 {
				err = shapeError(n, "input %v is smaller than the window %v", x.Shape, win.kernel)
				return
			}
			j := off + i
			g.in[j], g.out[j], g.k[j], g.s[j], g.d[j], g.p[j] = x.Shape[2+i], out, win.kernel[i], win.strides[i], win.dils[i], pb
			outShape = append(outShape, out)
		}
		return
	}
	g = convShape{batch: x.Shape[0], cin: x.Shape[1], cout: w.Shape[1] * group, group: group, in: g.in, out: g.out, k: g.k, s: g.s, d: g.d}
	if w.Shape[0] != g.cin || g.cin%group != 0 {
		err = shapeError(n, "X %v and W %v do not agree with group %d", x.Shape, w.Shape, group)
		return
	}
	out, pb, win, e := convTransposeGeom(n, x.Shape[2:], w.Shape[2:])
	if err = e; err != nil {
		return
	}
	for i := range nd {
		j := off + i
		g.in[j], g.out[j], g.k[j], g.s[j], g.d[j], g.p[j] = x.Shape[2+i], out[i], win.kernel[i], win.strides[i], win.dils[i], pb[i]
	}
	outShape = append([]int{g.batch, g.cout}, out...)
	return
}

// convRef64Bias returns the optional bias as float64s of length n.
func convRef64Bias(c *RunCtx, n int) ([]float64, error) {
	b := c.Input(2)
	if b == nil {
		return make([]float64, n), nil
	}
	if len(b.Shape) != 1 || b.Shape[0] != n || b.DType != tensor.Float64 {
		return nil, shapeError(c.Node, "bias %s%v, want float64[%d]", b.DType, b.Shape, n)
	}
	return b.F64, nil
}

// convRef64 is Conv in float64: y[b, m, o] = B[m] + Σ_c Σ_k W[m, c, k] ·
// x[b, group(m)·C/group + c, o·s - p + k·d].
func convRef64(c *RunCtx) ([]*tensor.Dense, error) {
	x, w, g, outShape, err := convRef64Geom(c, false)
	if err != nil {
		return nil, err
	}
	bias, err := convRef64Bias(c, g.cout)
	if err != nil {
		return nil, err
	}
	y := tensor.New(tensor.Float64, outShape...)
	cg, mg := g.cin/g.group, g.cout/g.group
	ks, nIn, nOut := g.kSize(), g.inSize(), g.outSize()
	parallelFor(c.Threads, g.batch*g.cout, 1, func(lo, hi int) {
		for bm := lo; bm < hi; bm++ {
			b, m := bm/g.cout, bm%g.cout
			gi := m / mg
			yp := y.F64[bm*nOut : (bm+1)*nOut]
			for o := range nOut {
				oz, oy, ox := o/(g.out[1]*g.out[2]), o/g.out[2]%g.out[1], o%g.out[2]
				acc := bias[m]
				for ci := range cg {
					xp := x.F64[(b*g.cin+gi*cg+ci)*nIn:]
					wp := w.F64[(m*cg+ci)*ks:]
					for k := range ks {
						kz, ky, kx := k/(g.k[1]*g.k[2]), k/g.k[2]%g.k[1], k%g.k[2]
						iz, iy, ix := oz*g.s[0]-g.p[0]+kz*g.d[0], oy*g.s[1]-g.p[1]+ky*g.d[1], ox*g.s[2]-g.p[2]+kx*g.d[2]
						if iz < 0 || iz >= g.in[0] || iy < 0 || iy >= g.in[1] || ix < 0 || ix >= g.in[2] {
							continue
						}
						acc += wp[k] * xp[(iz*g.in[1]+iy)*g.in[2]+ix]
					}
				}
				yp[o] = acc
			}
		}
	})
	return []*tensor.Dense{y}, nil
}

// convTransposeRef64 is ConvTranspose in float64: every x[b, c, i] adds
// x·W[c, m, k] to y[b, group(c)·M/group + m, i·s - p + k·d].
func convTransposeRef64(c *RunCtx) ([]*tensor.Dense, error) {
	x, w, g, outShape, err := convRef64Geom(c, true)
	if err != nil {
		return nil, err
	}
	bias, err := convRef64Bias(c, g.cout)
	if err != nil {
		return nil, err
	}
	y := tensor.New(tensor.Float64, outShape...)
	cg, mg := g.cin/g.group, g.cout/g.group
	ks, nIn, nOut := g.kSize(), g.inSize(), g.outSize()
	parallelFor(c.Threads, g.batch*g.cout, 1, func(lo, hi int) {
		for bm := lo; bm < hi; bm++ {
			b, m := bm/g.cout, bm%g.cout
			gi, mi := m/mg, m%mg
			yp := y.F64[bm*nOut : (bm+1)*nOut]
			for o := range yp {
				yp[o] = bias[m]
			}
			for ci := range cg {
				ch := gi*cg + ci
				xp := x.F64[(b*g.cin+ch)*nIn : (b*g.cin+ch+1)*nIn]
				wp := w.F64[(ch*mg+mi)*ks:]
				for i, v := range xp {
					iz, iy, ix := i/(g.in[1]*g.in[2]), i/g.in[2]%g.in[1], i%g.in[2]
					for k := range ks {
						kz, ky, kx := k/(g.k[1]*g.k[2]), k/g.k[2]%g.k[1], k%g.k[2]
						oz, oy, ox := iz*g.s[0]-g.p[0]+kz*g.d[0], iy*g.s[1]-g.p[1]+ky*g.d[1], ix*g.s[2]-g.p[2]+kx*g.d[2]
						if oz < 0 || oz >= g.out[0] || oy < 0 || oy >= g.out[1] || ox < 0 || ox >= g.out[2] {
							continue
						}
						yp[(oz*g.out[1]+oy)*g.out[2]+ox] += v * wp[k]
					}
				}
			}
		}
	})
	return []*tensor.Dense{y}, nil
}
