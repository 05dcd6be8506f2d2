package ops

import (
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Gradients of the shape family. Ops that reinterpret x's elements
// (Reshape, Flatten, Squeeze, Unsqueeze) reshape dy back; Transpose applies
// the inverse permutation; Expand un-broadcasts; Concat slices dy and
// Split concatenates the pieces' gradients. Ops that gather elements by
// position (Slice, Gather, Pad in any mode, Tile, nearest Resize and
// Upsample) use GradCtx.IndexGrad: the op itself, applied to x's flat
// indices, says where each output element came from, and the private
// ScatterAddFlat sums dy into those places, so steps, negative indices,
// reflect padding and repeated indices need no rule of their own. Linear
// and cubic Resize mix elements and emit ResizeGrad (resize_grad.go).

func init() {
	reshape := func(c *GradCtx) ([]*onnx.Value, error) {
		return []*onnx.Value{c.ReshapeLike(c.DY[0], c.In(0))}, nil
	}
	for _, op := range []string{"Reshape", "Flatten", "Squeeze", "Unsqueeze"} {
		setGrad(op, reshape)
	}
	setGrad("Transpose", transposeGrad)
	setGrad("Expand", func(c *GradCtx) ([]*onnx.Value, error) {
		d, err := c.Unbroadcast(c.DY[0], c.Out(0).Type, c.In(0))
		return []*onnx.Value{d}, err
	})
	setGrad("Concat", concatGrad)
	setGrad("Split", splitGrad)
	for _, op := range []string{"Slice", "Gather", "Tile"} {
		setGrad(op, indexGrad)
	}
	setGrad("Pad", padGrad)
	setGrad("Resize", resizeGrad)
	setGrad("Upsample", resizeGrad)
	setNoGrad("the output is the input's shape, not a function of its values", "Shape", "Size")
}

func transposeGrad(c *GradCtx) ([]*onnx.Value, error) {
	r := c.In(0).Type.Rank()
	perm := attrInts(c.Node, "perm")
	if perm == nil {
		if r < 0 {
			return nil, c.Errorf("needs the rank of the input")
		}
		for i := range r {
			perm = append(perm, int64(r-1-i))
		}
	}
	inv := make([]int64, len(perm))
	for i, p := range perm {
		if p < 0 || int(p) >= len(perm) {
			return nil, c.Errorf("perm %v", perm)
		}
		inv[p] = int64(i)
	}
	return []*onnx.Value{c.Emit("Transpose", []*onnx.Value{c.DY[0]}, onnx.IntsAttr("perm", inv...))}, nil
}

func concatGrad(c *GradCtx) ([]*onnx.Value, error) {
	n := c.Node
	r := c.Out(0).Type.Rank()
	if r < 0 {
		return nil, c.Errorf("needs the rank of the output")
	}
	axis, err := normAxis(n, attrInt(n, "axis", 0), r)
	if err != nil {
		return nil, err
	}
	res := make([]*onnx.Value, len(n.Inputs))
	start := int64(0)
	for i, v := range n.Inputs {
		if v == nil {
			continue
		}
		t := v.Type
		if !t.HasShape || len(t.Dims) != r || !t.Dims[axis].Known() {
			return nil, c.Errorf("needs the size of input %q on axis %d, got %s", v.Name, axis, t)
		}
		size := t.Dims[axis].Value
		if c.Needs(i) {
			res[i] = c.Op1("Slice", c.DY[0], c.Int64s(start), c.Int64s(start+size), c.Int64s(int64(axis)))
		}
		start += size
	}
	return res, nil
}

func splitGrad(c *GradCtx) ([]*onnx.Value, error) {
	n := c.Node
	r := c.In(0).Type.Rank()
	if r < 0 {
		return nil, c.Errorf("needs the rank of the input")
	}
	axis, err := normAxis(n, attrInt(n, "axis", 0), r)
	if err != nil {
		return nil, err
	}
	parts := make([]*onnx.Value, len(n.Outputs))
	for i, o := range n.Outputs {
		if o == nil {
			return nil, c.Unsupportedf("omitted outputs")
		}
		parts[i] = c.DY[i]
		if parts[i] == nil {
			parts[i] = c.Zeros(o)
		}
	}
	return []*onnx.Value{c.Emit("Concat", parts, onnx.IntAttr("axis", int64(axis)))}, nil
}

// forwardOn re-applies the forward node to x in place of input 0, with
// input i replaced where repl names one.
func (c *GradCtx) forwardOn(x *onnx.Value, repl map[int]*onnx.Value) *onnx.Value {
	in := append([]*onnx.Value{x}, c.Node.Inputs[1:]...)
	for i, v := range repl {
		for len(in) <= i {
			in = append(in, nil)
		}
		in[i] = v
	}
	return c.EmitN(c.Node.OpType, c.Node.Domain, 1, in, c.Node.Attrs...)[0]
}

func indexGrad(c *GradCtx) ([]*onnx.Value, error) {
	res := make([]*onnx.Value, len(c.Node.Inputs))
	if c.Needs(0) {
		res[0] = c.IndexGrad(c.In(0), c.DY[0], func(iota *onnx.Value) *onnx.Value { return c.forwardOn(iota, nil) })
	}
	return res, nil
}

// padGrad is indexGrad with the pad value -1, which ScatterAddFlat skips;
// the gradient of a constant pad value is the sum of dy over the padding.
func padGrad(c *GradCtx) ([]*onnx.Value, error) {
	res := make([]*onnx.Value, len(c.Node.Inputs))
	if c.Needs(0) {
		minus := c.Const("f64s:-1", tensor.FromF64(nil, []float64{-1}))
		res[0] = c.IndexGrad(c.In(0), c.DY[0], func(iota *onnx.Value) *onnx.Value {
			return c.forwardOn(iota, map[int]*onnx.Value{2: minus})
		})
	}
	if c.Needs(2) {
		// dy minus what went back to x, summed: the padding's share.
		s := c.Emit("ReduceSum", []*onnx.Value{c.DY[0]}, onnx.IntAttr("keepdims", 0))
		inner := c.Emit("ReduceSum", []*onnx.Value{res[0]}, onnx.IntAttr("keepdims", 0))
		res[2] = c.ReshapeLike(c.Op1("Sub", s, inner), c.In(2))
	}
	return res, nil
}

func resizeGrad(c *GradCtx) ([]*onnx.Value, error) {
	m := attrString(c.Node, "mode", "nearest")
	if m == "nearest" {
		return indexGrad(c)
	}
	if c.Node.OpType != "Resize" {
		return nil, c.Unsupportedf("Upsample mode %q", m)
	}
	// Linear and cubic mix elements: resize_grad.go's ResizeGrad applies
	// the transpose of the interpolation.
	res := make([]*onnx.Value, len(c.Node.Inputs))
	if c.Needs(0) {
		in := []*onnx.Value{c.DY[0], c.In(1), c.In(2), c.In(3), c.Shape(c.In(0))}
		res[0] = c.Private("ResizeGrad", in, c.Node.Attrs...)
	}
	return res, nil
}
