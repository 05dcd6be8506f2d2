package exec

import (
	"fmt"
	"runtime"
	"sort"
	"strings"
	"time"
	"unsafe"

	"github.com/graft-ml/graft/exec/ops"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Program is a graph prepared for execution: nodes in order, each with its
// op table entry. A Program may be Run many times, but not concurrently.
type Program struct {
	model   *onnx.Model
	graph   *onnx.Graph
	opset   int
	steps   []step
	backend Backend
	// Threads is how many goroutines kernels may use; Compile sets it to
	// GOMAXPROCS.
	Threads      int
	consts       map[*onnx.Value]*tensor.Dense
	constStorage map[unsafe.Pointer]bool // the constants' storage (runValues.shared)
	// subs holds a compiled program for each subgraph of the graph's
	// If, Loop and Scan nodes (see RunGraph).
	subs map[*onnx.Graph]*Program
}

type step struct {
	node *onnx.Node
	op   *ops.Op
	// fuse, when not nil, is the step of a Relu or Clip that reads only
	// this node's output 0 and may run inside its kernel (see ops.Clamp).
	fuse  *step
	clamp *ops.Clamp
	// also, when not nil, is a second step that runs inside this one: the
	// Sigmoid of a SiLU, whose Mul is fuse (ops.FusedSiLU).
	also *step
	// sparse, when not nil, is the node's constant weight (input 1) in
	// sparse form, which the kernel multiplies by instead (planSparse).
	sparse *ops.SparseWeight
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
	p := &Program{model: m, graph: g, opset: int(m.Opset("")), backend: b, Threads: runtime.GOMAXPROCS(0), consts: map[*onnx.Value]*tensor.Dense{}, constStorage: map[unsafe.Pointer]bool{}}
	for _, n := range g.Nodes {
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
		p.steps = append(p.steps, step{node: n, op: op})
	}
	if p.opset == 0 && len(g.Nodes) > 0 {
		return nil, fmt.Errorf("model imports no default-domain opset")
	}
	for _, v := range g.Inputs {
		if !sub && v.Const == nil && v.Type.DType == tensor.Undefined {
			return nil, fmt.Errorf("input %q is not a tensor (a sequence, map or optional?): %w", v.Name, ErrUnsupported)
		}
	}
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
	}
	p.planFusion()
	p.planSparse(opts.Sparse)
	return p, nil
}

// planFusion pairs each node whose kernel can apply a clamp (Op.Fuses)
// with the Relu or Clip that is the only reader of its output, so that a
// run can compute both in one pass. Whether a pair fuses is settled per
// run (see fusable).
func (p *Program) planFusion() {
	at := make(map[*onnx.Node]*step, len(p.steps))
	for i := range p.steps {
		at[p.steps[i].node] = &p.steps[i]
	}
	outputs := map[*onnx.Value]bool{}
	for _, v := range p.graph.Outputs {
		outputs[v] = true
	}
	constant := func(v *onnx.Value) *tensor.Dense { return p.consts[v] }
	for i := range p.steps {
		s := &p.steps[i]
		if !s.op.Fuses || len(s.node.Outputs) != 1 || s.node.Outputs[0] == nil {
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
}

// fusable reports whether step s runs with its clamp fused in this run:
// its output is wanted by nothing but the clamp, nobody supplied a value
// the pair reads or writes, and the data is float32.
func fusable(s *step, in []*tensor.Dense, needed map[*onnx.Node]bool, keep, supplied map[*onnx.Value]bool) bool {
	if s.fuse == nil || !needed[s.fuse.node] || len(in) == 0 || in[0] == nil || in[0].DType != tensor.Float32 {
		return false
	}
	out := s.node.Outputs[0]
	if keep[out] || supplied[out] || supplied[s.fuse.node.Outputs[0]] {
		return false
	}
	for _, v := range s.fuse.node.Inputs[1:] {
		if v != nil && supplied[v] {
			return false
		}
	}
	if a := s.also; a != nil && (!needed[a.node] || keep[a.node.Outputs[0]] || supplied[a.node.Outputs[0]]) {
		return false
	}
	return true
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
}

// tensorBytes is the memory d's storage occupies.
func tensorBytes(d *tensor.Dense) int64 {
	return int64(len(d.F32))*4 + int64(len(d.F64))*8 + int64(len(d.I64))*8
}

// Run computes the requested values from inputs, keyed by value name (or
// module path). Graph inputs must all be supplied unless unneeded; an input
// may also name a hidden value, which then replaces what its producer would
// have computed.
func (p *Program) Run(inputs map[string]*tensor.Dense, opts RunOptions) (map[string]*tensor.Dense, error) {
	runStart := time.Now()
	if opts.Profile != nil {
		defer func() {
			opts.Profile.Wall += time.Since(runStart)
			opts.Profile.Runs++
		}()
	}
	g := p.graph
	vals := p.newRunValues(len(inputs))
	// The caller's tensors must never go back to the allocator, even when
	// an Identity or Reshape hands their storage to a value that dies.
	vals.pinned = map[unsafe.Pointer]bool{}
	supplied := map[*onnx.Value]bool{}
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
		vals.set(v, dd)
		if k := storageKey(dd); k != nil && k == storageKey(d) {
			vals.pinned[k] = true
		}
		supplied[v] = true
	}
	want, err := p.requested(opts)
	if err != nil {
		return nil, err
	}
	return p.run(vals, supplied, want, opts, runStart)
}

// run computes want from the values supplied in vals.
func (p *Program) run(vals *runValues, supplied map[*onnx.Value]bool, want []*onnx.Value, opts RunOptions, runStart time.Time) (map[string]*tensor.Dense, error) {
	needed := p.needed(want, supplied)
	// Count the remaining reads of each value so that it can be released
	// after its last consumer.
	keep := map[*onnx.Value]bool{}
	for _, v := range want {
		keep[v] = true
	}
	refs := map[*onnx.Value]int{}
	for _, s := range p.steps {
		if needed[s.node] {
			for _, v := range s.node.Inputs {
				if v != nil {
					refs[v]++
				}
			}
			for _, v := range s.node.ImplicitInputs() {
				refs[v]++
			}
		}
	}
	var live, peak int64
	for _, d := range vals.own {
		live += tensorBytes(d)
	}
	nodesRun := 0
	fused := map[*onnx.Node]bool{}
	for i := range p.steps {
		s := &p.steps[i]
		n := s.node
		if !needed[n] || fused[n] {
			continue
		}
		nodesRun++
		in := make([]*tensor.Dense, len(n.Inputs))
		for i, v := range n.Inputs {
			if v == nil {
				continue
			}
			d, ok := vals.get(v)
			if !ok {
				return nil, fmt.Errorf("%s: input %q has no value: supply graph input %q", n, v.Name, v.Name)
			}
			in[i] = d
		}
		ctx := &ops.RunCtx{Node: n, Opset: p.opset, In: in, Threads: p.Threads, Sparse: s.sparse}
		if imp := n.ImplicitInputs(); len(imp) > 0 {
			ctx.Outer = make(map[string]*tensor.Dense, len(imp))
			for _, v := range imp {
				d, ok := vals.get(v)
				if !ok {
					return nil, fmt.Errorf("%s: outer value %q read by a subgraph has no value", n, v.Name)
				}
				ctx.Outer[v.Name] = d
			}
		}
		if p.subs != nil {
			ctx.Graphs = p
		}
		outputs := n.Outputs
		if fusable(s, in, needed, keep, supplied) {
			// The clamp's output takes the place of this node's, which
			// is never stored.
			ctx.Clamp = s.clamp
			outputs = s.fuse.node.Outputs
			fused[s.fuse.node] = true
			nodesRun++
			if s.also != nil {
				fused[s.also.node] = true
				nodesRun++
			}
		}
		var kernelStart time.Time
		if opts.Profile != nil {
			kernelStart = time.Now()
		}
		out, err := p.runNode(ctx, s.op)
		if err != nil {
			return nil, err
		}
		if opts.Profile != nil {
			opts.Profile.add(n, in, out, ctx, kernelStart, time.Since(kernelStart), runStart)
		}
		for i, v := range outputs {
			if v == nil || supplied[v] {
				continue
			}
			if i >= len(out) {
				return nil, onnx.NodeErrorf(n, "declares %d outputs, but %s (opset %d) produced %d", len(outputs), n.OpType, p.opset, len(out))
			}
			if out[i] == nil {
				return nil, onnx.NodeErrorf(n, "kernel produced no output %d", i)
			}
			vals.set(v, out[i])
			if !vals.shared(out[i]) {
				live += tensorBytes(out[i])
			}
		}
		peak = max(peak, live)
		for _, v := range p.reads(n) {
			if v == nil {
				continue
			}
			refs[v]--
			if refs[v] == 0 && !keep[v] && p.consts[v] == nil {
				if d, ok := vals.own[v]; ok && !vals.shared(d) {
					live -= tensorBytes(d)
					if !supplied[v] {
						p.backend.Free(d)
					}
				}
				vals.del(v)
			}
		}
	}
	if opts.Stats != nil {
		*opts.Stats = RunStats{PeakLiveBytes: peak, NodesRun: nodesRun}
	}
	res := make(map[string]*tensor.Dense, len(want))
	for _, v := range want {
		d, ok := vals.get(v)
		if !ok {
			return nil, fmt.Errorf("value %q was not computed", v.Name)
		}
		d, err := p.backend.Download(d)
		if err != nil {
			return nil, err
		}
		res[v.Name] = d
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

// runValues holds one run's values: the program's constants, read
// through rather than copied, and the values the run supplies and
// computes. It counts the holders of each storage, since Identity and
// Reshape may return their input's storage (a constant's too), and
// freeing a value whose storage another holds must release nothing.
type runValues struct {
	consts       map[*onnx.Value]*tensor.Dense
	constStorage map[unsafe.Pointer]bool
	own          map[*onnx.Value]*tensor.Dense
	holders      map[unsafe.Pointer]int
	// pinned is storage the run must never free: in a subgraph's run,
	// that of the values bound from outside (RunGraph); nil otherwise.
	pinned map[unsafe.Pointer]bool
}

func (p *Program) newRunValues(n int) *runValues {
	return &runValues{consts: p.consts, constStorage: p.constStorage,
		own: make(map[*onnx.Value]*tensor.Dense, n), holders: make(map[unsafe.Pointer]int, n)}
}

// get returns v's value: the run's own, else the constant.
func (r *runValues) get(v *onnx.Value) (*tensor.Dense, bool) {
	if d, ok := r.own[v]; ok {
		return d, true
	}
	d, ok := r.consts[v]
	return d, ok
}

func (r *runValues) set(v *onnx.Value, d *tensor.Dense) {
	if old, ok := r.own[v]; ok {
		r.release(old)
	}
	r.own[v] = d
	if k := storageKey(d); k != nil {
		r.holders[k]++
	}
}

func (r *runValues) del(v *onnx.Value) {
	if d, ok := r.own[v]; ok {
		r.release(d)
		delete(r.own, v)
	}
}

func (r *runValues) release(d *tensor.Dense) {
	if k := storageKey(d); k != nil {
		if r.holders[k]--; r.holders[k] <= 0 {
			delete(r.holders, k)
		}
	}
}

// shared reports whether d's storage, held by one of the run's values, is
// also held by a constant or another of them.
func (r *runValues) shared(d *tensor.Dense) bool {
	k := storageKey(d)
	return k != nil && (r.constStorage[k] || r.holders[k] > 1 || r.pinned[k])
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

// requested resolves the values a run must return.
func (p *Program) requested(opts RunOptions) ([]*onnx.Value, error) {
	g := p.graph
	if opts.All {
		var all []*onnx.Value
		all = append(all, g.Inputs...)
		for _, s := range p.steps {
			for _, v := range s.node.Outputs {
				if v != nil {
					all = append(all, v)
				}
			}
		}
		return all, nil
	}
	if len(opts.Outputs) == 0 {
		return g.Outputs, nil
	}
	var want []*onnx.Value
	for _, name := range opts.Outputs {
		v, err := g.Resolve(name)
		if err != nil {
			return nil, fmt.Errorf("output: %w", err)
		}
		want = append(want, v)
	}
	return want, nil
}

// needed marks the nodes that must run to compute want, stopping at
// supplied values.
func (p *Program) needed(want []*onnx.Value, supplied map[*onnx.Value]bool) map[*onnx.Node]bool {
	needed := map[*onnx.Node]bool{}
	stack := append([]*onnx.Value{}, want...)
	for len(stack) > 0 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		n := v.Producer()
		if n == nil || supplied[v] || needed[n] {
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
	return needed
}

// reads lists the values n reads: its inputs, then the outer values its
// subgraphs read.
func (p *Program) reads(n *onnx.Node) []*onnx.Value {
	imp := n.ImplicitInputs()
	if len(imp) == 0 {
		return n.Inputs
	}
	return append(append([]*onnx.Value{}, n.Inputs...), imp...)
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
	vals := sp.newRunValues(len(in) + len(outer))
	vals.pinned = map[unsafe.Pointer]bool{}
	supplied := map[*onnx.Value]bool{}
	for _, v := range g.OuterValues() {
		d, ok := outer[v.Name]
		if !ok {
			return nil, fmt.Errorf("outer value %q has no value", v.Name)
		}
		vals.set(v, d)
		vals.pinned[storageKey(d)] = true
		supplied[v] = true
	}
	for i, v := range g.Inputs {
		if in[i] == nil {
			return nil, fmt.Errorf("input %q has no value", v.Name)
		}
		vals.set(v, in[i])
		vals.pinned[storageKey(in[i])] = true
		supplied[v] = true
	}
	res, err := sp.run(vals, supplied, g.Outputs, RunOptions{}, time.Now())
	if err != nil {
		return nil, err
	}
	out := make([]*tensor.Dense, len(g.Outputs))
	for i, v := range g.Outputs {
		d := res[v.Name]
		if k := storageKey(d); k != nil && sp.constStorage[k] {
			d = d.Clone()
		}
		out[i] = d
	}
	return out, nil
}

// checkInput compares a supplied tensor with the value's declared type.
func checkInput(v *onnx.Value, d *tensor.Dense) error {
	t := v.Type
	if t.DType != tensor.Undefined && t.DType != d.DType {
		return fmt.Errorf("input %q: got %s, model expects %s", v.Name, d.DType, t.DType)
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
