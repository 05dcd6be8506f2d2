package exec

import (
	"github.com/graft-ml/graft/exec/ops"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// planNCHWc marks the Convs that run on the blocked channel layout
// (ops.NCHWcStage) and those whose output stays blocked. A Conv qualifies
// where ops.NCHWcEligible takes it (a constant weight; the activation or
// residual Add fused into it, if any, a clamp by bounds); it runs blocked
// where it is linked to another that does: its output is read only by
// such Convs, as their input or as the residual they add, or its input
// or residual comes blocked. A blocked output is then never converted
// between two of them. Whatever a run does instead (a fusion off, a
// hidden value requested), a blocked value is converted back to NCHW
// where anything else reads it (runState.get), so the plan is a choice of
// speed, never of results. The CPU backend only.
func (p *Program) planNCHWc(at map[*onnx.Node]*step) {
	if _, ok := p.backend.(CPU); !ok || p.noNCHWc {
		return
	}
	eligible := map[*step]bool{}
	owner := map[*step]*step{} // a fused step → the Conv it runs in
	for i := range p.steps {
		s := &p.steps[i]
		n := s.node
		if !isDefaultOp(n, "Conv") || at[n] == nil || s.dw != nil || s.sparse != nil || len(n.Inputs) < 2 || len(n.Outputs) != 1 || n.Outputs[0] == nil {
			continue
		}
		if len(n.Inputs) > 2 && n.Inputs[2] != nil && p.consts[n.Inputs[2]] == nil {
			continue
		}
		if c := s.clamp; c != nil && (c.Func != nil || c.SiLU || c.Norm != nil || c.RowBias != nil) {
			continue
		}
		if !ops.NCHWcEligible(n, p.consts[n.Inputs[1]]) {
			continue
		}
		eligible[s] = true
		owner[s.fuse], owner[s.also] = s, s
	}
	delete(owner, nil)
	// producer finds the eligible Conv whose (fused) output a value is.
	producer := map[*onnx.Value]*step{}
	for s := range eligible {
		producer[nchwcOutput(s)] = s
	}
	outputs := map[*onnx.Value]bool{}
	for _, v := range p.graph.Outputs {
		outputs[v] = true
	}
	for s := range eligible {
		v := nchwcOutput(s)
		uses := v.Uses()
		s.nchwcOut = len(uses) > 0 && !outputs[v]
		for _, u := range uses {
			r := at[u.Node]
			switch {
			case eligible[r] && u.Index == 0:
			case owner[r] != nil && owner[r].residual == p.ids[v]:
			default:
				s.nchwcOut = false
			}
		}
	}
	for s := range eligible {
		in := producer[s.node.Inputs[0]]
		res := (*step)(nil)
		if s.residual >= 0 {
			res = producer[p.values[s.residual]]
		}
		s.nchwc = s.nchwcOut || (in != nil && in.nchwcOut) || (res != nil && res.nchwcOut)
	}
}

// nchwcOutput is the value a Conv step writes: its own output, or that of
// the step fused into it last.
func nchwcOutput(s *step) *onnx.Value {
	if s.fuse != nil {
		return s.fuse.node.Outputs[0]
	}
	return s.node.Outputs[0]
}

// unblock replaces value id, held blocked, with its NCHW form and returns
// that.
func (st *runState) unblock(id int32) *tensor.Dense {
	b := st.own[id]
	d := ops.NCHWcToPlanes(b, st.p.Threads)
	shared := st.shared(b)
	st.set(id, d)
	if !shared {
		st.p.backend.Free(b)
	}
	return d
}
