package ops

import (
	"math"

	"github.com/graft-ml/graft/exec/internal/vec"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Clamp is an activation fused into the kernel of the node that feeds it:
// Relu is a clamp to [0, +Inf), Clip a clamp to its constant bounds (ReLU6
// in MobileNet). The producing kernel applies it to each part of its
// output while that part is still in cache, which saves the activation's
// separate pass over memory and its output tensor.
type Clamp struct{ Lo, Hi float32 }

// FusedClamp returns the Clamp that node n computes, if n is a Relu, or a
// Clip whose bounds are absent, constant or Constant nodes' outputs
// (constant reads an initializer's data, nil for other values). Other nodes, and Clips with bounds known
// only at run time, do not fuse.
func FusedClamp(n *onnx.Node, opset int, constant func(*onnx.Value) *tensor.Dense) (*Clamp, bool) {
	if n.Domain != "" || len(n.Outputs) != 1 || len(n.Inputs) == 0 {
		return nil, false
	}
	switch n.OpType {
	case "Relu":
		return &Clamp{Lo: 0, Hi: float32(math.Inf(1))}, len(n.Inputs) == 1
	case "Clip":
		c := &Clamp{Lo: float32(math.Inf(-1)), Hi: float32(math.Inf(1))}
		if opset < 11 {
			c.Lo = attrFloat(n, "min", -math.MaxFloat32)
			c.Hi = attrFloat(n, "max", math.MaxFloat32)
			return c, len(n.Inputs) == 1
		}
		for i, bound := range []*float32{&c.Lo, &c.Hi} {
			v := n.Input(i + 1)
			if v == nil {
				continue
			}
			d := constant(v)
			if pn := v.Producer(); d == nil && pn != nil && pn.OpType == "Constant" && pn.Domain == "" {
				d, _ = constantValue(pn)
			}
			if d == nil || d.DType != tensor.Float32 || d.Len() != 1 {
				return nil, false
			}
			*bound = d.F32[0]
		}
		return c, len(n.Inputs) <= 3
	}
	return nil, false
}

// Apply clamps every element of s, with vec.Clamp's rule (NaNs stay NaN),
// as the unfused Relu and Clip kernels do.
func (c *Clamp) Apply(s []float32) { vec.Clamp(s, s, c.Lo, c.Hi) }

// applyClamp applies the run's fused clamp, if any, to s.
func (c *RunCtx) applyClamp(s []float32) {
	if c.Clamp != nil {
		c.Clamp.Apply(s)
	}
}

// clampBounds returns the run's fused clamp as bounds, ±Inf without one.
func (c *RunCtx) clampBounds() (lo, hi float32) {
	if c.Clamp != nil {
		return c.Clamp.Lo, c.Clamp.Hi
	}
	return float32(math.Inf(-1)), float32(math.Inf(1))
}
