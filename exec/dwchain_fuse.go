package exec

import (
	"github.com/graft-ml/graft/exec/ops"
	"github.com/graft-ml/graft/onnx"
)

// planDepthwise pairs each pointwise Conv (a constant weight of a 1×1
// window) whose output, after the Relu, Clip or SiLU fused into it, only
// a depthwise Conv reads (a constant weight of one input channel a
// group, its group attribute the channel count) with that Conv: a run
// then computes the two in one kernel call, band of rows by band of
// rows (ops.DepthwiseStage), and never stores the pointwise output, the
// largest tensor of MobileNet's and EfficientNet's inverted residual
// blocks. The kernel checks the rest of the geometry and runs the two one
// after the other where it does not fit. Whether a pair runs so is
// settled per run (see chainable). The CPU backend only.
func (p *Program) planDepthwise(at map[*onnx.Node]*step, outputs map[*onnx.Value]bool) {
	if _, ok := p.backend.(CPU); !ok {
		return
	}
	for i := range p.steps {
		s := &p.steps[i]
		n := s.node
		if !isDefaultOp(n, "Conv") || at[n] == nil || s.residual >= 0 || len(n.Outputs) != 1 || n.Outputs[0] == nil || len(n.Inputs) < 2 {
			continue
		}
		if w := p.consts[n.Inputs[1]]; w == nil || w.Rank() != 4 || w.Shape[2] != 1 || w.Shape[3] != 1 {
			continue
		}
		mid := n.Outputs[0]
		if s.fuse != nil {
			if s.clamp.Norm != nil || s.clamp.RowBias != nil {
				continue
			}
			mid = s.fuse.node.Outputs[0]
		}
		if mid == nil || outputs[mid] {
			continue
		}
		uses := mid.Uses()
		if len(uses) != 1 || uses[0].Index != 0 {
			continue
		}
		d := at[uses[0].Node]
		if d == nil || !isDefaultOp(d.node, "Conv") || d.residual >= 0 || len(d.node.Outputs) != 1 || d.node.Outputs[0] == nil || len(d.node.Inputs) < 2 {
			continue
		}
		w := p.consts[d.node.Inputs[1]]
		if w == nil || w.Rank() != 4 || w.Shape[1] != 1 {
			continue
		}
		if a := d.node.Attr("group"); a == nil || a.I != int64(w.Shape[0]) {
			continue
		}
		if len(d.node.Inputs) > 2 && d.node.Inputs[2] != nil && p.consts[d.node.Inputs[2]] == nil {
			continue
		}
		s.dw = d
	}
}

// chainable reports whether step s runs with its depthwise Conv (s.dw)
// in this run: clamped says whether s runs with its fused activation,
// which must then be so whenever s has one; nothing but the depthwise
// Conv wants s's output, nobody supplied it or the depthwise Conv's
// output, and the depthwise Conv's weight and bias are what the pairing
// was planned with.
func (st *runState) chainable(s *step, clamped bool) bool {
	pl := st.plan
	d := s.dw
	if !pl.needed[d.index] || (s.fuse != nil && !clamped) {
		return false
	}
	mid := s.out[0]
	if s.fuse != nil {
		mid = s.fuse.out[0]
	}
	if pl.keep[mid] || pl.supplied[mid] || pl.keep[s.out[0]] || pl.supplied[s.out[0]] || pl.supplied[d.out[0]] {
		return false
	}
	return st.paramsAsCompiled(d, []int32{mid})
}

// depthwiseStage sets up depthwise Conv d to run inside the pointwise
// Conv before it (chainable said it may): its stage, with its own clamp
// where that fuses this run, the values the pair writes, and how many
// steps run inside the pointwise one's kernel call.
func (st *runState) depthwiseStage(d *step) (stage *ops.DepthwiseStage, outputs []int32, steps int) {
	stage = &ops.DepthwiseStage{Node: d.node, W: st.get(d.in[1])}
	if len(d.in) > 2 && d.in[2] >= 0 {
		stage.Bias = st.get(d.in[2])
	}
	for j, id := range d.in {
		if j > 0 && id >= 0 && st.isConst(id) {
			stage.ConstIn |= 1 << j
		}
	}
	st.skip[d.index] = true
	if !st.clampFusable(d) {
		return stage, d.out, 1
	}
	stage.Clamp = d.clamp
	return stage, d.fuse.out, 1 + st.skipFused(d)
}
