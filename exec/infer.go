package exec

import (
	"fmt"

	"github.com/graft-ml/graft/exec/ops"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// maxFoldElems bounds the constants InferShapes computes while inferring:
// shape arithmetic is tiny, and folding big tensors would cost real time.
const maxFoldElems = 1 << 16

// InferShapes sets the type of every node output in m's graph from the op
// table. Types declared in the file are kept where inference knows less
// (an op outside the table, say). It fails only on an inconsistency the
// rules detect, such as shapes that cannot broadcast; unsupported ops leave
// their outputs untyped. The subgraphs of If, Loop and Scan are inferred
// before their node, their outer values taking the enclosing graphs'
// types.
func InferShapes(m *onnx.Model) error {
	return inferGraph(m.Graph, int(m.Opset("")), nil)
}

// inferGraph is InferShapes for g, whose enclosing graphs give the types
// in outer.
func inferGraph(g *onnx.Graph, opset int, outer map[string]onnx.Type) error {
	if err := g.Toposort(); err != nil {
		return err
	}
	for _, v := range g.OuterValues() {
		if t, ok := outer[v.Name]; ok {
			v.Type = mergeTypes(v.Type, t)
		}
	}
	consts := map[*onnx.Value]*tensor.Dense{}
	syms := map[*onnx.Value][]onnx.Dim{}
	for _, v := range g.Initializers {
		if v.Const.NumElems() <= maxFoldElems && !isOverridable(g, v) {
			if d, err := v.Const.Dense(); err == nil {
				consts[v] = d
			}
		}
	}
	for _, n := range g.Nodes {
		op, err := ops.Resolve(n, opset)
		if err != nil {
			continue
		}
		if subs := n.Subgraphs(); len(subs) > 0 {
			scope := make(map[string]onnx.Type, len(outer))
			for k, t := range outer {
				scope[k] = t
			}
			for _, v := range g.Values() {
				scope[v.Name] = v.Type
			}
			for _, sg := range subs {
				if err := inferGraph(sg, opset, scope); err != nil {
					return onnx.NodeErrorf(n, "subgraph %q: %w", sg.Name, err)
				}
			}
		}
		c := &ops.InferCtx{Node: n, Opset: opset,
			In:    make([]onnx.Type, len(n.Inputs)),
			Const: make([]*tensor.Dense, len(n.Inputs)),
			Sym:   make([][]onnx.Dim, len(n.Inputs)),
		}
		allConst := true
		for i, v := range n.Inputs {
			if v == nil {
				continue
			}
			if v.Type.DType == tensor.String && !op.Strings {
				return fmt.Errorf("shape inference: %w", onnx.NodeErrorf(n, "input %d (%s) is a string tensor; %s takes numbers: %w", i, v.Name, n.OpType, ops.ErrUnsupported))
			}
			if (v.Type.Seq || v.Type.Optional) && !op.Containers {
				return fmt.Errorf("shape inference: %w", onnx.NodeErrorf(n, "input %d (%s) is a %s; %s takes tensors", i, v.Name, containerKind(v.Type), n.OpType))
			}
			c.In[i] = v.Type
			c.Const[i] = consts[v]
			c.Sym[i] = syms[v]
			if c.Sym[i] == nil && c.Const[i] != nil {
				c.Sym[i] = dimsOf(c.Const[i])
			}
			if c.Const[i] == nil {
				allConst = false
			}
		}
		types, err := op.Infer(c)
		if err != nil {
			return fmt.Errorf("shape inference: %w", err)
		}
		// An output the op does not have would fail only at run time
		// ("kernel produced no output"); say so now.
		for i := len(types); i < len(n.Outputs); i++ {
			if n.Outputs[i] != nil {
				return fmt.Errorf("shape inference: %w", onnx.NodeErrorf(n, "declares %d outputs, but %s (opset %d) has %d", len(n.Outputs), n.OpType, opset, len(types)))
			}
		}
		for i, v := range n.Outputs {
			if v != nil && i < len(types) {
				v.Type = mergeTypes(v.Type, types[i])
			}
		}
		if allConst && len(n.ImplicitInputs()) == 0 && !op.Containers && fitsFold(types) {
			if out, err := op.Run(&ops.RunCtx{Node: n, Opset: opset, In: c.Const, Threads: 1}); err == nil {
				for i, v := range n.Outputs {
					if v != nil && i < len(out) {
						consts[v] = out[i]
						v.Type = onnx.ShapeOf(out[i].DType, out[i].Shape...)
					}
				}
				continue
			}
		}
		if op.Symbolic != nil && len(n.Outputs) > 0 && n.Outputs[0] != nil {
			if s := op.Symbolic(c); s != nil {
				syms[n.Outputs[0]] = s
				if d := knownDims(n.Outputs[0].Type, s); d != nil {
					consts[n.Outputs[0]] = d
				}
			}
		}
	}
	return nil
}

// containerKind names what a non-tensor type is, for errors.
func containerKind(t onnx.Type) string {
	if t.Optional {
		return "optional value"
	}
	return "sequence"
}

// isOverridable reports whether an initializer is also a graph input, whose
// value the caller may replace at run time; inference must not fold it.
func isOverridable(g *onnx.Graph, v *onnx.Value) bool {
	for _, in := range g.Inputs {
		if in == v {
			return true
		}
	}
	return false
}

func fitsFold(types []onnx.Type) bool {
	for _, t := range types {
		s, ok := t.Static()
		if !ok {
			return true // unknown size: let the kernel decide, inputs are small
		}
		if n, err := tensor.NumElems(s); err != nil || n > maxFoldElems {
			return false
		}
	}
	return true
}

// dimsOf returns a small integer tensor's contents as dims.
func dimsOf(d *tensor.Dense) []onnx.Dim {
	if d.Rank() > 1 || d.Len() > 64 || d.I64 == nil {
		return nil
	}
	out := make([]onnx.Dim, len(d.I64))
	for i, v := range d.I64 {
		out[i] = onnx.Dim{Value: v}
	}
	return out
}

// knownDims returns the symbolic contents s of an int64 value of type t as
// a constant when every entry is a number: Gather(Shape(x), 2) of an x
// whose dim 2 is static, say. Inference then folds the arithmetic that
// follows (Swin's padding, (7 - H % 7) % 7, goes through Mod, which has no
// symbolic rule), so the shapes it decides stay known. Only inference
// uses the constant; the program computes the value at run time as before.
func knownDims(t onnx.Type, s []onnx.Dim) *tensor.Dense {
	shape, ok := t.Static()
	if !ok || t.DType != tensor.Int64 || len(shape) > 1 {
		return nil
	}
	if n, _ := tensor.NumElems(shape); n != len(s) {
		return nil
	}
	v := make([]int64, len(s))
	for i, d := range s {
		if !d.Known() {
			return nil
		}
		v[i] = d.Value
	}
	return tensor.FromI64(shape, v)
}

// mergeTypes combines a declared type with an inferred one, preferring
// whatever each knows.
func mergeTypes(declared, inferred onnx.Type) onnx.Type {
	out := inferred
	if out.DType == tensor.Undefined {
		out.DType = declared.DType
	}
	if !out.HasShape {
		out.HasShape, out.Dims = declared.HasShape, declared.Dims
		return out
	}
	if declared.HasShape && len(declared.Dims) == len(out.Dims) {
		dims := append([]onnx.Dim{}, out.Dims...)
		for i, d := range dims {
			if !d.Known() && d.Param == "" {
				dims[i] = declared.Dims[i]
			}
		}
		out.Dims = dims
	}
	return out
}
