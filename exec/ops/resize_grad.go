package ops

import (
	"slices"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// The gradient of linear and cubic Resize. The op is linear in X: every
// output element is a weighted sum of input elements, with weights that
// depend only on the shapes, scales and attributes. So dX is the
// transpose of that map applied to dY, and the private op
// ResizeGrad(dY, roi, scales, sizes, shape(X)) — the forward node's
// attributes and its roi, scales and sizes inputs, in their places —
// rebuilds the forward's per-axis tap tables (resizeTaps) and sends each
// element of dY back along its taps, one axis at a time. Extrapolated
// outputs (tf_crop_and_resize outside the image) hold a constant and send
// nothing back. Nearest Resize keeps IndexGrad (shape_grad.go).

func init() {
	register(&Op{Name: "ResizeGrad", Domain: GraftDomain, Since: 1, Infer: resizeGradInfer, Run: resizeGradRun})
}

func resizeGradInfer(c *InferCtx) ([]onnx.Type, error) {
	dy, _ := c.Input(0)
	t := onnx.Type{DType: dy.DType}
	if len(c.Sym) > 4 && c.Sym[4] != nil {
		t.HasShape, t.Dims = true, c.Sym[4]
	}
	return []onnx.Type{t}, nil
}

func resizeGradRun(c *RunCtx) ([]*tensor.Dense, error) {
	n := c.Node
	dy, sh := c.Input(0), c.Input(4)
	if dy == nil || sh == nil || sh.I64 == nil || sh.Rank() != 1 {
		return nil, shapeError(n, "want dY and X's shape as int64")
	}
	if len(sh.I64) != dy.Rank() {
		return nil, shapeError(n, "X has rank %d, dY %v", len(sh.I64), dy.Shape)
	}
	in := make([]int, len(sh.I64))
	for i, v := range sh.I64 {
		in[i] = int(v)
	}
	if _, err := tensor.NumElems(in); err != nil {
		return nil, onnx.NodeErrorf(n, "shape of X: %w", err)
	}
	a, err := resizeReadAttrs(n, c.Opset)
	if err != nil {
		return nil, err
	}
	ax, err := resizeAxisList(n, a.axes, len(in))
	if err != nil {
		return nil, err
	}
	roi, scales, sizes, err := resizeInputs(c, ax)
	if err != nil {
		return nil, err
	}
	sc, out, err := resizeTarget(n, a, in, ax, scales, sizes)
	if err != nil {
		return nil, err
	}
	if !slices.Equal(out, dy.Shape) {
		return nil, shapeError(n, "dY is %v, the resize of %v is %v", dy.Shape, in, out)
	}
	r0, r1 := resizeROI(ax, roi, len(in))
	axes := make([]resizeAxis, len(in))
	for i := range axes {
		axes[i] = resizeTaps(a, in[i], out[i], sc[i], r0[i], r1[i])
	}
	dx := tensor.New(dy.DType, in...)
	switch dy.DType {
	case tensor.Float32:
		resizeAdjoint(dx.F32, dy.F32, in, out, axes, c.Threads)
	case tensor.Float64:
		resizeAdjoint(dx.F64, dy.F64, in, out, axes, c.Threads)
	default:
		return nil, unsupportedf(n, "dY of %s", dy.DType)
	}
	return []*tensor.Dense{dx}, nil
}

// resizeAdjoint writes into dx (of shape in) the transpose of the
// separable resize from in to out applied to dy (of shape out): one pass
// per resized axis, the axes that shrink the data most first.
func resizeAdjoint[T float32 | float64](dx, dy []T, in, out []int, axes []resizeAxis, threads int) {
	var order []int
	for i, ra := range axes {
		if !ra.identity {
			order = append(order, i)
		}
	}
	ratio := func(i int) float64 { return float64(out[i]) / float64(max(in[i], 1)) }
	slices.SortStableFunc(order, func(a, b int) int {
		ra, rb := ratio(a), ratio(b)
		switch {
		case ra > rb:
			return -1
		case ra < rb:
			return 1
		}
		return 0
	})
	if len(order) == 0 {
		copy(dx, dy)
		return
	}
	cur := slices.Clone(out)
	data := dy
	for p, axis := range order {
		next := slices.Clone(cur)
		next[axis] = in[axis]
		buf := dx
		if p < len(order)-1 {
			buf = make([]T, shapeProd(next))
		}
		resizeAdjointPass(buf, data, axes[axis], shapeProd(cur[:axis]), in[axis], cur[axis], shapeProd(cur[axis+1:]), threads)
		cur, data = next, buf
	}
}

// resizeAdjointPass sums src [outer, outLen, inner] into dst [outer,
// inLen, inner] (zeroed here) along one axis's taps: dst[o, idx, :] +=
// w·src[o, j, :] for each tap (idx, w) of output j.
func resizeAdjointPass[T float32 | float64](dst, src []T, ra resizeAxis, outer, inLen, outLen, inner int, threads int) {
	taps := ra.taps
	parallelFor(threads, outer, max(1, (1<<14)/max(1, outLen*inner*taps)), func(lo, hi int) {
		for o := lo; o < hi; o++ {
			d := dst[o*inLen*inner : (o+1)*inLen*inner]
			clear(d)
			for j := range outLen {
				if ra.idx[j*taps] < 0 {
					continue // extrapolated: a constant, no gradient
				}
				s := src[(o*outLen+j)*inner:][:inner]
				for t := range taps {
					w := T(ra.w[j*taps+t])
					if w == 0 {
						continue
					}
					dd := d[ra.idx[j*taps+t]*inner:][:inner]
					for k, v := range s {
						dd[k] += w * v
					}
				}
			}
		}
	})
}
