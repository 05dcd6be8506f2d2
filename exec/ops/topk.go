package ops

import (
	"cmp"
	"math"
	"slices"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// TopK (ONNX operator docs, opsets 10 and 11): the k largest (largest=1,
// the default) or smallest elements along axis (default -1), with their
// int64 indices. graft always returns them sorted, which sorted=0 allows,
// and breaks ties by the lower index, as the spec asks. NaN counts as
// larger than every number, as in PyTorch. The values' gradient flows to
// the chosen elements: GradCtx.IndexGrad with GatherElements of x's flat
// indices at the output indices.

func init() {
	register(&Op{Name: "TopK", Since: 10, Infer: topKInfer, Run: topKRun, Grad: topKGrad})
}

func topKInfer(c *InferCtx) ([]onnx.Type, error) {
	n := c.Node
	x, ok := c.Input(0)
	if _, hasK := c.Input(1); !ok || !hasK {
		return nil, shapeError(n, "want inputs X and K")
	}
	vals, idx := onnx.Type{DType: x.DType}, onnx.Type{DType: tensor.Int64}
	if x.HasShape {
		axis, err := normAxis(n, attrInt(n, "axis", -1), len(x.Dims))
		if err != nil {
			return nil, err
		}
		dims := append([]onnx.Dim{}, x.Dims...)
		dims[axis] = onnx.UnknownDim
		if k, ok := shapeInts(c, 1); ok && len(k) == 1 {
			if x.Dims[axis].Known() && (k[0] < 0 || k[0] > x.Dims[axis].Value) {
				return nil, shapeError(n, "K %d out of range for axis of size %d", k[0], x.Dims[axis].Value)
			}
			dims[axis] = onnx.Dim{Value: k[0]}
		}
		vals.HasShape, vals.Dims = true, dims
		idx.HasShape, idx.Dims = true, dims
	}
	return []onnx.Type{vals, idx}, nil
}

// topKLess orders a before b in the output: by value (NaN largest), then
// by index.
func topKLess(va, vb float64, ia, ib int, largest bool) int {
	an, bn := math.IsNaN(va), math.IsNaN(vb)
	var c int
	switch {
	case an && bn:
		c = 0
	case an:
		c = 1
	case bn:
		c = -1
	default:
		c = cmp.Compare(va, vb)
	}
	if largest {
		c = -c
	}
	if c != 0 {
		return c
	}
	return cmp.Compare(ia, ib)
}

func topKRun(c *RunCtx) ([]*tensor.Dense, error) {
	n := c.Node
	x, err := shapeInput(c, 0)
	if err != nil {
		return nil, err
	}
	kt, err := indexInput(c, 1, "K")
	if err != nil {
		return nil, err
	}
	if kt.Len() != 1 {
		return nil, onnx.NodeErrorf(n, "K: want one element, got shape %v", kt.Shape)
	}
	if x.Rank() == 0 {
		return nil, shapeError(n, "input is a scalar")
	}
	axis, err := normAxis(n, attrInt(n, "axis", -1), x.Rank())
	if err != nil {
		return nil, err
	}
	d := x.Shape[axis]
	k := kt.I64[0]
	if k < 0 || k > int64(d) {
		return nil, shapeError(n, "K %d out of range for axis of size %d", k, d)
	}
	largest := attrInt(n, "largest", 1) != 0
	shape := append([]int{}, x.Shape...)
	shape[axis] = int(k)
	idx := tensor.New(tensor.Int64, shape...)
	outer, inner := shapeProd(x.Shape[:axis]), shapeProd(x.Shape[axis+1:])
	xs := x.Float64s()
	order := make([]int, d)
	pos := make([]int, 0, idx.Len())
	for o := range outer {
		for in := range inner {
			at := func(j int) int { return (o*d+j)*inner + in }
			for j := range order {
				order[j] = j
			}
			slices.SortFunc(order, func(a, b int) int { return topKLess(xs[at(a)], xs[at(b)], a, b, largest) })
			for j := range int(k) {
				idx.I64[(o*int(k)+j)*inner+in] = int64(order[j])
			}
		}
	}
	// the values, in output order
	for o := range outer {
		for j := range int(k) {
			for in := range inner {
				pos = append(pos, (o*d+int(idx.I64[(o*int(k)+j)*inner+in]))*inner+in)
			}
		}
	}
	vals, err := indexTake(n, x, shape, pos)
	if err != nil {
		return nil, err
	}
	return []*tensor.Dense{vals, idx}, nil
}

func topKGrad(c *GradCtx) ([]*onnx.Value, error) {
	res := make([]*onnx.Value, 2)
	if c.DY[0] == nil {
		return res, nil
	}
	axis := onnx.IntAttr("axis", attrInt(c.Node, "axis", -1))
	idx := c.Out(1)
	if idx == nil { // a graph that dropped the indices output: recompute them
		idx = c.EmitN("TopK", "", 2, c.Node.Inputs, c.Node.Attrs...)[1]
	}
	res[0] = c.IndexGrad(c.In(0), c.DY[0], func(iota *onnx.Value) *onnx.Value {
		return c.Emit("GatherElements", []*onnx.Value{iota, idx}, axis)
	})
	return res, nil
}
