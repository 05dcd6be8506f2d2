package ops

import (
	"slices"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Sequence ops (ONNX operator docs, opset 11): a sequence value is an
// ordered list of tensors of one dtype (tensor.Dense with Seq set; its
// type has onnx.Type.Seq). Positions count from 0, negative ones from the
// end. The tensors in a sequence are never modified and never recycled:
// these kernels copy what they put in and what they hand out, since the
// executor recycles a tensor's storage once its last reader has run.
//
// Types: a sequence's type carries the element dims only where every
// element is known to have them (SequenceConstruct of equal shapes);
// SplitToSequence and inserts of other shapes give elements of unknown
// shape.

func init() {
	register(
		&Op{Name: "SequenceEmpty", Since: 11, Containers: true, Infer: seqEmptyInfer, Run: seqEmptyRun},
		&Op{Name: "SequenceConstruct", Since: 11, Containers: true, Infer: seqConstructInfer, Run: seqConstructRun},
		&Op{Name: "SequenceInsert", Since: 11, Containers: true, Infer: seqInsertInfer, Run: seqInsertRun},
		&Op{Name: "SequenceAt", Since: 11, Containers: true, Infer: seqAtInfer, Run: seqAtRun},
		&Op{Name: "SequenceErase", Since: 11, Containers: true, Infer: seqEraseInfer, Run: seqEraseRun},
		&Op{Name: "SequenceLength", Since: 11, Containers: true, Infer: seqLengthInfer, Run: seqLengthRun},
		&Op{Name: "SplitToSequence", Since: 11, Containers: true, Infer: splitToSeqInfer, Run: splitToSeqRun},
		&Op{Name: "ConcatFromSequence", Since: 11, Containers: true, Infer: concatFromSeqInfer, Run: concatFromSeqRun},
	)
}

// seqType returns the type of a sequence of elements of type elem.
func seqType(elem onnx.Type) onnx.Type {
	elem.Seq = true
	return elem
}

// seqElem returns the element type of sequence type t.
func seqElem(t onnx.Type) onnx.Type {
	t.Seq = false
	return t
}

// seqInferInput returns input i, which must be a sequence where its type
// is known.
func seqInferInput(c *InferCtx, i int) (onnx.Type, error) {
	t, _ := c.Input(i)
	if !t.Seq && (t.DType != tensor.Undefined || t.HasShape) {
		return t, shapeError(c.Node, "input %d is a tensor (%s), want a sequence", i, t)
	}
	return t, nil
}

// seqInput returns run input i, which must be a sequence.
func seqInput(c *RunCtx, i int) (*tensor.Dense, error) {
	s := c.Input(i)
	if s == nil || s.Seq == nil {
		return nil, shapeError(c.Node, "input %d: want a sequence", i)
	}
	return s, nil
}

// seqTensor returns run input i, which must be a tensor, copied so that
// the sequence owns it.
func seqTensor(c *RunCtx, i int) (*tensor.Dense, error) {
	t, err := shapeInput(c, i)
	if err != nil {
		return nil, err
	}
	if t.Seq != nil {
		return nil, shapeError(c.Node, "input %d is a sequence, want a tensor", i)
	}
	return t.Clone(), nil
}

// seqPosition reads the optional position input i for a sequence of n
// items, returning def when it is absent. Valid positions are [-n, n-1],
// or [-n, n] where end is true (insertion after the last).
func seqPosition(c *RunCtx, i, n, def int, end bool) (int, error) {
	if c.Input(i) == nil {
		return def, nil
	}
	p, err := indexInput(c, i, "position")
	if err != nil {
		return 0, err
	}
	if p.Len() != 1 {
		return 0, onnx.NodeErrorf(c.Node, "position: want a scalar, got shape %v", p.Shape)
	}
	pos, hi := int(p.I64[0]), n-1
	if end {
		hi = n
	}
	if pos < -n || pos > hi {
		return 0, onnx.NodeErrorf(c.Node, "position %d out of range for a sequence of %d tensors", pos, n)
	}
	if pos < 0 {
		pos += n
	}
	return pos, nil
}

func seqEmptyInfer(c *InferCtx) ([]onnx.Type, error) {
	dt := tensor.DType(attrInt(c.Node, "dtype", int64(tensor.Float32)))
	if !dt.Supported() {
		return nil, unsupportedf(c.Node, "dtype %s", dt)
	}
	return []onnx.Type{{DType: dt, Seq: true}}, nil
}

func seqEmptyRun(c *RunCtx) ([]*tensor.Dense, error) {
	dt := tensor.DType(attrInt(c.Node, "dtype", int64(tensor.Float32)))
	if !dt.Supported() {
		return nil, unsupportedf(c.Node, "dtype %s", dt)
	}
	return []*tensor.Dense{tensor.NewSequence(dt)}, nil
}

func seqConstructInfer(c *InferCtx) ([]onnx.Type, error) {
	if len(c.In) == 0 {
		return nil, shapeError(c.Node, "no inputs")
	}
	elem, _ := c.Input(0)
	for i := range c.In {
		t, _ := c.Input(i)
		if t.Seq {
			return nil, shapeError(c.Node, "input %d is a sequence, want a tensor", i)
		}
		if t.DType != elem.DType && t.DType != tensor.Undefined && elem.DType != tensor.Undefined {
			return nil, shapeError(c.Node, "input %d is %s, input 0 %s: a sequence holds one dtype", i, t.DType, elem.DType)
		}
		if !t.Equal(elem) {
			elem.HasShape, elem.Dims = false, nil
		}
	}
	return []onnx.Type{seqType(elem)}, nil
}

func seqConstructRun(c *RunCtx) ([]*tensor.Dense, error) {
	items := make([]*tensor.Dense, len(c.In))
	for i := range c.In {
		t, err := seqTensor(c, i)
		if err != nil {
			return nil, err
		}
		if i > 0 && t.DType != items[0].DType {
			return nil, shapeError(c.Node, "input %d is %s, input 0 %s: a sequence holds one dtype", i, t.DType, items[0].DType)
		}
		items[i] = t
	}
	if len(items) == 0 {
		return nil, shapeError(c.Node, "no inputs")
	}
	return []*tensor.Dense{tensor.NewSequence(items[0].DType, items...)}, nil
}

func seqInsertInfer(c *InferCtx) ([]onnx.Type, error) {
	s, err := seqInferInput(c, 0)
	if err != nil {
		return nil, err
	}
	t, _ := c.Input(1)
	if t.Seq {
		return nil, shapeError(c.Node, "input 1 is a sequence, want a tensor")
	}
	if s.DType != tensor.Undefined && t.DType != tensor.Undefined && s.DType != t.DType {
		return nil, shapeError(c.Node, "inserting a %s tensor into a sequence of %s", t.DType, s.DType)
	}
	out := seqType(t)
	if !seqElem(s).Equal(t) {
		out.HasShape, out.Dims = false, nil
	}
	return []onnx.Type{out}, nil
}

func seqInsertRun(c *RunCtx) ([]*tensor.Dense, error) {
	s, err := seqInput(c, 0)
	if err != nil {
		return nil, err
	}
	t, err := seqTensor(c, 1)
	if err != nil {
		return nil, err
	}
	if t.DType != s.DType {
		return nil, shapeError(c.Node, "inserting a %s tensor into a sequence of %s", t.DType, s.DType)
	}
	n := len(s.Seq.Items)
	pos, err := seqPosition(c, 2, n, n, true)
	if err != nil {
		return nil, err
	}
	items := make([]*tensor.Dense, 0, n+1)
	items = append(append(append(items, s.Seq.Items[:pos]...), t), s.Seq.Items[pos:]...)
	return []*tensor.Dense{tensor.NewSequence(s.DType, items...)}, nil
}

func seqAtInfer(c *InferCtx) ([]onnx.Type, error) {
	s, err := seqInferInput(c, 0)
	if err != nil {
		return nil, err
	}
	return []onnx.Type{seqElem(s)}, nil
}

func seqAtRun(c *RunCtx) ([]*tensor.Dense, error) {
	s, err := seqInput(c, 0)
	if err != nil {
		return nil, err
	}
	if c.Input(1) == nil {
		return nil, shapeError(c.Node, "want inputs input_sequence and position")
	}
	pos, err := seqPosition(c, 1, len(s.Seq.Items), 0, false)
	if err != nil {
		return nil, err
	}
	return []*tensor.Dense{s.Seq.Items[pos].Clone()}, nil
}

func seqEraseInfer(c *InferCtx) ([]onnx.Type, error) {
	s, err := seqInferInput(c, 0)
	if err != nil {
		return nil, err
	}
	return []onnx.Type{s}, nil
}

func seqEraseRun(c *RunCtx) ([]*tensor.Dense, error) {
	s, err := seqInput(c, 0)
	if err != nil {
		return nil, err
	}
	n := len(s.Seq.Items)
	if n == 0 {
		return nil, onnx.NodeErrorf(c.Node, "erasing from an empty sequence")
	}
	pos, err := seqPosition(c, 1, n, n-1, false)
	if err != nil {
		return nil, err
	}
	items := make([]*tensor.Dense, 0, n-1)
	items = append(append(items, s.Seq.Items[:pos]...), s.Seq.Items[pos+1:]...)
	return []*tensor.Dense{tensor.NewSequence(s.DType, items...)}, nil
}

func seqLengthInfer(c *InferCtx) ([]onnx.Type, error) {
	if _, err := seqInferInput(c, 0); err != nil {
		return nil, err
	}
	return []onnx.Type{onnx.ShapeOf(tensor.Int64)}, nil
}

func seqLengthRun(c *RunCtx) ([]*tensor.Dense, error) {
	s, err := seqInput(c, 0)
	if err != nil {
		return nil, err
	}
	return []*tensor.Dense{tensor.FromI64(nil, []int64{int64(len(s.Seq.Items))})}, nil
}

func splitToSeqInfer(c *InferCtx) ([]onnx.Type, error) {
	x, _ := c.Input(0)
	if x.Seq {
		return nil, shapeError(c.Node, "input 0 is a sequence, want a tensor")
	}
	out := onnx.Type{DType: x.DType, Seq: true}
	if x.HasShape {
		axis, err := normAxis(c.Node, attrInt(c.Node, "axis", 0), len(x.Dims))
		if err != nil {
			return nil, err
		}
		// The pieces keep x's rank, their length along axis unknown here;
		// keepdims=0 without a split input drops the axis.
		out.HasShape, out.Dims = true, append([]onnx.Dim{}, x.Dims...)
		out.Dims[axis] = onnx.UnknownDim
		if _, hasSplit := c.Input(1); !hasSplit && attrInt(c.Node, "keepdims", 1) == 0 {
			out.Dims = append(out.Dims[:axis], out.Dims[axis+1:]...)
		}
	}
	return []onnx.Type{out}, nil
}

// splitToSeqSizes returns the pieces' sizes along an axis of length dim:
// ones without a split input, equal chunks of a scalar split (the last
// one shorter), or the listed sizes of a 1-D split, which must add up.
func splitToSeqSizes(c *RunCtx, dim int) ([]int, error) {
	n := c.Node
	split := c.Input(1)
	if split == nil {
		sizes := make([]int, dim)
		for i := range sizes {
			sizes[i] = 1
		}
		return sizes, nil
	}
	s, err := indexInput(c, 1, "split")
	if err != nil {
		return nil, err
	}
	if s.Rank() == 0 {
		k := int(s.I64[0])
		if k < 1 {
			return nil, onnx.NodeErrorf(n, "split %d: want a positive chunk size", k)
		}
		var sizes []int
		for left := dim; left > 0; left -= k {
			sizes = append(sizes, min(k, left))
		}
		return sizes, nil
	}
	if s.Rank() != 1 {
		return nil, onnx.NodeErrorf(n, "split of shape %v: want a scalar or a 1-D tensor", s.Shape)
	}
	sizes, sum := make([]int, len(s.I64)), 0
	for i, v := range s.I64 {
		if v < 0 {
			return nil, onnx.NodeErrorf(n, "split %v: negative size", s.I64)
		}
		sizes[i] = int(v)
		sum += int(v)
	}
	if sum != dim {
		return nil, onnx.NodeErrorf(n, "split %v adds up to %d, the axis has %d", s.I64, sum, dim)
	}
	return sizes, nil
}

func splitToSeqRun(c *RunCtx) ([]*tensor.Dense, error) {
	n := c.Node
	x, err := shapeInput(c, 0)
	if err != nil {
		return nil, err
	}
	if x.Seq != nil {
		return nil, shapeError(n, "input 0 is a sequence, want a tensor")
	}
	axis, err := normAxis(n, attrInt(n, "axis", 0), x.Rank())
	if err != nil {
		return nil, err
	}
	sizes, err := splitToSeqSizes(c, x.Shape[axis])
	if err != nil {
		return nil, err
	}
	// keepdims=0 drops the axis, only when no split input is given.
	squeeze := c.Input(1) == nil && attrInt(n, "keepdims", 1) == 0
	inner, outer := shapeProd(x.Shape[axis+1:]), shapeProd(x.Shape[:axis])
	items := make([]*tensor.Dense, len(sizes))
	blocks := make([]int, len(sizes))
	for i, s := range sizes {
		shape := append([]int{}, x.Shape...)
		shape[axis] = s
		items[i] = tensor.New(x.DType, shape...)
		blocks[i] = s * inner
	}
	splitInto(items, x, blocks, outer)
	if squeeze {
		for i, t := range items {
			items[i] = t.Reshaped(append(append([]int{}, x.Shape[:axis]...), x.Shape[axis+1:]...))
		}
	}
	return []*tensor.Dense{tensor.NewSequence(x.DType, items...)}, nil
}

// concatFromSeqAxis returns the output axis and whether the items are
// stacked along a new one (new_axis=1, where axis may also be rank).
func concatFromSeqAxis(n *onnx.Node, rank int) (int, bool, error) {
	a := n.Attr("axis")
	if a == nil {
		return 0, false, onnx.NodeErrorf(n, "attribute axis is required")
	}
	stack := attrInt(n, "new_axis", 0) == 1
	outRank := rank
	if stack {
		outRank++
	}
	axis, err := normAxis(n, a.I, outRank)
	return axis, stack, err
}

func concatFromSeqInfer(c *InferCtx) ([]onnx.Type, error) {
	s, err := seqInferInput(c, 0)
	if err != nil {
		return nil, err
	}
	out := seqElem(s)
	if !out.HasShape {
		return []onnx.Type{{DType: out.DType}}, nil
	}
	axis, stack, err := concatFromSeqAxis(c.Node, len(out.Dims))
	if err != nil {
		return nil, err
	}
	dims := append([]onnx.Dim{}, out.Dims...)
	if stack {
		dims = append(dims[:axis], append([]onnx.Dim{onnx.UnknownDim}, dims[axis:]...)...)
	} else {
		dims[axis] = onnx.UnknownDim
	}
	out.Dims = dims
	return []onnx.Type{out}, nil
}

func concatFromSeqRun(c *RunCtx) ([]*tensor.Dense, error) {
	n := c.Node
	s, err := seqInput(c, 0)
	if err != nil {
		return nil, err
	}
	items := s.Seq.Items
	if len(items) == 0 {
		return nil, onnx.NodeErrorf(n, "concatenating an empty sequence")
	}
	first := items[0]
	axis, stack, err := concatFromSeqAxis(n, first.Rank())
	if err != nil {
		return nil, err
	}
	shape := append([]int{}, first.Shape...)
	if stack {
		shape = append(shape[:axis], append([]int{1}, shape[axis:]...)...)
	}
	ins := make([]*tensor.Dense, len(items))
	blocks := make([]int, len(items))
	inner := shapeProd(shape[axis+1:])
	total := 0
	for i, t := range items {
		if stack {
			if !slices.Equal(t.Shape, first.Shape) {
				return nil, shapeError(n, "item %d has shape %v, item 0 %v: stacking needs equal shapes", i, t.Shape, first.Shape)
			}
			t = t.Reshaped(shape)
		}
		if t.Rank() != len(shape) {
			return nil, shapeError(n, "item %d has shape %v, item 0 %v", i, t.Shape, first.Shape)
		}
		for j, d := range t.Shape {
			if j != axis && d != shape[j] {
				return nil, shapeError(n, "item %d has shape %v, item 0 %v", i, t.Shape, first.Shape)
			}
		}
		ins[i] = t
		blocks[i] = t.Shape[axis] * inner
		total += t.Shape[axis]
	}
	shape[axis] = total
	out, err := shapeNew(n, first.DType, shape)
	if err != nil {
		return nil, err
	}
	concatInto(out, ins, blocks, shapeProd(shape[:axis]), c.Threads)
	return []*tensor.Dense{out}, nil
}

// SequenceMap (opset 17) runs its body once per item of input 0: the
// body's inputs are that item, and for each additional input either its
// item of the same position (a sequence, which must be as long) or the
// whole tensor. Output k collects the body's output k of every run into
// a sequence.

func init() {
	register(&Op{Name: "SequenceMap", Since: 17, Containers: true, Infer: seqMapInfer, Run: seqMapRun})
}

func seqMapInfer(c *InferCtx) ([]onnx.Type, error) {
	n := c.Node
	body, err := subgraph(n, "body")
	if err != nil {
		return nil, err
	}
	if _, err := seqInferInput(c, 0); err != nil {
		return nil, err
	}
	if len(body.Inputs) != len(n.Inputs) || len(body.Outputs) != len(n.Outputs) {
		return nil, onnx.NodeErrorf(n, "body has %d inputs and %d outputs, the node %d and %d", len(body.Inputs), len(body.Outputs), len(n.Inputs), len(n.Outputs))
	}
	out := make([]onnx.Type, len(n.Outputs))
	for i, v := range body.Outputs {
		out[i] = seqType(v.Type)
		out[i].HasShape, out[i].Dims = false, nil // items may differ in shape
		if v.Type.HasShape && len(v.Type.Dims) > 0 {
			out[i].HasShape, out[i].Dims = true, shapeUnknownDims(len(v.Type.Dims))
		}
	}
	return out, nil
}

func seqMapRun(c *RunCtx) ([]*tensor.Dense, error) {
	n := c.Node
	body, err := subgraph(n, "body")
	if err != nil {
		return nil, err
	}
	first, err := seqInput(c, 0)
	if err != nil {
		return nil, err
	}
	count := len(first.Seq.Items)
	for i := 1; i < len(c.In); i++ {
		if s := c.Input(i); s != nil && s.Seq != nil && len(s.Seq.Items) != count {
			return nil, shapeError(n, "input %d is a sequence of %d tensors, input 0 of %d", i, len(s.Seq.Items), count)
		}
	}
	items := make([][]*tensor.Dense, len(n.Outputs))
	in := make([]*tensor.Dense, len(c.In))
	for k := range count {
		for i, d := range c.In {
			in[i] = d
			if d != nil && d.Seq != nil {
				in[i] = d.Seq.Items[k]
			}
		}
		out, err := c.runSub(body, in, len(n.Outputs))
		if err != nil {
			return nil, err
		}
		for j, o := range out {
			if o.Seq != nil {
				return nil, onnx.NodeErrorf(n, "body output %d is a sequence; SequenceMap's body makes tensors", j)
			}
			items[j] = append(items[j], o.Clone())
		}
	}
	res := make([]*tensor.Dense, len(n.Outputs))
	for j := range res {
		dt := body.Outputs[j].Type.DType
		if len(items[j]) > 0 {
			dt = items[j][0].DType
		}
		res[j] = tensor.NewSequence(dt, items[j]...)
	}
	return res, nil
}
