package ops

import (
	"math"

	"github.com/graft-ml/graft/exec/internal/gemm"
	"github.com/graft-ml/graft/exec/internal/vec"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Clamp is an activation fused into the kernel of the node that feeds it:
// Relu is a clamp to [0, +Inf), Clip a clamp to its constant bounds (ReLU6
// in MobileNet). The producing kernel applies it to each part of its
// output while that part is still in cache, which saves the activation's
// separate pass over memory and its output tensor.
//
// With Func set (and the bounds ±Inf) the activation is instead that
// elementwise function, applied in place: vec.Sigmoid or vec.Tanh for a
// Sigmoid or Tanh node, or vec.SiLU, x·σ(x), which PyTorch exports as a
// Sigmoid and a Mul reading the same value (FusedSiLU; SiLU is then set
// too). Each computes bit for bit what the unfused nodes' kernels do.
type Clamp struct {
	Lo, Hi float32
	Func   func(dst, src []float32)
	SiLU   bool
	// Norm, set only on a Concat along axis 1, is the BatchNormalization
	// reading the Concat's output, applied before Lo and Hi.
	Norm *ChannelAffine
	// RowBias, set only on a MatMul, is the constant vector over the
	// output's last axis that an Add reading the product adds (a linear
	// layer's bias, which PyTorch exports as MatMul then Add), added to
	// every row before Lo, Hi and Func.
	RowBias []float32
}

// FusedRowBias returns the vector that Add node n adds to its input
// number from, if n adds a float32 constant of n elements (rank 1, or
// leading dims of 1) to it, the bias of a linear layer whose product has
// n columns; constant reads a value's data (nil for non-constants).
func FusedRowBias(n *onnx.Node, from, cols int, constant func(*onnx.Value) *tensor.Dense) ([]float32, bool) {
	if n.Domain != "" || n.OpType != "Add" || len(n.Inputs) != 2 || len(n.Outputs) != 1 || from > 1 {
		return nil, false
	}
	b := constant(n.Inputs[1-from])
	if b == nil || b.DType != tensor.Float32 || b.Len() != cols || b.Rank() == 0 || b.Shape[b.Rank()-1] != cols {
		return nil, false
	}
	return b.F32, true
}

// SiLUClamp returns the fused activation x·σ(x).
func SiLUClamp() *Clamp { return funcClamp(vec.SiLU, true) }

// funcClamp returns the fused activation f.
func funcClamp(f func(dst, src []float32), silu bool) *Clamp {
	return &Clamp{Lo: float32(math.Inf(-1)), Hi: float32(math.Inf(1)), Func: f, SiLU: silu}
}

// FusedSiLU reports whether value x is read by exactly two nodes, a
// Sigmoid of x and a Mul of x by that Sigmoid's output, the Mul being the
// Sigmoid's only reader: x·σ(x), SiLU or Swish, as PyTorch exports
// nn.SiLU. It returns the two nodes; the producer of x may then compute
// the Mul's output in their place (with SiLUClamp).
func FusedSiLU(x *onnx.Value) (sigmoid, mul *onnx.Node, ok bool) {
	uses := x.Uses()
	if len(uses) != 2 {
		return nil, nil, false
	}
	for _, u := range uses {
		if u.Node.Domain == "" && u.Node.OpType == "Sigmoid" && u.Index == 0 && len(u.Node.Inputs) == 1 {
			sigmoid = u.Node
		} else {
			mul = u.Node
		}
	}
	if sigmoid == nil || mul == nil || mul.Domain != "" || mul.OpType != "Mul" || len(mul.Inputs) != 2 ||
		len(sigmoid.Outputs) != 1 || len(mul.Outputs) != 1 {
		return nil, nil, false
	}
	sv := sigmoid.Outputs[0]
	if sv == nil || len(sv.Uses()) != 1 {
		return nil, nil, false
	}
	if (mul.Inputs[0] == x && mul.Inputs[1] == sv) || (mul.Inputs[0] == sv && mul.Inputs[1] == x) {
		return sigmoid, mul, true
	}
	return nil, nil, false
}

// FusedClamp returns the Clamp that node n computes, if n is a Relu, a
// Sigmoid or a Tanh, or a Clip whose bounds are absent, constant or Constant nodes' outputs
// (constant reads an initializer's data, nil for other values). Other nodes, and Clips with bounds known
// only at run time, do not fuse.
func FusedClamp(n *onnx.Node, opset int, constant func(*onnx.Value) *tensor.Dense) (*Clamp, bool) {
	if n.Domain != "" || len(n.Outputs) != 1 || len(n.Inputs) == 0 {
		return nil, false
	}
	switch n.OpType {
	case "Relu":
		return &Clamp{Lo: 0, Hi: float32(math.Inf(1))}, len(n.Inputs) == 1
	case "Sigmoid":
		return funcClamp(vec.Sigmoid, false), len(n.Inputs) == 1
	case "Tanh":
		return funcClamp(vec.Tanh, false), len(n.Inputs) == 1
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

// ApplyRows applies c to s, rows of cols elements: the row bias, if any,
// then the clamp or Func (Apply).
func (c *Clamp) ApplyRows(s []float32, cols int) {
	if c.RowBias != nil {
		for r := 0; r+cols <= len(s); r += cols {
			vec.Add(s[r:r+cols], s[r:r+cols], c.RowBias)
		}
	}
	c.Apply(s)
}

// Apply clamps every element of s, with vec.Clamp's rule (NaNs stay NaN),
// as the unfused Relu and Clip kernels do, or applies Func.
func (c *Clamp) Apply(s []float32) {
	if c.Func != nil {
		c.Func(s, s)
		return
	}
	vec.Clamp(s, s, c.Lo, c.Hi)
}

// biasActivate sets dst = src + bias with the run's fused activation, if
// any, applied: the epilogue of a convolution's output rows.
func (c *RunCtx) biasActivate(dst, src []float32, bias float32) {
	lo, hi := c.clampBounds()
	vec.BiasClamp(dst, src, bias, lo, hi)
	if c.Clamp != nil && c.Clamp.Func != nil {
		c.Clamp.Func(dst, dst)
	}
}

// gemmEpilogue returns the epilogue by which a GEMM adds a convolution's
// bias (one value per row of its output, nil for none) and applies the
// run's fused activation as it finishes its tiles, or nil where there is
// nothing to add.
func (c *RunCtx) gemmEpilogue(bias []float32) *gemm.Epilogue {
	if bias == nil && c.Clamp == nil {
		return nil
	}
	lo, hi := c.clampBounds()
	ep := &gemm.Epilogue{Bias: bias, Lo: lo, Hi: hi}
	if c.Clamp != nil {
		ep.Func = c.Clamp.Func
	}
	return ep
}

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
