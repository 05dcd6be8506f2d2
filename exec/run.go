package exec

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/graft-ml/graft/exec/ops"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Program is a graph prepared for execution: nodes in order, each with its
// op table entry, and the values computed once at Compile (see fold.go).
// A Program may be Run many times, but not concurrently. It holds its
// constants as they were at Compile: changing an initializer afterwards
// does not change the program.
type Program struct {
	model   *onnx.Model
	graph   *onnx.Graph
	opset   int
	steps   []step
	backend Backend
	direct  bool // Options.Direct
	noNCHWc bool // Options.noNCHWc
	// Threads is how many goroutines kernels may use; Compile sets it to
	// GOMAXPROCS.
	Threads int
	// consts holds the initializers and the outputs of folded steps;
	// constv holds them by value number.
	consts       map[*onnx.Value]*tensor.Dense
	constStorage map[unsafe.Pointer]bool // the constants' storage (runState.shared)
	constv       []*tensor.Dense
	// ids numbers every value of the graph (and the outer values its
	// subgraph reads); values lists them by number.
	ids    map[*onnx.Value]int32
	values []*onnx.Value
	outIDs []int32 // the graph outputs
	// subs holds a compiled program for each subgraph of the graph's
	// If, Loop and Scan nodes (see RunGraph).
	subs map[*onnx.Graph]*Program
	// plan is the last run's plan, reused by the next run that supplies
	// and requests the same values.
	plan atomic.Pointer[plan]
	// spare is the last run's state, emptied, for the next run to take
	// (see putRunState).
	spare atomic.Pointer[runState]
	// qdq lists the QDQ chains runs may compute as integer ops, whose
	// nodes and constants qdqGraph holds (qdq_fuse.go).
	qdq      []*qdqChain
	qdqGraph *onnx.Graph
}

type step struct {
	node *onnx.Node
	op   *ops.Op
	// in and out number the node's inputs and outputs (-1: absent);
	// reads lists the values it reads, inputs then implicit inputs
	// (imp), each as often as it is read.
	in, out, reads, imp []int32
	// fuse, when not nil, is the step of a Relu or Clip that reads only
	// this node's output 0 and may run inside its kernel (see ops.Clamp),
	// or of the BatchNormalization reading a Concat's.
	fuse  *step
	clamp *ops.Clamp
	// also, when not nil, is a second step that runs inside this one: the
	// Sigmoid of a SiLU, whose Mul is fuse (ops.FusedSiLU), or the
	// BatchNormalization between a Concat and the Relu or Clip in fuse.
	also *step
	// residual, when not -1, is the value a Conv adds to its output
	// before clamp: the other input of the Add in fuse or also, which
	// closes a residual block (ops.FusedResidual).
	residual int32
	// dw, when not nil, is the step of a depthwise Conv that is the only
	// reader of this pointwise Conv's output (after fuse, if any): the
	// two may run as one kernel call, band by band (planDepthwise).
	dw *step
	// nchwc: the Conv runs on the blocked channel layout; nchwcOut: its
	// output stays blocked for the blocked Convs that read it
	// (planNCHWc).
	nchwc, nchwcOut bool
	// into, on a Conv, is the Concat whose output it may write its
	// blocks into, from block intoBlock on; on that Concat, intoFrom
	// lists those Convs, intoBlocks each input's first block and intoCh
	// the output's channels (planConcatInto).
	into       *step
	intoBlock  int
	intoFrom   []*step
	intoBlocks []int
	intoCh     int
	// index is the step's place in Program.steps.
	index int
	// sparse, when not nil, is the node's constant weight (input 1) in
	// sparse form, which the kernel multiplies by instead (planSparse).
	sparse *ops.SparseWeight
	// folded: the outputs were computed at Compile and are constants.
	folded bool
	// memo, when not nil, holds the step's last outputs (fold.go);
	// memoShape: they depend on input 0's shape alone (Shape, Size).
	memo      *atomic.Pointer[memoEntry]
	memoShape bool
}

// Options choose how CompileWith prepares a program.
type Options struct {
	// Backend runs the kernels; nil means the CPU.
	Backend Backend
	// Sparse chooses which Gemm, MatMul and Conv nodes with a constant
	// weight run as sparse products on the CPU: by default those whose
	// weight's density is at most SparseCrossoverGemm or
	// SparseCrossoverConv (SparseAuto). Results
	// agree with the dense products to float32 rounding (1e-5 relative).
	Sparse SparseMode
	// Direct runs convolutions by their definition, never by Winograd
	// (see ops.RunCtx.Direct): slower, but a ReLU or max pool never decides
	// differently from the direct product because of a transform's
	// rounding. ntk compiles with it.
	Direct bool
	// UnfusedQDQ runs a QDQ-form quantized model as written: each
	// DequantizeLinear → Conv, Gemm or MatMul → [Relu →] QuantizeLinear
	// chain in float, instead of as the one integer op (QLinearConv,
	// QLinearMatMul) that ONNX Runtime computes in its place and whose
	// result graft then equals bit for bit (see qdq_fuse.go). The two
	// differ by at most one quantization step, where a float sum lies
	// near a rounding boundary.
	UnfusedQDQ bool
	// noFold turns off constant folding and shape memos (tests compare
	// with it).
	noFold bool
	// noNCHWc keeps every Conv on the NCHW paths (tests compare with it).
	noNCHWc bool
}

// Compile prepares m's graph for running on the CPU backend, with
// default Options. Every node's op must be in the table at the model's
// opset; otherwise the error names the op, node and opset and wraps
// ErrUnsupported.
func Compile(m *onnx.Model) (*Program, error) { return CompileWith(m, Options{}) }

// CompileFor is Compile for a chosen backend.
func CompileFor(m *onnx.Model, b Backend) (*Program, error) {
	return CompileWith(m, Options{Backend: b})
}

// CompileWith is Compile with options.
func CompileWith(m *onnx.Model, opts Options) (*Program, error) {
	b := opts.Backend
	if b == nil {
		b = CPU{}
	}
	return compileGraph(m, m.Graph, b, opts, false)
}

// compileGraph prepares g, m's graph or (sub) one of its subgraphs, whose
// inputs are bound by the node running it rather than by the caller.
func compileGraph(m *onnx.Model, g *onnx.Graph, b Backend, opts Options, sub bool) (*Program, error) {
	if err := g.Toposort(); err != nil {
		return nil, err
	}
	p := &Program{model: m, graph: g, opset: int(m.Opset("")), backend: b, Threads: runtime.GOMAXPROCS(0), direct: opts.Direct, noNCHWc: opts.noNCHWc, consts: map[*onnx.Value]*tensor.Dense{}, constStorage: map[unsafe.Pointer]bool{}}
	for i, n := range g.Nodes {
		op, err := ops.Resolve(n, p.opset)
		if err != nil {
			return nil, err
		}
		for _, sg := range n.Subgraphs() {
			sp, err := compileGraph(m, sg, b, opts, true)
			if err != nil {
				return nil, onnx.NodeErrorf(n, "subgraph %q: %w", sg.Name, err)
			}
			if p.subs == nil {
				p.subs = map[*onnx.Graph]*Program{}
			}
			p.subs[sg] = sp
		}
		p.steps = append(p.steps, step{node: n, op: op, index: i, residual: -1})
	}
	if p.opset == 0 && len(g.Nodes) > 0 {
		return nil, fmt.Errorf("model imports no default-domain opset")
	}
	for _, v := range g.Inputs {
		if !sub && v.Const == nil && v.Type.DType == tensor.Undefined {
			return nil, fmt.Errorf("input %q is not a tensor (a sequence, map or optional?): %w", v.Name, ErrUnsupported)
		}
	}
	isConst := map[*onnx.Value]bool{}
	for _, v := range g.Initializers {
		d, err := v.Const.Dense()
		if err != nil {
			return nil, err
		}
		d, err = b.Upload(d)
		if err != nil {
			return nil, err
		}
		p.consts[v] = d
		if k := storageKey(d); k != nil {
			p.constStorage[k] = true
		}
		isConst[v] = !isOverridable(g, v)
	}
	if !opts.noFold {
		p.foldConstants(isConst)
		p.planMemos(isConst)
	}
	p.number()
	p.planFusion()
	if !opts.UnfusedQDQ {
		p.planQDQ()
	}
	p.planLayerNorm()
	p.planSparse(opts.Sparse)
	return p, nil
}

// number gives every value the program reads or writes a number, and
// each step the numbers of its values.
func (p *Program) number() {
	g := p.graph
	p.ids = map[*onnx.Value]int32{}
	id := func(v *onnx.Value) int32 {
		if v == nil {
			return -1
		}
		if i, ok := p.ids[v]; ok {
			return i
		}
		i := int32(len(p.values))
		p.ids[v] = i
		p.values = append(p.values, v)
		return i
	}
	for _, v := range g.Inputs {
		id(v)
	}
	for _, v := range g.Initializers {
		id(v)
	}
	for _, v := range g.OuterValues() {
		id(v)
	}
	for _, v := range g.Values() {
		id(v)
	}
	for i := range p.steps {
		s := &p.steps[i]
		n := s.node
		s.in = make([]int32, len(n.Inputs))
		for j, v := range n.Inputs {
			s.in[j] = id(v)
			if v != nil {
				s.reads = append(s.reads, s.in[j])
			}
		}
		s.out = make([]int32, len(n.Outputs))
		for j, v := range n.Outputs {
			s.out[j] = id(v)
		}
		for _, v := range n.ImplicitInputs() {
			s.imp = append(s.imp, id(v))
			s.reads = append(s.reads, id(v))
		}
	}
	p.outIDs = make([]int32, len(g.Outputs))
	for i, v := range g.Outputs {
		p.outIDs[i] = id(v)
	}
	p.constv = make([]*tensor.Dense, len(p.values))
	for v, d := range p.consts {
		p.constv[p.ids[v]] = d
	}
}

// planFusion pairs each node whose kernel can apply a clamp (Op.Fuses)
// with the Relu or Clip that is the only reader of its output, so that a
// run can compute both in one pass. Whether a pair fuses is settled per
// run (see fusable). Folded and memoized steps do not fuse.
func (p *Program) planFusion() {
	at := make(map[*onnx.Node]*step, len(p.steps))
	for i := range p.steps {
		if s := &p.steps[i]; !s.folded && s.memo == nil {
			at[s.node] = s
		}
	}
	outputs := map[*onnx.Value]bool{}
	for _, v := range p.graph.Outputs {
		outputs[v] = true
	}
	constant := func(v *onnx.Value) *tensor.Dense { return p.consts[v] }
	for i := range p.steps {
		s := &p.steps[i]
		if !s.op.Fuses || at[s.node] == nil || len(s.node.Outputs) != 1 || s.node.Outputs[0] == nil {
			continue
		}
		out := s.node.Outputs[0]
		uses := out.Uses()
		if sig, mul, ok := ops.FusedSiLU(out); ok && !outputs[out] && at[sig] != nil && at[mul] != nil {
			s.fuse, s.also, s.clamp = at[mul], at[sig], ops.SiLUClamp()
			continue
		}
		if outputs[out] || len(uses) != 1 || uses[0].Index != 0 {
			continue
		}
		next := at[uses[0].Node]
		if next == nil {
			continue
		}
		if c, ok := ops.FusedClamp(next.node, p.opset, constant); ok {
			s.fuse, s.clamp = next, c
		}
	}
	// A Concat along channels read only by an inference
	// BatchNormalization (DenseNet's layers) runs the normalization, and
	// the Relu or Clip fused into that, as it copies (ops.ChannelAffine).
	for i := range p.steps {
		s := &p.steps[i]
		n := s.node
		if n.OpType != "Concat" || n.Domain != "" || at[n] == nil || len(n.Outputs) != 1 || n.Outputs[0] == nil {
			continue
		}
		if a := n.Attr("axis"); a == nil || a.I != 1 {
			continue
		}
		out := n.Outputs[0]
		uses := out.Uses()
		if outputs[out] || len(uses) != 1 || uses[0].Index != 0 || at[uses[0].Node] == nil {
			continue
		}
		bn := at[uses[0].Node]
		norm, ok := ops.FusedBatchNorm(bn.node, p.opset, constant)
		if !ok {
			continue
		}
		inf := float32(math.Inf(1))
		if bn.fuse != nil && bn.also == nil && bn.clamp.Func == nil {
			s.also, s.fuse, s.clamp = bn, bn.fuse, &ops.Clamp{Lo: bn.clamp.Lo, Hi: bn.clamp.Hi, Norm: norm}
			continue
		}
		s.fuse, s.clamp = bn, &ops.Clamp{Lo: -inf, Hi: inf, Norm: norm}
	}
	// A MatMul by a constant read only by an Add of a constant vector
	// over its columns (a linear layer's bias: PyTorch exports nn.Linear
	// on 3-D inputs so) adds the bias as it finishes, with the Relu or
	// Clip fused into the Add, if any (ops.Clamp.RowBias).
	for i := range p.steps {
		s := &p.steps[i]
		n := s.node
		if !isDefaultOp(n, "MatMul") || at[n] == nil || s.fuse != nil || len(n.Inputs) != 2 || len(n.Outputs) != 1 || n.Outputs[0] == nil {
			continue
		}
		w := constant(n.Inputs[1])
		out := n.Outputs[0]
		uses := out.Uses()
		if w == nil || w.Rank() < 2 || outputs[out] || len(uses) != 1 || at[uses[0].Node] == nil {
			continue
		}
		add := at[uses[0].Node]
		bias, ok := ops.FusedRowBias(add.node, uses[0].Index, w.Shape[w.Rank()-1], constant)
		if !ok || add.also != nil {
			continue
		}
		inf := float32(math.Inf(1))
		if add.fuse != nil {
			s.also, s.fuse = add, add.fuse
			s.clamp = &ops.Clamp{Lo: add.clamp.Lo, Hi: add.clamp.Hi, Func: add.clamp.Func, SiLU: add.clamp.SiLU, RowBias: bias}
			continue
		}
		s.fuse, s.clamp = add, &ops.Clamp{Lo: -inf, Hi: inf, RowBias: bias}
	}
	p.planResidual(at, outputs)
	p.planDepthwise(at, outputs)
	p.planNCHWc(at)
}

// planResidual pairs each Conv whose output only an Add reads with that
// Add (and the Relu or Clip fused into it), when the Add's other input is
// computed before the Conv runs: the Conv then adds it as it finishes
// (ops.RunCtx.Residual). Where both inputs of the Add are Convs (a
// residual block's projection shortcut), the later one takes it.
func (p *Program) planResidual(at map[*onnx.Node]*step, outputs map[*onnx.Value]bool) {
	taken := map[*step]bool{}
	producer := map[*onnx.Value]int{}
	for i := range p.steps {
		s := &p.steps[i]
		taken[s.fuse], taken[s.also] = true, true
		for _, v := range s.node.Outputs {
			if v != nil {
				producer[v] = s.index
			}
		}
	}
	inf := float32(math.Inf(1))
	for i := range p.steps {
		s := &p.steps[i]
		n := s.node
		if !isDefaultOp(n, "Conv") || at[n] == nil || s.fuse != nil || len(n.Outputs) != 1 || n.Outputs[0] == nil || outputs[n.Outputs[0]] {
			continue
		}
		addNode, other, ok := ops.FusedResidual(n.Outputs[0])
		add := at[addNode]
		if !ok || add == nil || taken[add] || add.also != nil {
			continue
		}
		r := addNode.Inputs[other]
		if j, computed := producer[r]; computed && j >= s.index && p.consts[r] == nil {
			continue
		}
		if add.fuse != nil {
			c := add.clamp
			if c.Func != nil || c.Norm != nil || c.RowBias != nil {
				continue
			}
			s.also, s.fuse, s.clamp = add, add.fuse, &ops.Clamp{Lo: c.Lo, Hi: c.Hi}
			taken[add.fuse] = true
		} else {
			s.fuse, s.clamp = add, &ops.Clamp{Lo: -inf, Hi: inf}
		}
		taken[add] = true
		s.residual = p.ids[r]
	}
}

// fusable reports whether step s runs with its clamp fused in this run:
// its output is wanted by nothing but the clamp, nobody supplied a value
// the pair reads or writes (nor one a folded value it reads depends on),
// and the data is float32.
func (st *runState) fusable(s *step, in []*tensor.Dense) bool {
	if len(in) == 0 || in[0] == nil || in[0].DType != tensor.Float32 {
		return false
	}
	return st.clampFusable(s)
}

// clampFusable is fusable without the check of the step's input, for a
// step whose input the run has not computed yet (see chainable).
func (st *runState) clampFusable(s *step) bool {
	pl := st.plan
	if s.fuse == nil || !pl.needed[s.fuse.index] {
		return false
	}
	out := s.out[0]
	if pl.keep[out] || pl.supplied[out] || pl.supplied[s.fuse.out[0]] {
		return false
	}
	if s.clamp.RowBias != nil && !st.asCompiled(s.in[1]) {
		// The bias was matched to the weight's columns.
		return false
	}
	chain := []int32{out}
	if s.also != nil {
		chain = append(chain, s.also.out[0])
	}
	if !st.paramsAsCompiled(s.fuse, chain) {
		return false
	}
	if a := s.also; a != nil && (!pl.needed[a.index] || pl.keep[a.out[0]] || pl.supplied[a.out[0]] || !st.paramsAsCompiled(a, chain)) {
		return false
	}
	return s.residual < 0 || st.present(s.residual)
}

// present reports whether value id has a value in this run, in whatever
// layout (get would convert a blocked one).
func (st *runState) present(id int32) bool {
	return st.own[id] != nil || (st.plan.fresh[id] && st.p.constv[id] != nil)
}

// isConst reports whether value id is this run one of the program's
// constants (an initializer, or a value folded from them), whose data
// stays the same from run to run (ops.RunCtx.ConstIn).
func (st *runState) isConst(id int32) bool {
	return st.own[id] == nil && st.p.constv[id] != nil
}

// skipFused marks the steps fused into s (its clamp's, and the one in
// also) as run inside it and returns how many they are.
func (st *runState) skipFused(s *step) int {
	st.skip[s.fuse.index] = true
	if s.also != nil {
		st.skip[s.also.index] = true
		return 2
	}
	return 1
}

// paramsAsCompiled reports whether the inputs of a fused step other than
// the values the fused chain computes (a Clip's bounds, a
// BatchNormalization's parameters, an Add's bias, in any position) are
// this run what the fusion was planned with: none supplied, and no
// folded one recomputed.
func (st *runState) paramsAsCompiled(s *step, chain []int32) bool {
	for _, id := range s.in {
		if !slices.Contains(chain, id) && !st.asCompiled(id) {
			return false
		}
	}
	return true
}

// asCompiled reports whether value id (or an absent input, -1) is this
// run what Compile saw: not supplied, and not a folded value recomputed.
func (st *runState) asCompiled(id int32) bool {
	pl := st.plan
	return id < 0 || !(pl.supplied[id] || (st.p.constv[id] != nil && !pl.fresh[id]))
}

// Graph returns the graph the program runs.
func (p *Program) Graph() *onnx.Graph { return p.graph }

// RunOptions choose what a run computes.
type RunOptions struct {
	// Outputs names the values to return: graph outputs or hidden values
	// (anything Graph.Resolve accepts). Empty means the graph outputs.
	Outputs []string
	// All requests every value the run computes.
	All bool
	// Stats, if not nil, receives measurements of the run.
	Stats *RunStats
	// Profile, if not nil, accumulates the time of every kernel.
	Profile *Profile
}

// RunStats describes one run's memory plan in practice.
type RunStats struct {
	// PeakLiveBytes is the largest total size of activations (inputs and
	// intermediates, not weights) held at once: what the run needs beyond
	// the weights when each value is freed after its last use.
	PeakLiveBytes int64
	// NodesRun counts the kernels executed.
	NodesRun int
	// Memoized counts the steps whose outputs came from their memo (a
	// shape computation seen before, see fold.go) instead of a kernel.
	Memoized int
}

// tensorBytes is the memory d's storage occupies.
func tensorBytes(d *tensor.Dense) int64 {
	return int64(len(d.F32))*4 + int64(len(d.F64))*8 + int64(len(d.I64))*8
}

// Run computes the requested values from inputs, keyed by value name (or
// module path). Graph inputs must all be supplied unless unneeded; an input
// may also name a hidden value, which then replaces what its producer would
// have computed (and what was folded from it at Compile).
func (p *Program) Run(inputs map[string]*tensor.Dense, opts RunOptions) (map[string]*tensor.Dense, error) {
	runStart := time.Now()
	if opts.Profile != nil {
		defer func() {
			opts.Profile.Wall += time.Since(runStart)
			opts.Profile.Runs++
		}()
	}
	g := p.graph
	st := p.newRunState()
	defer p.putRunState(st)
	for name, d := range inputs {
		v, err := g.Resolve(name)
		if err != nil {
			return nil, fmt.Errorf("input: %w", err)
		}
		if err := checkInput(v, d); err != nil {
			return nil, err
		}
		dd, err := p.backend.Upload(d)
		if err != nil {
			return nil, err
		}
		id, ok := p.ids[v]
		if !ok {
			continue // a value added to the graph after Compile: nothing reads it
		}
		st.supply(id, dd)
		// The caller's tensors must never go back to the allocator, even
		// when an Identity or Reshape hands their storage to a value that
		// dies.
		if k := storageKey(dd); k != nil && k == storageKey(d) {
			st.pinned[k] = true
		}
	}
	want, err := p.requested(opts)
	if err != nil {
		return nil, err
	}
	return p.run(st, want, opts, runStart)
}

// plan is what a run computes for a set of supplied and requested values:
// which steps run, how often each value is read, and which constants hold.
type plan struct {
	suppliedIDs, want []int32 // the key, sorted
	needed            []bool  // by step
	refs              []int32 // reads of each value by the needed steps
	keep              []bool  // requested
	supplied          []bool
	// fresh marks the constants a run reads as they are: not supplied,
	// and not folded from a supplied value (dirty).
	fresh []bool
	// qdq holds, by step, the QDQ chains the run computes as integer ops
	// (nil: none; see planQDQRun).
	qdq []*qdqFused
	// into marks the Concats whose inputs the run writes in place (nil:
	// none; see planIntoRun).
	into []bool
}

// planFor returns the plan for the run's supplied values and want,
// reusing the last one when they are the same.
func (p *Program) planFor(suppliedIDs, want []int32) *plan {
	if pl := p.plan.Load(); pl != nil && slices.Equal(pl.suppliedIDs, suppliedIDs) && slices.Equal(pl.want, want) {
		return pl
	}
	nv := len(p.values)
	pl := &plan{suppliedIDs: slices.Clone(suppliedIDs), want: slices.Clone(want),
		needed: make([]bool, len(p.steps)), refs: make([]int32, nv),
		keep: make([]bool, nv), supplied: make([]bool, nv), fresh: make([]bool, nv)}
	for _, id := range suppliedIDs {
		pl.supplied[id] = true
	}
	for _, id := range want {
		pl.keep[id] = true
	}
	// A folded step whose inputs include a supplied value, or another
	// such step's output, runs again; its outputs are not fresh.
	dirty := make([]bool, nv)
	rerun := make([]bool, len(p.steps))
	for i := range p.steps {
		s := &p.steps[i]
		if !s.folded {
			continue
		}
		for _, id := range s.in {
			if id >= 0 && (pl.supplied[id] || dirty[id]) {
				rerun[i] = true
			}
		}
		if rerun[i] {
			for _, id := range s.out {
				if id >= 0 {
					dirty[id] = true
				}
			}
		}
	}
	for id, d := range p.constv {
		pl.fresh[id] = d != nil && !pl.supplied[id] && !dirty[id]
	}
	// Walk back from the requested values to the supplied ones and the
	// constants.
	stepOf := make(map[*onnx.Node]int, len(p.steps))
	for i := range p.steps {
		stepOf[p.steps[i].node] = i
	}
	stack := slices.Clone(want)
	for len(stack) > 0 {
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if pl.supplied[id] || pl.fresh[id] {
			continue
		}
		n := p.values[id].Producer()
		if n == nil {
			continue
		}
		i, ok := stepOf[n]
		if !ok || pl.needed[i] {
			continue
		}
		pl.needed[i] = true
		stack = append(stack, p.steps[i].reads...)
	}
	pl.qdq = p.planQDQRun(pl)
	pl.into = p.planIntoRun(pl)
	for i := range p.steps {
		if pl.needed[i] {
			for _, id := range pl.reads(&p.steps[i]) {
				pl.refs[id]++
			}
		}
	}
	p.plan.Store(pl)
	return pl
}

// runState holds one run's values by number: the program's constants are
// read through rather than copied. It counts the holders of each storage,
// since Identity and Reshape may return their input's storage (a
// constant's too), and freeing a value whose storage another holds must
// release nothing. A run takes the program's spare state, or makes one,
// and leaves it emptied as the spare (putRunState).
type runState struct {
	p           *Program
	plan        *plan
	own         []*tensor.Dense
	refs        []int32
	ver         []uint64 // memo version of a value taken from or stored in a memo; 0: none
	skip        []bool   // steps fused into an earlier one
	blk         []bool   // the value is held in the blocked layout (planNCHWc)
	nchwc       ops.NCHWcStage
	into        []*tensor.Dense // by Concat step: the output its Convs write into
	supplied    []bool
	suppliedIDs []int32
	in          []*tensor.Dense
	ctx         ops.RunCtx
	holders     map[unsafe.Pointer]int
	// pinned is storage the run must never free: the caller's tensors,
	// and in a subgraph's run those of the values bound from outside
	// (RunGraph). memo is storage held by memo entries, never freed and
	// copied before it is returned.
	pinned map[unsafe.Pointer]bool
	memo   map[unsafe.Pointer]bool
}

func (p *Program) newRunState() *runState {
	if st := p.spare.Swap(nil); st != nil {
		return st
	}
	nv := len(p.values)
	return &runState{p: p, own: make([]*tensor.Dense, nv), refs: make([]int32, nv), ver: make([]uint64, nv), blk: make([]bool, nv), into: make([]*tensor.Dense, len(p.steps)),
		skip: make([]bool, len(p.steps)), supplied: make([]bool, nv),
		holders: map[unsafe.Pointer]int{}, pinned: map[unsafe.Pointer]bool{}, memo: map[unsafe.Pointer]bool{}}
}

// putRunState empties st, so that it holds none of the run's tensors,
// and keeps it as the program's spare. A storage address kept as a key of
// holders, pinned or memo keeps that storage alive as surely as a pointer
// in own does: a state put back unemptied held storage through such keys
// (on ResNet-18 at batch 8, 100 MB of activations) until the next run
// began, however long the program sat idle, and that run carried it as
// garbage into its own peak. One spare, rather than a sync.Pool, keeps
// what a program retains between runs to one empty state, whatever the
// garbage collector has done.
func (p *Program) putRunState(st *runState) {
	clear(st.own)
	clear(st.ver)
	clear(st.skip)
	clear(st.blk)
	clear(st.into)
	clear(st.supplied)
	st.suppliedIDs = st.suppliedIDs[:0]
	clear(st.in[:cap(st.in)])
	st.in = st.in[:0]
	st.ctx = ops.RunCtx{}
	clear(st.holders)
	clear(st.pinned)
	clear(st.memo)
	st.plan = nil
	p.spare.Store(st)
}

// supply sets a value the caller (or the enclosing graph) gives.
func (st *runState) supply(id int32, d *tensor.Dense) {
	st.set(id, d)
	if !st.supplied[id] {
		st.supplied[id] = true
		st.suppliedIDs = append(st.suppliedIDs, id)
	}
}

// get returns value id: the run's own, else the constant (if it holds).
func (st *runState) get(id int32) *tensor.Dense {
	if d := st.own[id]; d != nil {
		if st.blk[id] {
			return st.unblock(id)
		}
		return d
	}
	if st.plan.fresh[id] {
		return st.p.constv[id]
	}
	return nil
}

func (st *runState) set(id int32, d *tensor.Dense) {
	if old := st.own[id]; old != nil {
		st.release(old)
	}
	st.blk[id] = false
	st.own[id] = d
	if k := storageKey(d); k != nil {
		st.holders[k]++
	}
}

func (st *runState) del(id int32) {
	if d := st.own[id]; d != nil {
		st.release(d)
		st.own[id] = nil
		st.blk[id] = false
	}
}

// drop ends value id's life in the run and returns the bytes that no
// longer live: its storage goes back to the backend at once, unless a
// constant, a memo, the caller or another value holds it too.
func (st *runState) drop(id int32) int64 {
	d := st.own[id]
	if d == nil {
		return 0
	}
	free := !st.shared(d)
	// Release before Free: Free may empty d (tensor.Recycle does), and
	// a storage whose count stayed up would look shared to the next
	// value given it, which would then never be recycled.
	st.del(id)
	if !free {
		return 0
	}
	n := tensorBytes(d)
	if !st.plan.supplied[id] {
		st.p.backend.Free(d)
	}
	return n
}

func (st *runState) release(d *tensor.Dense) {
	if k := storageKey(d); k != nil {
		if st.holders[k]--; st.holders[k] <= 0 {
			delete(st.holders, k)
		}
	}
}

// shared reports whether d's storage, held by one of the run's values, is
// also held by a constant, a memo or another of them.
func (st *runState) shared(d *tensor.Dense) bool {
	k := storageKey(d)
	return k != nil && (st.p.constStorage[k] || st.holders[k] > 1 || st.pinned[k] || st.memo[k])
}

// run computes want from the values supplied in st.
func (p *Program) run(st *runState, want []int32, opts RunOptions, runStart time.Time) (map[string]*tensor.Dense, error) {
	slices.Sort(st.suppliedIDs)
	pl := p.planFor(st.suppliedIDs, want)
	st.plan = pl
	refs := st.refs
	copy(refs, pl.refs)
	var live, peak int64
	for _, d := range st.own {
		if d != nil {
			live += tensorBytes(d)
		}
	}
	nodesRun, memoized := 0, 0
	for i := range p.steps {
		s := &p.steps[i]
		n := s.node
		if !pl.needed[i] || st.skip[i] {
			continue
		}
		if s.intoCh > 0 && st.into[i] != nil {
			// A Concat whose Convs wrote its output: it only copies in
			// what they left as values of their own.
			start := time.Now()
			buf, err := st.concatInPlace(s)
			if err != nil {
				return nil, err
			}
			if opts.Profile != nil {
				opts.Profile.add(n, nil, []*tensor.Dense{buf}, &ops.RunCtx{Node: n, NCHWc: &ops.NCHWcStage{Ran: true}}, start, time.Since(start), runStart)
			}
			nodesRun++
			id := s.out[0]
			st.set(id, buf)
			st.blk[id] = true
			live += tensorBytes(buf)
			peak = max(peak, live)
			for _, r := range s.reads {
				if refs[r]--; refs[r] == 0 && !pl.keep[r] {
					live -= st.drop(r)
				}
			}
			if refs[id] == 0 && !pl.keep[id] {
				live -= st.drop(id)
			}
			continue
		}
		// A fused QDQ chain runs its integer op in the product's place,
		// reading the quantized activation and writing the
		// QuantizeLinear's output.
		op, ins, outputs, reads := s.op, s.in, s.out, s.reads
		var qf *qdqFused
		if pl.qdq != nil && pl.qdq[i] != nil {
			qf = pl.qdq[i]
			n, op, ins, outputs, reads = qf.node, qf.op, qf.xq, qf.q.out, qf.xq
			nodesRun += qf.absorbed
		}
		in := st.in[:0]
		var constIn uint64
		var blockedIn uint64
		for j, id := range ins {
			var d *tensor.Dense
			if id >= 0 {
				if j < 64 && s.nchwc && qf == nil && st.blk[id] {
					// A blocked step takes its inputs as they are.
					d = st.own[id]
					blockedIn |= 1 << j
				} else if d = st.get(id); d == nil {
					v := p.values[id]
					return nil, fmt.Errorf("%s: input %q has no value: supply graph input %q", n, v.Name, v.Name)
				}
				if j < 64 && st.isConst(id) {
					constIn |= 1 << j
				}
			}
			in = append(in, d)
		}
		if qf != nil {
			in = append(in, qf.args...)
		}
		st.in = in
		var (
			out      []*tensor.Dense
			entry    *memoEntry
			storable bool
			// residual: a value the fused Add read, read here instead.
			residual int32 = -1
			inVer    []uint64
			// blockedOut: output 0 came back in the blocked layout;
			// wroteInto: into a Concat's output (concatInto), which
			// holds it from now on instead of a value of its own.
			blockedOut, wroteInto bool
		)
		if s.memo != nil {
			entry, storable, inVer = st.memoLookup(s, in)
		}
		if entry != nil {
			out = entry.outs
			memoized++
		} else {
			nodesRun++
			st.ctx = ops.RunCtx{Node: n, Opset: p.opset, In: in, Threads: p.Threads, Sparse: s.sparse, Direct: p.direct, ConstIn: constIn}
			st.nchwc = ops.NCHWcStage{}
			if qf != nil {
				st.ctx.Sparse = nil
			}
			ctx := &st.ctx
			if len(s.imp) > 0 {
				ctx.Outer = make(map[string]*tensor.Dense, len(s.imp))
				for _, id := range s.imp {
					d := st.get(id)
					if d == nil {
						return nil, fmt.Errorf("%s: outer value %q read by a subgraph has no value", n, p.values[id].Name)
					}
					ctx.Outer[p.values[id].Name] = d
				}
			}
			if p.subs != nil {
				ctx.Graphs = p
			}
			if qf == nil && st.fusable(s, in) {
				// The clamp's output takes the place of this node's, which
				// is never stored.
				ctx.Clamp = s.clamp
				if s.residual >= 0 {
					if s.nchwc && st.blk[s.residual] {
						ctx.Residual = st.own[s.residual]
						st.nchwc.Res = true
					} else {
						ctx.Residual = st.get(s.residual)
					}
					residual = s.residual
				}
				outputs = s.fuse.out
				nodesRun += st.skipFused(s)
			}
			paired := qf == nil && st.pairedThisRun(s, ctx.Clamp != nil)
			if paired && blockedIn != 0 {
				// The pairing reads NCHW: convert what came blocked.
				for j, id := range ins {
					if j < 64 && blockedIn&(1<<j) != 0 {
						in[j] = st.get(id)
					}
				}
				blockedIn = 0
			}
			if qf == nil && s.nchwc && !paired {
				// The output stays blocked where the step writes what
				// was planned: its fused activation's output.
				st.nchwc.In = blockedIn
				st.nchwc.Out = s.nchwcOut && (s.fuse == nil || ctx.Clamp != nil)
				if st.nchwc.Out {
					st.nchwc.Into = st.concatInto(s)
				}
				ctx.NCHWc = &st.nchwc
			}
			if paired {
				var ran int
				ctx.Depthwise, outputs, ran = st.depthwiseStage(s.dw)
				nodesRun += ran
			}
			var kernelStart time.Time
			if opts.Profile != nil {
				kernelStart = time.Now()
			}
			var err error
			out, err = p.runNode(ctx, op)
			if err != nil {
				return nil, err
			}
			blockedOut = ctx.NCHWc != nil && ctx.NCHWc.Blocked
			wroteInto = ctx.NCHWc != nil && ctx.NCHWc.WroteInto
			if opts.Profile != nil {
				opts.Profile.add(n, in, out, ctx, kernelStart, time.Since(kernelStart), runStart)
			}
			if storable && len(out) >= len(outputs) {
				entry = memoStore(s, in, out, inVer)
			}
		}
		for i, id := range outputs {
			if id < 0 || pl.supplied[id] {
				continue
			}
			if i >= len(out) {
				return nil, onnx.NodeErrorf(n, "declares %d outputs, but %s (opset %d) produced %d", len(outputs), n.OpType, p.opset, len(out))
			}
			if out[i] == nil {
				return nil, onnx.NodeErrorf(n, "kernel produced no output %d", i)
			}
			if i == 0 && wroteInto {
				continue
			}
			st.set(id, out[i])
			if i == 0 && blockedOut {
				st.blk[id] = true
			}
			if entry != nil {
				st.ver[id] = entry.version
				if k := storageKey(out[i]); k != nil {
					st.memo[k] = true
				}
			}
			if !st.shared(out[i]) {
				live += tensorBytes(out[i])
			}
		}
		peak = max(peak, live)
		for _, id := range reads {
			refs[id]--
			if refs[id] == 0 && !pl.keep[id] {
				live -= st.drop(id)
			}
		}
		if id := residual; id >= 0 {
			refs[id]--
			if refs[id] == 0 && !pl.keep[id] {
				live -= st.drop(id)
			}
		}
		// An output no step of this run reads (a second output nobody
		// uses) dies at once.
		for _, id := range outputs {
			if id >= 0 && refs[id] == 0 && !pl.keep[id] && !pl.supplied[id] {
				live -= st.drop(id)
			}
		}
	}
	if opts.Stats != nil {
		*opts.Stats = RunStats{PeakLiveBytes: peak, NodesRun: nodesRun, Memoized: memoized}
	}
	res := make(map[string]*tensor.Dense, len(want))
	for _, id := range want {
		v := p.values[id]
		d := st.get(id)
		if d == nil {
			return nil, fmt.Errorf("value %q was not computed", v.Name)
		}
		dd, err := p.backend.Download(d)
		if err != nil {
			return nil, err
		}
		// A constant's or memo's storage is the program's: the caller
		// gets a copy it may change or free.
		if k := storageKey(dd); k != nil && k == storageKey(d) && (p.constStorage[k] || st.memo[k]) {
			dd = dd.Clone()
		}
		res[v.Name] = dd
	}
	return res, nil
}

// runNode runs one kernel. A kernel that panics has met an input its
// checks missed; the run fails with an error naming the node instead of
// taking the caller's process down.
func (p *Program) runNode(c *ops.RunCtx, op *ops.Op) (out []*tensor.Dense, err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok {
				out, err = nil, onnx.NodeErrorf(c.Node, "kernel failed on inputs %s: %w", describeInputs(c.In), e)
				return
			}
			out, err = nil, onnx.NodeErrorf(c.Node, "kernel failed on inputs %s: %v", describeInputs(c.In), r)
		}
	}()
	return p.backend.Run(c, op)
}

func describeInputs(in []*tensor.Dense) string {
	parts := make([]string, len(in))
	for i, d := range in {
		if d == nil {
			parts[i] = "-"
		} else {
			parts[i] = d.String()
		}
	}
	return strings.Join(parts, ", ")
}

// storageKey identifies d's storage by its first element (nil when empty).
func storageKey(d *tensor.Dense) unsafe.Pointer {
	switch {
	case len(d.F32) > 0:
		return unsafe.Pointer(unsafe.SliceData(d.F32))
	case len(d.F64) > 0:
		return unsafe.Pointer(unsafe.SliceData(d.F64))
	case len(d.I64) > 0:
		return unsafe.Pointer(unsafe.SliceData(d.I64))
	}
	return nil
}

// requested resolves the values a run must return, by number.
func (p *Program) requested(opts RunOptions) ([]int32, error) {
	g := p.graph
	if opts.All {
		var all []int32
		for _, v := range g.Inputs {
			all = append(all, p.ids[v])
		}
		for _, s := range p.steps {
			for _, id := range s.out {
				if id >= 0 {
					all = append(all, id)
				}
			}
		}
		return all, nil
	}
	if len(opts.Outputs) == 0 {
		return p.outIDs, nil
	}
	want := make([]int32, 0, len(opts.Outputs))
	for _, name := range opts.Outputs {
		v, err := g.Resolve(name)
		if err != nil {
			return nil, fmt.Errorf("output: %w", err)
		}
		id, ok := p.ids[v]
		if !ok {
			return nil, fmt.Errorf("value %q was not computed: it was added to the graph after Compile", v.Name)
		}
		want = append(want, id)
	}
	return want, nil
}

// RunGraph runs the compiled program of subgraph g of one of p's nodes,
// binding its inputs in order and its outer values by name
// (ops.GraphRunner). Results that are the subgraph's constants are
// copied, since the caller may free what it is given.
func (p *Program) RunGraph(g *onnx.Graph, opset int, in []*tensor.Dense, outer map[string]*tensor.Dense) ([]*tensor.Dense, error) {
	sp := p.subs[g]
	if sp == nil {
		return nil, fmt.Errorf("subgraph %q was not compiled", g.Name)
	}
	if len(in) != len(g.Inputs) {
		return nil, fmt.Errorf("%d inputs for a graph of %d", len(in), len(g.Inputs))
	}
	sp.Threads = p.Threads
	st := sp.newRunState()
	defer sp.putRunState(st)
	for _, v := range g.OuterValues() {
		d, ok := outer[v.Name]
		if !ok {
			return nil, fmt.Errorf("outer value %q has no value", v.Name)
		}
		st.supply(sp.ids[v], d)
		st.pinned[storageKey(d)] = true
	}
	for i, v := range g.Inputs {
		if in[i] == nil {
			return nil, fmt.Errorf("input %q has no value", v.Name)
		}
		st.supply(sp.ids[v], in[i])
		st.pinned[storageKey(in[i])] = true
	}
	res, err := sp.run(st, sp.outIDs, RunOptions{}, time.Now())
	if err != nil {
		return nil, err
	}
	out := make([]*tensor.Dense, len(g.Outputs))
	for i, v := range g.Outputs {
		out[i] = res[v.Name]
	}
	return out, nil
}

// checkInput compares a supplied tensor with the value's declared type.
func checkInput(v *onnx.Value, d *tensor.Dense) error {
	t := v.Type
	if d.None {
		if !t.Optional {
			return fmt.Errorf("input %q: got an empty optional, model expects %s", v.Name, t)
		}
		return nil
	}
	if t.DType != tensor.Undefined && t.DType != d.DType {
		return fmt.Errorf("input %q: got %s, model expects %s", v.Name, d.DType, t.DType)
	}
	if t.Seq != (d.Seq != nil) {
		return fmt.Errorf("input %q: got a %s, model expects %s", v.Name, d, t)
	}
	if d.Seq != nil {
		elem := &onnx.Value{Name: v.Name, Type: t}
		elem.Type.Seq, elem.Type.Optional = false, false
		for i, item := range d.Seq.Items {
			if err := checkInput(elem, item); err != nil {
				return fmt.Errorf("item %d: %w", i, err)
			}
		}
		return nil
	}
	if !t.HasShape {
		return nil
	}
	if len(t.Dims) != len(d.Shape) {
		return fmt.Errorf("input %q: got shape %v, model expects %s", v.Name, d.Shape, t.ShapeString())
	}
	for i, dim := range t.Dims {
		if dim.Known() && int(dim.Value) != d.Shape[i] {
			return fmt.Errorf("input %q: got shape %v, model expects %s (dim %d differs)", v.Name, d.Shape, t.ShapeString(), i)
		}
	}
	return nil
}

// FileSafe turns a value name into a file name: path separators and
// other awkward characters become '_'.
func FileSafe(name string) string {
	var b strings.Builder
	for _, r := range strings.TrimLeft(name, "/") {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "value"
	}
	return b.String()
}

// SortedNames returns a result map's keys in sorted order.
func SortedNames(m map[string]*tensor.Dense) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
