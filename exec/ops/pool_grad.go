package ops

import (
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Gradients of the pools. MaxPool and AveragePool emit the private ops
// MaxPoolGrad and AveragePoolGrad, which carry the forward node's
// attributes and recompute its window geometry (poolSetup): MaxPool sends
// each dy to the first maximum of its window (PyTorch's choice at ties),
// AveragePool spreads dy/count over the window's taps, count as the
// forward divided (count_include_pad counts the padding, never the
// ceil_mode overhang). The global pools decompose into standard ops.

func init() {
	setGrad("MaxPool", poolGrad("MaxPoolGrad"))
	setGrad("AveragePool", poolGrad("AveragePoolGrad"))
	setGrad("GlobalAveragePool", globalAvgPoolGrad)
	setGrad("GlobalMaxPool", func(c *GradCtx) ([]*onnx.Value, error) {
		x, y, dy := c.In(0), c.Out(0), c.DY[0]
		return []*onnx.Value{c.Where(c.Op1("Equal", x, y), c.Op1("Expand", dy, c.Shape(x)), c.Scalar(0))}, nil
	})
	register(
		&Op{Name: "MaxPoolGrad", Domain: GraftDomain, Since: 1, Infer: normSameInfer, Run: poolGradRun(true)},
		&Op{Name: "AveragePoolGrad", Domain: GraftDomain, Since: 1, Infer: normSameInfer, Run: poolGradRun(false)},
	)
}

func poolGrad(op string) GradRule {
	return func(c *GradCtx) ([]*onnx.Value, error) {
		var attrs []*onnx.Attr
		for _, a := range c.Node.Attrs {
			if a.Name != "storage_order" {
				attrs = append(attrs, a)
			}
		}
		return []*onnx.Value{c.Private(op, []*onnx.Value{c.In(0), c.DY[0]}, attrs...)}, nil
	}
}

func globalAvgPoolGrad(c *GradCtx) ([]*onnx.Value, error) {
	x, dy := c.In(0), c.DY[0]
	t := x.Type
	if !t.HasShape || len(t.Dims) < 2 {
		return nil, c.Errorf("needs the shape of X, got %s", t)
	}
	e := c.Op1("Expand", dy, c.Shape(x))
	size := 1
	for _, d := range t.Dims[2:] {
		if !d.Known() {
			// Spatial sizes known only at run time (a fully convolutional
			// net exported with dynamic H and W): the count is
			// Size(y)/Size(x), as for ReduceMean.
			cast := func(v *onnx.Value) *onnx.Value {
				return c.Emit("Cast", []*onnx.Value{c.Op1("Size", v)}, onnx.IntAttr("to", int64(c.DType())))
			}
			return []*onnx.Value{c.Op1("Mul", e, c.Op1("Div", cast(c.Out(0)), cast(x)))}, nil
		}
		size *= int(d.Value)
	}
	if size == 1 {
		return []*onnx.Value{e}, nil
	}
	return []*onnx.Value{c.Op1("Mul", e, c.Scalar(1/float64(size)))}, nil
}

// poolGradRun is the kernel of MaxPoolGrad(X, dY) and AveragePoolGrad(X,
// dY): it returns dX of X's shape.
func poolGradRun(isMax bool) func(c *RunCtx) ([]*tensor.Dense, error) {
	return func(c *RunCtx) ([]*tensor.Dense, error) {
		x, g, shape, err := poolSetup(c)
		if err != nil {
			return nil, err
		}
		dy := c.Input(1)
		if dy == nil || !tensor.SameShape(dy.Shape, shape) || dy.DType != x.DType {
			return nil, shapeError(c.Node, "dY must be %s%v", x.DType, shape)
		}
		dx := tensor.New(x.DType, x.Shape...)
		includePad := attrInt(c.Node, "count_include_pad", 0) != 0
		switch x.DType {
		case tensor.Float32:
			poolGradKernel(dx.F32, x.F32, dy.F32, g, isMax, includePad, c.Threads)
		case tensor.Float64:
			poolGradKernel(dx.F64, x.F64, dy.F64, g, isMax, includePad, c.Threads)
		default:
			return nil, unsupportedf(c.Node, "dtype %s", x.DType)
		}
		return []*tensor.Dense{dx}, nil
	}
}

func poolGradKernel[T float32 | float64](dx, x, dy []T, g *poolGeom, isMax, includePad bool, threads int) {
	az, ay, ax := &g.ax[0], &g.ax[1], &g.ax[2]
	nIn, nOut := g.inSize(), g.outSize()
	H, W := ay.in, ax.in
	if az.in == 1 && az.out == 1 && az.hi[0]-az.lo[0] == 1 {
		poolPlanes(g, threads, func(p int) {
			poolGradPlane2D(dx[p*nIn:(p+1)*nIn], x[p*nIn:(p+1)*nIn], dy[p*nOut:(p+1)*nOut], ay, ax, isMax, includePad)
		})
		return
	}
	poolPlanes(g, threads, func(p int) {
		plane := x[p*nIn : (p+1)*nIn]
		grad := dx[p*nIn : (p+1)*nIn]
		d := dy[p*nOut : (p+1)*nOut]
		o := 0
		for oz := range az.out {
			for oy := range ay.out {
				for ox := range ax.out {
					if isMax {
						best, at := T(0), -1
						for kz := az.lo[oz]; kz < az.hi[oz]; kz++ {
							iz := az.start[oz] + kz*az.dil
							for ky := ay.lo[oy]; ky < ay.hi[oy]; ky++ {
								iy := ay.start[oy] + ky*ay.dil
								for kx := ax.lo[ox]; kx < ax.hi[ox]; kx++ {
									i := (iz*H+iy)*W + ax.start[ox] + kx*ax.dil
									if at < 0 || plane[i] > best {
										best, at = plane[i], i
									}
								}
							}
						}
						if at >= 0 {
							grad[at] += d[o]
						}
						o++
						continue
					}
					cnt := (az.hi[oz] - az.lo[oz]) * (ay.hi[oy] - ay.lo[oy]) * (ax.hi[ox] - ax.lo[ox])
					if includePad {
						cnt = az.padC[oz] * ay.padC[oy] * ax.padC[ox]
					}
					if cnt > 0 {
						v := d[o] / T(cnt)
						for kz := az.lo[oz]; kz < az.hi[oz]; kz++ {
							iz := az.start[oz] + kz*az.dil
							for ky := ay.lo[oy]; ky < ay.hi[oy]; ky++ {
								iy := ay.start[oy] + ky*ay.dil
								for kx := ax.lo[ox]; kx < ax.hi[ox]; kx++ {
									grad[(iz*H+iy)*W+ax.start[ox]+kx*ax.dil] += v
								}
							}
						}
					}
					o++
				}
			}
		}
	})
}

// poolGradPlane2D is poolGradKernel for one plane of a pool over (H, W)
// (or W alone): the same sums, with the window bounds of each output row
// and column read once.
func poolGradPlane2D[T float32 | float64](grad, plane, d []T, ay, ax *poolAxis, isMax, includePad bool) {
	W := ax.in
	if isMax && maxPool2x2(ay) && maxPool2x2(ax) {
		// MaxPool2d(2): every window is the four inputs 2oy..2oy+1 ×
		// 2ox..2ox+1, scanned in the same order as below.
		for oy := range ay.out {
			r0, r1 := plane[2*oy*W:(2*oy+1)*W], plane[(2*oy+1)*W:(2*oy+2)*W]
			g0, g1 := grad[2*oy*W:(2*oy+1)*W], grad[(2*oy+1)*W:(2*oy+2)*W]
			for ox, dv := range d[oy*ax.out : (oy+1)*ax.out] {
				i := 2 * ox
				// The first maximum in scan order, as below.
				best, g, j := r0[i], g0, i
				if v := r0[i+1]; v > best {
					best, j = v, i+1
				}
				if v := r1[i]; v > best {
					best, g, j = v, g1, i
				}
				if v := r1[i+1]; v > best {
					g, j = g1, i+1
				}
				g[j] += dv
			}
		}
		return
	}
	for oy := range ay.out {
		ylo, yhi := ay.lo[oy], ay.hi[oy]
		y0 := ay.start[oy]
		drow := d[oy*ax.out : (oy+1)*ax.out]
		for ox, dv := range drow {
			x0 := ax.start[ox]
			xlo, xhi := ax.lo[ox], ax.hi[ox]
			if isMax {
				best, at := T(0), -1
				for ky := ylo; ky < yhi; ky++ {
					row := plane[(y0+ky*ay.dil)*W:]
					for kx := xlo; kx < xhi; kx++ {
						// The first maximum in scan order takes dy.
						if v := row[x0+kx*ax.dil]; at < 0 || v > best {
							best, at = v, (y0+ky*ay.dil)*W+x0+kx*ax.dil
						}
					}
				}
				if at >= 0 {
					grad[at] += dv
				}
				continue
			}
			cnt := (yhi - ylo) * (xhi - xlo)
			if includePad {
				cnt = ay.padC[oy] * ax.padC[ox]
			}
			if cnt == 0 {
				continue
			}
			v := dv / T(cnt)
			for ky := ylo; ky < yhi; ky++ {
				row := grad[(y0+ky*ay.dil)*W:]
				for kx := xlo; kx < xhi; kx++ {
					row[x0+kx*ax.dil] += v
				}
			}
		}
	}
}

// maxPool2x2 reports whether axis a pools windows of 2 with stride 2, no
// dilation and nothing outside the input.
func maxPool2x2(a *poolAxis) bool {
	if a.dil != 1 {
		return false
	}
	for o := range a.out {
		if a.start[o] != 2*o || a.lo[o] != 0 || a.hi[o] != 2 || 2*o+1 >= a.in {
			return false
		}
	}
	return true
}
