package exec

import (
	"slices"
	"sync/atomic"

	"github.com/graft-ml/graft/exec/ops"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Work done once instead of on every run.
//
// Constant folding (foldConstants, at Compile): a node whose inputs are
// all constants (initializers that are not graph inputs, and outputs of
// nodes already folded) is run once at Compile and its outputs become
// program constants, unless it has subgraphs, is random, or an output
// has more than maxConstFoldElems elements (Constant nodes fold whatever
// their size: the run would copy the attribute anyway). A run that
// supplies a value a folded one depends on (an initializer or a folded
// value, by name) recomputes the folded nodes downstream of it (plan's
// dirty), so that folding never changes a result.
//
// Shape memos (at run time): Shape and Size read only their input's
// shape, and a node whose inputs are constants and such shape-derived
// values computes the same outputs from the same inputs. Each of these
// steps keeps its last outputs in a memo entry with a version; a run
// takes the memo instead of running the kernel when the Shape's input
// has the same shape as before, or when every input is an unchanged
// constant or a memo value of the version the entry was computed from.
// The Shape→Gather→Unsqueeze→Concat chains of an exported model so run
// once per input shape (for any batch size, where folding at Compile
// would need every dim known), and again only when the shape changes.
// A memo value is never freed by a run and is copied before it is
// returned to the caller.

// maxConstFoldElems bounds the outputs Compile folds (4 MiB of float32):
// a folded value is held for the program's life beside its inputs.
const maxConstFoldElems = 1 << 20

// nondeterministic lists the ops whose outputs differ between runs with
// the same inputs; they are never folded or memoized.
var nondeterministic = map[string]bool{
	"RandomNormal": true, "RandomUniform": true, "RandomNormalLike": true,
	"RandomUniformLike": true, "Multinomial": true, "Bernoulli": true,
	"Dropout": true,
}

// pure reports whether step s computes its outputs from its inputs alone,
// so that they can be computed once and reused.
func (s *step) pure() bool {
	n := s.node
	return len(n.Subgraphs()) == 0 && !nondeterministic[n.OpType]
}

// foldConstants runs every step whose inputs are all constants once and
// records its outputs in p.consts, marking the step folded. isConst
// holds the values that are constant at the start: the initializers that
// are not graph inputs.
func (p *Program) foldConstants(isConst map[*onnx.Value]bool) {
	for i := range p.steps {
		s := &p.steps[i]
		n := s.node
		if !s.pure() {
			continue
		}
		in := make([]*tensor.Dense, len(n.Inputs))
		all := true
		for j, v := range n.Inputs {
			if v == nil {
				continue
			}
			if !isConst[v] {
				all = false
				break
			}
			in[j] = p.consts[v]
		}
		if !all {
			continue
		}
		out, err := p.foldStep(s, in)
		if err != nil || len(out) < len(n.Outputs) {
			continue // the run reports the error, as without folding
		}
		fits := true
		for j, v := range n.Outputs {
			if v != nil && (out[j] == nil || (n.OpType != "Constant" && out[j].Len() > maxConstFoldElems)) {
				fits = false
			}
		}
		if !fits {
			continue
		}
		s.folded = true
		for j, v := range n.Outputs {
			if v == nil {
				continue
			}
			isConst[v] = true
			p.consts[v] = out[j]
			if k := storageKey(out[j]); k != nil {
				p.constStorage[k] = true
			}
		}
	}
}

// foldStep computes a folded step's outputs. A Constant node with a
// tensor attribute yields the attribute's own decoded tensor, as an
// initializer does: its kernel's copy, kept for the program's life,
// would hold the data twice (runs never write into constants, and Run
// copies one before returning it).
func (p *Program) foldStep(s *step, in []*tensor.Dense) ([]*tensor.Dense, error) {
	n := s.node
	if a := n.Attr("value"); s.op.Name == "Constant" && s.op.Domain == "" && len(n.Attrs) == 1 && a != nil && a.T != nil {
		d, err := a.T.Dense()
		if err != nil {
			return nil, err
		}
		d, err = p.backend.Upload(d)
		if err != nil {
			return nil, err
		}
		return []*tensor.Dense{d}, nil
	}
	return p.runNode(&ops.RunCtx{Node: n, Opset: p.opset, In: in, Threads: p.Threads, Direct: p.direct}, s.op)
}

// planMemos marks the steps whose outputs a run may take from a memo: Shape
// and Size, and pure steps whose inputs are all constants or outputs of
// such steps.
func (p *Program) planMemos(isConst map[*onnx.Value]bool) {
	derived := map[*onnx.Value]bool{}
	for i := range p.steps {
		s := &p.steps[i]
		n := s.node
		if s.folded || !s.pure() || len(n.ImplicitInputs()) > 0 {
			continue
		}
		ok := n.OpType == "Shape" || n.OpType == "Size"
		if ok {
			s.memoShape = true
		} else {
			ok = true
			for _, v := range n.Inputs {
				if v != nil && !isConst[v] && !derived[v] {
					ok = false
					break
				}
			}
		}
		if !ok {
			continue
		}
		s.memo = new(atomic.Pointer[memoEntry])
		for _, v := range n.Outputs {
			if v != nil {
				derived[v] = true
			}
		}
	}
}

// FoldedNodes counts the nodes Compile evaluated once (constant folding),
// which runs skip; MemoNodes counts those whose outputs runs reuse while
// the shapes they depend on stay the same.
func (p *Program) FoldedNodes() (folded, memo int) {
	for _, s := range p.steps {
		if s.folded {
			folded++
		}
		if s.memo != nil {
			memo++
		}
	}
	return folded, memo
}

// memoEntry is one step's last outputs and what they were computed from.
type memoEntry struct {
	version uint64
	// shape is the input's shape (Shape and Size).
	shape []int
	// inVer holds each input's memo version (0 for a constant, and for
	// an absent input).
	inVer []uint64
	outs  []*tensor.Dense
}

// memoVersions numbers memo entries across all programs.
var memoVersions atomic.Uint64

// memoLookup returns step s's memo entry if it holds this run's outputs,
// and whether outputs computed now may be stored (every input is an
// unchanged constant or a memo value), with the input versions to store.
func (st *runState) memoLookup(s *step, in []*tensor.Dense) (hit *memoEntry, storable bool, inVer []uint64) {
	e := s.memo.Load()
	if s.memoShape {
		if e != nil && in[0] != nil && slices.Equal(e.shape, in[0].Shape) {
			return e, true, nil
		}
		return nil, in[0] != nil, nil
	}
	match := e != nil
	for j, id := range s.in {
		if id < 0 {
			continue
		}
		var v uint64
		if !st.plan.fresh[id] {
			if v = st.ver[id]; v == 0 {
				return nil, false, nil
			}
		}
		if match && e.inVer[j] != v {
			match = false
		}
	}
	if match {
		return e, true, nil
	}
	inVer = make([]uint64, len(s.in))
	for j, id := range s.in {
		if id >= 0 && !st.plan.fresh[id] {
			inVer[j] = st.ver[id]
		}
	}
	return nil, true, inVer
}

// memoStore records outputs computed now as step s's memo entry, unless
// one is too large to keep, and returns the entry (nil if not stored).
func memoStore(s *step, in, out []*tensor.Dense, inVer []uint64) *memoEntry {
	for _, d := range out {
		if d != nil && d.Len() > maxFoldElems {
			return nil
		}
	}
	e := &memoEntry{version: memoVersions.Add(1), inVer: inVer, outs: slices.Clone(out)}
	if s.memoShape {
		e.shape = slices.Clone(in[0].Shape)
	}
	s.memo.Store(e)
	return e
}
