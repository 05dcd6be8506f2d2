package ops

import (
	"github.com/graft-ml/graft/onnx"
)

// Gradients of Gemm and MatMul, themselves products.

func init() {
	setGrad("Gemm", gemmGrad)
	setGrad("MatMul", matmulGrad)
}

// gemmGrad: Y = alpha·A'·B' + beta·C with A' = transA ? Aᵀ : A (B' alike).
// dA' = alpha·dY·B'ᵀ and dB' = alpha·A'ᵀ·dY, each written as one Gemm
// with the transposes folded into its flags.
func gemmGrad(c *GradCtx) ([]*onnx.Value, error) {
	n := c.Node
	a, b, dy := c.In(0), c.In(1), c.DY[0]
	alpha := attrFloat(n, "alpha", 1)
	beta := attrFloat(n, "beta", 1)
	ta, tb := attrInt(n, "transA", 0) != 0, attrInt(n, "transB", 0) != 0
	flag := func(v bool) int64 {
		if v {
			return 1
		}
		return 0
	}
	gemm := func(x, y *onnx.Value, tx, ty bool) *onnx.Value {
		return c.Emit("Gemm", []*onnx.Value{x, y}, onnx.FloatAttr("alpha", alpha), onnx.IntAttr("transA", flag(tx)), onnx.IntAttr("transB", flag(ty)))
	}
	res := make([]*onnx.Value, len(n.Inputs))
	if c.Needs(0) {
		if !ta {
			res[0] = gemm(dy, b, false, !tb) // dY·B'ᵀ
		} else {
			res[0] = gemm(b, dy, tb, true) // (dY·B'ᵀ)ᵀ = B'·dYᵀ
		}
	}
	if c.Needs(1) {
		if !tb {
			res[1] = gemm(a, dy, !ta, false) // A'ᵀ·dY
		} else {
			res[1] = gemm(dy, a, true, ta) // (A'ᵀ·dY)ᵀ = dYᵀ·A'
		}
	}
	if c.Needs(2) {
		d := dy
		if beta != 1 {
			d = c.Op1("Mul", dy, c.Scalar(float64(beta)))
		}
		u, err := c.Unbroadcast(d, c.Out(0).Type, c.In(2))
		if err != nil {
			return nil, err
		}
		res[2] = u
	}
	return res, nil
}

// matmulGrad: Y = A·B over the last two axes, batch axes broadcasting.
// dA = dY·Bᵀ and dB = Aᵀ·dY, un-broadcast; 1-D operands are promoted as
// numpy does (A to a row, B to a column) and demoted afterwards.
func matmulGrad(c *GradCtx) ([]*onnx.Value, error) {
	a, b, dy := c.In(0), c.In(1), c.DY[0]
	ra, rb := a.Type.Rank(), b.Type.Rank()
	out := c.Out(0).Type
	if ra < 1 || rb < 1 || !out.HasShape {
		return nil, c.Errorf("needs the ranks of A %s, B %s and Y %s", a.Type, b.Type, out)
	}
	res := make([]*onnx.Value, 2)
	if ra == 1 && rb == 1 { // a dot product
		if c.Needs(0) {
			res[0] = c.Op1("Mul", dy, b)
		}
		if c.Needs(1) {
			res[1] = c.Op1("Mul", dy, a)
		}
		return res, nil
	}
	// Promote: a2 [..., m, k], b2 [..., k, n], dy2 and y2 [..., m, n].
	a2, b2, dy2 := a, b, dy
	y2 := append([]onnx.Dim{}, out.Dims...)
	one := onnx.Dim{Value: 1}
	if ra == 1 {
		a2 = c.Unsqueeze(a, 0)
		dy2 = c.Unsqueeze(dy2, -2)
		y2 = append(y2[:len(y2)-1:len(y2)-1], one, y2[len(y2)-1])
	}
	if rb == 1 {
		b2 = c.Unsqueeze(b, 1)
		dy2 = c.Unsqueeze(dy2, -1)
		y2 = append(y2, one)
	}
	r := len(y2)
	t := func(v *onnx.Value, rank int) *onnx.Value {
		perm := make([]int64, rank)
		for i := range perm {
			perm[i] = int64(i)
		}
		perm[rank-1], perm[rank-2] = perm[rank-2], perm[rank-1]
		return c.Emit("Transpose", []*onnx.Value{v}, onnx.IntsAttr("perm", perm...))
	}
	if c.Needs(0) {
		d := c.Op1("MatMul", dy2, t(b2, max(rb, 2)))
		if ra == 1 {
			d = c.Op1("Reshape", c.reduceLeading(d, r), c.Shape(a))
		} else {
			dt := onnx.Type{DType: out.DType, HasShape: true, Dims: append(append([]onnx.Dim{}, y2[:r-1]...), a.Type.Dims[ra-1])}
			u, err := c.Unbroadcast(d, dt, a)
			if err != nil {
				return nil, err
			}
			d = u
		}
		res[0] = d
	}
	if c.Needs(1) {
		d := c.Op1("MatMul", t(a2, max(ra, 2)), dy2)
		if rb == 1 {
			d = c.Op1("Reshape", c.reduceLeading(d, r), c.Shape(b))
		} else {
			dims := append([]onnx.Dim{}, y2...)
			dims[r-2] = b.Type.Dims[rb-2]
			u, err := c.Unbroadcast(d, onnx.Type{DType: out.DType, HasShape: true, Dims: dims}, b)
			if err != nil {
				return nil, err
			}
			d = u
		}
		res[1] = d
	}
	return res, nil
}

// reduceLeading sums d over its leading rank-2 (batch) axes.
func (c *GradCtx) reduceLeading(d *onnx.Value, rank int) *onnx.Value {
	if rank <= 2 {
		return d
	}
	axes := make([]int64, rank-2)
	for i := range axes {
		axes[i] = int64(i)
	}
	return c.ReduceSum(d, axes, false)
}
