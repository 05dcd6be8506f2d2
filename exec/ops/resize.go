package ops

import (
	"math"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Resize and its deprecated predecessor Upsample.
//
// Every mode is separable: an output element is a tensor product of
// per-axis taps (one for nearest, two for linear, four for cubic). So each
// axis gets a tap table computed once from the coordinate transformation,
// nearest is a single gather through those tables, and linear/cubic run
// one pass per resized axis, which costs taps·output per pass instead of
// taps^rank·output for the direct formula.

func init() {
	register(
		&Op{Name: "Resize", Since: 11, Infer: resizeInfer, Run: resizeRun},
		&Op{Name: "Upsample", Since: 7, Infer: upsampleInfer, Run: upsampleRun},
	)
}

// resizeAttrs are the attributes that decide how coordinates map.
type resizeAttrs struct {
	mode    string // nearest, linear, cubic
	coord   string // coordinate_transformation_mode
	nearest string // nearest_mode
	cubicA  float64
	exclude bool // exclude_outside
	extrap  float64
	policy  string // keep_aspect_ratio_policy (opset 18)
	axes    []int64
}

func resizeReadAttrs(n *onnx.Node, opset int) (resizeAttrs, error) {
	a := resizeAttrs{
		mode:    attrString(n, "mode", "nearest"),
		coord:   attrString(n, "coordinate_transformation_mode", "half_pixel"),
		nearest: attrString(n, "nearest_mode", "round_prefer_floor"),
		cubicA:  float64(attrFloat(n, "cubic_coeff_a", -0.75)),
		exclude: attrInt(n, "exclude_outside", 0) != 0,
		extrap:  float64(attrFloat(n, "extrapolation_value", 0)),
		policy:  "stretch",
	}
	switch a.mode {
	case "nearest", "linear", "cubic":
	default:
		return a, unsupportedf(n, "mode %q", a.mode)
	}
	switch a.coord {
	case "half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_half_pixel_for_nn", "tf_crop_and_resize":
	case "half_pixel_symmetric":
		if opset < 19 {
			return a, unsupportedf(n, "coordinate_transformation_mode %q before opset 19", a.coord)
		}
	default:
		return a, unsupportedf(n, "coordinate_transformation_mode %q", a.coord)
	}
	switch a.nearest {
	case "round_prefer_floor", "round_prefer_ceil", "floor", "ceil":
	default:
		return a, unsupportedf(n, "nearest_mode %q", a.nearest)
	}
	if opset >= 18 {
		if attrInt(n, "antialias", 0) != 0 {
			return a, unsupportedf(n, "antialias")
		}
		a.axes = attrInts(n, "axes")
		a.policy = attrString(n, "keep_aspect_ratio_policy", "stretch")
		switch a.policy {
		case "stretch", "not_larger", "not_smaller":
		default:
			return a, unsupportedf(n, "keep_aspect_ratio_policy %q", a.policy)
		}
	}
	return a, nil
}

// resizeAxisList normalizes the axes attribute (all axes when absent).
func resizeAxisList(n *onnx.Node, axes []int64, rank int) ([]int, error) {
	if axes == nil {
		out := make([]int, rank)
		for i := range out {
			out[i] = i
		}
		return out, nil
	}
	return shapeNormAxes(n, axes, rank)
}

// resizeTarget resolves scales or sizes (listed per axis in ax) against the
// input shape, returning the per-axis scale that coordinates use and the
// output shape. Exactly one of scales and sizes is non-nil.
func resizeTarget(n *onnx.Node, a resizeAttrs, in []int, ax []int, scales []float64, sizes []int64) ([]float64, []int, error) {
	rank := len(in)
	sc := make([]float64, rank)
	out := append([]int{}, in...)
	for i := range sc {
		sc[i] = 1
	}
	if scales != nil {
		if len(scales) != len(ax) {
			return nil, nil, shapeError(n, "scales %v: want %d values", scales, len(ax))
		}
		for i, s := range scales {
			o := math.Floor(s * float64(in[ax[i]]))
			if !(s > 0) || o > math.MaxInt32 {
				return nil, nil, shapeError(n, "invalid scale %g", s)
			}
			sc[ax[i]], out[ax[i]] = s, int(o)
		}
		return sc, out, nil
	}
	if len(sizes) != len(ax) {
		return nil, nil, shapeError(n, "sizes %v: want %d values", sizes, len(ax))
	}
	for i, s := range sizes {
		if s < 0 || s > math.MaxInt32 {
			return nil, nil, shapeError(n, "invalid size %d", s)
		}
		if in[ax[i]] == 0 && s != 0 {
			return nil, nil, shapeError(n, "cannot resize an empty axis %d to %d", ax[i], s)
		}
	}
	if a.policy != "stretch" {
		// One scale for all listed axes, the smallest (not_larger) or
		// largest (not_smaller) of the per-axis ratios.
		s := math.Inf(1)
		if a.policy == "not_smaller" {
			s = 0
		}
		for i, v := range sizes {
			r := float64(v) / float64(in[ax[i]])
			if (a.policy == "not_larger") == (r < s) {
				s = r
			}
		}
		for _, i := range ax {
			sc[i], out[i] = s, int(math.Floor(s*float64(in[i])+0.5))
		}
		return sc, out, nil
	}
	for i, v := range sizes {
		out[ax[i]] = int(v)
		if in[ax[i]] > 0 {
			sc[ax[i]] = float64(v) / float64(in[ax[i]])
		}
	}
	return sc, out, nil
}

// resizeInputs reads roi, scales and sizes; empty tensors count as absent
// (opset 11 requires the roi and scales inputs even when unused).
func resizeInputs(c *RunCtx, ax []int) (roi, scales []float64, sizes []int64, err error) {
	n := c.Node
	// roi matters only to tf_crop_and_resize; exporters fill it with
	// anything (often an empty tensor) otherwise.
	if t := c.Input(1); t != nil && t.Len() > 0 && attrString(n, "coordinate_transformation_mode", "") == "tf_crop_and_resize" {
		roi = t.Float64s()
		if len(roi) != 2*len(ax) {
			return nil, nil, nil, shapeError(n, "roi has %d values, want %d", len(roi), 2*len(ax))
		}
	}
	if t := c.Input(2); t != nil && t.Len() > 0 {
		if !t.DType.IsFloat() {
			return nil, nil, nil, shapeError(n, "scales: want a float tensor, got %s", t.DType)
		}
		scales = t.Float64s()
	}
	if t := c.Input(3); t != nil && t.Len() > 0 {
		if k, ok := shapeStore(t.DType); !ok || k != shapeI64 {
			return nil, nil, nil, shapeError(n, "sizes: want an integer tensor, got %s", t.DType)
		}
		sizes = t.I64
	}
	if (scales == nil) == (sizes == nil) {
		return nil, nil, nil, shapeError(n, "exactly one of scales and sizes must be given")
	}
	return roi, scales, sizes, nil
}

func resizeInfer(c *InferCtx) ([]onnx.Type, error) {
	n := c.Node
	x, _ := c.Input(0)
	out := onnx.Type{DType: x.DType}
	a, err := resizeReadAttrs(n, c.Opset)
	if err != nil {
		return nil, err
	}
	if !x.HasShape {
		return []onnx.Type{out}, nil
	}
	rank := len(x.Dims)
	ax, err := resizeAxisList(n, a.axes, rank)
	if err != nil {
		return nil, err
	}
	out.HasShape, out.Dims = true, shapeUnknownDims(rank)
	var scales []float64
	if t := c.ConstInput(2); t != nil && t.Len() > 0 && t.DType.IsFloat() {
		scales = t.Float64s()
	}
	// Sizes often come from Concat(Slice(Shape(x)), constant), so their
	// contents may be symbolic: a symbolic batch entry stays symbolic.
	sizes := shapeContents(c, 3)
	if sizes != nil && len(sizes) == 0 {
		sizes = nil
	}
	in, static := x.Static()
	switch {
	case sizes != nil && a.policy == "stretch":
		if len(sizes) != len(ax) {
			return nil, shapeError(n, "sizes have %d values, want %d", len(sizes), len(ax))
		}
		copy(out.Dims, x.Dims)
		for i, e := range sizes {
			out.Dims[ax[i]] = shapeSizeDim(e)
		}
	case sizes != nil:
		if ints, ok := shapeInts(c, 3); ok && static {
			_, o, err := resizeTarget(n, a, in, ax, nil, ints)
			if err != nil {
				return nil, err
			}
			return []onnx.Type{onnx.ShapeOf(x.DType, o...)}, nil
		}
	case scales != nil:
		if len(scales) != len(ax) {
			return nil, shapeError(n, "scales have %d values, want %d", len(scales), len(ax))
		}
		copy(out.Dims, x.Dims)
		for i, s := range scales {
			d := x.Dims[ax[i]]
			switch {
			case s == 1:
			case d.Known():
				out.Dims[ax[i]] = onnx.Dim{Value: int64(math.Floor(s * float64(d.Value)))}
			default:
				out.Dims[ax[i]] = onnx.UnknownDim
			}
		}
	}
	return []onnx.Type{out}, nil
}

func resizeRun(c *RunCtx) ([]*tensor.Dense, error) {
	n := c.Node
	x, err := shapeInput(c, 0)
	if err != nil {
		return nil, err
	}
	a, err := resizeReadAttrs(n, c.Opset)
	if err != nil {
		return nil, err
	}
	ax, err := resizeAxisList(n, a.axes, x.Rank())
	if err != nil {
		return nil, err
	}
	roi, scales, sizes, err := resizeInputs(c, ax)
	if err != nil {
		return nil, err
	}
	sc, shape, err := resizeTarget(n, a, x.Shape, ax, scales, sizes)
	if err != nil {
		return nil, err
	}
	r0, r1 := resizeROI(ax, roi, x.Rank())
	return resizeApply(n, a, x, sc, shape, r0, r1, c.Threads)
}

// resizeROI returns each axis's region of interest: roi lists starts then
// ends for the axes in ax; other axes (and all, without roi) take the
// whole range [0, 1].
func resizeROI(ax []int, roi []float64, rank int) (r0, r1 []float64) {
	r0, r1 = make([]float64, rank), make([]float64, rank)
	for i := range r1 {
		r1[i] = 1
	}
	if roi != nil {
		for i, axis := range ax {
			r0[axis], r1[axis] = roi[i], roi[i+len(ax)]
		}
	}
	return r0, r1
}

// resizeApply builds the tap tables and runs the kernels.
func resizeApply(n *onnx.Node, a resizeAttrs, x *tensor.Dense, sc []float64, shape []int, r0, r1 []float64, threads int) ([]*tensor.Dense, error) {
	out, err := shapeNew(n, x.DType, shape)
	if err != nil {
		return nil, err
	}
	if out.Len() == 0 {
		return []*tensor.Dense{out}, nil
	}
	axes := make([]resizeAxis, x.Rank())
	for i := range axes {
		axes[i] = resizeTaps(a, x.Shape[i], shape[i], sc[i], r0[i], r1[i])
	}
	kind, _ := shapeStore(x.DType)
	if a.mode == "nearest" {
		switch kind {
		case shapeF32:
			resizeNearest(out.F32, x.F32, x.Shape, shape, axes, float32(a.extrap), threads)
		case shapeF64:
			resizeNearest(out.F64, x.F64, x.Shape, shape, axes, a.extrap, threads)
		default:
			resizeNearest(out.I64, x.I64, x.Shape, shape, axes, int64(a.extrap), threads)
		}
		return []*tensor.Dense{out}, nil
	}
	switch kind {
	case shapeF32:
		resizeSeparable(out.F32, x.F32, x.Shape, shape, axes, float32(a.extrap), threads)
	case shapeF64:
		resizeSeparable(out.F64, x.F64, x.Shape, shape, axes, a.extrap, threads)
	default:
		return nil, unsupportedf(n, "mode %s on %s", a.mode, x.DType)
	}
	return []*tensor.Dense{out}, nil
}

// resizeAxis is one axis's tap table: output j reads input idx[j*taps+t]
// with weight w[j*taps+t]; idx -1 marks an extrapolated output.
type resizeAxis struct {
	taps     int
	idx      []int
	w        []float64
	identity bool // output equals input along this axis
}

// resizeCoord maps an output coordinate to the input axis. outF is the
// scaled length before flooring, which the ONNX reference uses for
// align_corners and tf_crop_and_resize.
func resizeCoord(mode string, x, scale float64, in, out int, r0, r1 float64) float64 {
	outF := scale * float64(in)
	switch mode {
	case "half_pixel_symmetric":
		adj := float64(out) / outF
		off := float64(in) / 2 * (1 - adj)
		return off + (x+0.5)/scale - 0.5
	case "pytorch_half_pixel":
		if out > 1 {
			return (x+0.5)/scale - 0.5
		}
		return 0
	case "align_corners":
		if out == 1 || outF == 1 {
			return 0
		}
		return x * float64(in-1) / (outF - 1)
	case "asymmetric":
		return x / scale
	case "tf_half_pixel_for_nn":
		return (x + 0.5) / scale
	case "tf_crop_and_resize":
		if out > 1 {
			return r0*float64(in-1) + x*(r1-r0)*float64(in-1)/(outF-1)
		}
		return 0.5 * (r0 + r1) * float64(in-1)
	}
	return (x+0.5)/scale - 0.5 // half_pixel
}

// resizeTaps computes one axis's taps.
func resizeTaps(a resizeAttrs, in, out int, scale, r0, r1 float64) resizeAxis {
	taps := map[string]int{"nearest": 1, "linear": 2, "cubic": 4}[a.mode]
	ra := resizeAxis{taps: taps, idx: make([]int, out*taps), w: make([]float64, out*taps)}
	clamp := func(i int) int { return min(max(i, 0), in-1) }
	for j := range out {
		x := resizeCoord(a.coord, float64(j), scale, in, out, r0, r1)
		k := j * taps
		if a.coord == "tf_crop_and_resize" && (x < 0 || x > float64(in-1)) {
			for t := range taps {
				ra.idx[k+t] = -1
			}
			continue
		}
		// Far-out coordinates clamp to the edge anyway; bounding them
		// first keeps the int conversions safe.
		x = min(max(x, -4), float64(in+4))
		f := math.Floor(x)
		r := x - f
		fi := int(f)
		switch a.mode {
		case "nearest":
			i := fi
			if r != 0 {
				switch a.nearest {
				case "round_prefer_floor":
					if r > 0.5 {
						i++
					}
				case "round_prefer_ceil":
					if r >= 0.5 {
						i++
					}
				case "ceil":
					i++
				}
			}
			ra.idx[k], ra.w[k] = clamp(i), 1
		case "linear":
			ra.idx[k], ra.w[k] = clamp(fi), 1-r
			ra.idx[k+1], ra.w[k+1] = clamp(fi+1), r
		case "cubic":
			c := resizeCubic(r, a.cubicA)
			sum := 0.0
			for t := range 4 {
				i := fi - 1 + t
				if a.exclude && (i < 0 || i >= in) {
					c[t] = 0
				}
				sum += c[t]
				ra.idx[k+t] = clamp(i)
			}
			for t := range 4 {
				if a.exclude && sum != 0 {
					c[t] /= sum
				}
				ra.w[k+t] = c[t]
			}
		}
	}
	ra.identity = in == out
	for j := 0; j < out && ra.identity; j++ {
		acc := 0.0
		for t := range taps {
			i, w := ra.idx[j*taps+t], ra.w[j*taps+t]
			if i == j {
				acc += w
			} else if math.Abs(w) > 1e-12 {
				ra.identity = false
			}
		}
		if math.Abs(acc-1) > 1e-12 {
			ra.identity = false
		}
	}
	return ra
}

// resizeCubic returns the Keys cubic convolution weights of the four
// neighbours floor(x)-1 .. floor(x)+2 for a fractional offset r.
func resizeCubic(r, A float64) [4]float64 {
	far := func(d float64) float64 { return ((A*d-5*A)*d+8*A)*d - 4*A } // 1 <= d < 2
	near := func(d float64) float64 { return ((A+2)*d-(A+3))*d*d + 1 }  // 0 <= d <= 1
	return [4]float64{far(r + 1), near(r), near(1 - r), far(2 - r)}
}

// resizeNearest gathers through the per-axis tables, row by row of the
// last axis. Upsampling repeats source rows, so a row whose source is the
// previous row's is copied from the output instead of gathered again.
func resizeNearest[T any](dst, src []T, in, out []int, axes []resizeAxis, fill T, threads int) {
	r := len(out)
	if r == 0 {
		dst[0] = src[0]
		return
	}
	st := tensor.Strides(in)
	L := out[r-1]
	last := axes[r-1].idx
	extrap := false
	for _, i := range last {
		extrap = extrap || i < 0
	}
	outer := out[:r-1]
	parallelFor(threads, shapeProd(outer), max(1, (1<<15)/L), func(lo, hi int) {
		prev, prevBase := -1, 0
		for row := lo; row < hi; row++ {
			rem, base, fillRow := row, 0, false
			for k := len(outer) - 1; k >= 0; k-- {
				i := axes[k].idx[rem%outer[k]]
				rem /= outer[k]
				if i < 0 {
					fillRow = true
				}
				base += i * st[k]
			}
			d := dst[row*L : (row+1)*L]
			switch {
			case fillRow:
				for j := range d {
					d[j] = fill
				}
				prev = -1
				continue
			case prev >= 0 && base == prevBase:
				copy(d, dst[prev*L:(prev+1)*L])
			case extrap:
				for j, i := range last {
					if i >= 0 {
						d[j] = src[base+i]
					} else {
						d[j] = fill
					}
				}
			default:
				s := src[base:]
				for j, i := range last[:len(d)] {
					d[j] = s[i]
				}
			}
			prev, prevBase = row, base
		}
	})
}

// resizeSeparable interpolates one axis at a time, shrinking axes first so
// that later passes see less data.
func resizeSeparable[T float32 | float64](dst, src []T, in, out []int, axes []resizeAxis, fill T, threads int) {
	var order []int
	for i, ra := range axes {
		if !ra.identity {
			order = append(order, i)
		}
	}
	if len(order) == 0 {
		copy(dst, src)
		return
	}
	// Order by growth ratio, the last axis first among equals: its pass
	// gathers element by element, the others stream whole rows, so it
	// should see the least data. Ranks are tiny; insertion sort will do.
	ratio := func(i int) float64 { return float64(out[i]) / float64(in[i]) }
	before := func(a, b int) bool {
		ra, rb := ratio(a), ratio(b)
		return ra < rb || ra == rb && a == len(in)-1
	}
	for i := 1; i < len(order); i++ {
		for j := i; j > 0 && before(order[j], order[j-1]); j-- {
			order[j], order[j-1] = order[j-1], order[j]
		}
	}
	cur := append([]int{}, in...)
	data := src
	for p, axis := range order {
		next := append([]int{}, cur...)
		next[axis] = out[axis]
		buf := dst
		if p < len(order)-1 {
			buf = make([]T, shapeProd(next))
		}
		pass := resizeNewPass[T](axes[axis], out[axis], fill)
		pass.run(buf, data, shapeProd(cur[:axis]), cur[axis], shapeProd(cur[axis+1:]), threads)
		cur, data = next, buf
	}
}

// resizePass is one axis's taps laid out for the kernels: tap t of output
// j reads input idx[t][j] with weight w[t][j]. Separate per-tap arrays let
// the loops index them without bounds checks.
type resizePass[T float32 | float64] struct {
	idx    [][]int
	w      [][]T
	extrap []bool // nil when no output is extrapolated
	fill   T
}

func resizeNewPass[T float32 | float64](ra resizeAxis, outLen int, fill T) *resizePass[T] {
	p := &resizePass[T]{idx: make([][]int, ra.taps), w: make([][]T, ra.taps), fill: fill}
	for t := range ra.taps {
		p.idx[t] = make([]int, outLen)
		p.w[t] = make([]T, outLen)
		for j := range outLen {
			p.idx[t][j], p.w[t][j] = ra.idx[j*ra.taps+t], T(ra.w[j*ra.taps+t])
		}
	}
	for j := range outLen {
		if ra.idx[j*ra.taps] < 0 {
			if p.extrap == nil {
				p.extrap = make([]bool, outLen)
			}
			p.extrap[j] = true
			// Point every tap at element 0 so the loops stay branch-free;
			// the fill overwrites the result afterwards.
			for t := range ra.taps {
				p.idx[t][j], p.w[t][j] = 0, 0
			}
		}
	}
	return p
}

// run resizes the middle axis of [outer, inLen, inner] to len(p.idx[0]).
func (p *resizePass[T]) run(dst, src []T, outer, inLen, inner, threads int) {
	outLen := len(p.idx[0])
	taps := len(p.idx)
	if inner == 1 {
		parallelFor(threads, outer, max(1, (1<<14)/(outLen*taps)), func(lo, hi int) {
			for o := lo; o < hi; o++ {
				p.gatherRow(dst[o*outLen:(o+1)*outLen], src[o*inLen:(o+1)*inLen])
			}
		})
		return
	}
	parallelFor(threads, outer*outLen, max(1, (1<<14)/(inner*taps)), func(lo, hi int) {
		for u := lo; u < hi; u++ {
			o, j := u/outLen, u%outLen
			d := dst[u*inner : (u+1)*inner]
			if p.extrap != nil && p.extrap[j] {
				for i := range d {
					d[i] = p.fill
				}
				continue
			}
			base := o * inLen * inner
			s0 := src[base+p.idx[0][j]*inner:][:len(d)]
			w0 := p.w[0][j]
			if taps == 1 {
				for i := range d {
					d[i] = w0 * s0[i]
				}
				continue
			}
			s1 := src[base+p.idx[1][j]*inner:][:len(d)]
			w1 := p.w[1][j]
			for i := range d {
				d[i] = w0*s0[i] + w1*s1[i]
			}
			for t := 2; t < taps; t++ {
				s := src[base+p.idx[t][j]*inner:][:len(d)]
				wt := p.w[t][j]
				for i := range d {
					d[i] += wt * s[i]
				}
			}
		}
	})
}

// gatherRow resizes one contiguous row (the last axis).
func (p *resizePass[T]) gatherRow(d, s []T) {
	switch len(p.idx) {
	case 1:
		i0, w0 := p.idx[0][:len(d)], p.w[0][:len(d)]
		for j := range d {
			d[j] = w0[j] * s[i0[j]]
		}
	case 2:
		i0, w0 := p.idx[0][:len(d)], p.w[0][:len(d)]
		i1, w1 := p.idx[1][:len(d)], p.w[1][:len(d)]
		for j := range d {
			d[j] = w0[j]*s[i0[j]] + w1[j]*s[i1[j]]
		}
	default:
		for j := range d {
			var acc T
			for t := range p.idx {
				acc += p.w[t][j] * s[p.idx[t][j]]
			}
			d[j] = acc
		}
	}
	if p.extrap != nil {
		for j, e := range p.extrap[:len(d)] {
			if e {
				d[j] = p.fill
			}
		}
	}
}

// ---------------------------------------------------------------------------
// Upsample (opsets 7-9): Resize with asymmetric coordinates and floor
// rounding, scales as an attribute (7) or input (9).

func upsampleAttrs(n *onnx.Node) (resizeAttrs, error) {
	a := resizeAttrs{coord: "asymmetric", nearest: "floor", policy: "stretch"}
	switch m := attrString(n, "mode", "nearest"); m {
	case "nearest", "linear":
		a.mode = m
	case "bilinear":
		a.mode = "linear"
	default:
		return a, unsupportedf(n, "mode %q", m)
	}
	return a, nil
}

func upsampleInfer(c *InferCtx) ([]onnx.Type, error) {
	n := c.Node
	x, _ := c.Input(0)
	out := onnx.Type{DType: x.DType}
	if _, err := upsampleAttrs(n); err != nil {
		return nil, err
	}
	if !x.HasShape {
		return []onnx.Type{out}, nil
	}
	out.HasShape, out.Dims = true, shapeUnknownDims(len(x.Dims))
	var scales []float64
	if c.Opset < 9 {
		for _, s := range resizeAttrFloats(n, "scales") {
			scales = append(scales, float64(s))
		}
	} else if t := c.ConstInput(1); t != nil {
		scales = t.Float64s()
	}
	if scales == nil {
		return []onnx.Type{out}, nil
	}
	if len(scales) != len(x.Dims) {
		return nil, shapeError(n, "scales have %d values for rank %d", len(scales), len(x.Dims))
	}
	for i, d := range x.Dims {
		switch {
		case scales[i] == 1:
			out.Dims[i] = d
		case d.Known():
			out.Dims[i] = onnx.Dim{Value: int64(math.Floor(scales[i] * float64(d.Value)))}
		}
	}
	return []onnx.Type{out}, nil
}

// resizeAttrFloats returns the floats attribute name of n, or nil if absent.
func resizeAttrFloats(n *onnx.Node, name string) []float32 {
	if a := n.Attr(name); a != nil {
		return a.Floats
	}
	return nil
}

func upsampleRun(c *RunCtx) ([]*tensor.Dense, error) {
	n := c.Node
	x, err := shapeInput(c, 0)
	if err != nil {
		return nil, err
	}
	a, err := upsampleAttrs(n)
	if err != nil {
		return nil, err
	}
	var scales []float64
	if c.Opset < 9 {
		for _, s := range resizeAttrFloats(n, "scales") {
			scales = append(scales, float64(s))
		}
	} else if t := c.Input(1); t != nil {
		scales = t.Float64s()
	}
	if len(scales) != x.Rank() {
		return nil, shapeError(n, "scales %v for a rank-%d input", scales, x.Rank())
	}
	ax, _ := resizeAxisList(n, nil, x.Rank())
	sc, shape, err := resizeTarget(n, a, x.Shape, ax, scales, nil)
	if err != nil {
		return nil, err
	}
	r0, r1 := make([]float64, x.Rank()), make([]float64, x.Rank())
	return resizeApply(n, a, x, sc, shape, r0, r1, c.Threads)
}
