package ops

import (
	"math"

	"github.com/graft-ml/graft/exec/internal/qgemm"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Quantized family (ONNX operator docs, opsets 10-13): QuantizeLinear,
// DequantizeLinear, DynamicQuantizeLinear, MatMulInteger, ConvInteger,
// QLinearMatMul and QLinearConv over int8 and uint8 tensors (held, like
// every integer dtype, in Dense.I64).
//
// Integer accumulation is exact, as the spec requires: the products run
// on qgemm's int16 × int16 → int32 kernels (quant_gemm.go, quant_conv.go),
// each operand less its zero point.
//
// Scales, quantization and requantization follow ONNX Runtime's float32
// arithmetic (x/scale for QuantizeLinear; acc·(x_scale·w_scale/y_scale)
// for QLinear*), each rounded half to even and saturated, so that results
// equal ONNX Runtime's bit for bit. qgemm.Quantize and qgemm.Requantize
// do this eight values at a time.

func init() {
	const why = "quantized integer ops are not differentiable"
	register(
		&Op{Name: "QuantizeLinear", Since: 10, Infer: quantizeInfer, Run: quantizeRun, NoGrad: why},
		&Op{Name: "DequantizeLinear", Since: 10, Infer: dequantizeInfer, Run: dequantizeRun, NoGrad: why},
		&Op{Name: "DynamicQuantizeLinear", Since: 11, Infer: dynQuantInfer, Run: dynQuantRun, NoGrad: why},
		&Op{Name: "MatMulInteger", Since: 10, Infer: matmulIntegerInfer, Run: matmulIntegerRun, NoGrad: why},
		&Op{Name: "QLinearMatMul", Since: 10, Infer: qlinearMatMulInfer, Run: qlinearMatMulRun, NoGrad: why},
		&Op{Name: "ConvInteger", Since: 10, Infer: convIntegerInfer, Run: convIntegerRun, NoGrad: why},
		&Op{Name: "QLinearConv", Since: 10, Infer: qlinearConvInfer, Run: qlinearConvRun, NoGrad: why},
	)
}

// quantRange returns the saturation bounds of a quantized dtype.
func quantRange(n *onnx.Node, dt tensor.DType) (lo, hi float32, err error) {
	switch dt {
	case tensor.Uint8:
		return 0, 255, nil
	case tensor.Int8:
		return -128, 127, nil
	case tensor.Uint16:
		return 0, 65535, nil
	case tensor.Int16:
		return -32768, 32767, nil
	}
	return 0, 0, unsupportedf(n, "quantized dtype %s", dt)
}

// quantSaturate rounds v half to even and clamps it to [lo, hi] after
// adding the zero point.
func quantSaturate(v float32, zp, lo, hi float32) int64 {
	r := float32(math.RoundToEven(float64(v))) + zp
	return int64(min(max(r, lo), hi))
}

// quantInt returns an integer-stored input, or an error naming it.
func quantInt(c *RunCtx, i int, what string) (*tensor.Dense, error) {
	t := c.Input(i)
	if t == nil {
		return nil, onnx.NodeErrorf(c.Node, "input %s missing", what)
	}
	if k, ok := shapeStore(t.DType); !ok || k != shapeI64 || t.DType == tensor.Bool {
		return nil, onnx.NodeErrorf(c.Node, "input %s: want an integer tensor, got %s", what, t.DType)
	}
	return t, nil
}

// quantFloats returns a float input (a scale) as float32 values.
func quantFloats(c *RunCtx, i int, what string) ([]float32, error) {
	t := c.Input(i)
	if t == nil {
		return nil, onnx.NodeErrorf(c.Node, "input %s missing", what)
	}
	switch {
	case t.F32 != nil || (t.DType == tensor.Float32 && t.Len() == 0):
		return t.F32, nil
	case t.F64 != nil:
		out := make([]float32, len(t.F64))
		for i, v := range t.F64 {
			out[i] = float32(v)
		}
		return out, nil
	}
	return nil, onnx.NodeErrorf(c.Node, "input %s: want a float tensor, got %s", what, t.DType)
}

// quantAxis is how a scale and zero point spread over a tensor: element i
// uses entry (i/inner)%dim (dim 1 for per-tensor parameters).
type quantAxis struct{ dim, inner int }

func (a quantAxis) at(i int) int { return (i / a.inner) % a.dim }

// blocks calls f for each run [lo, hi) of the n elements that share one
// scale and zero point, entry j: the whole tensor for per-tensor
// parameters, else runs of inner elements.
func (a quantAxis) blocks(n int, f func(lo, hi, j int)) {
	if a.dim == 1 {
		f(0, n, 0)
		return
	}
	for lo := 0; lo < n; lo += a.inner {
		f(lo, min(lo+a.inner, n), a.at(lo))
	}
}

// quantLayout checks scale (and zero point, when given) against x's shape:
// one value for the tensor, or a 1-D tensor of x.shape[axis] values.
func quantLayout(n *onnx.Node, shape []int, scale, zp *tensor.Dense) (quantAxis, error) {
	count := scale.Len()
	if zp != nil && zp.Len() != count {
		return quantAxis{}, shapeError(n, "zero point has %d values, scale %d", zp.Len(), count)
	}
	if scale.Rank() == 0 || (scale.Rank() == 1 && count == 1) {
		return quantAxis{dim: 1, inner: 1}, nil
	}
	if scale.Rank() != 1 {
		return quantAxis{}, shapeError(n, "scale of shape %v: want a scalar or a 1-D tensor", scale.Shape)
	}
	axis, err := normAxis(n, attrInt(n, "axis", 1), len(shape))
	if err != nil {
		return quantAxis{}, err
	}
	if shape[axis] != count {
		return quantAxis{}, shapeError(n, "scale has %d values for axis %d of size %d", count, axis, shape[axis])
	}
	inner := 1
	for _, d := range shape[axis+1:] {
		inner *= d
	}
	return quantAxis{dim: count, inner: max(inner, 1)}, nil
}

// ---------------------------------------------------------------------------
// QuantizeLinear: y = saturate(round(x / y_scale) + y_zero_point).

func quantizeInfer(c *InferCtx) ([]onnx.Type, error) {
	x, _ := c.Input(0)
	dt := tensor.Uint8
	if zp, ok := c.Input(2); ok && zp.DType != tensor.Undefined {
		dt = zp.DType
	}
	if _, _, err := quantRange(c.Node, dt); err != nil {
		return nil, err
	}
	x.DType = dt
	return []onnx.Type{x}, nil
}

func quantizeRun(c *RunCtx) ([]*tensor.Dense, error) {
	x := c.Input(0)
	if x == nil {
		return nil, onnx.NodeErrorf(c.Node, "input x missing")
	}
	scale, err := quantFloats(c, 1, "y_scale")
	if err != nil {
		return nil, err
	}
	dt := tensor.Uint8
	zp := c.Input(2)
	if zp != nil {
		if zp, err = quantInt(c, 2, "y_zero_point"); err != nil {
			return nil, err
		}
		dt = zp.DType
	}
	lo, hi, err := quantRange(c.Node, dt)
	if err != nil {
		return nil, err
	}
	ax, err := quantLayout(c.Node, x.Shape, c.Input(1), zp)
	if err != nil {
		return nil, err
	}
	y := tensor.New(dt, x.Shape...)
	zero := func(j int) float32 {
		if zp == nil {
			return 0
		}
		return float32(zp.I64[j])
	}
	switch {
	case x.F32 != nil:
		ax.blocks(len(x.F32), func(i0, i1, j int) {
			qgemm.Quantize(y.I64[i0:i1], x.F32[i0:i1], scale[j], quantBounds(lo, hi, zero(j)))
		})
	case x.F64 != nil:
		for i, v := range x.F64 {
			j := ax.at(i)
			q := float32(math.RoundToEven(v/float64(scale[j]))) + zero(j)
			y.I64[i] = int64(min(max(q, lo), hi))
		}
	case x.DType == tensor.Int32:
		for i, v := range x.I64 {
			j := ax.at(i)
			y.I64[i] = quantSaturate(float32(v)/scale[j], zero(j), lo, hi)
		}
	default:
		if x.Len() > 0 {
			return nil, unsupportedf(c.Node, "QuantizeLinear of %s", x.DType)
		}
	}
	return []*tensor.Dense{y}, nil
}

// ---------------------------------------------------------------------------
// DequantizeLinear: y = (x - x_zero_point) · x_scale, in float32.

func dequantizeInfer(c *InferCtx) ([]onnx.Type, error) {
	x, _ := c.Input(0)
	s, _ := c.Input(1)
	x.DType = tensor.Float32
	if s.DType != tensor.Undefined {
		x.DType = s.DType
	}
	return []onnx.Type{x}, nil
}

func dequantizeRun(c *RunCtx) ([]*tensor.Dense, error) {
	x, err := quantInt(c, 0, "x")
	if err != nil {
		return nil, err
	}
	scale, err := quantFloats(c, 1, "x_scale")
	if err != nil {
		return nil, err
	}
	zp := c.Input(2)
	if zp != nil {
		if zp, err = quantInt(c, 2, "x_zero_point"); err != nil {
			return nil, err
		}
	}
	ax, err := quantLayout(c.Node, x.Shape, c.Input(1), zp)
	if err != nil {
		return nil, err
	}
	dt := c.Input(1).DType
	if _, ok := shapeStore(dt); !ok || !dt.IsFloat() {
		dt = tensor.Float32
	}
	y := tensor.NewUninit(dt, x.Shape...)
	ax.blocks(len(x.I64), func(i0, i1, j int) {
		s, z := scale[j], quantZP(zp, j)
		if y.F64 != nil {
			for i, v := range x.I64[i0:i1] {
				y.F64[i0+i] = float64(float32(int32(v-z)) * s)
			}
			return
		}
		qgemm.Dequantize(y.F32[i0:i1], x.I64[i0:i1], z, s)
	})
	return []*tensor.Dense{y}, nil
}

// ---------------------------------------------------------------------------
// DynamicQuantizeLinear: uint8 quantization whose scale and zero point
// cover [min(0, min x), max(0, max x)]. A tensor of zeros gets scale 1 (the
// spec's formula would divide by zero), as in ONNX Runtime.

func dynQuantInfer(c *InferCtx) ([]onnx.Type, error) {
	x, _ := c.Input(0)
	x.DType = tensor.Uint8
	return []onnx.Type{x, onnx.ShapeOf(tensor.Float32), onnx.ShapeOf(tensor.Uint8)}, nil
}

func dynQuantRun(c *RunCtx) ([]*tensor.Dense, error) {
	x := c.Input(0)
	if x == nil || (x.F32 == nil && x.Len() > 0) {
		return nil, onnx.NodeErrorf(c.Node, "input x: want a float32 tensor")
	}
	lo, hi := float32(0), float32(0)
	for _, v := range x.F32 {
		lo, hi = min(lo, v), max(hi, v)
	}
	scale := float32(1)
	if hi != lo {
		scale = (hi - lo) / 255
	}
	zp := float32(math.RoundToEven(float64(min(max(0-lo/scale, 0), 255))))
	y := tensor.New(tensor.Uint8, x.Shape...)
	qgemm.Quantize(y.I64, x.F32, scale, quantBounds(0, 255, zp))
	s := tensor.New(tensor.Float32)
	s.F32[0] = scale
	z := tensor.New(tensor.Uint8)
	z.I64[0] = int64(zp)
	return []*tensor.Dense{y, s, z}, nil
}

// ---------------------------------------------------------------------------
// Integer matrix products

// quantZeroPoint returns an optional zero-point input of rank 0 or 1,
// checking that it has one value or, where per is positive, per values;
// where per is negative the caller checks the length.
func quantZeroPoint(c *RunCtx, i int, what string, per int) (*tensor.Dense, error) {
	if c.Input(i) == nil {
		return nil, nil
	}
	zp, err := quantInt(c, i, what)
	if err != nil {
		return nil, err
	}
	if zp.Rank() > 1 || per >= 0 && zp.Len() != 1 && zp.Len() != per {
		return nil, shapeError(c.Node, "%s of shape %v: want one value, or one per channel", what, zp.Shape)
	}
	return zp, nil
}

func matmulIntegerInfer(c *InferCtx) ([]onnx.Type, error) {
	a, _ := c.Input(0)
	b, _ := c.Input(1)
	c2 := *c
	a.DType, b.DType = tensor.Int32, tensor.Int32
	c2.In = []onnx.Type{a, b}
	return matmulInfer(&c2)
}

func matmulIntegerRun(c *RunCtx) ([]*tensor.Dense, error) {
	a, err := quantInt(c, 0, "A")
	if err != nil {
		return nil, err
	}
	b, err := quantInt(c, 1, "B")
	if err != nil {
		return nil, err
	}
	za, err := quantZeroPoint(c, 2, "a_zero_point", -1)
	if err != nil {
		return nil, err
	}
	zb, err := quantZeroPoint(c, 3, "b_zero_point", -1)
	if err != nil {
		return nil, err
	}
	p, err := quantMatMulPlan(c, a, b, za, zb)
	if err != nil {
		return nil, err
	}
	y := tensor.New(tensor.Int32, p.out...)
	mn := p.m * p.n
	quantMatMul(c, p, a, b, za, zb, 1, 3, func(e int, acc []int32) {
		quantStoreInt32(y.I64[e*mn:(e+1)*mn], acc)
	})
	return []*tensor.Dense{y}, nil
}

// qlinearScales returns x_scale·w_scale[i]/y_scale for each i, in float32
// as ONNX Runtime computes them.
func qlinearScales(xs, ws []float32, ys float32) []float32 {
	out := make([]float32, len(ws))
	for i, w := range ws {
		out[i] = xs[0] * w / ys
	}
	return out
}

// qlinearOutput reads y_scale (input i) and y_zero_point (input i+1) and
// returns the output dtype with its bounds.
func qlinearOutput(c *RunCtx, i int) (ys float32, zp float32, dt tensor.DType, lo, hi float32, err error) {
	s, err := quantFloats(c, i, "y_scale")
	if err != nil {
		return
	}
	if len(s) != 1 {
		err = shapeError(c.Node, "y_scale has %d values, want 1", len(s))
		return
	}
	z, err := quantZeroPoint(c, i+1, "y_zero_point", 0)
	if err != nil {
		return
	}
	dt = tensor.Uint8
	if z != nil {
		dt, zp = z.DType, float32(z.I64[0])
	}
	lo, hi, err = quantRange(c.Node, dt)
	return s[0], zp, dt, lo, hi, err
}

func qlinearMatMulInfer(c *InferCtx) ([]onnx.Type, error) {
	a, _ := c.Input(0)
	b, _ := c.Input(3)
	c2 := *c
	a.DType, b.DType = tensor.Int32, tensor.Int32
	c2.In = []onnx.Type{a, b}
	out, err := matmulInfer(&c2)
	if err != nil {
		return nil, err
	}
	out[0].DType = tensor.Uint8
	if zp, ok := c.Input(7); ok && zp.DType != tensor.Undefined {
		out[0].DType = zp.DType
	}
	return out, nil
}

func qlinearMatMulRun(c *RunCtx) ([]*tensor.Dense, error) {
	a, err := quantInt(c, 0, "a")
	if err != nil {
		return nil, err
	}
	b, err := quantInt(c, 3, "b")
	if err != nil {
		return nil, err
	}
	as, err := quantFloats(c, 1, "a_scale")
	if err != nil {
		return nil, err
	}
	bs, err := quantFloats(c, 4, "b_scale")
	if err != nil {
		return nil, err
	}
	if len(as) != 1 {
		return nil, unsupportedf(c.Node, "per-row a_scale")
	}
	za, err := quantZeroPoint(c, 2, "a_zero_point", 0)
	if err != nil {
		return nil, err
	}
	zb, err := quantZeroPoint(c, 5, "b_zero_point", len(bs))
	if err != nil {
		return nil, err
	}
	ys, zp, dt, lo, hi, err := qlinearOutput(c, 6)
	if err != nil {
		return nil, err
	}
	p, err := quantMatMulPlan(c, a, b, za, zb)
	if err != nil {
		return nil, err
	}
	if len(bs) != 1 && len(bs) != p.n {
		return nil, shapeError(c.Node, "b_scale has %d values for %d columns", len(bs), p.n)
	}
	y := tensor.New(dt, p.out...)
	scales, q := qlinearScales(as, bs, ys), quantBounds(lo, hi, zp)
	mn := p.m * p.n
	quantMatMul(c, p, a, b, za, zb, 3, 5, func(e int, acc []int32) {
		out := y.I64[e*mn : (e+1)*mn]
		if len(scales) == 1 {
			qgemm.Requantize(out, acc, 0, scales[0], q)
			return
		}
		for i := range out { // a scale per column of B
			qgemm.Requantize(out[i:i+1], acc[i:i+1], 0, scales[i%p.n], q)
		}
	})
	return []*tensor.Dense{y}, nil
}

// ---------------------------------------------------------------------------
// ConvInteger and QLinearConv: im2col of x - x_zero_point (padding is the
// zero point, so it contributes nothing) times w - w_zero_point per group
// (quant_conv.go).

// quantConvGeom is an integer convolution's geometry, with up to three
// spatial dims in (D, H, W) order.
type quantConvGeom struct {
	convShape
	nd int
}

func quantConvInfer(c *InferCtx, xi, wi int, dt tensor.DType) ([]onnx.Type, error) {
	x, _ := c.Input(xi)
	w, _ := c.Input(wi)
	c2 := *c
	x.DType, w.DType = tensor.Float32, tensor.Float32
	c2.In = []onnx.Type{x, w}
	out, err := convInfer(&c2)
	if err != nil {
		return nil, err
	}
	out[0].DType = dt
	return out, nil
}

func convIntegerInfer(c *InferCtx) ([]onnx.Type, error) {
	return quantConvInfer(c, 0, 1, tensor.Int32)
}

func qlinearConvInfer(c *InferCtx) ([]onnx.Type, error) {
	dt := tensor.Uint8
	if zp, ok := c.Input(7); ok && zp.DType != tensor.Undefined {
		dt = zp.DType
	}
	return quantConvInfer(c, 0, 3, dt)
}

// quantConvSetup validates x and w and computes the geometry.
func quantConvSetup(c *RunCtx, x, w *tensor.Dense) (*quantConvGeom, error) {
	n := c.Node
	nd := x.Rank() - 2
	if nd < 1 || w.Rank() != x.Rank() {
		return nil, shapeError(n, "x %v and w %v: want equal ranks of at least 3", x.Shape, w.Shape)
	}
	if nd > 3 {
		return nil, unsupportedf(n, "%d spatial dims", nd)
	}
	group := attrInt(n, "group", 1)
	if group < 1 || int64(x.Shape[1]) != int64(w.Shape[1])*group || int64(w.Shape[0])%group != 0 {
		return nil, shapeError(n, "x %v and w %v do not fit group %d", x.Shape, w.Shape, group)
	}
	win, err := convReadWindow(n, nd, w.Shape[2:])
	if err != nil {
		return nil, err
	}
	g := &quantConvGeom{nd: nd}
	g.batch, g.cin, g.cout, g.group = x.Shape[0], x.Shape[1], w.Shape[0], int(group)
	for i := range 3 {
		g.in[i], g.out[i], g.k[i], g.s[i], g.d[i] = 1, 1, 1, 1, 1
	}
	off := 3 - nd
	for i := range nd {
		out, pb := win.outDim(i, x.Shape[2+i], false)
		if out < 1 {
			return nil, shapeError(n, "input %v is smaller than the window %v", x.Shape, win.kernel)
		}
		g.in[off+i], g.out[off+i], g.k[off+i] = x.Shape[2+i], out, win.kernel[i]
		g.s[off+i], g.d[off+i], g.p[off+i] = win.strides[i], win.dils[i], pb
	}
	return g, nil
}

func (g *quantConvGeom) outShape() []int {
	s := []int{g.batch, g.cout}
	for i := 3 - g.nd; i < 3; i++ {
		s = append(s, g.out[i])
	}
	return s
}

func convIntegerRun(c *RunCtx) ([]*tensor.Dense, error) {
	x, err := quantInt(c, 0, "x")
	if err != nil {
		return nil, err
	}
	w, err := quantInt(c, 1, "w")
	if err != nil {
		return nil, err
	}
	zx, err := quantZeroPoint(c, 2, "x_zero_point", 0)
	if err != nil {
		return nil, err
	}
	zw, err := quantZeroPoint(c, 3, "w_zero_point", w.Shape[0])
	if err != nil {
		return nil, err
	}
	g, err := quantConvPlan(c, x, w, zx, zw)
	if err != nil {
		return nil, err
	}
	y := tensor.New(tensor.Int32, g.outShape()...)
	mg, os := g.cout/g.group, g.outSize()
	quantConv(c, g, x, w, zx, zw, 1, 3, func(b, gi, j0, cw int, acc []int32) {
		for m := range mg {
			at := (b*g.cout+gi*mg+m)*os + j0
			quantStoreInt32(y.I64[at:at+cw], acc[m*cw:])
		}
	})
	return []*tensor.Dense{y}, nil
}

func qlinearConvRun(c *RunCtx) ([]*tensor.Dense, error) {
	x, err := quantInt(c, 0, "x")
	if err != nil {
		return nil, err
	}
	w, err := quantInt(c, 3, "w")
	if err != nil {
		return nil, err
	}
	if w.Rank() < 1 {
		return nil, shapeError(c.Node, "w of shape %v", w.Shape)
	}
	xs, err := quantFloats(c, 1, "x_scale")
	if err != nil {
		return nil, err
	}
	ws, err := quantFloats(c, 4, "w_scale")
	if err != nil {
		return nil, err
	}
	if len(xs) != 1 || (len(ws) != 1 && len(ws) != w.Shape[0]) {
		return nil, shapeError(c.Node, "x_scale has %d values (want 1), w_scale %d (want 1 or %d)", len(xs), len(ws), w.Shape[0])
	}
	zx, err := quantZeroPoint(c, 2, "x_zero_point", 0)
	if err != nil {
		return nil, err
	}
	zw, err := quantZeroPoint(c, 5, "w_zero_point", w.Shape[0])
	if err != nil {
		return nil, err
	}
	ys, zp, dt, lo, hi, err := qlinearOutput(c, 6)
	if err != nil {
		return nil, err
	}
	var bias *tensor.Dense
	if c.Input(8) != nil {
		if bias, err = quantInt(c, 8, "B"); err != nil {
			return nil, err
		}
	}
	g, err := quantConvPlan(c, x, w, zx, zw)
	if err != nil {
		return nil, err
	}
	if bias != nil && (bias.Rank() != 1 || bias.Len() != g.cout) {
		return nil, shapeError(c.Node, "bias shape %v, want [%d]", bias.Shape, g.cout)
	}
	y := tensor.New(dt, g.outShape()...)
	scales, q := qlinearScales(xs, ws, ys), quantBounds(lo, hi, zp)
	mg, os := g.cout/g.group, g.outSize()
	quantConv(c, g, x, w, zx, zw, 3, 5, func(b, gi, j0, cw int, acc []int32) {
		for m := range mg {
			ch := gi*mg + m
			var bv int32
			if bias != nil {
				bv = int32(bias.I64[ch])
			}
			at := (b*g.cout+ch)*os + j0
			qgemm.Requantize(y.I64[at:at+cw], acc[m*cw:], bv, scales[ch%len(scales)], q)
		}
	})
	return []*tensor.Dense{y}, nil
}
