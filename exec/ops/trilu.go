package ops

import (
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Trilu (ONNX operator docs, opset 14): keeps the upper (upper=1, the
// default) or lower triangle of each matrix in the last two axes and zeroes
// the rest. Element (i, j) is kept when j-i >= k (upper) or j-i <= k
// (lower), k being the optional scalar input (default 0). A torch.triu
// causal mask exports as this op. The op is linear in x, so its gradient
// is Trilu of dy with the same k and upper.

func init() {
	register(&Op{Name: "Trilu", Since: 14, Infer: triluInfer, Run: triluRun, Grad: triluGrad})
}

func triluUpper(n *onnx.Node) (bool, error) {
	switch u := attrInt(n, "upper", 1); u {
	case 0, 1:
		return u == 1, nil
	default:
		return false, onnx.NodeErrorf(n, "attribute \"upper\": want 0 or 1, got %d", u)
	}
}

func triluInfer(c *InferCtx) ([]onnx.Type, error) {
	if _, err := triluUpper(c.Node); err != nil {
		return nil, err
	}
	x, ok := c.Input(0)
	if !ok {
		return nil, shapeError(c.Node, "missing input")
	}
	if x.HasShape && len(x.Dims) < 2 {
		return nil, shapeError(c.Node, "input of rank %d, want at least 2", len(x.Dims))
	}
	return []onnx.Type{x}, nil
}

func triluRun(c *RunCtx) ([]*tensor.Dense, error) {
	n := c.Node
	upper, err := triluUpper(n)
	if err != nil {
		return nil, err
	}
	x, err := shapeInput(c, 0)
	if err != nil {
		return nil, err
	}
	if x.Rank() < 2 {
		return nil, shapeError(n, "input of rank %d, want at least 2", x.Rank())
	}
	k := int64(0)
	if kt := c.Input(1); kt != nil {
		if kt.I64 == nil || kt.Len() != 1 {
			return nil, onnx.NodeErrorf(n, "k: want one int64, got %s%v", kt.DType, kt.Shape)
		}
		k = kt.I64[0]
	}
	out := tensor.New(x.DType, x.Shape...)
	rows, cols := x.Shape[x.Rank()-2], x.Shape[x.Rank()-1]
	switch s, _ := shapeStore(x.DType); s {
	case shapeF32:
		triluKernel(out.F32, x.F32, rows, cols, k, upper)
	case shapeF64:
		triluKernel(out.F64, x.F64, rows, cols, k, upper)
	default:
		triluKernel(out.I64, x.I64, rows, cols, k, upper)
	}
	return []*tensor.Dense{out}, nil
}

// triluKernel copies the kept elements of each rows×cols matrix; dst is
// zero on entry.
func triluKernel[T any](dst, src []T, rows, cols int, k int64, upper bool) {
	mat := rows * cols
	if mat == 0 {
		return
	}
	for m := 0; m < len(src); m += mat {
		for i := range rows {
			for j := range cols {
				d := int64(j - i)
				if (upper && d >= k) || (!upper && d <= k) {
					dst[m+i*cols+j] = src[m+i*cols+j]
				}
			}
		}
	}
}

func triluGrad(c *GradCtx) ([]*onnx.Value, error) {
	res := make([]*onnx.Value, len(c.Node.Inputs))
	res[0] = c.forwardOn(c.DY[0], nil)
	return res, nil
}
