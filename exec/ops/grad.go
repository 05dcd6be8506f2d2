package ops

import (
	"fmt"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Gradient rules. exec.Gradient walks a graph backwards and, for each node
// on a path from a value it differentiates with respect to (wrt) to an
// output it differentiates, calls the node's Op.Grad with a GradCtx. The
// rule appends ordinary nodes to the same graph — default-domain ops where
// they express the gradient well, graft's private ops (domain GraftDomain)
// where a decomposition would be slow — and returns one value per input:
// the gradient of <seed, outputs> with respect to that input, or nil where
// the input needs none (GradCtx.Need) or none flows. The driver sums the
// contributions of values read several times. Rules un-broadcast their own
// results (GradCtx.Unbroadcast), so a returned gradient always has its
// input's shape.
//
// Rules emit ops valid at the model's opset: the helpers below choose the
// attribute or input form of axes (ReduceSum, Squeeze, Unsqueeze, Split)
// by GradCtx.Opset.

// GraftDomain is the domain of graft's private ops.
const GraftDomain = "ai.graft"

// GradCtx is a gradient rule's view of one forward node.
type GradCtx struct {
	Graph *onnx.Graph
	Node  *onnx.Node
	Opset int
	// DY holds the gradient of each output, nil where none reaches it.
	DY []*onnx.Value
	// Need says which inputs want a gradient.
	Need []bool

	consts map[string]*onnx.Value // shared by all rules of one Gradient call
}

// NewGradCtx returns the context for n's rule; consts caches the small
// constants rules create (share one map across a graph).
func NewGradCtx(g *onnx.Graph, n *onnx.Node, opset int, dy []*onnx.Value, need []bool, consts map[string]*onnx.Value) *GradCtx {
	return &GradCtx{Graph: g, Node: n, Opset: opset, DY: dy, Need: need, consts: consts}
}

// In returns forward input i (nil if absent); Out returns output i.
func (c *GradCtx) In(i int) *onnx.Value { return c.Node.Input(i) }

// Out returns forward output i, or nil.
func (c *GradCtx) Out(i int) *onnx.Value {
	if i < len(c.Node.Outputs) {
		return c.Node.Outputs[i]
	}
	return nil
}

// Needs reports whether input i wants a gradient.
func (c *GradCtx) Needs(i int) bool { return i < len(c.Need) && c.Need[i] }

// DType is the floating type the gradients are computed in: that of
// output 0.
func (c *GradCtx) DType() tensor.DType {
	if o := c.Out(0); o != nil && o.Type.DType.IsFloat() {
		return o.Type.DType
	}
	for _, v := range c.Node.Inputs {
		if v != nil && v.Type.DType.IsFloat() {
			return v.Type.DType
		}
	}
	return tensor.Float32
}

// Errorf returns an error about the forward node.
func (c *GradCtx) Errorf(format string, args ...any) error {
	return onnx.NodeErrorf(c.Node, "gradient: %s", fmt.Sprintf(format, args...))
}

// Unsupportedf returns an error wrapping ErrUnsupported about the node.
func (c *GradCtx) Unsupportedf(format string, args ...any) error {
	return onnx.NodeErrorf(c.Node, "gradient: %s: %w", fmt.Sprintf(format, args...), ErrUnsupported)
}

// EmitN appends a node of op (in domain, "" for the default one) with nout
// outputs and returns them. Names derive from the forward node's.
func (c *GradCtx) EmitN(op, domain string, nout int, in []*onnx.Value, attrs ...*onnx.Attr) []*onnx.Value {
	outs := make([]string, nout)
	for i := range outs {
		outs[i] = c.Node.Name + "_grad/" + op + "_output_" + fmt.Sprint(i)
	}
	n := c.Graph.AddNode(op, domain, c.Node.Name+"_grad/"+op, in, outs, attrs...)
	return n.Outputs
}

// Emit appends a default-domain node with one output and returns it.
func (c *GradCtx) Emit(op string, in []*onnx.Value, attrs ...*onnx.Attr) *onnx.Value {
	return c.EmitN(op, "", 1, in, attrs...)[0]
}

// Private appends a GraftDomain node with one output and returns it.
func (c *GradCtx) Private(op string, in []*onnx.Value, attrs ...*onnx.Attr) *onnx.Value {
	return c.EmitN(op, GraftDomain, 1, in, attrs...)[0]
}

// Op1 is Emit with variadic inputs and no attributes.
func (c *GradCtx) Op1(op string, in ...*onnx.Value) *onnx.Value { return c.Emit(op, in) }

// Const returns an initializer holding d, shared among rules by key.
func (c *GradCtx) Const(key string, d *tensor.Dense) *onnx.Value {
	if v := c.consts[key]; v != nil {
		return v
	}
	v := c.Graph.AddConst("grad_const", d)
	c.consts[key] = v
	return v
}

// Scalar returns a rank-0 constant v of the gradient dtype.
func (c *GradCtx) Scalar(v float64) *onnx.Value { return c.ScalarOf(c.DType(), v) }

// ScalarOf returns a rank-0 constant v of dtype dt (float32 or float64).
func (c *GradCtx) ScalarOf(dt tensor.DType, v float64) *onnx.Value {
	key := fmt.Sprintf("%s:%v", dt, v)
	if dt == tensor.Float64 {
		return c.Const(key, tensor.FromF64(nil, []float64{v}))
	}
	return c.Const(key, tensor.FromF32(nil, []float32{float32(v)}))
}

// Int64s returns a rank-1 int64 constant.
func (c *GradCtx) Int64s(v ...int64) *onnx.Value {
	return c.Const(fmt.Sprintf("i64:%v", v), tensor.FromI64([]int{len(v)}, append([]int64{}, v...)))
}

// Shape emits Shape(x).
func (c *GradCtx) Shape(x *onnx.Value) *onnx.Value { return c.Op1("Shape", x) }

// ReduceSum emits a ReduceSum over axes.
func (c *GradCtx) ReduceSum(x *onnx.Value, axes []int64, keep bool) *onnx.Value {
	k := int64(0)
	if keep {
		k = 1
	}
	if c.Opset >= 13 {
		return c.Emit("ReduceSum", []*onnx.Value{x, c.Int64s(axes...)}, onnx.IntAttr("keepdims", k))
	}
	return c.Emit("ReduceSum", []*onnx.Value{x}, onnx.IntsAttr("axes", axes...), onnx.IntAttr("keepdims", k))
}

// Unsqueeze emits Unsqueeze(x, axes).
func (c *GradCtx) Unsqueeze(x *onnx.Value, axes ...int64) *onnx.Value {
	if c.Opset >= 13 {
		return c.Op1("Unsqueeze", x, c.Int64s(axes...))
	}
	return c.Emit("Unsqueeze", []*onnx.Value{x}, onnx.IntsAttr("axes", axes...))
}

// Squeeze emits Squeeze(x, axes).
func (c *GradCtx) Squeeze(x *onnx.Value, axes ...int64) *onnx.Value {
	if c.Opset >= 13 {
		return c.Op1("Squeeze", x, c.Int64s(axes...))
	}
	return c.Emit("Squeeze", []*onnx.Value{x}, onnx.IntsAttr("axes", axes...))
}

// ReshapeLike emits Reshape(dy, Shape(x)): the gradient of any op that
// only reinterprets x's elements (Reshape, Flatten, (Un)Squeeze).
func (c *GradCtx) ReshapeLike(dy, x *onnx.Value) *onnx.Value {
	return c.Op1("Reshape", dy, c.Shape(x))
}

// Zeros emits a tensor of zeros of x's shape and the gradient dtype.
func (c *GradCtx) Zeros(x *onnx.Value) *onnx.Value {
	dt := c.DType()
	var d *tensor.Dense
	if dt == tensor.Float64 {
		d = tensor.FromF64([]int{1}, []float64{0})
	} else {
		d = tensor.FromF32([]int{1}, []float32{0})
	}
	return c.Emit("ConstantOfShape", []*onnx.Value{c.Shape(x)}, onnx.TensorAttr("value", d))
}

// Where emits Where(cond, a, b).
func (c *GradCtx) Where(cond, a, b *onnx.Value) *onnx.Value { return c.Op1("Where", cond, a, b) }

// Unbroadcast sums dx, the gradient of a broadcast result of type out,
// down to x's shape: over the leading axes x lacks and the axes where x
// has size 1 and out does not. It needs x's rank. Where the types leave
// open whether x broadcasts on an axis (x's size unknown, as in Swin's
// [batch·windows, 49, C] after a Reshape), it decides at run time from
// opset 13 on (unbroadcastDynamic); before, it fails.
func (c *GradCtx) Unbroadcast(dx *onnx.Value, out onnx.Type, x *onnx.Value) (*onnx.Value, error) {
	if dx == nil {
		return nil, nil
	}
	xt := x.Type
	if !xt.HasShape || !out.HasShape {
		return nil, c.Errorf("cannot un-broadcast the gradient of %q: shapes %s and %s are not known", x.Name, xt.ShapeString(), out.ShapeString())
	}
	r, rx := len(out.Dims), len(xt.Dims)
	if rx > r {
		return nil, c.Errorf("cannot un-broadcast %s to %q %s", out.ShapeString(), x.Name, xt.ShapeString())
	}
	var axes []int64
	for i := range r {
		if i < r-rx {
			axes = append(axes, int64(i))
			continue
		}
		xd, od := xt.Dims[i-(r-rx)], out.Dims[i]
		switch {
		case xd == od && (xd.Known() || xd.Param != ""):
		case xd.Known() && xd.Value == 1:
			if !(od.Known() && od.Value == 1) {
				axes = append(axes, int64(i))
			}
		case xd.Known() && od.Known() && xd.Value == od.Value:
		case xd.Known() && !od.Known():
			// x's size is fixed and not 1: out's matches it.
		case od.Known() && od.Value == 1:
			// x's size is 1 too: nothing to sum.
		case c.Opset >= 13:
			return c.unbroadcastDynamic(dx, x, r, rx), nil
		default:
			return nil, c.Errorf("cannot un-broadcast %s to %q %s: dim %d unknown (before opset 13)", out.ShapeString(), x.Name, xt.ShapeString(), i)
		}
	}
	if len(axes) == 0 {
		return dx, nil
	}
	s := c.ReduceSum(dx, axes, true)
	if r > rx {
		lead := make([]int64, r-rx)
		for i := range lead {
			lead[i] = int64(i)
		}
		s = c.Squeeze(s, lead...)
	}
	return s, nil
}

// unbroadcastDynamic is Unbroadcast with the axes chosen at run time: it
// sums dx (rank r) over the r-rx leading axes x lacks and over every axis
// where x has size 1 in this run (summing where dx's size is 1 as well
// changes nothing), keeping the axes, then reshapes to x's shape.
func (c *GradCtx) unbroadcastDynamic(dx, x *onnx.Value, r, rx int) *onnx.Value {
	shape := c.Shape(x)
	axes := c.Op1("NonZero", c.Op1("Equal", shape, c.Int64s(1)))
	axes = c.Op1("Reshape", axes, c.Int64s(-1))
	if r > rx {
		lead := make([]int64, r-rx)
		for i := range lead {
			lead[i] = int64(i)
		}
		axes = c.Op1("Add", axes, c.Int64s(int64(r-rx)))
		axes = c.Emit("Concat", []*onnx.Value{c.Int64s(lead...), axes}, onnx.IntAttr("axis", 0))
	}
	s := c.Emit("ReduceSum", []*onnx.Value{dx, axes}, onnx.IntAttr("keepdims", 1), onnx.IntAttr("noop_with_empty_axes", 1))
	return c.Op1("Reshape", s, shape)
}

// IndexGrad is the gradient of an op that only moves or repeats x's
// elements (Pad in reflect or edge mode, Slice, Gather, nearest Resize):
// fwd applies the op to a tensor and returns the result. IndexGrad runs
// fwd on the flat indices of x (as float64, exact below 2^53) and emits
// ScatterAddFlat, which adds dy into the positions the indices name.
func (c *GradCtx) IndexGrad(x, dy *onnx.Value, fwd func(iota *onnx.Value) *onnx.Value) *onnx.Value {
	shape := c.Shape(x)
	size := c.Op1("Size", x)
	idx := c.Op1("Range", c.Const("i64s:0", tensor.FromI64(nil, []int64{0})), size, c.Const("i64s:1", tensor.FromI64(nil, []int64{1})))
	idx = c.Op1("Reshape", idx, shape)
	idx = c.Emit("Cast", []*onnx.Value{idx}, onnx.IntAttr("to", int64(tensor.Float64)))
	moved := fwd(idx)
	moved = c.Emit("Cast", []*onnx.Value{moved}, onnx.IntAttr("to", int64(tensor.Int64)))
	return c.Private("ScatterAddFlat", []*onnx.Value{dy, moved, shape})
}

// GradRule is the type of Op.Grad.
type GradRule = func(c *GradCtx) ([]*onnx.Value, error)

// setGrad attaches a rule to a registered op; family _grad.go files call
// it from init (after the family file's init has registered the op).
func setGrad(name string, rule GradRule) {
	op := table[name]
	if op == nil {
		panic("ops: gradient for unregistered op " + name)
	}
	op.Grad = rule
}

// setNoGrad marks ops through which no gradient flows, with the reason.
func setNoGrad(reason string, names ...string) {
	for _, name := range names {
		op := table[name]
		if op == nil {
			panic("ops: NoGrad for unregistered op " + name)
		}
		op.NoGrad = reason
	}
}

// ---------------------------------------------------------------------------
// ScatterAddFlat(dY, idx, shape) -> dX: dX = zeros(shape) then
// dX.flat[idx[j]] += dY.flat[j] for every j with idx[j] >= 0. The adjoint
// of any gather by flat index.

func init() {
	register(&Op{Name: "ScatterAddFlat", Domain: GraftDomain, Since: 1, Infer: scatterAddFlatInfer, Run: scatterAddFlatRun})
}

func scatterAddFlatInfer(c *InferCtx) ([]onnx.Type, error) {
	dy, _ := c.Input(0)
	t := onnx.Type{DType: dy.DType}
	if len(c.Sym) > 2 && c.Sym[2] != nil {
		t.HasShape, t.Dims = true, c.Sym[2]
	}
	return []onnx.Type{t}, nil
}

func scatterAddFlatRun(c *RunCtx) ([]*tensor.Dense, error) {
	dy, idx, sh := c.Input(0), c.Input(1), c.Input(2)
	if dy == nil || idx == nil || sh == nil || idx.I64 == nil || sh.I64 == nil {
		return nil, shapeError(c.Node, "want dY, int64 indices and an int64 shape")
	}
	if !tensor.SameShape(dy.Shape, idx.Shape) {
		return nil, shapeError(c.Node, "dY %v and indices %v differ in shape", dy.Shape, idx.Shape)
	}
	shape := make([]int, len(sh.I64))
	for i, v := range sh.I64 {
		shape[i] = int(v)
	}
	if _, err := tensor.NumElems(shape); err != nil {
		return nil, onnx.NodeErrorf(c.Node, "shape: %w", err)
	}
	out := tensor.New(dy.DType, shape...)
	n := int64(out.Len())
	for j, k := range idx.I64 {
		if k < 0 {
			continue
		}
		if k >= n {
			return nil, shapeError(c.Node, "index %d out of range for shape %v", k, shape)
		}
		if out.F64 != nil {
			out.F64[k] += dy.F64[j]
		} else {
			out.F32[k] += dy.F32[j]
		}
	}
	return []*tensor.Dense{out}, nil
}
