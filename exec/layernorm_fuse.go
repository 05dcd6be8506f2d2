package exec

import (
	"github.com/graft-ml/graft/exec/ops"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Layer normalization written out. PyTorch exports nn.LayerNorm below
// opset 17, where ONNX has no LayerNormalization, as nine nodes over the
// last axis:
//
//	μ = ReduceMean(X), D = X − μ, V = ReduceMean(D^2) (Pow(D, 2) or
//	Mul(D, D)), S = Sqrt(V + ε), N = D / S, then [N·γ] [+ β]
//
// which cost a transformer encoder's four of them 230 µs a run at batch 1
// against 90 µs for ONNX Runtime, which fuses them. planLayerNorm finds
// such chains at Compile and a run computes each as one
// LayerNormalization, through the QDQ chains' mechanism (qdq_fuse.go):
// the chain runs in its first step's place, reading X, and writes the
// last step's output; its other steps do not run. As there, a run that
// requests or supplies a value inside the chain, or supplies one of its
// constants, runs it as written. The fused kernel's mean and variance are
// those of the chain (float64 sums of float32 elements) rounded
// differently: outputs agree to float32 rounding, not bit for bit.

// planLayerNorm finds the written-out layer normalizations runs may fuse
// and appends them to p.qdq (at Compile, after folding and numbering).
func (p *Program) planLayerNorm() {
	if _, cpu := p.backend.(CPU); !cpu {
		return
	}
	m := newQDQMatcher(p)
	for i := range p.steps {
		s := &p.steps[i]
		if s.folded || s.memo != nil || !isDefaultOp(s.node, "ReduceMean") {
			continue
		}
		if c := m.matchLayerNorm(s); c != nil {
			p.qdq = append(p.qdq, c)
		}
	}
}

// matchLayerNorm returns the chain starting at ReduceMean step s, or nil.
func (m *qdqMatcher) matchLayerNorm(s *step) *qdqChain {
	p := m.p
	x := s.node.Input(0)
	if x == nil || !m.lastAxisMean(s.node, x) || len(s.node.Outputs) != 1 {
		return nil
	}
	c := &qdqChain{step: s}
	mu := s.node.Outputs[0]
	sub := m.soleReaderAt(mu, "Sub", 1)
	if sub == nil || sub.node.Input(0) != x {
		return nil
	}
	d := sub.node.Outputs[0]
	// D's readers: the square (Pow(D, 2) or Mul(D, D)) and the Div.
	var sq, div *step
	for _, u := range d.Uses() {
		r := m.stepOf[u.Node]
		if r == nil || r.folded || r.memo != nil || len(r.node.Outputs) != 1 {
			return nil
		}
		switch {
		case isDefaultOp(r.node, "Div") && u.Index == 0 && div == nil:
			div = r
		case isDefaultOp(r.node, "Pow") && u.Index == 0 && sq == nil:
			two := r.node.Input(1)
			if v, ok := m.scalar(two); !ok || v != 2 {
				return nil
			}
			c.fresh = append(c.fresh, p.ids[two])
			sq = r
		case isDefaultOp(r.node, "Mul") && r.node.Input(0) == d && r.node.Input(1) == d && (sq == nil || sq == r):
			sq = r
		default:
			return nil
		}
	}
	if sq == nil || div == nil || m.outputs[d] {
		return nil
	}
	v := m.soleReaderAt(sq.node.Outputs[0], "ReduceMean", 0)
	if v == nil || !m.lastAxisMean(v.node, x) {
		return nil
	}
	add, epsIn := m.readerWithConst(v.node.Outputs[0], "Add")
	if add == nil {
		return nil
	}
	eps, ok := m.scalar(epsIn)
	if !ok || !(eps >= 0) {
		return nil
	}
	sqrt := m.soleReaderAt(add.node.Outputs[0], "Sqrt", 0)
	if sqrt == nil || m.soleReaderAt(sqrt.node.Outputs[0], "Div", 1) != div {
		return nil
	}
	c.fresh = append(c.fresh, p.ids[epsIn])
	steps := []*step{s, sub, sq, v, add, sqrt, div}
	last := div
	// The affine part, each optional: Mul by γ, then Add of β, both
	// vectors over the last axis.
	var scale, bias *tensor.Dense
	if mul, g := m.readerWithConst(last.node.Outputs[0], "Mul"); mul != nil {
		if scale = m.vector(g); scale == nil {
			return nil
		}
		c.fresh = append(c.fresh, p.ids[g])
		steps, last = append(steps, mul), mul
	}
	if ad, b := m.readerWithConst(last.node.Outputs[0], "Add"); ad != nil {
		if bias = m.vector(b); bias == nil || (scale != nil && bias.Len() != scale.Len()) {
			return nil
		}
		c.fresh = append(c.fresh, p.ids[b])
		steps, last = append(steps, ad), ad
	}
	for _, st := range steps[:len(steps)-1] {
		c.inner = append(c.inner, st.out[0])
	}
	c.taken = c.fresh
	c.q, c.absorb = last, steps[1:len(steps)-1]
	c.xq = []int32{p.ids[x]}
	c.args = []*tensor.Dense{scale, bias}
	if m.graph == nil {
		m.graph = onnx.NewGraph("qdq")
		p.qdqGraph = m.graph
	}
	g, name := m.graph, s.node.Name
	in, _ := g.AddInput(g.UniqueName("x"), onnx.Type{})
	ins := []*onnx.Value{in, nil, nil}
	for i, t := range c.args {
		if t != nil {
			ins[i+1] = g.AddConst(name+"/layernorm", t)
		}
	}
	c.node = g.AddNode("LayerNormalization", "", name+"/layernorm", ins, []string{name + "/layernorm_out"},
		onnx.IntAttr("axis", -1), onnx.FloatAttr("epsilon", eps))
	c.op = &ops.Op{Name: "LayerNormalization", Run: layerNormFusedRun}
	return c
}

// lastAxisMean reports whether ReduceMean node n averages x's last axis
// alone, keeping it.
func (m *qdqMatcher) lastAxisMean(n *onnx.Node, x *onnx.Value) bool {
	if n.AttrInt("keepdims", 1) == 0 {
		return false
	}
	axes := n.AttrInts("axes")
	if a := n.Input(1); a != nil {
		d := m.constant(a)
		if d == nil || d.I64 == nil {
			return false
		}
		axes = d.I64
	}
	if len(axes) != 1 {
		return false
	}
	return axes[0] == -1 || x.Type.HasShape && axes[0] == int64(len(x.Type.Dims)-1)
}

// readerWithConst returns the step of the one node reading v, if it is
// the default-domain op op (Add or Mul, either operand order) whose other
// input is a constant, and that input.
func (m *qdqMatcher) readerWithConst(v *onnx.Value, op string) (*step, *onnx.Value) {
	for i := range 2 {
		if r := m.soleReaderAt(v, op, i); r != nil {
			if other := r.node.Input(1 - i); other != nil && m.constant(other) != nil {
				return r, other
			}
		}
	}
	return nil, nil
}

// scalar returns the value of v if it is a float32 constant holding one.
func (m *qdqMatcher) scalar(v *onnx.Value) (float32, bool) {
	d := m.constant(v)
	if d == nil || d.DType != tensor.Float32 || d.Len() != 1 {
		return 0, false
	}
	return d.F32[0], true
}

// vector returns v's value if it is a float32 constant of rank 1 (γ or
// β over the last axis).
func (m *qdqMatcher) vector(v *onnx.Value) *tensor.Dense {
	d := m.constant(v)
	if d == nil || d.DType != tensor.Float32 || d.Rank() != 1 || d.Len() == 0 {
		return nil
	}
	return d
}

// layerNormFusedRun runs a fused chain (matchLayerNorm) as
// LayerNormalization over X's last axis: γ of ones where the chain has no
// Mul, and γ or β of one element spread over the axis, as the chain's
// Mul and Add broadcast them.
func layerNormFusedRun(c *ops.RunCtx) ([]*tensor.Dense, error) {
	x := c.In[0]
	if x == nil || x.DType != tensor.Float32 || x.Rank() == 0 {
		return nil, onnx.NodeErrorf(c.Node, "input X: want a float32 tensor of rank 1 or more, got %v", x)
	}
	n := x.Shape[len(x.Shape)-1]
	in := []*tensor.Dense{x, c.In[1], c.In[2]}
	for i, t := range in[1:] {
		switch {
		case t == nil && i == 0:
			t = tensor.New(tensor.Float32, n)
			for j := range t.F32 {
				t.F32[j] = 1
			}
		case t != nil && t.Len() == 1 && n != 1:
			spread := tensor.New(tensor.Float32, n)
			for j := range spread.F32 {
				spread.F32[j] = t.F32[0]
			}
			t = spread
		}
		in[i+1] = t
	}
	cc := *c
	cc.In = in
	return ops.Lookup("LayerNormalization").Run(&cc)
}
