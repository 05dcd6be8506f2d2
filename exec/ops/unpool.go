package ops

import (
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// MaxUnpool (ONNX operator docs, opsets 9 and 11): the partial inverse of
// MaxPool. Y is zero except Y.flat[I[i]] = X[i], I holding MaxPool's
// flattened indices into a tensor of the default shape: N, C and
// (in-1)·stride + kernel - pads per spatial dim. An output_shape input
// larger than that pads the result at the end of each dim, as ONNX's
// reference does (the indices keep their coordinates). The gradient
// gathers: dX = dY.flat[I] (without output_shape only).

func init() {
	register(&Op{Name: "MaxUnpool", Since: 9, Infer: maxUnpoolInfer, Run: maxUnpoolRun, Grad: maxUnpoolGrad})
}

// maxUnpoolShape computes Y's default shape from X's.
func maxUnpoolShape(n *onnx.Node, x []int) ([]int, error) {
	nd := len(x) - 2
	if nd < 1 {
		return nil, shapeError(n, "X %v: want rank at least 3", x)
	}
	ks, err := attrIntsLen(n, "kernel_shape", nd, nil)
	if err != nil {
		return nil, err
	}
	if ks == nil {
		return nil, onnx.NodeErrorf(n, "attribute \"kernel_shape\" missing")
	}
	win, err := convReadWindow(n, nd, convInts(ks))
	if err != nil {
		return nil, err
	}
	out := []int{x[0], x[1]}
	for i := range nd {
		d := (x[2+i]-1)*win.strides[i] + win.kernel[i] - win.pads[i] - win.pads[nd+i]
		if d < 1 {
			return nil, shapeError(n, "output dim %d is %d", i, d)
		}
		out = append(out, d)
	}
	return out, nil
}

func maxUnpoolInfer(c *InferCtx) ([]onnx.Type, error) {
	x, _ := c.Input(0)
	if _, ok := c.Input(2); ok {
		if s := c.ConstInput(2); s != nil && s.I64 != nil {
			return []onnx.Type{onnx.ShapeOf(x.DType, convInts(s.I64)...)}, nil
		}
		return []onnx.Type{{DType: x.DType}}, nil
	}
	if !x.HasShape {
		return []onnx.Type{{DType: x.DType}}, nil
	}
	dims := make([]int, len(x.Dims))
	for i, d := range x.Dims {
		if !d.Known() {
			return []onnx.Type{{DType: x.DType, HasShape: true, Dims: make([]onnx.Dim, len(x.Dims))}}, nil
		}
		dims[i] = int(d.Value)
	}
	out, err := maxUnpoolShape(c.Node, dims)
	if err != nil {
		return nil, err
	}
	return []onnx.Type{onnx.ShapeOf(x.DType, out...)}, nil
}

func maxUnpoolRun(c *RunCtx) ([]*tensor.Dense, error) {
	x, err := shapeInput(c, 0)
	if err != nil {
		return nil, err
	}
	idx := c.Input(1)
	if idx == nil || idx.DType != tensor.Int64 || !tensor.SameShape(idx.Shape, x.Shape) {
		return nil, shapeError(c.Node, "I: want int64 indices of X's shape %v", x.Shape)
	}
	shape, err := maxUnpoolShape(c.Node, x.Shape)
	if err != nil {
		return nil, err
	}
	want, given, err := shapeRunInts(c, 2, "output_shape")
	if err != nil {
		return nil, err
	}
	y, err := shapeNew(c.Node, x.DType, shape)
	if err != nil {
		return nil, err
	}
	size := y.Len()
	for _, i := range idx.I64 {
		if i < 0 || i >= int64(size) {
			return nil, shapeError(c.Node, "index %d outside an output of %d elements", i, size)
		}
	}
	switch {
	case x.F32 != nil:
		for k, i := range idx.I64 {
			y.F32[i] = x.F32[k]
		}
	case x.F64 != nil:
		for k, i := range idx.I64 {
			y.F64[i] = x.F64[k]
		}
	default:
		for k, i := range idx.I64 {
			y.I64[i] = x.I64[k]
		}
	}
	if given && !tensor.SameShape(convInts(want), shape) {
		return maxUnpoolPad(c.Node, y, convInts(want))
	}
	return []*tensor.Dense{y}, nil
}

// maxUnpoolPad embeds y at the start of a zero tensor of shape out.
func maxUnpoolPad(n *onnx.Node, y *tensor.Dense, out []int) ([]*tensor.Dense, error) {
	if len(out) != y.Rank() {
		return nil, shapeError(n, "output_shape %v for an output of rank %d", out, y.Rank())
	}
	for i, d := range out {
		if d < y.Shape[i] || i < 2 && d != y.Shape[i] {
			return nil, shapeError(n, "output_shape %v is smaller than the unpooled %v", out, y.Shape)
		}
	}
	z, err := shapeNew(n, y.DType, out)
	if err != nil {
		return nil, err
	}
	ys, zs := tensor.Strides(y.Shape), tensor.Strides(out)
	last := y.Shape[y.Rank()-1]
	copySlices(z, y, func(yield func(d, s, n int)) {
		for s := 0; s < y.Len(); s += last {
			d := 0
			for i := range ys {
				d += (s / ys[i]) % y.Shape[i] * zs[i]
			}
			yield(d, s, last)
		}
	})
	return []*tensor.Dense{z}, nil
}

func maxUnpoolGrad(c *GradCtx) ([]*onnx.Value, error) {
	if c.In(2) != nil {
		return nil, c.Unsupportedf("MaxUnpool gradient with an output_shape input")
	}
	res := make([]*onnx.Value, len(c.Node.Inputs))
	flat := c.Op1("Reshape", c.DY[0], c.Int64s(-1))
	res[0] = c.Op1("Gather", flat, c.In(1))
	return res, nil
}
