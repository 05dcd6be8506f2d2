package ops

import (
	"math"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Gradients of the norms. BatchNormalization in inference mode is a
// per-channel affine map and decomposes into standard ops, with gradients
// for X, scale, B, mean and var. LayerNormalization emits the private op
// LayerNormGrad, which recomputes each row's statistics and returns dX,
// dScale and dB in one pass: dX = inv·(g - mean(g) - x̂·mean(g·x̂)), g =
// dY·scale, x̂ = (x - μ)·inv. This file also gives LayerNormalization its
// float64 reference (Op.Ref), which the integrator may move to norm.go.

func init() {
	setGrad("BatchNormalization", batchNormGrad)
	setGrad("InstanceNormalization", instanceNormGrad)
	register(&Op{Name: "LayerNormGrad", Domain: GraftDomain, Since: 1, Infer: layerNormGradInfer, Run: layerNormGradRun})
}

func batchNormGrad(c *GradCtx) ([]*onnx.Value, error) {
	n := c.Node
	if batchNormTraining(n, c.Opset) {
		return nil, c.Unsupportedf("training mode")
	}
	x, scale, mean, vr, dy := c.In(0), c.In(1), c.In(3), c.In(4), c.DY[0]
	r := x.Type.Rank()
	if r < 2 {
		return nil, c.Errorf("needs the rank of X, got %s", x.Type)
	}
	// Per-channel vectors broadcast as [C, 1, ...].
	chan4 := func(v *onnx.Value) *onnx.Value {
		if r <= 2 {
			return v
		}
		axes := make([]int64, r-2)
		for i := range axes {
			axes[i] = int64(1 + i)
		}
		return c.Unsqueeze(v, axes...)
	}
	axes := []int64{0}
	for i := 2; i < r; i++ {
		axes = append(axes, int64(i))
	}
	eps := float64(attrFloat(n, "epsilon", 1e-5))
	inv := c.Op1("Reciprocal", c.Op1("Sqrt", c.Op1("Add", vr, c.Scalar(eps))))
	mul := c.Op1("Mul", scale, inv)
	res := make([]*onnx.Value, 5)
	if c.Needs(0) {
		res[0] = c.Op1("Mul", dy, chan4(mul))
	}
	var dB, dScale *onnx.Value
	if c.Needs(2) || c.Needs(3) {
		dB = c.ReduceSum(dy, axes, false)
	}
	if c.Needs(1) || c.Needs(4) {
		xhat := c.Op1("Mul", c.Op1("Sub", x, chan4(mean)), chan4(inv))
		dScale = c.ReduceSum(c.Op1("Mul", dy, xhat), axes, false)
	}
	if c.Needs(1) {
		res[1] = dScale
	}
	if c.Needs(2) {
		res[2] = dB
	}
	if c.Needs(3) {
		res[3] = c.Op1("Neg", c.Op1("Mul", dB, mul))
	}
	if c.Needs(4) {
		// dvar = Σ dy·(x-μ) · scale · (-1/2)(var+eps)^(-3/2) = -dScale·scale·inv²/2.
		res[4] = c.Op1("Mul", c.Op1("Mul", dScale, scale), c.Op1("Mul", c.Op1("Mul", inv, inv), c.Scalar(-0.5)))
	}
	return res, nil
}

// instanceNormGrad: y = γ·x̂ + β with x̂ = (x − μ)·inv normalised over the
// spatial axes of each (sample, channel) plane, inv = 1/√(σ² + ε). With
// g = dy·γ and mean_s the plane mean: dx = inv·(g − mean_s(g) −
// x̂·mean_s(g·x̂)), dγ = Σ dy·x̂ and dβ = Σ dy over samples and positions.
func instanceNormGrad(c *GradCtx) ([]*onnx.Value, error) {
	x, scale, dy := c.In(0), c.In(1), c.DY[0]
	r := x.Type.Rank()
	if r < 3 {
		return nil, c.Errorf("needs X of known rank 3 or more, got %s", x.Type)
	}
	spatial := make([]int64, 0, r-2)
	for i := 2; i < r; i++ {
		spatial = append(spatial, int64(i))
	}
	all := append([]int64{0}, spatial...)
	// The plane size, as a tensor, so that symbolic spatial dims work.
	count := c.ReduceSum(c.Op1("Add", c.Zeros(x), c.Scalar(1)), spatial, true)
	mean := func(v *onnx.Value) *onnx.Value { return c.Op1("Div", c.ReduceSum(v, spatial, true), count) }
	xc := c.Op1("Sub", x, mean(x))
	eps := float64(attrFloat(c.Node, "epsilon", 1e-5))
	inv := c.Op1("Reciprocal", c.Op1("Sqrt", c.Op1("Add", mean(c.Op1("Mul", xc, xc)), c.Scalar(eps))))
	xhat := c.Op1("Mul", xc, inv)
	res := make([]*onnx.Value, 3)
	if c.Needs(0) {
		chanAxes := make([]int64, r-2)
		for i := range chanAxes {
			chanAxes[i] = int64(1 + i)
		}
		g := c.Op1("Mul", dy, c.Unsqueeze(scale, chanAxes...))
		inner := c.Op1("Sub", c.Op1("Sub", g, mean(g)), c.Op1("Mul", xhat, mean(c.Op1("Mul", g, xhat))))
		res[0] = c.Op1("Mul", inv, inner)
	}
	if c.Needs(1) {
		res[1] = c.ReduceSum(c.Op1("Mul", dy, xhat), all, false)
	}
	if c.Needs(2) {
		res[2] = c.ReduceSum(dy, all, false)
	}
	return res, nil
}

func layerNormGrad(c *GradCtx) ([]*onnx.Value, error) {
	n := c.Node
	for _, d := range c.DY[1:] {
		if d != nil {
			return nil, c.Unsupportedf("gradient through the Mean or InvStdDev outputs")
		}
	}
	x, scale := c.In(0), c.In(1)
	r := x.Type.Rank()
	if r < 1 {
		return nil, c.Errorf("needs the rank of X, got %s", x.Type)
	}
	axis, err := normAxis(n, attrInt(n, "axis", -1), r)
	if err != nil {
		return nil, err
	}
	outs := c.EmitN("LayerNormGrad", GraftDomain, 3, []*onnx.Value{x, scale, c.DY[0]},
		onnx.IntAttr("axis", int64(axis)), onnx.FloatAttr("epsilon", attrFloat(n, "epsilon", 1e-5)))
	normType := onnx.Type{DType: x.Type.DType, HasShape: true, Dims: x.Type.Dims[axis:]}
	res := make([]*onnx.Value, len(n.Inputs))
	if c.Needs(0) {
		res[0] = outs[0]
	}
	for i := 1; i <= 2; i++ {
		if c.Needs(i) {
			u, err := c.Unbroadcast(outs[i], normType, c.In(i))
			if err != nil {
				return nil, err
			}
			res[i] = u
		}
	}
	return res, nil
}

// layerNormGeom reads X, the normalized axis, and Scale (and B) as one
// float64 per normalized element.
func layerNormGeom(c *RunCtx, withBias bool) (x *tensor.Dense, axis, rows, size int, scale, bias []float64, err error) {
	n := c.Node
	if x, err = normFloat(c, 0, "X"); err != nil {
		return
	}
	if axis, err = normAxis(n, attrInt(n, "axis", -1), len(x.Shape)); err != nil {
		return
	}
	rows, size = 1, 1
	for _, d := range x.Shape[:axis] {
		rows *= d
	}
	for _, d := range x.Shape[axis:] {
		size *= d
	}
	norm := x.Shape[axis:]
	if scale, err = layerNormParam64(c, 1, "Scale", norm, size); err != nil {
		return
	}
	if withBias && c.Input(2) != nil {
		bias, err = layerNormParam64(c, 2, "B", norm, size)
	}
	return
}

// layerNormStats64 returns the mean of v and 1/sqrt(variance + eps).
func layerNormStats64(v []float64, eps float64) (mean, inv float64) {
	if len(v) == 0 {
		return 0, 1 / math.Sqrt(eps)
	}
	for _, e := range v {
		mean += e
	}
	mean /= float64(len(v))
	var ss float64
	for _, e := range v {
		ss += (e - mean) * (e - mean)
	}
	return mean, 1 / math.Sqrt(ss/float64(len(v))+eps)
}

// layerNormRef64 is LayerNormalization in float64.
func layerNormRef64(c *RunCtx) ([]*tensor.Dense, error) {
	n := c.Node
	x, axis, rows, size, scale, bias, err := layerNormGeom(c, true)
	if err != nil {
		return nil, err
	}
	if x.DType != tensor.Float64 {
		return nil, unsupportedf(n, "float64 reference on %s", x.DType)
	}
	eps := float64(attrFloat(n, "epsilon", 1e-5))
	y := tensor.New(tensor.Float64, x.Shape...)
	statShape := append([]int{}, x.Shape...)
	for i := axis; i < len(statShape); i++ {
		statShape[i] = 1
	}
	mean, invStd := tensor.New(tensor.Float64, statShape...), tensor.New(tensor.Float64, statShape...)
	for r := range rows {
		src, dst := x.F64[r*size:(r+1)*size], y.F64[r*size:(r+1)*size]
		mu, inv := layerNormStats64(src, eps)
		for i, v := range src {
			dst[i] = (v - mu) * inv * scale[i]
			if bias != nil {
				dst[i] += bias[i]
			}
		}
		mean.F64[r], invStd.F64[r] = mu, inv
	}
	out := []*tensor.Dense{y, mean, invStd}
	return out[:max(1, min(3, len(n.Outputs)))], nil
}

// LayerNormGrad(X, Scale, dY) -> dX, dScale, dB with attributes axis (>=
// 0) and epsilon; dScale and dB have the normalized dims' shape.

func layerNormGradInfer(c *InferCtx) ([]onnx.Type, error) {
	x, _ := c.Input(0)
	p := onnx.Type{DType: x.DType}
	if x.HasShape {
		axis := int(attrInt(c.Node, "axis", 0))
		if axis < 0 || axis > len(x.Dims) {
			return nil, shapeError(c.Node, "axis %d for %s", axis, x.ShapeString())
		}
		p.HasShape, p.Dims = true, x.Dims[axis:]
	}
	return []onnx.Type{x, p, p}, nil
}

func layerNormGradRun(c *RunCtx) ([]*tensor.Dense, error) {
	n := c.Node
	x, axis, rows, size, scale, _, err := layerNormGeom(c, false)
	if err != nil {
		return nil, err
	}
	dy := c.Input(2)
	if dy == nil || !tensor.SameShape(dy.Shape, x.Shape) || dy.DType != x.DType {
		return nil, shapeError(n, "dY must be %s%v", x.DType, x.Shape)
	}
	eps := float64(attrFloat(n, "epsilon", 1e-5))
	dx := tensor.New(x.DType, x.Shape...)
	dScale, dB := make([]float64, size), make([]float64, size)
	xs, dys := x.Float64s(), dy.Float64s()
	out := make([]float64, len(xs))
	g, xhat := make([]float64, size), make([]float64, size)
	for r := range rows {
		src, d := xs[r*size:(r+1)*size], dys[r*size:(r+1)*size]
		mu, inv := layerNormStats64(src, eps)
		var mg, mgx float64
		for i, v := range src {
			xhat[i] = (v - mu) * inv
			g[i] = d[i] * scale[i]
			mg += g[i]
			mgx += g[i] * xhat[i]
			dScale[i] += d[i] * xhat[i]
			dB[i] += d[i]
		}
		mg /= float64(size)
		mgx /= float64(size)
		dst := out[r*size : (r+1)*size]
		for i := range dst {
			dst[i] = inv * (g[i] - mg - xhat[i]*mgx)
		}
	}
	pshape := x.Shape[axis:]
	res := []*tensor.Dense{dx, tensor.New(x.DType, pshape...), tensor.New(x.DType, pshape...)}
	for k, v := range [][]float64{out, dScale, dB} {
		t := res[k]
		if t.F64 != nil {
			copy(t.F64, v)
		} else {
			for i, e := range v {
				t.F32[i] = float32(e)
			}
		}
	}
	return res, nil
}
