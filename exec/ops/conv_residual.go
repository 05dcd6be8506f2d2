package ops

import (
	"math"

	"github.com/graft-ml/graft/exec/internal/vec"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// FusedResidual reports whether value x, a Conv's output, is read by
// exactly one node, an Add of x and another value, which it returns with
// that value's input index: the Add closing a residual block, whose
// Relu, if any, the executor has fused into it (Op.Fuses). The Conv can
// then add the other value as it finishes its output (RunCtx.Residual),
// where the Add was a pass of its own over both maps.
func FusedResidual(x *onnx.Value) (add *onnx.Node, other int, ok bool) {
	uses := x.Uses()
	if len(uses) != 1 || uses[0].Index < 0 {
		return nil, 0, false
	}
	n := uses[0].Node
	if n.Domain != "" || n.OpType != "Add" || len(n.Inputs) != 2 || len(n.Outputs) != 1 || n.Outputs[0] == nil {
		return nil, 0, false
	}
	other = 1 - uses[0].Index
	if n.Inputs[other] == nil || n.Inputs[other] == x {
		return nil, 0, false
	}
	return n, other, true
}

// convResidualRun is a Conv with the Add after it fused (c.Residual): the
// convolution with its bias, then y = clamp(y + r). The flat GEMM path
// adds r as each unit finishes its part of the map, while that part is in
// the core's cache; other paths are followed by a pass over y, each
// thread over the part its convolution units wrote (convAddResidual).
// Float addition commutes, so either is bit for bit the Add (and its Relu
// or Clip) run on its own, whichever input the Conv's output was. A
// residual of another shape (the Add broadcasting) takes the Add's own
// kernel.
func convResidualRun(c *RunCtx) ([]*tensor.Dense, error) {
	r, clamp := c.Residual, c.Clamp
	if err := elemSameDType(c.Node, c.Input(0), r); err != nil {
		return nil, err
	}
	plain := *c
	plain.Clamp = nil
	plain.resLo, plain.resHi = c.clampBounds()
	if r.DType != tensor.Float32 || clamp != nil && clamp.Func != nil {
		plain.Residual = nil
	}
	out, err := convCompute(&plain)
	if err != nil {
		return nil, err
	}
	c.RanSparse = plain.RanSparse
	y := out[0]
	switch {
	case plain.resDone:
	case plain.Residual != nil:
		convAddResidual(y.F32, r.F32, y.Shape[0], shapeProd(y.Shape[2:]), plain.resLo, plain.resHi, c.Threads)
	default:
		shape, err := elemBroadcastRun(c.Node, y, r)
		if err != nil {
			return nil, err
		}
		sum := tensor.NewUninit(y.DType, shape...)
		if err := elemArith(c, elemAdd, sum, y, r); err != nil {
			return nil, err
		}
		elemNarrow(sum)
		return []*tensor.Dense{sum}, nil
	}
	return out, nil
}

// addResidual sets y = min(max(y + r, resLo), resHi): a fused Add's
// sum and clamp over part of a Conv's output.
func (c *RunCtx) addResidual(y, r []float32) {
	vec.Add(y, y, r)
	if !math.IsInf(float64(c.resLo), -1) || !math.IsInf(float64(c.resHi), 1) {
		vec.Clamp(y, y, c.resLo, c.resHi)
	}
}

// convAddResidual sets y = min(max(y + r, lo), hi) for batch images of
// planes of size elements. With at least as many images as threads each
// thread takes a contiguous run of images, as the convolution did; with
// fewer, thread t takes band t of every plane, the rows its column tile
// computed (convSplitCols), so that each core reads what it wrote.
func convAddResidual(y, r []float32, batch, size int, lo, hi float32, threads int) {
	clamp := !math.IsInf(float64(lo), -1) || !math.IsInf(float64(hi), 1)
	addClamp := func(y, r []float32) {
		vec.Add(y, y, r)
		if clamp {
			vec.Clamp(y, y, lo, hi)
		}
	}
	if size == 0 {
		return
	}
	if batch >= threads || size < convResidualBandMin {
		per := len(y) / batch
		parallelFor(threads, batch, max(1, elemMinChunk/per), func(lo, hi int) {
			addClamp(y[lo*per:hi*per], r[lo*per:hi*per])
		})
		return
	}
	planes := len(y) / size
	parallelFor(threads, threads, 1, func(t0, t1 int) {
		for t := t0; t < t1; t++ {
			j0, j1 := size*t/threads, size*(t+1)/threads
			for p := range planes {
				o := p * size
				addClamp(y[o+j0:o+j1], r[o+j0:o+j1])
			}
		}
	})
}

// convResidualBandMin is the smallest plane convAddResidual cuts into
// bands.
const convResidualBandMin = 64
