package exec

import (
	"slices"

	"github.com/graft-ml/graft/exec/internal/nchwc"
	"github.com/graft-ml/graft/exec/ops"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// planNCHWc marks the steps that run on the blocked channel layout
// (ops.NCHWcStage) and those whose output stays blocked. A Conv qualifies
// where ops.NCHWcEligible takes it (a constant weight; the activation or
// residual Add fused into it, if any, a clamp by bounds), and so do a
// Concat along channels (with the BatchNormalization and clamp fused into
// it, if any), a MaxPool and an AveragePool (ops.NCHWcOp). A step runs
// blocked where it is linked to another that does: its output is read only
// by such steps (as a Conv's input or residual, a Concat's input, a pool's
// input), or one of its inputs or its residual comes blocked. A blocked
// output is then never converted between two of them. Whatever a run does
// instead (a fusion off, a hidden value requested, a shape a kernel does
// not take), a blocked value is converted back to NCHW where anything else
// reads it (runState.get), so the plan is a choice of speed, never of
// results. A pointwise Conv paired with the depthwise one after it
// (planDepthwise) may be planned blocked too: a run then takes the
// pairing where it bands (large expansions) and the blocked layout
// elsewhere (pairedThisRun). The CPU backend only.
func (p *Program) planNCHWc(at map[*onnx.Node]*step) {
	if _, ok := p.backend.(CPU); !ok || p.noNCHWc {
		return
	}
	eligible := map[*step]bool{}
	planes := map[*step]bool{} // Convs that read their input in NCHW only
	owner := map[*step]*step{} // a fused step → the step it runs in
	for i := range p.steps {
		s := &p.steps[i]
		if at[s.node] == nil || s.sparse != nil {
			continue
		}
		if ok, pl := p.nchwcEligible(s); ok {
			eligible[s], planes[s] = true, pl
			owner[s.fuse], owner[s.also] = s, s
		}
	}
	delete(owner, nil)
	// producer finds the eligible step whose (fused) output a value is.
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
			case eligible[r] && !planes[r] && (u.Index == 0 || r.node.OpType == "Concat"):
			case owner[r] != nil && owner[r].residual == p.ids[v]:
			default:
				s.nchwcOut = false
			}
		}
	}
	for s := range eligible {
		s.nchwc = s.nchwcOut
		if planes[s] {
			continue // its output blocked is its only gain
		}
		for _, v := range s.node.Inputs {
			if in := producer[v]; in != nil && in.nchwcOut {
				s.nchwc = true
			}
		}
		if s.residual >= 0 {
			if res := producer[p.values[s.residual]]; res != nil && res.nchwcOut {
				s.nchwc = true
			}
		}
	}
	p.planConcatInto(producer, planes, outputs)
}

// planConcatInto lets the Convs whose blocked outputs only a blocked
// Concat reads (SqueezeNet's expand layers) write them straight into the
// Concat's output (ops.NCHWcStage.Into), so that the Concat copies
// nothing: each Conv its blocks, at offsets its weights fix. A run does
// so only where none of these values is requested or supplied
// (planIntoRun); a Conv that cannot take the offer leaves its output for
// the Concat to copy in (runState.concatInPlace).
func (p *Program) planConcatInto(producer map[*onnx.Value]*step, planes map[*step]bool, outputs map[*onnx.Value]bool) {
	for i := range p.steps {
		c := &p.steps[i]
		if c.node.OpType != "Concat" || !c.nchwc || c.clamp != nil || len(c.node.Inputs) < 2 {
			continue
		}
		var from []*step
		var blocks []int
		total := 0
		for _, v := range c.node.Inputs {
			q := producer[v]
			if q == nil || !isDefaultOp(q.node, "Conv") || !q.nchwcOut || planes[q] || q.into != nil ||
				outputs[v] || len(v.Uses()) != 1 || slices.Contains(from, q) {
				from = nil
				break
			}
			w := p.consts[q.node.Inputs[1]]
			if a := q.node.Attr("group"); a != nil && a.I != 1 || w == nil || w.Rank() != 4 || w.Shape[0]%nchwc.Block != 0 {
				from = nil
				break
			}
			from, blocks = append(from, q), append(blocks, total/nchwc.Block)
			total += w.Shape[0]
		}
		if from == nil {
			continue
		}
		c.intoFrom, c.intoBlocks, c.intoCh = from, blocks, total
		for j, q := range from {
			q.into, q.intoBlock = c, blocks[j]
		}
	}
}

// planIntoRun returns, by step, whether a run with plan pl writes the
// inputs of Concat step c in place (planConcatInto): the Concat and its
// Convs run, and none of their values is requested or supplied.
func (p *Program) planIntoRun(pl *plan) []bool {
	var into []bool
	for i := range p.steps {
		c := &p.steps[i]
		if c.intoCh == 0 || !pl.needed[i] || pl.supplied[c.out[0]] {
			continue
		}
		ok := true
		for _, q := range c.intoFrom {
			v := q.out[0]
			if q.fuse != nil {
				v = q.fuse.out[0]
			}
			if !pl.needed[q.index] || pl.keep[q.out[0]] || pl.supplied[q.out[0]] || pl.keep[v] || pl.supplied[v] {
				ok = false
			}
		}
		if ok {
			if into == nil {
				into = make([]bool, len(p.steps))
			}
			into[i] = true
		}
	}
	return into
}

// concatInto returns the offer (ops.NCHWcStage.Into) of step s, a Conv
// planned to write into a Concat's output, for this run; nil where the run
// does not.
func (st *runState) concatInto(s *step) func(n, h, w int) (*tensor.Dense, int) {
	c := s.into
	if c == nil || st.plan.into == nil || !st.plan.into[c.index] {
		return nil
	}
	return func(n, h, w int) (*tensor.Dense, int) {
		buf := st.into[c.index]
		if buf == nil {
			buf = ops.NewNCHWc(n, c.intoCh, h, w)
			st.into[c.index] = buf
		}
		return buf, s.intoBlock
	}
}

// concatInPlace finishes Concat step c whose output its Convs wrote (some
// of) in place: the inputs that came as values of their own are copied
// into it, and it is returned.
func (st *runState) concatInPlace(c *step) (*tensor.Dense, error) {
	buf := st.into[c.index]
	st.into[c.index] = nil
	for j, id := range c.in {
		d := st.own[id]
		if d == nil {
			continue // written in place
		}
		if !ops.NCHWcCopyInto(buf, c.intoBlocks[j], d, st.blk[id], st.p.Threads) {
			return nil, onnx.NodeErrorf(c.node, "input %d of shape %v does not fit the output its other inputs were written into (%v)", j, d.Shape, ops.NCHWcShape(buf))
		}
	}
	return buf, nil
}

// nchwcEligible reports whether step s has a blocked kernel, as far as
// the graph tells, and whether that is a Conv reading its input in NCHW
// only (ops.NCHWcEligible's planes).
func (p *Program) nchwcEligible(s *step) (ok, planes bool) {
	n := s.node
	c := s.clamp
	if c != nil && (c.Func != nil || c.SiLU || c.RowBias != nil) {
		return false, false
	}
	if !isDefaultOp(n, "Conv") {
		return ops.NCHWcOp(n) && (c == nil || n.OpType == "Concat"), false
	}
	if len(n.Inputs) < 2 || len(n.Outputs) != 1 || n.Outputs[0] == nil || c != nil && c.Norm != nil {
		return false, false
	}
	if len(n.Inputs) > 2 && n.Inputs[2] != nil && p.consts[n.Inputs[2]] == nil {
		return false, false
	}
	return ops.NCHWcEligible(n, p.consts[n.Inputs[1]])
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

// pairedThisRun reports whether step s runs with its depthwise Conv
// (s.dw) in this run: the pairing allows it (chainable), and, where both
// are planned blocked as well, the expansion is large enough for bands
// (ops.DepthwiseChainBands; at batch 8, MobileNetV2 took 32 ms blocked
// against 28 paired).
func (st *runState) pairedThisRun(s *step, clamped bool) bool {
	if s.dw == nil || !st.chainable(s, clamped) {
		return false
	}
	x := s.in[0]
	if !s.nchwc || !s.dw.nchwc {
		return true
	}
	d := st.own[x]
	if d == nil {
		return true
	}
	shape := d.Shape
	if st.blk[x] {
		shape = ops.NCHWcShape(d)
	}
	return ops.DepthwiseChainBands(shape, st.get(s.in[1]))
}
