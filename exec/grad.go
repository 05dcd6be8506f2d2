package exec

import (
	"errors"
	"fmt"

	"github.com/graft-ml/graft/exec/ops"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Grad is a model extended with reverse-mode gradients (see Gradient).
type Grad struct {
	// Model computes the original outputs and, from the seeds, the
	// gradients. It is an ordinary ONNX model (with graft's private
	// domain "ai.graft" where a rule needed one): any backend runs it and
	// it can be saved.
	Model *onnx.Model
	// Of and Wrt are the value names differentiated and differentiated
	// with respect to, resolved as Graph.Resolve resolves them.
	Of, Wrt []string
	// Seeds[i] names the graph input holding dy for Of[i], of its type.
	Seeds []string
	// Grads[i] names the graph output holding the gradient of
	// Σ_i <Seeds[i], Of[i]> with respect to Wrt[i], of Wrt[i]'s type.
	Grads []string
}

// Gradient returns a copy of m that also computes a vector-Jacobian
// product: for each value in of (the graph outputs when of is empty) a
// new input "grad_<name>" takes a seed dy of that value's shape, and for
// each value in wrt (graph inputs, initializers or hidden values) a new
// output "grad_<name>" gives the gradient of Σ <dy, value> with respect to
// it. A value in wrt that the outputs do not depend on gets zeros. m is
// not modified.
//
// The forward values the backward pass reads stay alive until their last
// reader runs, as with any graph. Each node between a wrt value and an
// output needs a gradient rule (ops.Op.Grad); otherwise the error names
// the op and node. Seeds may be batched like the model's inputs, so the
// same Grad serves every row of a Jacobian (an NTK, say).
func Gradient(m *onnx.Model, of, wrt []string) (*Grad, error) {
	data, err := m.Encode()
	if err != nil {
		return nil, fmt.Errorf("gradient: copy model: %w", err)
	}
	gm, err := onnx.Decode(data)
	if err != nil {
		return nil, fmt.Errorf("gradient: copy model: %w", err)
	}
	if err := InferShapes(gm); err != nil {
		return nil, fmt.Errorf("gradient: %w", err)
	}
	g := gm.Graph
	opset := int(gm.Opset(""))
	if opset < 11 && len(g.Nodes) > 0 {
		return nil, fmt.Errorf("gradient: model imports opset %d; gradient rules need opset 11 or later: %w", opset, ErrUnsupported)
	}
	res := &Grad{Model: gm}

	// Resolve the values.
	var outs, ins []*onnx.Value
	if len(of) == 0 {
		outs = append(outs, g.Outputs...)
	}
	for _, name := range of {
		v, err := g.Resolve(name)
		if err != nil {
			return nil, fmt.Errorf("gradient of: %w", err)
		}
		outs = append(outs, v)
	}
	if len(wrt) == 0 {
		return nil, errors.New("gradient: no value to differentiate with respect to")
	}
	for _, name := range wrt {
		v, err := g.Resolve(name)
		if err != nil {
			return nil, fmt.Errorf("gradient with respect to: %w", err)
		}
		ins = append(ins, v)
	}
	for _, v := range append(append([]*onnx.Value{}, outs...), ins...) {
		if !v.Type.DType.IsFloat() {
			return nil, fmt.Errorf("gradient: value %q is %s, not floating point", v.Name, v.Type)
		}
	}

	// active: values that depend on a wrt value through float data.
	active := map[*onnx.Value]bool{}
	for _, v := range ins {
		active[v] = true
	}
	for _, n := range g.Nodes {
		dep := false
		for _, v := range n.Inputs {
			if v != nil && active[v] {
				dep = true
			}
		}
		for _, v := range n.ImplicitInputs() { // read by If, Loop and Scan bodies
			if active[v] {
				dep = true
			}
		}
		if !dep {
			continue
		}
		for _, v := range n.Outputs {
			if v != nil && v.Type.DType.IsFloat() {
				active[v] = true
			}
		}
	}
	// needed: nodes an output depends on.
	needed := map[*onnx.Node]bool{}
	stack := append([]*onnx.Value{}, outs...)
	for len(stack) > 0 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		n := v.Producer()
		if n == nil || needed[n] {
			continue
		}
		needed[n] = true
		for _, in := range n.Inputs {
			if in != nil {
				stack = append(stack, in)
			}
		}
		stack = append(stack, n.ImplicitInputs()...)
	}

	// Seeds.
	contrib := map[*onnx.Value][]*onnx.Value{}
	for _, v := range outs {
		s, err := g.AddInput(g.UniqueName("grad_"+v.Name), v.Type)
		if err != nil {
			return nil, fmt.Errorf("gradient: %w", err)
		}
		res.Of = append(res.Of, v.Name)
		res.Seeds = append(res.Seeds, s.Name)
		contrib[v] = append(contrib[v], s)
	}
	consts := map[string]*onnx.Value{}
	var sumCtx *ops.GradCtx
	sum := func(v *onnx.Value) *onnx.Value {
		c := contrib[v]
		switch len(c) {
		case 0:
			return nil
		case 1:
			return c[0]
		}
		s := sumCtx.Emit("Sum", c)
		contrib[v] = []*onnx.Value{s}
		return s
	}

	// Walk the forward nodes backwards.
	forward := append([]*onnx.Node{}, g.Nodes...)
	for k := len(forward) - 1; k >= 0; k-- {
		n := forward[k]
		if !needed[n] {
			continue
		}
		need := make([]bool, len(n.Inputs))
		anyNeed := false
		for i, v := range n.Inputs {
			if v != nil && active[v] {
				need[i], anyNeed = true, true
			}
		}
		var viaSubgraph *onnx.Value // an active value n's subgraphs read
		for _, v := range n.ImplicitInputs() {
			if active[v] {
				viaSubgraph = v
			}
		}
		if !anyNeed && viaSubgraph == nil {
			continue
		}
		sumCtx = ops.NewGradCtx(g, n, opset, nil, nil, consts)
		dy := make([]*onnx.Value, len(n.Outputs))
		anyDY := false
		for i, v := range n.Outputs {
			if v != nil && active[v] {
				dy[i] = sum(v)
				anyDY = anyDY || dy[i] != nil
			}
		}
		if !anyDY {
			continue
		}
		if viaSubgraph != nil {
			// Differentiating a subgraph is not implemented; a gradient
			// that left out what flows through it would be wrong.
			return nil, onnx.NodeErrorf(n, "gradient: its subgraphs read %q, which depends on the values differentiated: differentiating %s is %w",
				viaSubgraph.Name, n.OpType, ErrUnsupported)
		}
		op, err := ops.Resolve(n, opset)
		if err != nil {
			return nil, fmt.Errorf("gradient: %w", err)
		}
		if op.Grad == nil {
			if op.NoGrad != "" {
				continue
			}
			return nil, onnx.NodeErrorf(n, "gradient: no rule for op %s, which lies between %s and the outputs: %w", n.OpType, describeWrt(n, active), ErrUnsupported)
		}
		c := ops.NewGradCtx(g, n, opset, dy, need, consts)
		dx, err := op.Grad(c)
		if err != nil {
			return nil, fmt.Errorf("gradient: %w", err)
		}
		if len(dx) > len(n.Inputs) {
			return nil, onnx.NodeErrorf(n, "gradient rule returned %d values for %d inputs", len(dx), len(n.Inputs))
		}
		for i, d := range dx {
			if d != nil && need[i] {
				contrib[n.Inputs[i]] = append(contrib[n.Inputs[i]], d)
			}
		}
	}

	// Outputs: one per wrt value, made a named graph output by Identity.
	for _, v := range ins {
		c := ops.NewGradCtx(g, &onnx.Node{Name: "grad_" + v.Name, Outputs: []*onnx.Value{v}}, opset, nil, nil, consts)
		sumCtx = c
		d := sum(v)
		if d == nil {
			d = c.Zeros(v)
		}
		name := g.UniqueName("grad_" + v.Name)
		o := g.AddNode("Identity", "", name, []*onnx.Value{d}, []string{name}).Outputs[0]
		o.Type = v.Type
		g.Outputs = append(g.Outputs, o)
		res.Wrt = append(res.Wrt, v.Name)
		res.Grads = append(res.Grads, o.Name)
	}

	for _, n := range g.Nodes {
		if n.Domain == ops.GraftDomain {
			if gm.Opset(ops.GraftDomain) == 0 {
				gm.Opsets = append(gm.Opsets, onnx.OpsetID{Domain: ops.GraftDomain, Version: 1})
			}
			break
		}
	}
	if err := InferShapes(gm); err != nil {
		return nil, fmt.Errorf("gradient: %w", err)
	}
	return res, nil
}

// describeWrt names the active inputs of n for an error message.
func describeWrt(n *onnx.Node, active map[*onnx.Value]bool) string {
	for _, v := range n.Inputs {
		if v != nil && active[v] {
			return fmt.Sprintf("input %q", v.Name)
		}
	}
	return "its inputs"
}

// Float64 returns a copy of m computing in float64: float32 (and float16)
// initializers, inputs, outputs, Constant nodes and Cast targets become
// float64. Gradient checks against finite differences run on it.
func Float64(m *onnx.Model) (*onnx.Model, error) {
	data, err := m.Encode()
	if err != nil {
		return nil, err
	}
	fm, err := onnx.Decode(data)
	if err != nil {
		return nil, err
	}
	g := fm.Graph
	widen := func(t onnx.Type) onnx.Type {
		if t.DType == tensor.Float32 || t.DType == tensor.Float16 || t.DType == tensor.BFloat16 {
			t.DType = tensor.Float64
		}
		return t
	}
	toF64 := func(d *tensor.Dense) *tensor.Dense {
		if d.DType != tensor.Float32 && d.DType != tensor.Float16 && d.DType != tensor.BFloat16 {
			return d
		}
		out := tensor.New(tensor.Float64, d.Shape...)
		for i, v := range d.F32 {
			out.F64[i] = float64(v)
		}
		return out
	}
	for _, v := range g.Values() {
		v.Type = widen(v.Type)
		if v.Const != nil {
			d, err := v.Const.Dense()
			if err != nil {
				return nil, err
			}
			v.SetConst(toF64(d))
		}
	}
	for _, n := range g.Nodes {
		for _, a := range n.Attrs {
			switch {
			case a.Type == onnx.AttrTensor && a.T != nil:
				d, err := a.T.Dense()
				if err != nil {
					return nil, err
				}
				n.SetAttr(onnx.TensorAttr(a.Name, toF64(d)))
			case n.OpType == "Cast" && a.Name == "to":
				if dt := tensor.DType(a.I); dt == tensor.Float32 || dt == tensor.Float16 || dt == tensor.BFloat16 {
					n.SetAttr(onnx.IntAttr("to", int64(tensor.Float64)))
				}
			}
		}
	}
	return fm, nil
}
