package ops

import (
	"math"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Constants, pass-throughs and dtype conversion: the glue ops exporters put
// between the layers.

func init() {
	register(
		&Op{Name: "Constant", Since: 1, Infer: constantInfer, Run: constantRun},
		&Op{Name: "Identity", Since: 1, Containers: true, Strings: true, Infer: identityInfer, Run: identityRun, Symbolic: shapePassSymbolic},
		&Op{Name: "Dropout", Since: 7, Infer: dropoutInfer, Run: dropoutRun, Symbolic: shapePassSymbolic},
		&Op{Name: "Cast", Since: 6, Strings: true, Infer: castInfer, Run: castRun, Symbolic: castSymbolic},
		&Op{Name: "CastLike", Since: 15, Strings: true, Infer: castLikeInfer, Run: castLikeRun},
		&Op{Name: "ConstantOfShape", Since: 9, Infer: constantOfShapeInfer, Run: constantOfShapeRun},
		&Op{Name: "Range", Since: 11, Infer: rangeInfer, Run: rangeRun},
		&Op{Name: "Size", Since: 1, Infer: sizeInfer, Run: sizeRun},
	)
}

// constantValue decodes a Constant node's one value attribute.
func constantValue(n *onnx.Node) (*tensor.Dense, error) {
	var found []*tensor.Dense
	for _, a := range n.Attrs {
		switch a.Name {
		case "value":
			if a.T == nil {
				return nil, onnx.NodeErrorf(n, "attribute value holds no tensor")
			}
			d, err := a.T.Dense()
			if err != nil {
				return nil, onnx.NodeErrorf(n, "attribute value: %w", err)
			}
			found = append(found, d)
		case "value_float":
			found = append(found, tensor.FromF32(nil, []float32{a.F}))
		case "value_floats":
			found = append(found, tensor.FromF32([]int{len(a.Floats)}, append([]float32{}, a.Floats...)))
		case "value_int":
			found = append(found, tensor.FromI64(nil, []int64{a.I}))
		case "value_ints":
			found = append(found, tensor.FromI64([]int{len(a.Ints)}, append([]int64{}, a.Ints...)))
		case "sparse_value", "value_string", "value_strings":
			return nil, unsupportedf(n, "Constant with attribute %s", a.Name)
		}
	}
	if len(found) != 1 {
		return nil, onnx.NodeErrorf(n, "Constant needs exactly one value attribute, has %d", len(found))
	}
	return found[0], nil
}

func constantInfer(c *InferCtx) ([]onnx.Type, error) {
	d, err := constantValue(c.Node)
	if err != nil {
		return nil, err
	}
	return []onnx.Type{onnx.ShapeOf(d.DType, d.Shape...)}, nil
}

func constantRun(c *RunCtx) ([]*tensor.Dense, error) {
	d, err := constantValue(c.Node)
	if err != nil {
		return nil, err
	}
	// The attribute's tensor is shared with the model; hand out a copy so
	// that no consumer can alias the graph's data.
	return []*tensor.Dense{d.Clone()}, nil
}

func identityInfer(c *InferCtx) ([]onnx.Type, error) {
	t, ok := c.Input(0)
	if !ok {
		return nil, shapeError(c.Node, "missing input")
	}
	return []onnx.Type{t}, nil
}

// identityRun returns its input itself: kernels never modify inputs, so
// sharing storage is safe and saves a copy.
func identityRun(c *RunCtx) ([]*tensor.Dense, error) {
	x := c.Input(0)
	if x == nil {
		return nil, shapeError(c.Node, "missing input")
	}
	return []*tensor.Dense{x}, nil
}

func dropoutInfer(c *InferCtx) ([]onnx.Type, error) {
	t, ok := c.Input(0)
	if !ok {
		return nil, shapeError(c.Node, "missing input")
	}
	out := []onnx.Type{t}
	if len(c.Node.Outputs) > 1 {
		m := t
		m.DType = tensor.Bool
		out = append(out, m)
	}
	return out, nil
}

func dropoutRun(c *RunCtx) ([]*tensor.Dense, error) {
	n := c.Node
	x := c.Input(0)
	if x == nil {
		return nil, shapeError(n, "missing input")
	}
	if c.Opset < 7 {
		return nil, unsupportedf(n, "Dropout before opset 7")
	}
	if c.Opset >= 12 {
		if mode := c.Input(2); mode != nil && len(mode.I64) > 0 && mode.I64[0] != 0 {
			ratio := 0.5
			if r := c.Input(1); r != nil && r.Len() > 0 {
				ratio = r.Float64s()[0]
			}
			if !(ratio >= 0 && ratio < 1) {
				return nil, onnx.NodeErrorf(n, "ratio %v: want 0 ≤ ratio < 1", ratio)
			}
			if !x.DType.IsFloat() {
				return nil, unsupportedf(n, "training-mode Dropout of %s", x.DType)
			}
			if ratio != 0 {
				seed := randomSeed()
				if a := n.Attr("seed"); a != nil {
					seed = uint32(a.I)
				}
				y, mask := dropoutTrain(x, ratio, seed)
				return []*tensor.Dense{y, mask}[:max(1, min(2, len(n.Outputs)))], nil
			}
		}
	}
	out := []*tensor.Dense{x}
	if len(n.Outputs) > 1 {
		mask := tensor.New(tensor.Bool, x.Shape...)
		for i := range mask.I64 {
			mask.I64[i] = 1
		}
		out = append(out, mask)
	}
	return out, nil
}

// castTarget returns the node's "to" dtype, checking that graft can hold it.
func castTarget(n *onnx.Node) (tensor.DType, error) {
	a := n.Attr("to")
	if a == nil {
		return 0, onnx.NodeErrorf(n, "missing attribute \"to\"")
	}
	dt := tensor.DType(a.I)
	if !dt.Supported() && dt != tensor.String {
		return 0, unsupportedf(n, "Cast to %s", dt)
	}
	return dt, nil
}

func castInfer(c *InferCtx) ([]onnx.Type, error) {
	dt, err := castTarget(c.Node)
	if err != nil {
		return nil, err
	}
	t, _ := c.Input(0)
	t.DType = dt
	return []onnx.Type{t}, nil
}

func castRun(c *RunCtx) ([]*tensor.Dense, error) {
	dt, err := castTarget(c.Node)
	if err != nil {
		return nil, err
	}
	x := c.Input(0)
	if x == nil {
		return nil, shapeError(c.Node, "missing input")
	}
	if !x.DType.Supported() && x.DType != tensor.String {
		return nil, unsupportedf(c.Node, "Cast from %s", x.DType)
	}
	if x.DType == dt {
		return []*tensor.Dense{x}, nil // as Identity: x holds dt's values already
	}
	if x.DType == tensor.String || dt == tensor.String {
		y, err := castText(c.Node, x, dt)
		return []*tensor.Dense{y}, err
	}
	return []*tensor.Dense{castTo(x, dt)}, nil
}

// castSymbolic carries shape contents through integer-to-integer casts,
// which exporters insert around shape arithmetic.
func castSymbolic(c *InferCtx) []onnx.Dim {
	dt, err := castTarget(c.Node)
	if err != nil || dt.IsFloat() || dt == tensor.Bool {
		return nil
	}
	if t, _ := c.Input(0); t.DType.IsFloat() {
		return nil
	}
	return shapePassSymbolic(c)
}

func castLikeInfer(c *InferCtx) ([]onnx.Type, error) {
	t, _ := c.Input(0)
	like, ok := c.Input(1)
	if !ok {
		return nil, shapeError(c.Node, "CastLike needs two inputs")
	}
	t.DType = like.DType
	return []onnx.Type{t}, nil
}

func castLikeRun(c *RunCtx) ([]*tensor.Dense, error) {
	x, like := c.Input(0), c.Input(1)
	if x == nil || like == nil {
		return nil, shapeError(c.Node, "CastLike needs two inputs")
	}
	if x.DType == tensor.String || like.DType == tensor.String {
		y, err := castText(c.Node, x, like.DType)
		return []*tensor.Dense{y}, err
	}
	return []*tensor.Dense{castTo(x, like.DType)}, nil
}

// castTo converts x to dt with ONNX Cast semantics: floats to integers
// truncate toward zero, narrower integers wrap, anything nonzero is true,
// and half-precision targets are rounded to representable values (they are
// stored widened to float32).
func castTo(x *tensor.Dense, dt tensor.DType) *tensor.Dense {
	out := tensor.New(dt, x.Shape...)
	switch {
	case out.F32 != nil && x.F32 != nil:
		copy(out.F32, x.F32)
	case out.F32 != nil:
		for i, v := range x.Float64s() {
			out.F32[i] = float32(v)
		}
	case out.F64 != nil:
		copy(out.F64, x.Float64s())
	case dt == tensor.Bool:
		for i, v := range x.Float64s() {
			if v != 0 {
				out.I64[i] = 1
			}
		}
	case x.I64 != nil:
		copy(out.I64, x.I64)
	default:
		for i, v := range x.Float64s() {
			out.I64[i] = floatToInt(v)
		}
	}
	elemNarrow(out)
	return out
}

// floatToInt truncates v toward zero; NaN becomes 0 and out-of-range values
// saturate, where C would be undefined.
func floatToInt(v float64) int64 {
	switch {
	case math.IsNaN(v):
		return 0
	case v >= math.MaxInt64:
		return math.MaxInt64
	case v <= math.MinInt64:
		return math.MinInt64
	}
	return int64(v)
}

// constantOfShapeFill returns the fill value (a one-element tensor; float32
// zero by default).
func constantOfShapeFill(n *onnx.Node) (*tensor.Dense, error) {
	a := n.Attr("value")
	if a == nil {
		return tensor.FromF32(nil, []float32{0}), nil
	}
	if a.T == nil {
		return nil, onnx.NodeErrorf(n, "attribute value holds no tensor")
	}
	d, err := a.T.Dense()
	if err != nil {
		return nil, onnx.NodeErrorf(n, "attribute value: %w", err)
	}
	if d.Len() != 1 {
		return nil, onnx.NodeErrorf(n, "attribute value must hold one element, has %d", d.Len())
	}
	return d, nil
}

func constantOfShapeInfer(c *InferCtx) ([]onnx.Type, error) {
	fill, err := constantOfShapeFill(c.Node)
	if err != nil {
		return nil, err
	}
	out := onnx.Type{DType: fill.DType}
	if dims := shapeContents(c, 0); dims != nil {
		for _, d := range dims {
			if d.Known() && d.Value < 0 {
				return nil, shapeError(c.Node, "negative dimension %d", d.Value)
			}
		}
		out.HasShape, out.Dims = true, dims
	} else if t, ok := c.Input(0); ok && t.HasShape && len(t.Dims) == 1 && t.Dims[0].Known() {
		out.HasShape = true
		out.Dims = make([]onnx.Dim, t.Dims[0].Value)
		for i := range out.Dims {
			out.Dims[i] = onnx.UnknownDim
		}
	}
	return []onnx.Type{out}, nil
}

func constantOfShapeRun(c *RunCtx) ([]*tensor.Dense, error) {
	n := c.Node
	fill, err := constantOfShapeFill(n)
	if err != nil {
		return nil, err
	}
	s := c.Input(0)
	if s == nil || s.I64 == nil || s.Rank() > 1 {
		return nil, shapeError(n, "input must be a 1-D integer shape")
	}
	shape := make([]int, len(s.I64))
	for i, d := range s.I64 {
		if d < 0 {
			return nil, shapeError(n, "negative dimension %d in shape %v", d, s.I64)
		}
		shape[i] = int(d)
	}
	if _, err := tensor.NumElems(shape); err != nil {
		return nil, onnx.NodeErrorf(n, "%w", err)
	}
	out := tensor.New(fill.DType, shape...)
	switch {
	case out.F32 != nil:
		v := fill.F32[0]
		for i := range out.F32 {
			out.F32[i] = v
		}
	case out.F64 != nil:
		v := fill.F64[0]
		for i := range out.F64 {
			out.F64[i] = v
		}
	default:
		v := fill.I64[0]
		for i := range out.I64 {
			out.I64[i] = v
		}
	}
	return []*tensor.Dense{out}, nil
}

// rangeLen is the element count of Range(start, limit, delta), as the
// spec defines it: max(ceil((limit-start)/delta), 0).
func rangeLen(start, limit, delta float64) (int, error) {
	if delta == 0 {
		return 0, errZeroDelta
	}
	n := math.Ceil((limit - start) / delta)
	if math.IsNaN(n) || n > 1<<40 {
		return 0, errRangeTooLong
	}
	return max(int(n), 0), nil
}

var (
	errZeroDelta    = rangeError("delta is zero")
	errRangeTooLong = rangeError("too many elements")
)

type rangeError string

func (e rangeError) Error() string { return string(e) }

// rangeScalars returns Range's three inputs as float64, or ok=false if
// any is unknown.
func rangeScalars(get func(int) *tensor.Dense) (v [3]float64, dt tensor.DType, ok bool) {
	for i := range 3 {
		t := get(i)
		if t == nil || t.Len() != 1 {
			return v, 0, false
		}
		v[i] = t.Float64s()[0]
		dt = t.DType
	}
	return v, dt, true
}

func rangeInfer(c *InferCtx) ([]onnx.Type, error) {
	t, ok := c.Input(0)
	if !ok || len(c.Node.Inputs) != 3 {
		return nil, shapeError(c.Node, "Range needs inputs start, limit and delta")
	}
	out := onnx.Type{DType: t.DType, HasShape: true, Dims: []onnx.Dim{onnx.UnknownDim}}
	if v, _, ok := rangeScalars(c.ConstInput); ok {
		n, err := rangeLen(v[0], v[1], v[2])
		if err != nil {
			return nil, onnx.NodeErrorf(c.Node, "%w", err)
		}
		out.Dims[0] = onnx.Dim{Value: int64(n)}
	}
	return []onnx.Type{out}, nil
}

func rangeRun(c *RunCtx) ([]*tensor.Dense, error) {
	v, dt, ok := rangeScalars(c.Input)
	if !ok {
		return nil, shapeError(c.Node, "Range needs three scalar inputs")
	}
	n, err := rangeLen(v[0], v[1], v[2])
	if err != nil {
		return nil, onnx.NodeErrorf(c.Node, "%w", err)
	}
	out := tensor.New(dt, n)
	switch {
	case out.I64 != nil:
		// Integer ranges are computed in integers so that large starts
		// stay exact.
		s, d := c.In[0].I64[0], c.In[2].I64[0]
		for i := range out.I64 {
			out.I64[i] = s + int64(i)*d
		}
	case out.F32 != nil:
		s, d := float32(v[0]), float32(v[2])
		for i := range out.F32 {
			out.F32[i] = s + float32(i)*d
		}
	default:
		for i := range out.F64 {
			out.F64[i] = v[0] + float64(i)*v[2]
		}
	}
	return []*tensor.Dense{out}, nil
}

func sizeInfer(c *InferCtx) ([]onnx.Type, error) {
	return []onnx.Type{{DType: tensor.Int64, HasShape: true, Dims: []onnx.Dim{}}}, nil
}

func sizeRun(c *RunCtx) ([]*tensor.Dense, error) {
	x := c.Input(0)
	if x == nil {
		return nil, shapeError(c.Node, "missing input")
	}
	return []*tensor.Dense{tensor.FromI64(nil, []int64{int64(x.Len())})}, nil
}
