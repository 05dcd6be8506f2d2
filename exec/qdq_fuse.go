package exec

import (
	"math"
	"slices"

	"github.com/graft-ml/graft/exec/ops"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// QDQ fusion. A model quantized in QDQ form (torch.ao.quantization's
// export, onnxruntime.quantization's QDQ format) computes each quantized
// layer as
//
//	DequantizeLinear(x_q) → Conv (or Gemm, MatMul) with DequantizeLinear(w_q)
//	and a bias → [Relu →] QuantizeLinear → y_q
//
// that is, in float, although every value it starts from and ends with is
// an integer. ONNX Runtime rewrites such a chain into one integer op
// (QLinearConv, QLinearMatMul, its own QGemm), and its result is the
// reference a QDQ model is judged by. Compile finds the chains that ONNX
// Runtime's CPU execution provider fuses on x86 and a run computes each as
// that integer op on exec/ops' qgemm kernels: the model is not changed,
// and a run that asks for a value inside a chain, or supplies one, runs
// that chain as written (see qdqChain.fusable). Options.UnfusedQDQ turns
// the fusion off.
//
// The integer op computes the int32 sum of (x_q - x_zp)·(w_q - w_zp)
// exactly, adds the int32 bias and requantizes with the float32 scale
// x_scale·w_scale/y_scale, rounding half to even, as ONNX Runtime does. The
// float chain instead rounds its float sums and the dequantized bias
// before QuantizeLinear rounds, so the two can differ by one quantization
// step where a value lies near a rounding boundary.
//
// ONNX Runtime's rules (onnxruntime/core/optimizer/qdq_transformer:
// qdq_selectors.cc ConvNodeGroupSelector, GemmNodeGroupSelector and
// MatMulNodeGroupSelector, qdq_actions.cc, relu_quantizelinear.cc,
// weight_bias_quantization.cc), with the conditions graft adds for its
// kernels, and where graft is stricter than ONNX Runtime so as never to
// fuse a chain that ONNX Runtime computes otherwise:
//
//   - The activation's DequantizeLinear and the QuantizeLinear have
//     constant per-tensor scales (float32) and zero points, and both
//     activations are uint8 (ONNX Runtime fuses int8 activations only on
//     ARM). The DequantizeLinear may have other readers: it still runs
//     for them.
//   - The weight's DequantizeLinear has a constant int8 or uint8 weight,
//     float32 scale and zero point, per tensor or per output channel (axis
//     0 for Conv, the column axis of B for Gemm; per tensor only for
//     MatMul, whose per-column form ONNX Runtime's QLinearMatMul rejects).
//     A Conv's per-channel zero points must all be equal (ONNX Runtime's
//     QLinearConv requires it).
//   - The Conv's or Gemm's output is read by the QuantizeLinear alone, or
//     by a Relu alone whose output the QuantizeLinear alone reads, with a
//     zero point given and equal to 0, the lowest uint8: only then does
//     ONNX Runtime drop the Relu (ReluQuantFusion), since saturation at
//     the zero point already is the Relu. Neither is a graph output.
//   - A bias from a DequantizeLinear of constant int32 values is used as
//     those integers, as ONNX Runtime does, which ignores the bias's scale
//     and zero point; graft fuses only where that is exact: a zero point
//     of 0 and a scale within 2^-20 of x_scale·w_scale.
//   - A constant float bias of rank 1 is quantized as ONNX Runtime's
//     WeightBiasQuantization does before fusing: int32(round half to
//     even(b / (x_scale·w_scale))), each step in float32; graft does not
//     fuse where that leaves int32's range.
//   - Gemm: alpha 1 (ONNX Runtime's QGemm multiplies its scale by alpha;
//     graft's kernel does not), beta 1 where there is a bias, which must
//     broadcast along the columns ([N], [1, N] or one value). It runs as
//     a one-dimensional QLinearConv of A's transpose (batch 1, K
//     channels, M positions) with B as N filters, so that the bias adds
//     into the int32 sums before requantization as in QGemm.

// qdqChain is one DequantizeLinear → product [→ Relu] → QuantizeLinear
// chain found at Compile.
type qdqChain struct {
	// step is the Conv, Gemm or MatMul; dq the activation's
	// DequantizeLinear; relu (or nil) and q the nodes after it.
	step, dq, relu, q *step
	// node is the integer op that a fused run computes in step's place,
	// in Program.qdqGraph: its input 0 is the quantized activation
	// (value xq of the program), its other inputs are args, constants
	// computed at Compile.
	node *onnx.Node
	op   *ops.Op
	args []*tensor.Dense
	xq   []int32 // {value number of x_q}: what the fused step reads
	// fresh lists the constants the args were computed from: a run that
	// supplies one, or a value one was folded from, runs the chain
	// unfused. inner lists the values the fused step does not compute
	// (the product's and the Relu's outputs) and taken the values it no
	// longer reads (the dequantized activation, weight and bias): a run
	// that requests one of inner, or supplies one of either, runs the
	// chain unfused.
	fresh, inner, taken []int32
	// feeds are the DequantizeLinear steps whose outputs the product
	// reads (the activation's, and the weight's or bias's where not
	// folded), readers the steps reading each one's output: a fused run
	// skips a feed whose output no other needed step reads.
	feeds   []*step
	readers [][]int
	// absorb lists further steps inside the chain, between step and q,
	// which a fused run skips (a written-out layer normalization's:
	// layernorm_fuse.go).
	absorb []*step
}

// qdqFused is a chain that a plan runs fused.
type qdqFused struct {
	*qdqChain
	// absorbed counts the steps besides the product that do not run
	// because of it (RunStats.NodesRun counts them as run).
	absorbed int
}

// planQDQ finds the chains that runs may fuse (at Compile, after
// folding, numbering and planFusion). It records them in p.qdq, and the
// integer ops in p.qdqGraph, a graph of the program's own.
func (p *Program) planQDQ() {
	if _, cpu := p.backend.(CPU); !cpu {
		return
	}
	m := newQDQMatcher(p)
	for i := range p.steps {
		s := &p.steps[i]
		n := s.node
		if s.folded || s.memo != nil || n.Domain != "" || (n.OpType != "Conv" && n.OpType != "Gemm" && n.OpType != "MatMul") {
			continue
		}
		if c := m.match(s); c != nil {
			p.qdq = append(p.qdq, c)
		}
	}
}

// newQDQMatcher returns a matcher over p's steps (planQDQ, planLayerNorm).
func newQDQMatcher(p *Program) *qdqMatcher {
	stepOf := make(map[*onnx.Node]*step, len(p.steps))
	for i := range p.steps {
		stepOf[p.steps[i].node] = &p.steps[i]
	}
	outputs := map[*onnx.Value]bool{}
	for _, v := range p.graph.Outputs {
		outputs[v] = true
	}
	return &qdqMatcher{p: p, stepOf: stepOf, outputs: outputs, graph: p.qdqGraph}
}

// qdqMatcher holds what matching a chain looks up.
type qdqMatcher struct {
	p       *Program
	stepOf  map[*onnx.Node]*step
	outputs map[*onnx.Value]bool
	graph   *onnx.Graph // p.qdqGraph, made on the first match
}

// runtimeStep returns the step producing v if it runs (neither folded nor
// memoized) and is the default-domain op op, else nil.
func (m *qdqMatcher) runtimeStep(v *onnx.Value, op string) *step {
	if v == nil || v.Producer() == nil {
		return nil
	}
	s := m.stepOf[v.Producer()]
	if s == nil || s.folded || s.memo != nil || !isDefaultOp(s.node, op) {
		return nil
	}
	return s
}

// soleReader returns the step of the one node reading v, at input 0, if v
// is not a graph output and that node is the default-domain op op, with
// one output.
func (m *qdqMatcher) soleReader(v *onnx.Value, op string) *step { return m.soleReaderAt(v, op, 0) }

// soleReaderAt is soleReader for a node reading v at input index.
func (m *qdqMatcher) soleReaderAt(v *onnx.Value, op string, index int) *step {
	if v == nil || m.outputs[v] {
		return nil
	}
	uses := v.Uses()
	if len(uses) != 1 || uses[0].Index != index {
		return nil
	}
	s := m.stepOf[uses[0].Node]
	if s == nil || s.folded || s.memo != nil || !isDefaultOp(s.node, op) || len(s.node.Outputs) != 1 || s.node.Outputs[0] == nil {
		return nil
	}
	return s
}

func isDefaultOp(n *onnx.Node, op string) bool {
	return n.OpType == op && (n.Domain == "" || n.Domain == "ai.onnx")
}

// qparams are a QuantizeLinear's or DequantizeLinear's constant scale
// (float32) and zero point (nil when absent), with the values they came
// from.
type qparams struct {
	scale, zp *tensor.Dense
	ids       []int32
}

// perTensor reports whether the parameters hold one value each.
func (q *qparams) perTensor() bool {
	return q.scale.Len() == 1 && q.scale.Rank() <= 1 && (q.zp == nil || (q.zp.Len() == 1 && q.zp.Rank() <= 1))
}

// constant returns v's value if it is a program constant.
func (m *qdqMatcher) constant(v *onnx.Value) *tensor.Dense {
	if v == nil {
		return nil
	}
	return m.p.consts[v]
}

// params reads the constant scale and zero point of a QuantizeLinear or
// DequantizeLinear node (inputs 1 and 2), or reports that they are not
// constants of the kinds fusion takes: a float32 scale, an integer zero
// point, no block quantization and no output_dtype.
func (m *qdqMatcher) params(n *onnx.Node) (*qparams, bool) {
	if len(n.Inputs) < 2 || n.AttrInt("block_size", 0) != 0 || n.Attr("output_dtype") != nil {
		return nil, false
	}
	q := &qparams{scale: m.constant(n.Inputs[1])}
	if q.scale == nil || q.scale.DType != tensor.Float32 || q.scale.Len() == 0 {
		return nil, false
	}
	q.ids = append(q.ids, m.p.ids[n.Inputs[1]])
	if zv := n.Input(2); zv != nil {
		if q.zp = m.constant(zv); q.zp == nil || q.zp.I64 == nil || q.zp.Len() != q.scale.Len() {
			return nil, false
		}
		q.ids = append(q.ids, m.p.ids[zv])
	}
	return q, true
}

// dtypeOf returns the element type of a quantized activation: declared,
// constant, or that of the QuantizeLinear or Cast producing it; Undefined
// where it cannot be told before a run.
func (m *qdqMatcher) dtypeOf(v *onnx.Value) tensor.DType {
	if v.Type.DType != tensor.Undefined {
		return v.Type.DType
	}
	if d := m.constant(v); d != nil {
		return d.DType
	}
	n := v.Producer()
	if n == nil || (n.Domain != "" && n.Domain != "ai.onnx") {
		return tensor.Undefined
	}
	switch n.OpType {
	case "QuantizeLinear":
		if n.Attr("output_dtype") != nil {
			return tensor.Undefined
		}
		if zp := n.Input(2); zp != nil {
			if d := m.constant(zp); d != nil {
				return d.DType
			}
			return tensor.Undefined
		}
		return tensor.Uint8
	case "Cast":
		return tensor.DType(n.AttrInt("to", 0))
	}
	return tensor.Undefined
}

// weightAxis returns the axis of w along which per-channel parameters
// must lie for the product: the output channels.
func weightAxis(n *onnx.Node) int {
	if n.OpType == "Gemm" && n.AttrInt("transB", 0) == 0 {
		return 1
	}
	return 0
}

// match returns the chain around product step s, or nil.
func (m *qdqMatcher) match(s *step) *qdqChain {
	p, n := m.p, s.node
	if len(n.Outputs) != 1 || n.Outputs[0] == nil || len(n.Inputs) < 2 || n.Inputs[0] == nil || n.Inputs[1] == nil {
		return nil
	}
	c := &qdqChain{step: s}

	// The output side: [Relu →] QuantizeLinear, uint8, per tensor.
	c.inner = []int32{s.out[0]}
	c.q = m.soleReader(n.Outputs[0], "QuantizeLinear")
	if c.q == nil {
		if c.relu = m.soleReader(n.Outputs[0], "Relu"); c.relu == nil {
			return nil
		}
		c.inner = append(c.inner, c.relu.out[0])
		if c.q = m.soleReader(c.relu.node.Outputs[0], "QuantizeLinear"); c.q == nil {
			return nil
		}
	}
	yp, ok := m.params(c.q.node)
	if !ok || !yp.perTensor() || (yp.zp != nil && yp.zp.DType != tensor.Uint8) {
		return nil
	}
	if c.relu != nil && (yp.zp == nil || yp.zp.I64[0] != 0) {
		return nil // ONNX Runtime keeps the Relu, and so the float Conv
	}

	// The activation's DequantizeLinear: uint8, per tensor.
	c.dq = m.runtimeStep(n.Inputs[0], "DequantizeLinear")
	if c.dq == nil || c.dq.node.Input(0) == nil {
		return nil
	}
	xp, ok := m.params(c.dq.node)
	if !ok || !xp.perTensor() || m.dtypeOf(c.dq.node.Inputs[0]) != tensor.Uint8 || (xp.zp != nil && xp.zp.DType != tensor.Uint8) {
		return nil
	}
	c.xq = []int32{c.dq.in[0]}
	c.taken = []int32{c.dq.out[0]}

	// The weight's DequantizeLinear: constant int8 or uint8.
	wdq := n.Inputs[1].Producer()
	if wdq == nil || !isDefaultOp(wdq, "DequantizeLinear") || wdq.Input(0) == nil {
		return nil
	}
	w := m.constant(wdq.Inputs[0])
	wp, ok := m.params(wdq)
	if w == nil || !ok || (w.DType != tensor.Int8 && w.DType != tensor.Uint8) || (wp.zp != nil && wp.zp.DType != w.DType) {
		return nil
	}
	c.fresh = slices.Concat(yp.ids, xp.ids, wp.ids, []int32{p.ids[wdq.Inputs[0]]})
	c.taken = append(c.taken, s.in[1])
	m.feed(c, wdq)
	axis := weightAxis(n)
	if !wp.perTensor() {
		if n.OpType == "MatMul" || w.Rank() <= axis || wp.scale.Rank() != 1 || wp.scale.Len() != w.Shape[axis] {
			return nil
		}
		a := wdq.AttrInt("axis", 1)
		if a < 0 {
			a += int64(w.Rank())
		}
		if a != int64(axis) {
			return nil
		}
		if n.OpType == "Conv" && wp.zp != nil && slices.ContainsFunc(wp.zp.I64, func(z int64) bool { return z != wp.zp.I64[0] }) {
			return nil
		}
	}

	var bias *tensor.Dense
	switch n.OpType {
	case "Conv":
		if w.Rank() < 3 {
			return nil
		}
		if bias, ok = m.bias(c, xp, wp, w.Shape[0]); !ok {
			return nil
		}
	case "Gemm":
		if w.Rank() != 2 || n.AttrFloat("alpha", 1) != 1 {
			return nil
		}
		if bias, ok = m.bias(c, xp, wp, w.Shape[axis]); !ok {
			return nil
		}
		if bias != nil && n.AttrFloat("beta", 1) != 1 {
			return nil
		}
	case "MatMul":
		if w.Rank() < 2 {
			return nil
		}
	}
	m.build(c, xp, wp, yp, w, bias)
	return c
}

// feed records dequantizer d (of a weight or bias) as feeding c's product
// alone when it runs at all (is not folded), so that fused runs may skip
// it.
func (m *qdqMatcher) feed(c *qdqChain, d *onnx.Node) {
	s := m.stepOf[d]
	if s == nil || s.folded || s.memo != nil {
		return
	}
	c.feeds = append(c.feeds, s)
}

// bias returns the product's bias as the int32 vector of cout values the
// integer op adds (nil for none), or false where fusion cannot match ONNX
// Runtime (see the rules above).
func (m *qdqMatcher) bias(c *qdqChain, xp, wp *qparams, cout int) (*tensor.Dense, bool) {
	n := c.step.node
	bv := n.Input(2)
	if bv == nil {
		return nil, true
	}
	c.taken = append(c.taken, c.step.in[2])
	bdq := bv.Producer()
	if bdq != nil && isDefaultOp(bdq, "DequantizeLinear") {
		return m.intBias(c, bdq, xp, wp, cout)
	}
	// A float constant, quantized as ONNX Runtime's WeightBiasQuantization
	// does.
	b := m.constant(bv)
	gemmScalar := n.OpType == "Gemm" && b != nil && b.Len() == 1 && wp.perTensor()
	if b == nil || b.DType != tensor.Float32 || b.Rank() != 1 || (b.Len() != cout && !gemmScalar) {
		return nil, false
	}
	c.fresh = append(c.fresh, c.step.in[2])
	out := tensor.New(tensor.Int32, cout)
	for ch := range cout {
		scale := xp.scale.F32[0] * wp.scale.F32[ch%wp.scale.Len()]
		r := math.RoundToEven(float64(b.F32[ch%b.Len()] / scale))
		if !(r >= math.MinInt32 && r <= math.MaxInt32) {
			return nil, false
		}
		out.I64[ch] = int64(r)
	}
	return out, true
}

// intBias checks a bias dequantized from int32 constants and returns those
// integers, cout of them.
func (m *qdqMatcher) intBias(c *qdqChain, bdq *onnx.Node, xp, wp *qparams, cout int) (*tensor.Dense, bool) {
	b := m.constant(bdq.Input(0))
	bp, ok := m.params(bdq)
	if b == nil || !ok || b.DType != tensor.Int32 || (bp.zp != nil && slices.ContainsFunc(bp.zp.I64, func(z int64) bool { return z != 0 })) {
		return nil, false
	}
	c.fresh = append(c.fresh, bp.ids...)
	c.fresh = append(c.fresh, m.p.ids[bdq.Inputs[0]])
	m.feed(c, bdq)
	// [cout] for a Conv; for a Gemm also [1, cout] or a single value.
	switch {
	case b.Rank() == 1 && b.Len() == cout:
	case c.step.node.OpType == "Gemm" && (b.Len() == 1 && b.Rank() <= 2 || b.Rank() == 2 && b.Shape[0] == 1 && b.Shape[1] == cout):
	default:
		return nil, false
	}
	if bp.scale.Len() != 1 && bp.scale.Len() != b.Len() {
		return nil, false
	}
	if bp.scale.Len() > 1 {
		if a := bdq.AttrInt("axis", 1); a != 0 && a != int64(-b.Rank()) || b.Rank() != 1 {
			return nil, false
		}
	}
	out := tensor.New(tensor.Int32, cout)
	for ch := range cout {
		want := xp.scale.F32[0] * wp.scale.F32[ch%wp.scale.Len()]
		got := bp.scale.F32[ch%bp.scale.Len()]
		if !(math.Abs(float64(got-want)) <= math.Abs(float64(want))/(1<<20)) {
			return nil, false
		}
		out.I64[ch] = b.I64[ch%b.Len()]
	}
	return out, true
}

// build makes c's integer op in the program's private graph: QLinearConv
// for a Conv, QLinearMatMul for a MatMul, and for a Gemm a QLinearConv
// over one spatial dim run by qdqGemmRun.
func (m *qdqMatcher) build(c *qdqChain, xp, wp, yp *qparams, w, bias *tensor.Dense) {
	if m.graph == nil {
		m.graph = onnx.NewGraph("qdq")
		m.p.qdqGraph = m.graph
	}
	g, n := m.graph, c.step.node
	x, _ := g.AddInput(g.UniqueName("x"), onnx.Type{})
	args := []*tensor.Dense{xp.scale, xp.zp, w, wp.scale, wp.zp, yp.scale, yp.zp}
	op, attrs := n.OpType, slices.Clone(n.Attrs)
	c.op = ops.Lookup("QLinearConv")
	switch op {
	case "Conv":
		op = "QLinearConv"
		args = append(args, bias)
	case "MatMul":
		op = "QLinearMatMul"
		c.op = ops.Lookup(op)
	case "Gemm":
		// B as N filters of K channels and width 1.
		k, cols := w.Shape[0], w.Shape[1]
		f := tensor.New(w.DType, cols, k, 1)
		if n.AttrInt("transB", 0) != 0 {
			copy(f.I64, w.I64)
			f.Shape[0], f.Shape[1] = k, cols
		} else {
			for j := range cols {
				for i := range k {
					f.I64[j*k+i] = w.I64[i*cols+j]
				}
			}
		}
		args[2] = f
		args = append(args, bias)
		op = "QGemm"
		attrs = []*onnx.Attr{onnx.IntsAttr("kernel_shape", 1), onnx.IntAttr("transA", n.AttrInt("transA", 0))}
		c.op = &ops.Op{Name: "QGemm", Run: qdqGemmRun}
	}
	ins := []*onnx.Value{x}
	for _, d := range args {
		var v *onnx.Value
		if d != nil {
			v = g.AddConst(n.Name+"/qdq", d)
		}
		ins = append(ins, v)
	}
	c.node = g.AddNode(op, "", n.Name, ins, []string{n.Name + "/qdq_out"}, attrs...)
	c.args = args
	c.feeds = append(c.feeds, c.dq)
	for _, f := range c.feeds {
		var readers []int
		for _, u := range f.node.Outputs[0].Uses() {
			if r := m.stepOf[u.Node]; r != nil {
				readers = append(readers, r.index)
			}
		}
		c.readers = append(c.readers, readers)
	}
}

// qdqGemmRun computes a fused Gemm (qdqChain): A (M×K, or K×M with
// transA) transposed into one image of K channels and M positions, the
// QLinearConv of that by the N filters of B, and the N×M result
// transposed back.
func qdqGemmRun(c *ops.RunCtx) ([]*tensor.Dense, error) {
	a := c.In[0]
	if a == nil || a.Rank() != 2 || a.F32 != nil || a.F64 != nil || a.Seq != nil {
		return nil, onnx.NodeErrorf(c.Node, "input A: want a matrix of integers, got %v", a)
	}
	transA := c.Node.AttrInt("transA", 0) != 0
	m, k := a.Shape[0], a.Shape[1]
	if transA {
		m, k = k, m
	}
	x := &tensor.Dense{DType: a.DType, Shape: []int{1, k, m}, I64: a.I64}
	if !transA {
		x.I64 = make([]int64, m*k)
		for i := range m {
			for j := range k {
				x.I64[j*m+i] = a.I64[i*k+j]
			}
		}
	}
	cc := *c
	cc.In = append([]*tensor.Dense{x}, c.In[1:]...)
	out, err := ops.Lookup("QLinearConv").Run(&cc)
	if err != nil {
		return nil, err
	}
	y := out[0]
	n := y.Shape[1]
	t := tensor.New(y.DType, m, n)
	for j := range n {
		for i := range m {
			t.I64[i*n+j] = y.I64[j*m+i]
		}
	}
	return []*tensor.Dense{t}, nil
}

// fusable reports whether plan pl may run c fused: the product runs, no
// value inside the chain is requested or supplied, the quantized
// activation is what the dequantizer would read, and the constants the
// integer op was built from hold.
func (c *qdqChain) fusable(pl *plan) bool {
	if !pl.needed[c.step.index] || !pl.needed[c.q.index] || (c.relu != nil && !pl.needed[c.relu.index]) {
		return false
	}
	for _, s := range c.absorb {
		if !pl.needed[s.index] {
			return false
		}
	}
	for _, id := range c.inner {
		if pl.keep[id] || pl.supplied[id] {
			return false
		}
	}
	for _, id := range c.taken {
		if pl.supplied[id] {
			return false
		}
	}
	for _, id := range c.fresh {
		if !pl.fresh[id] {
			return false
		}
	}
	return true
}

// planQDQRun decides which chains plan pl runs fused, and marks the steps
// they stand for as not needed: the Relu and QuantizeLinear, and the
// dequantizers nothing else needed reads. It returns the fused chains by
// their product's step (nil when none fuses).
func (p *Program) planQDQRun(pl *plan) []*qdqFused {
	var fused []*qdqFused
	for _, c := range p.qdq {
		if !c.fusable(pl) {
			continue
		}
		if fused == nil {
			fused = make([]*qdqFused, len(p.steps))
		}
		f := &qdqFused{qdqChain: c, absorbed: 1}
		pl.needed[c.q.index] = false
		if c.relu != nil {
			pl.needed[c.relu.index] = false
			f.absorbed++
		}
		for _, s := range c.absorb {
			pl.needed[s.index] = false
			f.absorbed++
		}
		fused[c.step.index] = f
	}
	for _, f := range fused {
		if f == nil {
			continue
		}
		for i, d := range f.feeds {
			if !pl.needed[d.index] || pl.keep[d.out[0]] || slices.ContainsFunc(f.readers[i], func(r int) bool { return pl.needed[r] && fused[r] == nil }) {
				continue
			}
			pl.needed[d.index] = false
			f.absorbed++
		}
	}
	return fused
}

// reads returns the values step i reads in plan pl: the quantized
// activation alone for a fused chain.
func (pl *plan) reads(s *step) []int32 {
	if pl.qdq != nil && pl.qdq[s.index] != nil {
		return pl.qdq[s.index].xq
	}
	return s.reads
}
