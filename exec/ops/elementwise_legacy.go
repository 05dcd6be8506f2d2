package ops

import (
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Opset 1-6 forms of elementwise ops, as old PyTorch exports (opset 6)
// write them. The entries live in elementwise.go; this file, which sorts
// after it and after elementwise_grad.go so that its init runs later,
// lowers their Since and wraps them where the old form differs:
//
//   - Max, Min, Sum and Mean 6 take inputs of one shape; 8 added numpy
//     broadcasting, so the opset-8 kernels compute opset 6 exactly.
//   - Add, Sub, Mul, Div 6 and Pow 1 broadcast only with broadcast=1, B's
//     dims matching a run of A's starting at axis (default: A's trailing
//     dims). Where that run ends at A's last dim it is numpy's rule and
//     the opset-7 kernel applies; an axis that leaves trailing dims is
//     refused as unsupported.
//   - PRelu 6 with a 1-D slope of X's channel count applies it per channel
//     (dim 1), as Caffe2 and the PyTorch exporter of the time meant; the
//     slope is viewed as [C, 1, ...] for the opset-7 kernel. Its gradient
//     is refused in that form.
func init() {
	for _, name := range []string{"Max", "Min", "Sum", "Mean"} {
		setSince(name, 6)
	}
	for _, name := range []string{"Add", "Sub", "Mul", "Div"} {
		setSince(name, 6)
		wrapLegacyBroadcast(table[name])
	}
	setSince("Pow", 1)
	wrapLegacyBroadcast(table["Pow"])
	setSince("PRelu", 6)
	wrapLegacyPRelu(table["PRelu"])
}

// setSince lowers a registered op's Since to an older opset whose
// semantics its kernels implement.
func setSince(name string, since int) {
	op := table[name]
	if op == nil {
		panic("ops: Since for unregistered op " + name)
	}
	if since < op.Since {
		op.Since = since
	}
}

// legacyBroadcastCheck refuses a pre-opset-7 broadcast=1 node whose axis
// aligns B other than at A's trailing dims (numpy's rule); rankA and rankB
// are -1 where unknown.
func legacyBroadcastCheck(n *onnx.Node, opset, rankA, rankB int) error {
	if opset >= 7 || attrInt(n, "broadcast", 0) == 0 || n.Attr("axis") == nil || rankA < 0 || rankB < 0 {
		return nil
	}
	axis := attrInt(n, "axis", 0)
	if axis < 0 {
		axis += int64(rankA)
	}
	if axis+int64(rankB) != int64(rankA) {
		return unsupportedf(n, "opset %d broadcast of a rank-%d B at axis %d of a rank-%d A (only A's trailing dims)", opset, rankB, attrInt(n, "axis", 0), rankA)
	}
	return nil
}

func wrapLegacyBroadcast(op *Op) {
	infer, run, sym := op.Infer, op.Run, op.Symbolic
	op.Infer = func(c *InferCtx) ([]onnx.Type, error) {
		if c.Opset < 7 && len(c.In) == 2 {
			if err := legacyBroadcastCheck(c.Node, c.Opset, c.In[0].Rank(), c.In[1].Rank()); err != nil {
				return nil, err
			}
		}
		return infer(c)
	}
	op.Run = func(c *RunCtx) ([]*tensor.Dense, error) {
		if c.Opset < 7 && len(c.In) == 2 && c.In[0] != nil && c.In[1] != nil {
			if err := legacyBroadcastCheck(c.Node, c.Opset, c.In[0].Rank(), c.In[1].Rank()); err != nil {
				return nil, err
			}
		}
		return run(c)
	}
	if sym != nil {
		op.Symbolic = func(c *InferCtx) []onnx.Dim {
			if c.Opset < 7 && attrInt(c.Node, "broadcast", 0) != 0 && c.Node.Attr("axis") != nil {
				return nil
			}
			return sym(c)
		}
	}
}

// preluChannelSlope reports whether a PRelu node before opset 7 applies a
// 1-D slope per channel: X of rank 3 or more, slope of X's dim-1 size
// (other than 1, which both readings share).
func preluChannelSlope(opset, xRank int, x1 int64, slope []int64) bool {
	return opset < 7 && xRank >= 3 && len(slope) == 1 && slope[0] != 1 && slope[0] == x1
}

func wrapLegacyPRelu(op *Op) {
	infer, run, grad := op.Infer, op.Run, op.Grad
	op.Infer = func(c *InferCtx) ([]onnx.Type, error) {
		if c.Opset < 7 && len(c.In) == 2 {
			x, s := c.In[0], c.In[1]
			if x.HasShape && s.HasShape && len(x.Dims) >= 3 && len(s.Dims) == 1 && x.Dims[1].Known() && s.Dims[0].Known() &&
				preluChannelSlope(c.Opset, len(x.Dims), x.Dims[1].Value, []int64{s.Dims[0].Value}) {
				return []onnx.Type{x}, nil
			}
		}
		return infer(c)
	}
	op.Run = func(c *RunCtx) ([]*tensor.Dense, error) {
		if c.Opset < 7 && len(c.In) == 2 && c.In[0] != nil && c.In[1] != nil {
			x, s := c.In[0], c.In[1]
			if x.Rank() >= 3 && preluChannelSlope(c.Opset, x.Rank(), int64(x.Shape[1]), int64s(s.Shape)) {
				shape := make([]int, x.Rank()-1)
				for i := range shape {
					shape[i] = 1
				}
				shape[0] = s.Shape[0]
				cc := *c
				cc.In = []*tensor.Dense{x, s.Reshaped(shape)}
				return run(&cc)
			}
		}
		return run(c)
	}
	if grad != nil {
		op.Grad = func(c *GradCtx) ([]*onnx.Value, error) {
			x, s := c.In(0).Type, c.In(1).Type
			if c.Opset < 7 && x.HasShape && s.HasShape && len(s.Dims) == 1 && len(x.Dims) >= 3 && s.Dims[0] == x.Dims[1] && s.Dims[0].Value != 1 {
				return nil, c.Unsupportedf("opset %d per-channel slope", c.Opset)
			}
			return grad(c)
		}
	}
}

func int64s(v []int) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out
}
