package ops

import (
	"math"

	"github.com/graft-ml/graft/exec/internal/vec"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Norm family: BatchNormalization (inference), LayerNormalization and
// InstanceNormalization. Statistics accumulate in float64, which costs
// nothing next to the loads, and are taken in two passes (mean, then the
// mean square deviation) so that large offsets do not cancel.

func init() {
	register(
		// Opset 7 dropped is_test; spatial (7, 8) is checked below.
		&Op{Name: "BatchNormalization", Since: 6, Fuses: true, Infer: batchNormInfer, Run: batchNormRun},
		// layerNormRef64 and layerNormGrad are in norm_grad.go.
		&Op{Name: "LayerNormalization", Since: 17, Infer: layerNormInfer, Run: layerNormRun, Ref: layerNormRef64, Grad: layerNormGrad},
		// Opset 6 dropped consumed_inputs.
		&Op{Name: "InstanceNormalization", Since: 6, Infer: normSameInfer, Run: instanceNormRun},
	)
}

// normSameInfer gives output 0 the type of input 0.
func normSameInfer(c *InferCtx) ([]onnx.Type, error) {
	x, _ := c.Input(0)
	return []onnx.Type{x}, nil
}

// normFloat returns input i if it is present and of a float dtype.
func normFloat(c *RunCtx, i int, what string) (*tensor.Dense, error) {
	t := c.Input(i)
	if t == nil {
		return nil, onnx.NodeErrorf(c.Node, "input %s missing", what)
	}
	if !t.DType.IsFloat() {
		return nil, unsupportedf(c.Node, "%s dtype %s", what, t.DType)
	}
	return t, nil
}

// normChannelParams reads per-channel parameter inputs (each of shape [C])
// as float64 values, whatever their float dtype.
func normChannelParams(c *RunCtx, ch int, names ...string) ([][]float64, error) {
	out := make([][]float64, len(names))
	for i, name := range names {
		t, err := normFloat(c, 1+i, name)
		if err != nil {
			return nil, err
		}
		if len(t.Shape) != 1 || t.Shape[0] != ch {
			return nil, shapeError(c.Node, "%s shape %v, want [%d]", name, t.Shape, ch)
		}
		out[i] = t.Float64s()
	}
	return out, nil
}

// normPlanes runs body over count planes of size elements each, in
// parallel when the work is large.
func normPlanes(count, size, threads int, body func(p int)) {
	parallelFor(threads, count, max(1, (1<<16)/max(1, size)), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			body(p)
		}
	})
}

// ---------------------------------------------------------------------------
// BatchNormalization

// batchNormTraining reports whether the node asks for training mode:
// training_mode=1 from opset 14, extra outputs before it, and before
// opset 7 also is_test=0 (its default).
func batchNormTraining(n *onnx.Node, opset int) bool {
	if opset >= 14 {
		return attrInt(n, "training_mode", 0) != 0
	}
	if opset < 7 && attrInt(n, "is_test", 0) == 0 {
		return true
	}
	for _, o := range n.Outputs[min(1, len(n.Outputs)):] {
		if o != nil {
			return true
		}
	}
	return false
}

func batchNormInfer(c *InferCtx) ([]onnx.Type, error) {
	types, err := normSameInfer(c)
	if err != nil || !batchNormTraining(c.Node, c.Opset) {
		return types, err
	}
	// Training mode: per-channel statistics follow Y.
	x := types[0]
	stat := onnx.Type{DType: x.DType}
	if x.HasShape && len(x.Dims) >= 2 {
		stat.HasShape, stat.Dims = true, []onnx.Dim{x.Dims[1]}
	}
	for range c.Node.Outputs[1:] {
		types = append(types, stat)
	}
	return types, nil
}

func batchNormRun(c *RunCtx) ([]*tensor.Dense, error) {
	n := c.Node
	if attrInt(n, "spatial", 1) == 0 {
		return nil, unsupportedf(n, "spatial=0")
	}
	x, err := normFloat(c, 0, "X")
	if err != nil {
		return nil, err
	}
	if len(x.Shape) < 2 {
		return nil, shapeError(n, "X %v: want rank of at least 2", x.Shape)
	}
	ch := x.Shape[1]
	p, err := normChannelParams(c, ch, "scale", "B", "mean", "var")
	if err != nil {
		return nil, err
	}
	size := 1
	for _, d := range x.Shape[2:] {
		size *= d
	}
	mean, vr := p[2], p[3]
	var extra []*tensor.Dense
	if batchNormTraining(n, c.Opset) {
		mean, vr = batchNormStats(x, ch, size)
		extra = batchNormTrainingOutputs(n, c.Opset, x.DType, p[2], p[3], mean, vr)
	}
	mul, add := batchNormCoeffs(p[0], p[1], mean, vr, float64(attrFloat(n, "epsilon", 1e-5)))
	y := tensor.NewUninit(x.DType, x.Shape...) // every plane is written
	if x.DType == tensor.Float64 {
		normPlanes(x.Shape[0]*ch, size, c.Threads, func(pl int) {
			m, a := mul[pl%ch], add[pl%ch]
			dst := y.F64[pl*size : (pl+1)*size]
			for i, v := range x.F64[pl*size : (pl+1)*size] {
				dst[i] = v*m + a
			}
		})
		return append([]*tensor.Dense{y}, extra...), nil
	}
	normPlanes(x.Shape[0]*ch, size, c.Threads, func(pl int) {
		m, a := float32(mul[pl%ch]), float32(add[pl%ch])
		dst := y.F32[pl*size : (pl+1)*size]
		vec.ScaleShift(dst, x.F32[pl*size:(pl+1)*size], m, a)
		c.applyClamp(dst)
	})
	return append([]*tensor.Dense{y}, extra...), nil
}

// batchNormCoeffs returns the per-channel map y = x·mul + add of a
// BatchNormalization with these scales, biases, means and variances.
func batchNormCoeffs(scale, bias, mean, vr []float64, eps float64) (mul, add []float64) {
	mul, add = make([]float64, len(scale)), make([]float64, len(scale))
	for i := range scale {
		mul[i] = scale[i] / math.Sqrt(vr[i]+eps)
		add[i] = bias[i] - mean[i]*mul[i]
	}
	return mul, add
}

// ChannelAffine is an inference-mode BatchNormalization that runs inside
// the Concat producing its input (Clamp.Norm): element x of channel c
// becomes x·Mul[c] + Add[c], rounded as the BatchNormalization kernel
// rounds it (vec.ScaleShift), before the Clamp's bounds.
type ChannelAffine struct{ Mul, Add []float32 }

// FusedBatchNorm returns node n's per-channel map if n is an
// inference-mode BatchNormalization whose parameters are float32
// constants of one length, the channels it normalizes.
func FusedBatchNorm(n *onnx.Node, opset int, constant func(*onnx.Value) *tensor.Dense) (*ChannelAffine, bool) {
	if n.Domain != "" || n.OpType != "BatchNormalization" || len(n.Inputs) != 5 || len(n.Outputs) != 1 ||
		batchNormTraining(n, opset) || attrInt(n, "spatial", 1) == 0 {
		return nil, false
	}
	p := make([][]float64, 4)
	for i := range p {
		v := n.Input(1 + i)
		if v == nil {
			return nil, false
		}
		d := constant(v)
		if d == nil || d.DType != tensor.Float32 || len(d.Shape) != 1 || (i > 0 && d.Shape[0] != len(p[0])) {
			return nil, false
		}
		p[i] = d.Float64s()
	}
	mul, add := batchNormCoeffs(p[0], p[1], p[2], p[3], float64(attrFloat(n, "epsilon", 1e-5)))
	a := &ChannelAffine{Mul: make([]float32, len(mul)), Add: make([]float32, len(add))}
	for i := range mul {
		a.Mul[i], a.Add[i] = float32(mul[i]), float32(add[i])
	}
	return a, true
}

// batchNormStats returns each channel's mean and biased variance over the
// batch and spatial positions of x ([N, ch, size...]), in two passes.
func batchNormStats(x *tensor.Dense, ch, size int) (mean, vr []float64) {
	xs := x.Float64s()
	batch := x.Shape[0]
	count := float64(batch * size)
	mean, vr = make([]float64, ch), make([]float64, ch)
	for k := range ch {
		var s float64
		for b := range batch {
			for _, v := range xs[(b*ch+k)*size : (b*ch+k+1)*size] {
				s += v
			}
		}
		mean[k] = s / count
		var ss float64
		for b := range batch {
			for _, v := range xs[(b*ch+k)*size : (b*ch+k+1)*size] {
				ss += (v - mean[k]) * (v - mean[k])
			}
		}
		vr[k] = ss / count
	}
	return mean, vr
}

// batchNormTrainingOutputs returns training mode's outputs after Y: the
// running statistics, input·momentum + batch·(1 − momentum) with the
// biased batch variance (as ONNX's reference computes them; PyTorch's own
// running_var uses the unbiased one), and before opset 14 also the batch
// mean and variance themselves (saved_mean, saved_var).
func batchNormTrainingOutputs(n *onnx.Node, opset int, dt tensor.DType, runMean, runVar, mean, vr []float64) []*tensor.Dense {
	momentum := float64(attrFloat(n, "momentum", 0.9))
	blend := func(run, batch []float64) []float64 {
		out := make([]float64, len(run))
		for i := range run {
			out[i] = run[i]*momentum + batch[i]*(1-momentum)
		}
		return out
	}
	vals := [][]float64{blend(runMean, mean), blend(runVar, vr)}
	if opset < 14 {
		vals = append(vals, mean, vr)
	}
	out := make([]*tensor.Dense, 0, len(n.Outputs)-1)
	for i := range n.Outputs[1:] {
		if i >= len(vals) {
			break
		}
		t := tensor.New(dt, len(vals[i]))
		for j, v := range vals[i] {
			if t.F64 != nil {
				t.F64[j] = v
			} else {
				t.F32[j] = float32(v)
			}
		}
		elemNarrow(t) // float16 and bfloat16 round
		out = append(out, t)
	}
	return out
}

// ---------------------------------------------------------------------------
// LayerNormalization

func layerNormInfer(c *InferCtx) ([]onnx.Type, error) {
	x, _ := c.Input(0)
	stash := onnx.Type{DType: tensor.Float32}
	if x.HasShape {
		axis, err := normAxis(c.Node, attrInt(c.Node, "axis", -1), len(x.Dims))
		if err != nil {
			return nil, err
		}
		stash.HasShape = true
		stash.Dims = append([]onnx.Dim{}, x.Dims...)
		for i := axis; i < len(x.Dims); i++ {
			stash.Dims[i] = onnx.Dim{Value: 1}
		}
	}
	types := []onnx.Type{x, stash, stash}
	return types[:max(1, min(3, len(c.Node.Outputs)))], nil
}

// layerNormParam is layerNormParam64 for the float32 kernel.
func layerNormParam(c *RunCtx, i int, what string, norm []int, count int) ([]float32, error) {
	vals, err := layerNormParam64(c, i, what, norm, count)
	if err != nil {
		return nil, err
	}
	out := make([]float32, len(vals))
	for j, v := range vals {
		out[j] = float32(v)
	}
	return out, nil
}

// layerNormParam64 reads Scale or B as one value per normalized element
// (count of them, over normalized dims norm); the parameter may broadcast
// over the normalized dims but not over the leading ones.
func layerNormParam64(c *RunCtx, i int, what string, norm []int, count int) ([]float64, error) {
	t, err := normFloat(c, i, what)
	if err != nil {
		return nil, err
	}
	shape := t.Shape
	for len(shape) > len(norm) && shape[0] == 1 {
		shape = shape[1:]
	}
	if len(shape) > len(norm) {
		return nil, unsupportedf(c.Node, "%s of shape %v varies over unnormalized dims", what, t.Shape)
	}
	if out, err := broadcastShapes(shape, norm); err != nil || !tensor.SameShape(out, norm) {
		return nil, shapeError(c.Node, "%s shape %v does not broadcast to %v", what, t.Shape, norm)
	}
	vals := t.Float64s()
	if len(vals) == count {
		return vals, nil
	}
	// Expand the broadcast: element j of the normalized block reads the
	// parameter at j's coordinates, with 0 where the parameter's dim is 1.
	out := make([]float64, count)
	off := len(norm) - len(shape)
	pstr := tensor.Strides(shape)
	for j := range out {
		rem, src := j, 0
		for d := len(norm) - 1; d >= 0; d-- {
			coord := rem % norm[d]
			rem /= norm[d]
			if d >= off && shape[d-off] != 1 {
				src += coord * pstr[d-off]
			}
		}
		out[j] = vals[src]
	}
	return out, nil
}

func layerNormRun(c *RunCtx) ([]*tensor.Dense, error) {
	n := c.Node
	x, err := normFloat(c, 0, "X")
	if err != nil {
		return nil, err
	}
	if x.DType == tensor.Float64 {
		return nil, unsupportedf(n, "dtype %s", x.DType)
	}
	rank := len(x.Shape)
	axis, err := normAxis(n, attrInt(n, "axis", -1), rank)
	if err != nil {
		return nil, err
	}
	rows, size := 1, 1
	for _, d := range x.Shape[:axis] {
		rows *= d
	}
	for _, d := range x.Shape[axis:] {
		size *= d
	}
	scale, err := layerNormParam(c, 1, "Scale", x.Shape[axis:], size)
	if err != nil {
		return nil, err
	}
	var bias []float32
	if c.Input(2) != nil {
		if bias, err = layerNormParam(c, 2, "B", x.Shape[axis:], size); err != nil {
			return nil, err
		}
	}
	eps := float64(attrFloat(n, "epsilon", 1e-5))
	y := tensor.NewUninit(x.DType, x.Shape...)
	statShape := append([]int{}, x.Shape...)
	for i := axis; i < rank; i++ {
		statShape[i] = 1
	}
	var mean, invStd *tensor.Dense
	if len(n.Outputs) > 1 {
		mean = tensor.New(tensor.Float32, statShape...)
		invStd = tensor.New(tensor.Float32, statShape...)
	}
	normPlanes(rows, size, c.Threads, func(r int) {
		src := x.F32[r*size : (r+1)*size]
		dst := y.F32[r*size : (r+1)*size]
		m, s := layerNormRow(dst, src, scale, bias, eps)
		if mean != nil {
			mean.F32[r], invStd.F32[r] = m, s
		}
	})
	out := []*tensor.Dense{y, mean, invStd}
	return out[:max(1, min(3, len(n.Outputs)))], nil
}

// layerNormRow sets dst to (src − μ)·σ⁻¹·scale + bias (bias may be nil)
// and returns μ and σ⁻¹ = 1/sqrt(variance + eps), in vector passes: μ as
// a float64 sum, the deviations rounded to float32, the variance as
// their float64 sum of squares (vec.Dot), then the scaling, in the order
// of the per-element formula.
func layerNormRow(dst, src, scale, bias []float32, eps float64) (mean, invStd float32) {
	if len(src) == 0 {
		return 0, float32(1 / math.Sqrt(eps))
	}
	n := float64(len(src))
	mean = float32(vec.Sum(src) / n)
	vec.AddScalar(dst, src, -mean)
	invStd = float32(1 / math.Sqrt(vec.Dot(dst, dst)/n+eps))
	vec.Scale(dst, dst, invStd)
	vec.Mul(dst, dst, scale)
	if bias != nil {
		vec.Add(dst, dst, bias)
	}
	return mean, invStd
}

// normStats returns the mean of v and 1/sqrt(variance + eps).
func normStats[T float32 | float64](v []T, eps float64) (mean, invStd float64) {
	if len(v) == 0 {
		return 0, 1 / math.Sqrt(eps)
	}
	var s float64
	for _, e := range v {
		s += float64(e)
	}
	mean = s / float64(len(v))
	var ss float64
	for _, e := range v {
		d := float64(e) - mean
		ss += d * d
	}
	return mean, 1 / math.Sqrt(ss/float64(len(v))+eps)
}

// ---------------------------------------------------------------------------
// InstanceNormalization

func instanceNormRun(c *RunCtx) ([]*tensor.Dense, error) {
	n := c.Node
	x, err := normFloat(c, 0, "X")
	if err != nil {
		return nil, err
	}
	if len(x.Shape) < 3 {
		return nil, shapeError(n, "X %v: want rank of at least 3", x.Shape)
	}
	ch := x.Shape[1]
	p, err := normChannelParams(c, ch, "scale", "B")
	if err != nil {
		return nil, err
	}
	eps := float64(attrFloat(n, "epsilon", 1e-5))
	size := 1
	for _, d := range x.Shape[2:] {
		size *= d
	}
	y := tensor.New(x.DType, x.Shape...)
	if x.DType == tensor.Float64 {
		normPlanes(x.Shape[0]*ch, size, c.Threads, func(pl int) {
			src := x.F64[pl*size : (pl+1)*size]
			dst := y.F64[pl*size : (pl+1)*size]
			mu, inv := normStats(src, eps)
			mul := p[0][pl%ch] * inv
			for i, v := range src {
				dst[i] = (v-mu)*mul + p[1][pl%ch]
			}
		})
		return []*tensor.Dense{y}, nil
	}
	normPlanes(x.Shape[0]*ch, size, c.Threads, func(pl int) {
		src := x.F32[pl*size : (pl+1)*size]
		dst := y.F32[pl*size : (pl+1)*size]
		mu, inv := normStats(src, eps)
		mul := p[0][pl%ch] * inv
		m, a := float32(mul), float32(p[1][pl%ch]-mu*mul)
		for i, v := range src {
			dst[i] = v*m + a
		}
	})
	return []*tensor.Dense{y}, nil
}
