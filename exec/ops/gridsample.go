package ops

import (
	"math"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// GridSample (ONNX operator docs, opset 16; torch.nn.functional.grid_sample):
// Y[n, c, i, j] samples X[n, c] at the normalized point grid[n, i, j] =
// (x, y) in [-1, 1], by bilinear, nearest or bicubic (A = -0.75)
// interpolation, with zeros, border or reflection padding, as ONNX
// Runtime's CPU kernel does: a point outside the padding bounds is first
// clamped (border) or reflected (reflection), then the taps are read with
// the same rule (zeros reads 0).
//
// The gradient (bilinear and nearest) is the private op GridSampleGrad(X,
// grid, dY) -> (dX, dgrid): dX scatters dY through the taps' weights, and
// dgrid differentiates the weights, through the clamp (0 outside the
// border) and the reflection (±1).

func init() {
	register(
		&Op{Name: "GridSample", Since: 16, Infer: gridSampleInfer, Run: gridSampleRun, Grad: gridSampleGrad},
		&Op{Name: "GridSampleGrad", Domain: GraftDomain, Since: 1, Infer: gridSampleGradInfer, Run: gridSampleGradRun},
	)
}

type gridMode int

const (
	gridBilinear gridMode = iota
	gridNearest
	gridBicubic
)

type gridPad int

const (
	gridZeros gridPad = iota
	gridBorder
	gridReflection
)

// gridAttrs holds GridSample's attributes.
type gridAttrs struct {
	mode  gridMode
	pad   gridPad
	align bool
}

func gridReadAttrs(n *onnx.Node) (gridAttrs, error) {
	var a gridAttrs
	switch m := attrString(n, "mode", "bilinear"); m {
	case "bilinear", "linear":
		a.mode = gridBilinear
	case "nearest":
		a.mode = gridNearest
	case "bicubic", "cubic":
		a.mode = gridBicubic
	default:
		return a, onnx.NodeErrorf(n, "attribute \"mode\": want bilinear, nearest or bicubic, got %q", m)
	}
	switch p := attrString(n, "padding_mode", "zeros"); p {
	case "zeros":
		a.pad = gridZeros
	case "border":
		a.pad = gridBorder
	case "reflection":
		a.pad = gridReflection
	default:
		return a, onnx.NodeErrorf(n, "attribute \"padding_mode\": want zeros, border or reflection, got %q", p)
	}
	a.align = attrInt(n, "align_corners", 0) != 0
	return a, nil
}

func gridSampleInfer(c *InferCtx) ([]onnx.Type, error) {
	if _, err := gridReadAttrs(c.Node); err != nil {
		return nil, err
	}
	x, _ := c.Input(0)
	g, _ := c.Input(1)
	if x.HasShape && len(x.Dims) != 4 || g.HasShape && len(g.Dims) != 4 {
		return nil, shapeError(c.Node, "X %s and grid %s: want (N, C, H, W) and (N, H_out, W_out, 2)", x.ShapeString(), g.ShapeString())
	}
	return []onnx.Type{{DType: x.DType, HasShape: true, Dims: []onnx.Dim{convDimOr(x, 0), convDimOr(x, 1), convDimOr(g, 1), convDimOr(g, 2)}}}, nil
}

// gridGeom is one GridSample's sizes and attributes.
type gridGeom struct {
	gridAttrs
	n, c, h, w, ho, wo int
}

func gridSetup(c *RunCtx) (*gridGeom, *tensor.Dense, *tensor.Dense, error) {
	a, err := gridReadAttrs(c.Node)
	if err != nil {
		return nil, nil, nil, err
	}
	x, g := c.Input(0), c.Input(1)
	if x == nil || g == nil || !x.DType.IsFloat() || !g.DType.IsFloat() {
		return nil, nil, nil, onnx.NodeErrorf(c.Node, "X and grid: want float tensors")
	}
	if x.Rank() != 4 || g.Rank() != 4 || g.Shape[0] != x.Shape[0] || g.Shape[3] != 2 {
		return nil, nil, nil, shapeError(c.Node, "X %v and grid %v: want (N, C, H, W) and (N, H_out, W_out, 2)", x.Shape, g.Shape)
	}
	if x.Shape[2] < 1 || x.Shape[3] < 1 {
		return nil, nil, nil, shapeError(c.Node, "X %v has an empty plane", x.Shape)
	}
	return &gridGeom{gridAttrs: a, n: x.Shape[0], c: x.Shape[1], h: x.Shape[2], w: x.Shape[3], ho: g.Shape[1], wo: g.Shape[2]}, x, g, nil
}

// bounds returns the extent of valid source coordinates along a dim of
// size n.
func (g *gridGeom) bounds(n int) (lo, hi float64) {
	if g.align {
		return 0, float64(n - 1)
	}
	return -0.5, float64(n) - 0.5
}

// denorm maps a normalized coordinate to a source one along a dim of size
// n, returning also its derivative.
func (g *gridGeom) denorm(v float64, n int) (float64, float64) {
	if g.align {
		return (v + 1) / 2 * float64(n-1), float64(n-1) / 2
	}
	return ((v+1)*float64(n) - 1) / 2, float64(n) / 2
}

// gridReflect reflects v into [lo, hi], returning also the derivative
// (+1 or -1).
func gridReflect(v, lo, hi float64) (float64, float64) {
	span := hi - lo
	if span <= 0 {
		return lo, 0
	}
	switch {
	case v < lo:
		d := lo - v
		k := math.Floor(d / span)
		r := d - k*span
		if int64(k)%2 == 0 {
			return lo + r, -1
		}
		return hi - r, 1
	case v > hi:
		d := v - hi
		k := math.Floor(d / span)
		r := d - k*span
		if int64(k)%2 == 0 {
			return hi - r, -1
		}
		return lo + r, 1
	}
	return v, 1
}

// source maps a normalized coordinate along a dim of size n to the point
// the taps are read around, with its derivative.
func (g *gridGeom) source(v float64, n int) (float64, float64) {
	s, d := g.denorm(v, n)
	if g.mode == gridNearest {
		s, d = math.RoundToEven(s), 0
	}
	lo, hi := g.bounds(n)
	if s < lo || s > hi {
		switch g.pad {
		case gridBorder:
			s, d = min(max(s, 0), float64(n-1)), 0
		case gridReflection:
			var r float64
			s, r = gridReflect(s, lo, hi)
			d *= r
		}
	}
	return s, d
}

// tap returns the flat index within a plane of the pixel at integer
// (r, q), or -1 where zeros padding reads 0.
func (g *gridGeom) tap(r, q int) int {
	switch g.pad {
	case gridZeros:
		if r < 0 || r >= g.h || q < 0 || q >= g.w {
			return -1
		}
	case gridBorder:
		r, q = min(max(r, 0), g.h-1), min(max(q, 0), g.w-1)
	case gridReflection:
		ylo, yhi := g.bounds(g.h)
		xlo, xhi := g.bounds(g.w)
		fr, _ := gridReflect(float64(r), ylo, yhi)
		fq, _ := gridReflect(float64(q), xlo, xhi)
		r, q = min(max(int(fr), 0), g.h-1), min(max(int(fq), 0), g.w-1)
	}
	return r*g.w + q
}

// gridCubic returns the cubic convolution weights (A = -0.75) of the taps
// at offsets -1, 0, 1, 2 from a point t in [0, 1) past the first.
func gridCubic(t float64) [4]float64 {
	const a = -0.75
	x := math.Abs(t)
	return [4]float64{
		((a*(x+1)-5*a)*(x+1)+8*a)*(x+1) - 4*a,
		((a+2)*x-(a+3))*x*x + 1,
		((a+2)*(1-x)-(a+3))*(1-x)*(1-x) + 1,
		((a*(2-x)-5*a)*(2-x)+8*a)*(2-x) - 4*a,
	}
}

// gridTaps lists the taps of one sample point and their weights, plus the
// weights' derivatives along x and y (bilinear only; zero otherwise).
type gridTaps struct {
	idx          [16]int
	wt, dwx, dwy [16]float64
	count        int
	dsx, dsy     float64 // derivatives of the source point
	sx, sy       float64
}

func (g *gridGeom) taps(gx, gy float64, t *gridTaps) {
	sx, dsx := g.source(gx, g.w)
	sy, dsy := g.source(gy, g.h)
	t.sx, t.sy, t.dsx, t.dsy = sx, sy, dsx, dsy
	t.count = 0
	add := func(r, q int, w, dwx, dwy float64) {
		t.idx[t.count], t.wt[t.count], t.dwx[t.count], t.dwy[t.count] = g.tap(r, q), w, dwx, dwy
		t.count++
	}
	switch g.mode {
	case gridNearest:
		add(int(math.RoundToEven(sy)), int(math.RoundToEven(sx)), 1, 0, 0)
	case gridBilinear:
		x1, y1 := math.Floor(sx), math.Floor(sy)
		fx, fy := sx-x1, sy-y1
		q, r := int(x1), int(y1)
		add(r, q, (1-fy)*(1-fx), -(1 - fy), -(1 - fx))
		add(r, q+1, (1-fy)*fx, 1-fy, -fx)
		add(r+1, q, fy*(1-fx), -fy, 1-fx)
		add(r+1, q+1, fy*fx, fy, fx)
	case gridBicubic:
		x0, y0 := math.Floor(sx)-1, math.Floor(sy)-1
		cx, cy := gridCubic(sx-x0-1), gridCubic(sy-y0-1)
		for i := range 4 {
			for j := range 4 {
				add(int(y0)+i, int(x0)+j, cy[i]*cx[j], 0, 0)
			}
		}
	}
}

func gridSampleRun(c *RunCtx) ([]*tensor.Dense, error) {
	g, x, grid, err := gridSetup(c)
	if err != nil {
		return nil, err
	}
	y, err := shapeNew(c.Node, x.DType, []int{g.n, g.c, g.ho, g.wo})
	if err != nil {
		return nil, err
	}
	xv, gv := x.Float64s(), grid.Float64s()
	out := make([]float64, y.Len())
	plane, opl := g.h*g.w, g.ho*g.wo
	parallelFor(c.Threads, g.n*opl, 64, func(lo, hi int) {
		var t gridTaps
		for p := lo; p < hi; p++ {
			b, o := p/opl, p%opl
			g.taps(gv[2*p], gv[2*p+1], &t)
			for ch := range g.c {
				src := xv[(b*g.c+ch)*plane:]
				v := 0.0
				for k := range t.count {
					if t.idx[k] >= 0 {
						v += t.wt[k] * src[t.idx[k]]
					}
				}
				out[(b*g.c+ch)*opl+o] = v
			}
		}
	})
	gridStore(y, out)
	return []*tensor.Dense{y}, nil
}

// gridStore writes float64 values into a float tensor of any precision.
func gridStore(y *tensor.Dense, v []float64) {
	if y.F64 != nil {
		copy(y.F64, v)
		return
	}
	for i, f := range v {
		y.F32[i] = float32(f)
	}
	elemNarrow(y)
}

func gridSampleGrad(c *GradCtx) ([]*onnx.Value, error) {
	a, err := gridReadAttrs(c.Node)
	if err != nil {
		return nil, err
	}
	if a.mode == gridBicubic {
		return nil, c.Unsupportedf("GridSample gradient in bicubic mode")
	}
	out := c.EmitN("GridSampleGrad", GraftDomain, 2, []*onnx.Value{c.In(0), c.In(1), c.DY[0]}, c.Node.Attrs...)
	return []*onnx.Value{out[0], out[1]}, nil
}

func gridSampleGradInfer(c *InferCtx) ([]onnx.Type, error) {
	x, _ := c.Input(0)
	g, _ := c.Input(1)
	return []onnx.Type{x, g}, nil
}

func gridSampleGradRun(c *RunCtx) ([]*tensor.Dense, error) {
	g, x, grid, err := gridSetup(c)
	if err != nil {
		return nil, err
	}
	dy := c.Input(2)
	if dy == nil || !tensor.SameShape(dy.Shape, []int{g.n, g.c, g.ho, g.wo}) {
		return nil, shapeError(c.Node, "dY: want shape %v", []int{g.n, g.c, g.ho, g.wo})
	}
	xv, gv, dv := x.Float64s(), grid.Float64s(), dy.Float64s()
	dx, dg := make([]float64, x.Len()), make([]float64, grid.Len())
	plane, opl := g.h*g.w, g.ho*g.wo
	var t gridTaps
	for p := range g.n * opl {
		b, o := p/opl, p%opl
		g.taps(gv[2*p], gv[2*p+1], &t)
		var sx, sy float64
		for ch := range g.c {
			d := dv[(b*g.c+ch)*opl+o]
			src := xv[(b*g.c+ch)*plane:]
			dst := dx[(b*g.c+ch)*plane:]
			for k := range t.count {
				if t.idx[k] < 0 {
					continue
				}
				dst[t.idx[k]] += d * t.wt[k]
				sx += d * t.dwx[k] * src[t.idx[k]]
				sy += d * t.dwy[k] * src[t.idx[k]]
			}
		}
		dg[2*p], dg[2*p+1] = sx*t.dsx, sy*t.dsy
	}
	dxT, dgT := tensor.New(x.DType, x.Shape...), tensor.New(grid.DType, grid.Shape...)
	gridStore(dxT, dx)
	gridStore(dgT, dg)
	return []*tensor.Dense{dxT, dgT}, nil
}
