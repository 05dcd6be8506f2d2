package ops

import (
	"math"

	"github.com/graft-ml/graft/exec/internal/vec"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Pool family: MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool over
// 1, 2 or 3 spatial dims. The window attributes and output sizes are
// Conv's (convWindow in conv.go); like Conv, the kernels see every input
// as (D, H, W) with missing leading axes of size 1.

func init() {
	register(
		&Op{Name: "MaxPool", Since: 1, Infer: poolInfer, Run: maxPoolRun},
		&Op{Name: "AveragePool", Since: 1, Infer: poolInfer, Run: avgPoolRun},
		&Op{Name: "GlobalAveragePool", Since: 1, Infer: globalPoolInfer, Run: globalAvgPoolRun},
		&Op{Name: "GlobalMaxPool", Since: 1, Infer: globalPoolInfer, Run: globalMaxPoolRun},
	)
}

// poolWindow reads a pool node's window attributes for nd spatial dims;
// kernel_shape is required.
func poolWindow(n *onnx.Node, nd int) (convWindow, bool, error) {
	w, err := convReadWindow(n, nd, nil)
	if err != nil {
		return w, false, err
	}
	if w.kernel == nil {
		return w, false, shapeError(n, "kernel_shape missing")
	}
	return w, attrInt(n, "ceil_mode", 0) != 0, nil
}

func poolInfer(c *InferCtx) ([]onnx.Type, error) {
	x, _ := c.Input(0)
	types := []onnx.Type{{DType: x.DType}, {DType: tensor.Int64}}
	if x.HasShape {
		nd := len(x.Dims) - 2
		if nd < 1 {
			return nil, shapeError(c.Node, "input %s: want rank of at least 3", x.ShapeString())
		}
		w, ceil, err := poolWindow(c.Node, nd)
		if err != nil {
			return nil, err
		}
		spatial, err := convSpatialTypes(c.Node, x, &w, ceil)
		if err != nil {
			return nil, err
		}
		dims := append([]onnx.Dim{x.Dims[0], x.Dims[1]}, spatial...)
		for i := range types {
			types[i].HasShape, types[i].Dims = true, dims
		}
	}
	if len(c.Node.Outputs) < 2 || c.Node.OpType != "MaxPool" {
		types = types[:1]
	}
	return types, nil
}

// poolAxis describes one spatial axis of a pool: for output index o the
// window starts at input index start[o] and its taps lo[o] <= k < hi[o]
// fall inside the input; padCnt[o] counts the taps inside the input or
// its padding (the divisor under count_include_pad).
type poolAxis struct {
	in, out, dil        int
	k, s, pad           int // window, stride and begin padding
	start, lo, hi, padC []int
}

// poolGeom is a pool's geometry over (D, H, W).
type poolGeom struct {
	planes int // batch × channels
	taps   int // window size
	ax     [3]poolAxis
}

// flat reports whether the pool is 1-D or 2-D: its depth axis is one
// element in and out.
func (g *poolGeom) flat() bool { return g.ax[0].in == 1 && g.ax[0].out == 1 && g.ax[0].k == 1 }

func (g *poolGeom) inSize() int  { return g.ax[0].in * g.ax[1].in * g.ax[2].in }
func (g *poolGeom) outSize() int { return g.ax[0].out * g.ax[1].out * g.ax[2].out }

// poolSetup validates X and computes the geometry and the output shape.
func poolSetup(c *RunCtx) (*tensor.Dense, *poolGeom, []int, error) {
	n := c.Node
	x := c.Input(0)
	if x == nil {
		return nil, nil, nil, onnx.NodeErrorf(n, "input X missing")
	}
	nd := len(x.Shape) - 2
	if nd < 1 {
		return nil, nil, nil, shapeError(n, "input %v: want rank of at least 3", x.Shape)
	}
	if nd > 3 {
		return nil, nil, nil, unsupportedf(n, "%d spatial dims", nd)
	}
	w, ceil, err := poolWindow(n, nd)
	if err != nil {
		return nil, nil, nil, err
	}
	switch x.DType {
	case tensor.String, tensor.Undefined:
		return nil, nil, nil, unsupportedf(n, "dtype %s", x.DType)
	}
	g := &poolGeom{planes: x.Shape[0] * x.Shape[1], taps: 1}
	shape := []int{x.Shape[0], x.Shape[1]}
	for i := range 3 - nd {
		g.ax[i] = poolAxis{in: 1, out: 1, dil: 1, k: 1, s: 1, start: []int{0}, lo: []int{0}, hi: []int{1}, padC: []int{1}}
	}
	for i := range nd {
		in := x.Shape[2+i]
		out, pb := w.outDim(i, in, ceil)
		if out < 1 || in < 1 {
			return nil, nil, nil, shapeError(n, "input %v is smaller than the window %v", x.Shape, w.kernel)
		}
		k, s, d := w.kernel[i], w.strides[i], w.dils[i]
		g.taps *= k
		ext := (k-1)*d + 1
		pe := w.pads[nd+i]
		if w.autoPad != "NOTSET" {
			pe = max(0, (out-1)*s+ext-in-pb)
		}
		a := poolAxis{in: in, out: out, dil: d, k: k, s: s, pad: pb, start: make([]int, out), lo: make([]int, out), hi: make([]int, out), padC: make([]int, out)}
		for o := range out {
			st := o*s - pb
			a.start[o] = st
			a.lo[o], a.hi[o] = convValid(k, d, st, in)
			_, a.padC[o] = convValid(k, d, st, in+pe)
		}
		g.ax[3-nd+i] = a
		shape = append(shape, out)
	}
	return x, g, shape, nil
}

// poolPlanes runs body over the planes of g, in parallel when the work
// is large.
func poolPlanes(g *poolGeom, threads int, body func(p int)) {
	per := max(1, g.outSize()*g.taps)
	parallelFor(threads, g.planes, max(1, (1<<16)/per), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			body(p)
		}
	})
}

func maxPoolRun(c *RunCtx) ([]*tensor.Dense, error) {
	if c.NCHWc != nil {
		return poolNCHWcRun(c, true)
	}
	x, g, shape, err := poolSetup(c)
	if err != nil {
		return nil, err
	}
	if _, err := tensor.NumElems(shape); err != nil {
		return nil, onnx.NodeErrorf(c.Node, "output shape: %w", err)
	}
	y := tensor.NewUninit(x.DType, shape...) // the kernels write every element
	var idx *tensor.Dense
	if len(c.Node.Outputs) > 1 && c.Node.Outputs[1] != nil {
		idx = tensor.New(tensor.Int64, shape...)
	}
	colMajor := attrInt(c.Node, "storage_order", 0) == 1
	switch x.DType {
	case tensor.Float32, tensor.Float16, tensor.BFloat16:
		if idx == nil && g.flat() && g.ax[2].s <= 2 {
			maxPoolSeparable(y.F32, x.F32, g, x.Shape[0], c.Threads)
			break
		}
		if idx == nil && g.flat() {
			poolTaps(tapMax, float32(math.Inf(-1)), y.F32, x.F32, g, false, c.Threads)
			break
		}
		maxPoolKernel(y.F32, x.F32, idx, g, colMajor, float32(math.Inf(-1)), c.Threads)
	case tensor.Float64:
		maxPoolKernel(y.F64, x.F64, idx, g, colMajor, math.Inf(-1), c.Threads)
	default: // integers, stored as int64
		maxPoolKernel(y.I64, x.I64, idx, g, colMajor, math.MinInt64, c.Threads)
	}
	if idx != nil {
		return []*tensor.Dense{y, idx}, nil
	}
	return []*tensor.Dense{y}, nil
}

// maxPoolKernel takes the maximum of each window (lowest where a window
// holds no input) and, if idx is non-nil, its flat index in x (the first
// one on ties), with the spatial part in column-major order if colMajor.
func maxPoolKernel[T float32 | float64 | int64](y, x []T, idx *tensor.Dense, g *poolGeom, colMajor bool, lowest T, threads int) {
	az, ay, ax := &g.ax[0], &g.ax[1], &g.ax[2]
	nIn, nOut := g.inSize(), g.outSize()
	D, H, W := az.in, ay.in, ax.in
	if idx == nil && D == 1 {
		poolPlanes(g, threads, func(p int) {
			maxPoolPlane2D(y[p*nOut:(p+1)*nOut], x[p*nIn:(p+1)*nIn], ay, ax, lowest)
		})
		return
	}
	poolPlanes(g, threads, func(p int) {
		plane := x[p*nIn : (p+1)*nIn]
		out := y[p*nOut : (p+1)*nOut]
		o := 0
		for oz := range az.out {
			for oy := range ay.out {
				for ox := range ax.out {
					best, at := lowest, -1
					for kz := az.lo[oz]; kz < az.hi[oz]; kz++ {
						iz := az.start[oz] + kz*az.dil
						for ky := ay.lo[oy]; ky < ay.hi[oy]; ky++ {
							iy := ay.start[oy] + ky*ay.dil
							row := plane[(iz*H+iy)*W : (iz*H+iy+1)*W]
							x0, dx := ax.start[ox], ax.dil
							if idx == nil {
								// No data-dependent branch: random data
								// would mispredict one on every tap.
								for kx := ax.lo[ox]; kx < ax.hi[ox]; kx++ {
									best = max(best, row[x0+kx*dx])
								}
								continue
							}
							for kx := ax.lo[ox]; kx < ax.hi[ox]; kx++ {
								if v := row[x0+kx*dx]; v > best || at < 0 {
									best, at = v, (iz*H+iy)*W+x0+kx*dx
								}
							}
						}
					}
					out[o] = best
					if idx != nil && at >= 0 {
						if colMajor {
							iz, iy, ix := at/(H*W), at/W%H, at%W
							at = iz + iy*D + ix*D*H
						}
						idx.I64[p*nOut+o] = int64(p*nIn + at)
					}
					o++
				}
			}
		}
	})
}

// maxPoolPlane2D is maxPoolKernel for one plane of a 1-D or 2-D pool
// without indices. It works an output row at a time: each input row the
// window covers is reduced horizontally into the row's running maxima, so
// the inner loop runs over taps of one contiguous input row. Windows that
// lie wholly inside the row, the common case, take a loop without bounds
// bookkeeping.
func maxPoolPlane2D[T float32 | float64 | int64](out, plane []T, ay, ax *poolAxis, lowest T) {
	W, dil := ax.in, ax.dil
	// Output columns [full0, full1) have every tap inside the input.
	k := 0
	for o := range ax.out {
		k = max(k, ax.hi[o]-ax.lo[o])
	}
	full0, full1 := ax.out, ax.out
	for o := range ax.out {
		if ax.lo[o] == 0 && ax.hi[o] == k {
			if full0 == ax.out {
				full0 = o
			}
			full1 = o + 1
		}
	}
	stride := 0
	if full1-full0 > 1 {
		stride = ax.start[full0+1] - ax.start[full0]
	}
	for oy := range ay.out {
		dst := out[oy*ax.out : (oy+1)*ax.out]
		for i := range dst {
			dst[i] = lowest
		}
		for ky := ay.lo[oy]; ky < ay.hi[oy]; ky++ {
			iy := ay.start[oy] + ky*ay.dil
			row := plane[iy*W : (iy+1)*W]
			for o := range full0 {
				dst[o] = maxPoolTaps(dst[o], row, ax.start[o], ax.lo[o], ax.hi[o], dil)
			}
			if full1 > full0 {
				x0 := ax.start[full0]
				if k == 3 && dil == 1 {
					for o := full0; o < full1; o++ {
						t := row[x0 : x0+3]
						dst[o] = max(dst[o], t[0], t[1], t[2])
						x0 += stride
					}
				} else {
					for o := full0; o < full1; o++ {
						dst[o] = maxPoolTaps(dst[o], row, x0, 0, k, dil)
						x0 += stride
					}
				}
			}
			for o := max(full1, full0); o < ax.out; o++ {
				dst[o] = maxPoolTaps(dst[o], row, ax.start[o], ax.lo[o], ax.hi[o], dil)
			}
		}
	}
}

// maxPoolTaps folds taps lo <= t < hi of the window starting at x0 of row
// into best.
func maxPoolTaps[T float32 | float64 | int64](best T, row []T, x0, lo, hi, dil int) T {
	for t := lo; t < hi; t++ {
		best = max(best, row[x0+t*dil])
	}
	return best
}

func avgPoolRun(c *RunCtx) ([]*tensor.Dense, error) {
	if c.NCHWc != nil {
		return poolNCHWcRun(c, false)
	}
	x, g, shape, err := poolSetup(c)
	if err != nil {
		return nil, err
	}
	if _, err := tensor.NumElems(shape); err != nil {
		return nil, onnx.NodeErrorf(c.Node, "output shape: %w", err)
	}
	includePad := attrInt(c.Node, "count_include_pad", 0) != 0
	y := tensor.New(x.DType, shape...)
	switch x.DType {
	case tensor.Float32, tensor.Float16, tensor.BFloat16:
		if g.flat() {
			poolTaps(tapSum, 0, y.F32, x.F32, g, includePad, c.Threads)
			break
		}
		avgPoolKernel(y.F32, x.F32, g, includePad, c.Threads)
	case tensor.Float64:
		avgPoolKernel(y.F64, x.F64, g, includePad, c.Threads)
	default:
		return nil, unsupportedf(c.Node, "dtype %s", x.DType)
	}
	return []*tensor.Dense{y}, nil
}

// poolTaps is the float32 kernel of 1-D and 2-D average pools, and of max
// pools at column strides above 2 (without MaxPool's indices): a
// tapPlan per goroutine runs each plane's windows with vector
// instructions, over a copy padded with fill (−Inf for max, 0 for the
// sums), or for sums at column strides 1 and 2 a planeWindows with
// weights of one (a fused multiply-add by 1 rounds as the addition), for
// outputs 8 or more wide or any width with the AVX-512 window kernel,
// whose masked tail makes a 7-wide plane a few calls, where a tapPlan's
// copies per row cost twice as much (DenseNet's 512×14×14 pool 191 → 84
// µs). tapSum's sums are then divided by each window's count, as
// avgPoolKernel does: the same float32 additions in the same order (a
// padding tap adds 0), so the averages are those of avgPoolKernel.
func poolTaps(kind tapKind, fill float32, y, x []float32, g *poolGeom, includePad bool, threads int) {
	ay, ax := &g.ax[1], &g.ax[2]
	nIn, nOut := g.inSize(), g.outSize()
	per := max(1, nOut*g.taps)
	// Sums at column strides 1 and 2 go through planeWindows, with
	// weights of one (read-only, shared by the goroutines).
	var ones []float32
	if kind == tapSum && ax.s <= 2 && (ax.out >= 8 || vec.ConvWindowsBlock() >= 64) {
		ones = make([]float32, ay.k*ax.k)
		for i := range ones {
			ones[i] = 1
		}
	}
	// The sums are divided by their windows' counts, the same for every
	// plane, with one vector division a plane (the same IEEE divisions
	// as avgPoolKernel's, which cost more than the sums one at a time).
	var counts []float32
	if kind == tapSum {
		counts = poolCounts(g, includePad)
	}
	geom := windowGeom{kind: kind, fill: fill, h: ay.in, w: ax.in, ho: ay.out, wo: ax.out,
		k: [2]int{ay.k, ax.k}, s: [2]int{ay.s, ax.s}, d: [2]int{ay.dil, ax.dil}, pad: [2]int{ay.pad, ax.pad}}
	parallelFor(threads, g.planes, max(1, (1<<16)/per), func(lo, hi int) {
		var t *tapPlan
		var win *planeWindows
		if ones != nil {
			win = getPlaneWindows(geom)
			defer planeWindowsPool.put(geom, win)
		} else {
			t = getTapPlan(geom)
			defer tapPlanPool.put(geom, t)
		}
		for p := lo; p < hi; p++ {
			out := y[p*nOut : (p+1)*nOut]
			if win != nil {
				win.run(out, x[p*nIn:(p+1)*nIn], ones, 0)
			} else {
				t.run(out, x[p*nIn:(p+1)*nIn])
			}
			if kind == tapSum {
				vec.Div(out, out, counts)
			}
		}
	})
}

// poolCounts returns the number of elements each output window of a
// plane averages (padding included or not), as float32 divisors: 1 for a
// window of padding alone, whose sum is 0, as its average must be.
func poolCounts(g *poolGeom, includePad bool) []float32 {
	ay, ax := &g.ax[1], &g.ax[2]
	counts := make([]float32, ay.out*ax.out)
	for oy := range ay.out {
		for ox := range ax.out {
			cnt := (ay.hi[oy] - ay.lo[oy]) * (ax.hi[ox] - ax.lo[ox])
			if includePad {
				cnt = ay.padC[oy] * ax.padC[ox]
			}
			counts[oy*ax.out+ox] = float32(max(cnt, 1))
		}
	}
	return counts
}

// maxPoolSeparable is the float32 kernel of 1-D and 2-D max pools without
// indices at column strides 1 and 2. The maximum over a window is the
// maximum over its rows of each row's maximum over its columns, so a
// plane is two passes of vec.MaxWindows: down the columns, each output
// row's window rows reduced into one row of a buffer whose columns are
// padded with −Inf on both sides (written once; each plane overwrites
// the interior), then along the rows of that buffer. At 3×3 stride 2
// that is 3 + 3 vector maxima an output instead of 9, over the input in
// place, two kernel calls a plane (where one per row cost more than the
// work).
func maxPoolSeparable(y, x []float32, g *poolGeom, images, threads int) {
	ay, ax := &g.ax[1], &g.ax[2]
	nIn, nOut := g.inSize(), g.outSize()
	W, Ho, Wo := ax.in, ay.out, ax.out
	// The buffer's rows: the left padding, the input row, and room for
	// every window's taps (and the stride-2 pass's one extra element).
	pw := max(ax.pad+W, (Wo-1)*ax.s+(ax.k-1)*ax.dil+1) + ax.s - 1
	hoff := make([]int, ax.k)
	for i := range hoff {
		hoff[i] = i * ax.dil
	}
	voff := make([]int, ay.k)
	for i := range voff {
		voff[i] = i * ay.dil * W
	}
	// Output rows [full0, full1) have every window row inside the input;
	// the others are reduced one at a time over their rows lo..hi.
	full0, full1 := Ho, Ho
	for o := range Ho {
		if ay.lo[o] == 0 && ay.hi[o] == ay.k {
			full0, full1 = min(full0, o), o+1
		}
	}
	lowest := float32(math.Inf(-1))
	// band pools output rows r0..r1 of plane p through buf.
	band := func(p, r0, r1 int, buf []float32) {
		plane := x[p*nIn : (p+1)*nIn]
		if f0, f1 := max(full0, r0), min(full1, r1); f1 > f0 {
			vec.MaxWindows(buf[f0*pw+ax.pad:], pw, plane[ay.start[f0]*W:], ay.s*W, f1-f0, W, voff, 1)
		}
		for oy := r0; oy < r1; oy++ {
			if oy >= full0 && oy < full1 {
				continue
			}
			row := buf[oy*pw+ax.pad : oy*pw+ax.pad+W]
			k0, k1 := ay.lo[oy], ay.hi[oy]
			if k0 >= k1 { // the window holds only padding
				for i := range row {
					row[i] = lowest
				}
				continue
			}
			iy := ay.start[oy] + k0*ay.dil
			vec.MaxWindows(row, 0, plane[iy*W:], 0, 1, W, voff[:k1-k0], 1)
		}
		vec.MaxWindows(y[p*nOut+r0*Wo:], Wo, buf[r0*pw:], pw, r1-r0, Wo, hoff, ax.s)
	}
	newBuf := func() []float32 {
		buf := make([]float32, Ho*pw)
		for i := range buf {
			buf[i] = lowest
		}
		return buf
	}
	per := max(1, nOut*g.taps)
	if images < threads && Ho >= 2*threads && g.planes*per >= 1<<16 {
		// Too few images to go round: each thread takes a band of rows
		// of every plane, the rows a convolution before it left in that
		// thread's cache (its column tiles: convUnits). SqueezeNet's
		// first pool, 64×111×111: 192 -> 140 us in the model.
		parallelFor(threads, threads, 1, func(lo, hi int) {
			buf := newBuf()
			for t := lo; t < hi; t++ {
				r0, r1 := Ho*t/threads, Ho*(t+1)/threads
				for p := range g.planes {
					band(p, r0, r1, buf)
				}
			}
		})
		return
	}
	parallelFor(threads, g.planes, max(1, (1<<16)/per), func(lo, hi int) {
		buf := newBuf()
		for p := lo; p < hi; p++ {
			band(p, 0, Ho, buf)
		}
	})
}

// avgPoolKernel averages each window over the taps inside the input, or,
// with includePad, divides by the taps inside input and padding (not the
// ceil_mode overhang, as in PyTorch).
func avgPoolKernel[T float32 | float64](y, x []T, g *poolGeom, includePad bool, threads int) {
	az, ay, ax := &g.ax[0], &g.ax[1], &g.ax[2]
	nIn, nOut := g.inSize(), g.outSize()
	H, W := ay.in, ax.in
	poolPlanes(g, threads, func(p int) {
		plane := x[p*nIn : (p+1)*nIn]
		out := y[p*nOut : (p+1)*nOut]
		o := 0
		for oz := range az.out {
			for oy := range ay.out {
				for ox := range ax.out {
					var sum T
					for kz := az.lo[oz]; kz < az.hi[oz]; kz++ {
						iz := az.start[oz] + kz*az.dil
						for ky := ay.lo[oy]; ky < ay.hi[oy]; ky++ {
							iy := ay.start[oy] + ky*ay.dil
							row := plane[(iz*H+iy)*W : (iz*H+iy+1)*W]
							for kx := ax.lo[ox]; kx < ax.hi[ox]; kx++ {
								sum += row[ax.start[ox]+kx*ax.dil]
							}
						}
					}
					cnt := (az.hi[oz] - az.lo[oz]) * (ay.hi[oy] - ay.lo[oy]) * (ax.hi[ox] - ax.lo[ox])
					if includePad {
						cnt = az.padC[oz] * ay.padC[oy] * ax.padC[ox]
					}
					if cnt > 0 {
						out[o] = sum / T(cnt)
					}
					o++
				}
			}
		}
	})
}

// ---------------------------------------------------------------------------
// Global pools

func globalPoolInfer(c *InferCtx) ([]onnx.Type, error) {
	x, _ := c.Input(0)
	if !x.HasShape {
		return []onnx.Type{{DType: x.DType}}, nil
	}
	if len(x.Dims) < 2 {
		return nil, shapeError(c.Node, "input %s: want rank of at least 2", x.ShapeString())
	}
	dims := append([]onnx.Dim{}, x.Dims...)
	for i := 2; i < len(dims); i++ {
		dims[i] = onnx.Dim{Value: 1}
	}
	return []onnx.Type{{DType: x.DType, HasShape: true, Dims: dims}}, nil
}

// globalPoolSetup returns X, its output (spatial dims of 1) and the plane
// size.
func globalPoolSetup(c *RunCtx) (x, y *tensor.Dense, size int, err error) {
	x = c.Input(0)
	if x == nil {
		return nil, nil, 0, onnx.NodeErrorf(c.Node, "input X missing")
	}
	if len(x.Shape) < 2 {
		return nil, nil, 0, shapeError(c.Node, "input %v: want rank of at least 2", x.Shape)
	}
	switch x.DType {
	case tensor.Float32, tensor.Float16, tensor.BFloat16, tensor.Float64:
	default:
		return nil, nil, 0, unsupportedf(c.Node, "dtype %s", x.DType)
	}
	shape := append([]int{}, x.Shape...)
	size = 1
	for i := 2; i < len(shape); i++ {
		size *= shape[i]
		shape[i] = 1
	}
	return x, tensor.New(x.DType, shape...), size, nil
}

// globalPoolRows applies reduce to each plane of size floats, in parallel
// for large inputs.
func globalPoolRows[T float32 | float64](y, x []T, size, threads int, reduce func([]T) T) {
	parallelFor(threads, len(y), max(1, (1<<16)/max(1, size)), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			y[p] = reduce(x[p*size : (p+1)*size])
		}
	})
}

func globalAvgPoolRun(c *RunCtx) ([]*tensor.Dense, error) {
	x, y, size, err := globalPoolSetup(c)
	if err != nil {
		return nil, err
	}
	if size == 0 {
		return nil, shapeError(c.Node, "input %v has no spatial elements", x.Shape)
	}
	if x.F32 != nil {
		// Planes in one call per thread (vec.MeanRows): EfficientNet's
		// 7×7 squeeze-excitation pools spent more in a call per plane
		// than in the sums. Split from 4096 floats a thread: the
		// producing convolution left each thread's share of channels in
		// that thread's cache (1280×7×7: 21 -> 12 us).
		parallelFor(c.Threads, len(y.F32), max(1, (1<<12)/size), func(lo, hi int) {
			vec.MeanRows(y.F32[lo:hi], x.F32[lo*size:hi*size], size)
		})
	} else {
		globalPoolRows(y.F64, x.F64, size, c.Threads, func(v []float64) float64 {
			return reduceSumOf(v) / float64(len(v))
		})
	}
	return []*tensor.Dense{y}, nil
}

func globalMaxPoolRun(c *RunCtx) ([]*tensor.Dense, error) {
	x, y, size, err := globalPoolSetup(c)
	if err != nil {
		return nil, err
	}
	if size == 0 {
		return nil, shapeError(c.Node, "input %v has no spatial elements", x.Shape)
	}
	if x.F32 != nil {
		globalPoolRows(y.F32, x.F32, size, c.Threads, func(v []float32) float32 {
			m := v[0]
			for _, e := range v[1:] {
				m = max(m, e)
			}
			return m
		})
	} else {
		globalPoolRows(y.F64, x.F64, size, c.Threads, func(v []float64) float64 {
			m := v[0]
			for _, e := range v[1:] {
				m = max(m, e)
			}
			return m
		})
	}
	return []*tensor.Dense{y}, nil
}
