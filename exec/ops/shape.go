package ops

import (
	"math"
	"slices"

	"github.com/graft-ml/graft/exec/internal/vec"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Shape family: ops that move data without arithmetic (Reshape, Flatten,
// Transpose, Concat, Split, Slice, Gather, Unsqueeze, Squeeze, Shape,
// Expand, Pad, Tile).
//
// PyTorch exports flatten and view as Shape → Gather → Unsqueeze → Concat →
// Reshape, so these ops also carry symbolic contents (InferCtx.Sym) for
// small integer tensors: Shape turns a tensor's dims into contents, the
// others pass or rearrange contents, and Reshape/Expand read them back as
// output dims.
//
// Contents entries are integer values, not sizes: Dim.Value is the element
// itself, negative values included (the -1 of a Reshape target stays -1).
// That leaves no plain Dim for "unknown value", so an entry whose value is
// unknown carries Param shapeUnknown, which never equals anything.

func init() {
	register(
		&Op{Name: "Reshape", Since: 5, Infer: reshapeInfer, Run: reshapeRun, Symbolic: shapePassSymbolic},
		&Op{Name: "Flatten", Since: 1, Infer: flattenInfer, Run: flattenRun, Symbolic: shapePassSymbolic},
		&Op{Name: "Transpose", Since: 1, Infer: transposeInfer, Run: transposeRun},
		&Op{Name: "Concat", Since: 4, Infer: concatInfer, Run: concatRun, Symbolic: concatSymbolic},
		&Op{Name: "Split", Since: 2, Infer: splitInfer, Run: splitRun},
		&Op{Name: "Slice", Since: 1, Infer: sliceInfer, Run: sliceRun, Symbolic: sliceSymbolic},
		&Op{Name: "Gather", Since: 1, Infer: gatherInfer, Run: gatherRun, Symbolic: gatherSymbolic},
		&Op{Name: "Unsqueeze", Since: 1, Infer: unsqueezeInfer, Run: unsqueezeRun, Symbolic: shapePassSymbolic},
		&Op{Name: "Squeeze", Since: 1, Infer: squeezeInfer, Run: squeezeRun, Symbolic: shapePassSymbolic},
		&Op{Name: "Shape", Since: 1, Infer: shapeInfer, Run: shapeRun, Symbolic: shapeSymbolic},
		&Op{Name: "Expand", Since: 8, Infer: expandInfer, Run: expandRun},
		&Op{Name: "Pad", Since: 2, Infer: padInfer, Run: padRun},
		&Op{Name: "Tile", Since: 6, Infer: tileInfer, Run: tileRun},
	)
}

// shapeUnknown is the Param of a contents entry whose value is unknown.
const shapeUnknown = "?"

// shapeMaxContents bounds the constants read as contents: shape tensors
// are tiny, and converting a large constant would only waste memory.
const shapeMaxContents = 1 << 12

// ---------------------------------------------------------------------------
// Inference helpers

// shapeContents returns input i's contents as dims when they are known,
// from Sym or from a small integer constant; nil otherwise.
func shapeContents(c *InferCtx, i int) []onnx.Dim {
	if i < len(c.Sym) && c.Sym[i] != nil {
		return c.Sym[i]
	}
	t := c.ConstInput(i)
	if t == nil || t.Len() > shapeMaxContents {
		return nil
	}
	if k, ok := shapeStore(t.DType); !ok || k != shapeI64 {
		return nil
	}
	out := make([]onnx.Dim, len(t.I64))
	for j, v := range t.I64 {
		out[j] = onnx.Dim{Value: v}
	}
	return out
}

// shapeInts returns input i's contents as integers when all are concrete.
func shapeInts(c *InferCtx, i int) ([]int64, bool) {
	d := shapeContents(c, i)
	if d == nil {
		return nil, false
	}
	out := make([]int64, len(d))
	for j, e := range d {
		if e.Param != "" {
			return nil, false
		}
		out[j] = e.Value
	}
	return out, true
}

// shapeSizeDim reads a contents entry as a dimension size.
func shapeSizeDim(e onnx.Dim) onnx.Dim {
	if e.Param == shapeUnknown || (e.Param == "" && e.Value < 0) {
		return onnx.UnknownDim
	}
	return e
}

// shapeUnknownDims returns rank unknown dims.
func shapeUnknownDims(rank int) []onnx.Dim {
	d := make([]onnx.Dim, rank)
	for i := range d {
		d[i] = onnx.UnknownDim
	}
	return d
}

// shapeVectorLen returns the static length of input i when it is a 1-D
// tensor of known size, or -1.
func shapeVectorLen(c *InferCtx, i int) int {
	t, _ := c.Input(i)
	if t.HasShape && len(t.Dims) == 1 && t.Dims[0].Known() {
		return int(t.Dims[0].Value)
	}
	if d := shapeContents(c, i); d != nil {
		return len(d)
	}
	return -1
}

// shapeDimProduct multiplies dims: a known product, a single symbol when
// all other dims are 1, or unknown.
func shapeDimProduct(dims []onnx.Dim) onnx.Dim {
	p := int64(1)
	var sym onnx.Dim
	for _, d := range dims {
		switch {
		case d.Known():
			p *= d.Value
		case d.Param != "" && sym.Param == "":
			sym = d
		default:
			return onnx.UnknownDim
		}
	}
	if sym.Param != "" {
		if p == 1 {
			return sym
		}
		if p == 0 {
			return onnx.Dim{Value: 0}
		}
		return onnx.UnknownDim
	}
	return onnx.Dim{Value: p}
}

// shapePassSymbolic carries contents through ops that keep elements in
// order (Reshape, Flatten, Squeeze, Unsqueeze).
func shapePassSymbolic(c *InferCtx) []onnx.Dim {
	d := shapeContents(c, 0)
	if d == nil {
		return nil
	}
	return append(make([]onnx.Dim, 0, len(d)), d...)
}

// shapeAxes returns the axes of an op that takes them as an attribute
// before opset since and as input i from then on; ok is false when the
// input exists but its contents are unknown.
func shapeAxes(c *InferCtx, since, i int) (axes []int64, ok bool) {
	if c.Opset < since {
		return attrInts(c.Node, "axes"), true
	}
	if _, present := c.Input(i); !present {
		return nil, true
	}
	return shapeInts(c, i)
}

// shapeNormAxes normalizes axes against rank and rejects duplicates.
func shapeNormAxes(n *onnx.Node, axes []int64, rank int) ([]int, error) {
	out := make([]int, len(axes))
	seen := make([]bool, rank)
	for i, a := range axes {
		ax, err := normAxis(n, a, rank)
		if err != nil {
			return nil, err
		}
		if seen[ax] {
			return nil, shapeError(n, "axis %d repeated in %v", a, axes)
		}
		seen[ax] = true
		out[i] = ax
	}
	return out, nil
}

// ---------------------------------------------------------------------------
// Run helpers

// Storage kinds of tensor.Dense.
const (
	shapeF32 = iota
	shapeF64
	shapeI64
)

// shapeStore returns which storage slice holds a dtype's elements.
func shapeStore(dt tensor.DType) (int, bool) {
	switch dt {
	case tensor.Float32, tensor.Float16, tensor.BFloat16:
		return shapeF32, true
	case tensor.Float64:
		return shapeF64, true
	case tensor.Undefined, tensor.String:
		return 0, false
	}
	return shapeI64, dt.Supported()
}

// shapeNew allocates an output, checking the shape and dtype first so that
// bad user input is an error rather than a panic in tensor.New.
func shapeNew(n *onnx.Node, dt tensor.DType, shape []int) (*tensor.Dense, error) {
	if _, ok := shapeStore(dt); !ok {
		return nil, unsupportedf(n, "dtype %s", dt)
	}
	if err := tensor.CheckAlloc(dt, shape); err != nil {
		return nil, onnx.NodeErrorf(n, "output: %w", err)
	}
	return tensor.New(dt, shape...), nil
}

// shapeInput returns input i, or an error if it is missing.
func shapeInput(c *RunCtx, i int) (*tensor.Dense, error) {
	x := c.Input(i)
	if x == nil {
		return nil, onnx.NodeErrorf(c.Node, "input %d missing", i)
	}
	if _, ok := shapeStore(x.DType); !ok {
		return nil, unsupportedf(c.Node, "input %d dtype %s", i, x.DType)
	}
	return x, nil
}

// shapeRunInts reads an optional integer input of rank 0 or 1 (axes,
// starts, pads, ...); absent inputs give nil, false.
func shapeRunInts(c *RunCtx, i int, what string) ([]int64, bool, error) {
	t := c.Input(i)
	if t == nil {
		return nil, false, nil
	}
	if k, ok := shapeStore(t.DType); !ok || k != shapeI64 {
		return nil, false, onnx.NodeErrorf(c.Node, "%s: want an integer tensor, got %s", what, t.DType)
	}
	if t.Rank() > 1 {
		return nil, false, onnx.NodeErrorf(c.Node, "%s: want a 1-D tensor, got shape %v", what, t.Shape)
	}
	return t.I64, true, nil
}

// shapeRunNeeded is shapeRunInts for an input the op cannot do without.
func shapeRunNeeded(c *RunCtx, i int, what string) ([]int64, error) {
	v, ok, err := shapeRunInts(c, i, what)
	if err == nil && !ok {
		err = onnx.NodeErrorf(c.Node, "%s input missing", what)
	}
	return v, err
}

// shapeRunAxes returns axes from the attribute before opset since and from
// input i from then on.
func shapeRunAxes(c *RunCtx, since, i int) ([]int64, error) {
	if c.Opset < since {
		return attrInts(c.Node, "axes"), nil
	}
	axes, _, err := shapeRunInts(c, i, "axes")
	return axes, err
}

// shapeProd multiplies sizes.
func shapeProd(s []int) int {
	p := 1
	for _, d := range s {
		p *= d
	}
	return p
}

// shapeView returns x's elements under a new shape without copying them:
// Reshape, Flatten, Squeeze and Unsqueeze only relabel a contiguous
// buffer. The executor counts the holders of each storage, so a view's
// storage goes back to the allocator only when the last holder dies, and
// a view of a constant reaches a caller as a copy.
func shapeView(x *tensor.Dense, shape []int) *tensor.Dense {
	return x.Reshaped(shape)
}

// shapePlan is a strided copy: for every index tuple i within shape,
// dst[dOff + Σ i·dst] = src[sOff + Σ i·src]. Transpose, Slice, Expand
// and constant Pad are all one plan each.
type shapePlan struct {
	shape      []int
	dst, src   []int
	dOff, sOff int
}

// simplify drops unit axes and merges neighbours that are contiguous in
// both buffers, so the loops run over as few and as long rows as possible.
// It reports whether the copy is empty.
func (p *shapePlan) simplify() bool {
	var sh, ds, ss []int
	for i, n := range p.shape {
		if n == 0 {
			return true
		}
		if n == 1 {
			continue
		}
		if k := len(sh) - 1; k >= 0 && ds[k] == p.dst[i]*n && ss[k] == p.src[i]*n {
			sh[k] *= n
			ds[k], ss[k] = p.dst[i], p.src[i]
			continue
		}
		sh = append(sh, n)
		ds = append(ds, p.dst[i])
		ss = append(ss, p.src[i])
	}
	p.shape, p.dst, p.src = sh, ds, ss
	return false
}

// shapeTile and shapeTileCols are the block sizes of the cache-blocked
// transpose (rows read contiguously, columns written contiguously).
const (
	shapeTile     = 32
	shapeTileCols = 32
)

// shapeRunPlan executes p from x's storage into out's.
func shapeRunPlan(out, x *tensor.Dense, p shapePlan, threads int) {
	switch k, _ := shapeStore(out.DType); k {
	case shapeF32:
		shapeCopy(out.F32, x.F32, p, threads)
	case shapeF64:
		shapeCopy(out.F64, x.F64, p, threads)
	default:
		shapeCopy(out.I64, x.I64, p, threads)
	}
}

func shapeCopy[T any](dst, src []T, p shapePlan, threads int) {
	if p.simplify() {
		return
	}
	r := len(p.shape)
	if r == 0 {
		dst[p.dOff] = src[p.sOff]
		return
	}
	// A transposition of the two innermost axes reads columns; blocking
	// keeps both sides in cache.
	if r >= 2 && p.dst[r-1] == 1 && p.src[r-2] == 1 && p.src[r-1] != 1 &&
		p.shape[r-1] >= shapeTile/4 && p.shape[r-2] >= shapeTile/4 {
		shapeCopyTiled(dst, src, p, threads)
		return
	}
	n, ds, ss := p.shape[r-1], p.dst[r-1], p.src[r-1]
	outer := p.shape[:r-1]
	rows := shapeProd(outer)
	parallelFor(threads, rows, max(1, (1<<15)/n), func(lo, hi int) {
		idx := make([]int, len(outer))
		do, so := p.dOff, p.sOff
		rem := lo
		for k := len(outer) - 1; k >= 0; k-- {
			idx[k] = rem % outer[k]
			rem /= outer[k]
			do += idx[k] * p.dst[k]
			so += idx[k] * p.src[k]
		}
		for row := lo; row < hi; row++ {
			shapeCopyRow(dst, src, do, so, n, ds, ss)
			for k := len(outer) - 1; k >= 0; k-- {
				idx[k]++
				do += p.dst[k]
				so += p.src[k]
				if idx[k] < outer[k] {
					break
				}
				idx[k] = 0
				do -= p.dst[k] * outer[k]
				so -= p.src[k] * outer[k]
			}
		}
	})
}

// shapeCopyRow copies n elements with the given strides.
func shapeCopyRow[T any](dst, src []T, do, so, n, ds, ss int) {
	switch {
	case ds == 1 && ss == 1:
		copy(dst[do:do+n], src[so:so+n])
	case ds == 1 && ss == 0:
		v := src[so]
		d := dst[do : do+n]
		for i := range d {
			d[i] = v
		}
	case ds == 1:
		d := dst[do : do+n]
		for i := range d {
			d[i] = src[so]
			so += ss
		}
	default:
		for range n {
			dst[do] = src[so]
			do += ds
			so += ss
		}
	}
}

// shapeCopyTiled runs a plan whose two innermost axes are transposed: the
// last is contiguous in dst, the one before it contiguous in src.
func shapeCopyTiled[T any](dst, src []T, p shapePlan, threads int) {
	r := len(p.shape)
	rowsN, cols := p.shape[r-2], p.shape[r-1]
	dRow, sCol := p.dst[r-2], p.src[r-1]
	outer := p.shape[:r-2]
	blocks := (rowsN + shapeTile - 1) / shapeTile
	units := shapeProd(outer) * blocks
	parallelFor(threads, units, max(1, (1<<15)/(shapeTile*cols)), func(lo, hi int) {
		for u := lo; u < hi; u++ {
			o, b := u/blocks, u%blocks
			do, so := p.dOff, p.sOff
			for k := len(outer) - 1; k >= 0; k-- {
				i := o % outer[k]
				o /= outer[k]
				do += i * p.dst[k]
				so += i * p.src[k]
			}
			i0, i1 := b*shapeTile, min((b+1)*shapeTile, rowsN)
			for j0 := 0; j0 < cols; j0 += shapeTileCols {
				j1 := min(j0+shapeTileCols, cols)
				i := i0
				// Eight output rows at a time: each strided read fetches
				// eight contiguous source elements, one per row.
				for ; i+8 <= i1; i += 8 {
					r := do + i*dRow + j0
					d0 := dst[r : r+j1-j0]
					d1 := dst[r+dRow:][:len(d0)]
					d2 := dst[r+2*dRow:][:len(d0)]
					d3 := dst[r+3*dRow:][:len(d0)]
					d4 := dst[r+4*dRow:][:len(d0)]
					d5 := dst[r+5*dRow:][:len(d0)]
					d6 := dst[r+6*dRow:][:len(d0)]
					d7 := dst[r+7*dRow:][:len(d0)]
					s := so + i + j0*sCol
					for j := range d0 {
						v := src[s : s+8]
						d0[j], d1[j], d2[j], d3[j] = v[0], v[1], v[2], v[3]
						d4[j], d5[j], d6[j], d7[j] = v[4], v[5], v[6], v[7]
						s += sCol
					}
				}
				for ; i < i1; i++ {
					d := dst[do+i*dRow+j0 : do+i*dRow+j1]
					s := so + i + j0*sCol
					for j := range d {
						d[j] = src[s]
						s += sCol
					}
				}
			}
		}
	})
}

// ---------------------------------------------------------------------------
// Reshape

// reshapeAllowZero reports whether a 0 in the target is a literal size
// rather than a copy of the input dim (opset 14's allowzero).
func reshapeAllowZero(opset int, n *onnx.Node) bool {
	return opset >= 14 && attrInt(n, "allowzero", 0) != 0
}

func reshapeInfer(c *InferCtx) ([]onnx.Type, error) {
	n := c.Node
	x, _ := c.Input(0)
	out := onnx.Type{DType: x.DType}
	target := shapeContents(c, 1)
	if target == nil {
		if k := shapeVectorLen(c, 1); k >= 0 {
			out.HasShape, out.Dims = true, shapeUnknownDims(k)
		}
		return []onnx.Type{out}, nil
	}
	allowZero := reshapeAllowZero(c.Opset, n)
	dims := make([]onnx.Dim, len(target))
	infer := -1
	for i, e := range target {
		switch {
		case e.Param != "":
			dims[i] = shapeSizeDim(e)
		case e.Value == -1:
			if infer >= 0 {
				return nil, shapeError(n, "shape %v has more than one -1", target)
			}
			infer = i
		case e.Value < -1:
			return nil, shapeError(n, "shape %v: invalid size %d", target, e.Value)
		case e.Value == 0 && !allowZero:
			switch {
			case !x.HasShape:
				dims[i] = onnx.UnknownDim
			case i >= len(x.Dims):
				return nil, shapeError(n, "shape %v copies dim %d of a rank-%d input", target, i, len(x.Dims))
			default:
				dims[i] = x.Dims[i]
			}
		default:
			dims[i] = e
		}
	}
	if infer >= 0 {
		d, err := reshapeSolve(n, x, dims, infer)
		if err != nil {
			return nil, err
		}
		dims[infer] = d
	} else if in, ok := x.Static(); ok {
		want := onnx.Type{HasShape: true, Dims: dims}
		if s, ok := want.Static(); ok && shapeProd(s) != shapeProd(in) {
			return nil, shapeError(n, "cannot reshape %s to %s", x.ShapeString(), want.ShapeString())
		}
	}
	out.HasShape, out.Dims = true, dims
	return []onnx.Type{out}, nil
}

// reshapeSolve infers the -1 entry of a reshape target: the input's size
// divided by the other target dims, after cancelling symbols that appear
// on both sides ([batch,512,1,1] to [batch,-1] gives 512).
func reshapeSolve(n *onnx.Node, x onnx.Type, dims []onnx.Dim, at int) (onnx.Dim, error) {
	if !x.HasShape {
		return onnx.UnknownDim, nil
	}
	syms := map[string]int{}
	inProd := int64(1)
	for _, d := range x.Dims {
		switch {
		case d.Known():
			inProd *= d.Value
		case d.Param != "":
			syms[d.Param]++
		default:
			return onnx.UnknownDim, nil
		}
	}
	outProd := int64(1)
	for i, d := range dims {
		switch {
		case i == at:
		case d.Known():
			outProd *= d.Value
		case d.Param != "" && syms[d.Param] > 0:
			syms[d.Param]--
		default:
			return onnx.UnknownDim, nil
		}
	}
	var left []string
	for s, k := range syms {
		for range k {
			left = append(left, s)
		}
	}
	switch {
	case outProd == 0:
		if len(left) == 0 && inProd == 0 {
			return onnx.Dim{}, shapeError(n, "cannot infer -1 when other dims are 0")
		}
		return onnx.UnknownDim, nil
	case inProd%outProd != 0:
		if len(left) == 0 {
			return onnx.Dim{}, shapeError(n, "cannot reshape %s: %d elements are not a multiple of %d", x.ShapeString(), inProd, outProd)
		}
		return onnx.UnknownDim, nil
	case len(left) == 0:
		return onnx.Dim{Value: inProd / outProd}, nil
	case len(left) == 1 && inProd == outProd:
		return onnx.Dim{Param: left[0]}, nil
	}
	return onnx.UnknownDim, nil
}

func reshapeRun(c *RunCtx) ([]*tensor.Dense, error) {
	n := c.Node
	x, err := shapeInput(c, 0)
	if err != nil {
		return nil, err
	}
	target, err := shapeRunNeeded(c, 1, "shape")
	if err != nil {
		return nil, err
	}
	shape, err := reshapeShape(n, x.Shape, target, reshapeAllowZero(c.Opset, n))
	if err != nil {
		return nil, err
	}
	return []*tensor.Dense{shapeView(x, shape)}, nil
}

// reshapeShape resolves a Reshape target against a concrete input shape.
func reshapeShape(n *onnx.Node, in []int, target []int64, allowZero bool) ([]int, error) {
	total := shapeProd(in)
	shape := make([]int, len(target))
	infer := -1
	prod := 1
	for i, v := range target {
		switch {
		case v == -1:
			if infer >= 0 {
				return nil, shapeError(n, "shape %v has more than one -1", target)
			}
			infer = i
			continue
		case v < -1 || v > math.MaxInt32*int64(math.MaxInt32):
			return nil, shapeError(n, "shape %v: invalid size %d", target, v)
		case v == 0 && !allowZero:
			if i >= len(in) {
				return nil, shapeError(n, "shape %v copies dim %d of a rank-%d input", target, i, len(in))
			}
			shape[i] = in[i]
		default:
			shape[i] = int(v)
		}
		if _, err := tensor.NumElems([]int{prod, shape[i]}); err != nil {
			return nil, shapeError(n, "shape %v: %v", target, err)
		}
		prod *= shape[i]
	}
	if infer >= 0 {
		if prod == 0 || total%prod != 0 {
			return nil, shapeError(n, "cannot reshape %v to %v", in, target)
		}
		shape[infer] = total / prod
		prod = total
	}
	if prod != total {
		return nil, shapeError(n, "cannot reshape %v (%d elements) to %v", in, total, shape)
	}
	return shape, nil
}

// ---------------------------------------------------------------------------
// Flatten

func flattenInfer(c *InferCtx) ([]onnx.Type, error) {
	x, _ := c.Input(0)
	out := onnx.Type{DType: x.DType}
	if !x.HasShape {
		out.HasShape, out.Dims = true, shapeUnknownDims(2)
		return []onnx.Type{out}, nil
	}
	axis, err := flattenAxis(c.Node, len(x.Dims))
	if err != nil {
		return nil, err
	}
	out.HasShape = true
	out.Dims = []onnx.Dim{shapeDimProduct(x.Dims[:axis]), shapeDimProduct(x.Dims[axis:])}
	return []onnx.Type{out}, nil
}

// flattenAxis returns Flatten's split point in [0, rank].
func flattenAxis(n *onnx.Node, rank int) (int, error) {
	axis := attrInt(n, "axis", 1)
	if axis < 0 {
		axis += int64(rank)
	}
	if axis < 0 || axis > int64(rank) {
		return 0, shapeError(n, "axis %d out of range for rank %d", attrInt(n, "axis", 1), rank)
	}
	return int(axis), nil
}

func flattenRun(c *RunCtx) ([]*tensor.Dense, error) {
	x, err := shapeInput(c, 0)
	if err != nil {
		return nil, err
	}
	axis, err := flattenAxis(c.Node, x.Rank())
	if err != nil {
		return nil, err
	}
	return []*tensor.Dense{shapeView(x, []int{shapeProd(x.Shape[:axis]), shapeProd(x.Shape[axis:])})}, nil
}

// ---------------------------------------------------------------------------
// Transpose

// transposePerm returns the permutation for a rank, defaulting to reversal.
func transposePerm(n *onnx.Node, rank int) ([]int, error) {
	p := attrInts(n, "perm")
	if p == nil {
		out := make([]int, rank)
		for i := range out {
			out[i] = rank - 1 - i
		}
		return out, nil
	}
	if len(p) != rank {
		return nil, shapeError(n, "perm %v has %d entries for a rank-%d input", p, len(p), rank)
	}
	return shapeNormAxes(n, p, rank)
}

func transposeInfer(c *InferCtx) ([]onnx.Type, error) {
	x, _ := c.Input(0)
	out := onnx.Type{DType: x.DType}
	if !x.HasShape {
		if p := attrInts(c.Node, "perm"); p != nil {
			out.HasShape, out.Dims = true, shapeUnknownDims(len(p))
		}
		return []onnx.Type{out}, nil
	}
	perm, err := transposePerm(c.Node, len(x.Dims))
	if err != nil {
		return nil, err
	}
	out.HasShape = true
	out.Dims = make([]onnx.Dim, len(perm))
	for i, p := range perm {
		out.Dims[i] = x.Dims[p]
	}
	return []onnx.Type{out}, nil
}

func transposeRun(c *RunCtx) ([]*tensor.Dense, error) {
	x, err := shapeInput(c, 0)
	if err != nil {
		return nil, err
	}
	perm, err := transposePerm(c.Node, x.Rank())
	if err != nil {
		return nil, err
	}
	shape := make([]int, len(perm))
	src := make([]int, len(perm))
	st := tensor.Strides(x.Shape)
	for i, p := range perm {
		shape[i], src[i] = x.Shape[p], st[p]
	}
	out := tensor.NewUninit(x.DType, shape...) // the plan writes every element
	// The plan's simplify merges axes that stay adjacent (NCHW→NHWC
	// becomes a batch of [C,HW] transposes, [B,S,H,D]→[B,H,S,D] a gather
	// of D-long rows), so the common cases need no special code here.
	shapeRunPlan(out, x, shapePlan{shape: shape, dst: tensor.Strides(shape), src: src}, c.Threads)
	return []*tensor.Dense{out}, nil
}

// ---------------------------------------------------------------------------
// Concat

func concatAxisAttr(n *onnx.Node) (int64, error) {
	a := n.Attr("axis")
	if a == nil {
		return 0, shapeError(n, "attribute axis missing")
	}
	return a.I, nil
}

func concatInfer(c *InferCtx) ([]onnx.Type, error) {
	n := c.Node
	if len(n.Inputs) == 0 {
		return nil, shapeError(n, "no inputs")
	}
	a, err := concatAxisAttr(n)
	if err != nil {
		return nil, err
	}
	var out onnx.Type
	rank := -1
	for i := range n.Inputs {
		t, _ := c.Input(i)
		if out.DType == tensor.Undefined {
			out.DType = t.DType
		}
		if t.HasShape && rank < 0 {
			rank = len(t.Dims)
		}
	}
	if rank < 0 {
		return []onnx.Type{out}, nil
	}
	axis, err := normAxis(n, a, rank)
	if err != nil {
		return nil, err
	}
	dims := shapeUnknownDims(rank)
	var parts []onnx.Dim
	for i := range n.Inputs {
		t, _ := c.Input(i)
		if !t.HasShape {
			parts = append(parts, onnx.UnknownDim)
			continue
		}
		if len(t.Dims) != rank {
			return nil, shapeError(n, "inputs of ranks %d and %d", rank, len(t.Dims))
		}
		for j, d := range t.Dims {
			if j == axis {
				parts = append(parts, d)
				continue
			}
			o := dims[j]
			switch {
			case d.Known() && o.Known() && d != o:
				return nil, shapeError(n, "input %d has shape %s, mismatched on axis %d", i, t.ShapeString(), j)
			case d.Known(), o == onnx.UnknownDim:
				dims[j] = d
			}
		}
	}
	dims[axis] = concatSum(parts)
	out.HasShape, out.Dims = true, dims
	return []onnx.Type{out}, nil
}

// concatSum adds dims: known sizes add, one symbol plus zeros stays that
// symbol, anything else is unknown.
func concatSum(ds []onnx.Dim) onnx.Dim {
	var sum int64
	var sym onnx.Dim
	for _, d := range ds {
		switch {
		case d.Known():
			sum += d.Value
		case d.Param != "" && sym.Param == "":
			sym = d
		default:
			return onnx.UnknownDim
		}
	}
	if sym.Param != "" {
		if sum == 0 {
			return sym
		}
		return onnx.UnknownDim
	}
	return onnx.Dim{Value: sum}
}

func concatSymbolic(c *InferCtx) []onnx.Dim {
	out := []onnx.Dim{}
	for i := range c.Node.Inputs {
		t, _ := c.Input(i)
		if t.HasShape && len(t.Dims) != 1 {
			return nil
		}
		d := shapeContents(c, i)
		if d == nil {
			return nil
		}
		out = append(out, d...)
	}
	return out
}

func concatRun(c *RunCtx) ([]*tensor.Dense, error) {
	if c.NCHWc != nil {
		return concatNCHWcRun(c)
	}
	n := c.Node
	if len(c.In) == 0 {
		return nil, shapeError(n, "no inputs")
	}
	a, err := concatAxisAttr(n)
	if err != nil {
		return nil, err
	}
	ins := make([]*tensor.Dense, len(c.In))
	for i := range c.In {
		if ins[i], err = shapeInput(c, i); err != nil {
			return nil, err
		}
	}
	first := ins[0]
	axis, err := normAxis(n, a, first.Rank())
	if err != nil {
		return nil, err
	}
	shape := append([]int{}, first.Shape...)
	shape[axis] = 0
	blocks := make([]int, len(ins))
	inner := shapeProd(first.Shape[axis+1:])
	for i, t := range ins {
		if t.DType != first.DType {
			return nil, shapeError(n, "input %d is %s, input 0 %s", i, t.DType, first.DType)
		}
		if t.Rank() != len(shape) {
			return nil, shapeError(n, "input %d has shape %v, input 0 %v", i, t.Shape, first.Shape)
		}
		for j, d := range t.Shape {
			if j != axis && d != shape[j] {
				return nil, shapeError(n, "input %d has shape %v, input 0 %v", i, t.Shape, first.Shape)
			}
		}
		shape[axis] += t.Shape[axis]
		blocks[i] = t.Shape[axis] * inner
	}
	if c.Clamp != nil {
		return concatNormRun(c, ins, axis, shape)
	}
	out := tensor.NewUninit(first.DType, shape...) // every element is copied in
	outer := shapeProd(shape[:axis])
	if k, _ := shapeStore(out.DType); k == shapeF32 && outer < c.Threads && inner >= concatBandMin {
		concatBands(out.F32, shapeSlices(ins, func(t *tensor.Dense) []float32 { return t.F32 }), blocks, inner, outer, c.Threads)
		return []*tensor.Dense{out}, nil
	}
	concatInto(out, ins, blocks, outer, c.Threads)
	return []*tensor.Dense{out}, nil
}

// concatBandMin is the shortest plane (elements after the axis) that
// concatBands cuts into bands.
const concatBandMin = 256

// concatBands is concatKernel for fewer outer indices (images) than
// threads: thread t copies band t of every plane of every input (planes
// inner long), the part of each feature map that the convolutions before
// it computed on that thread (their column tiles) and left in its cache,
// where one thread copying everything read half of it from the other
// core's (SqueezeNet's eight Concats: 0.43 -> 0.38 ms a run).
func concatBands(dst []float32, srcs [][]float32, blocks []int, inner, outer, threads int) {
	row := 0
	for _, b := range blocks {
		row += b
	}
	parallelFor(threads, threads, 1, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			j0, j1 := inner*t/threads, inner*(t+1)/threads
			for o := range outer {
				pos := o * row
				for i, s := range srcs {
					b := blocks[i]
					src := s[o*b : (o+1)*b]
					for p := 0; p < b; p += inner {
						copy(dst[pos+p+j0:pos+p+j1], src[p+j0:p+j1])
					}
					pos += b
				}
			}
		}
	})
}

// concatNormRun is a Concat along channels with the BatchNormalization
// that reads its output (and that one's Relu or Clip) fused in
// (Clamp.Norm): each input plane is mapped on its way into the output,
// as the BatchNormalization kernel maps it, in one pass over the data
// instead of two or three (DenseNet's layers normalize the concatenation
// of every earlier layer's features).
func concatNormRun(c *RunCtx, ins []*tensor.Dense, axis int, shape []int) ([]*tensor.Dense, error) {
	nm := c.Clamp.Norm
	if nm == nil || axis != 1 || ins[0].DType != tensor.Float32 || shape[1] != len(nm.Mul) {
		return nil, shapeError(c.Node, "output %v does not fit the fused BatchNormalization", shape)
	}
	ch, size := shape[1], shapeProd(shape[2:])
	// Output channel k is channel k−first[t] of input t = owner[k].
	owner, first := make([]int, ch), make([]int, len(ins))
	k := 0
	for t, in := range ins {
		first[t] = k
		for range in.Shape[1] {
			owner[k] = t
			k++
		}
	}
	lo, hi := c.Clamp.Lo, c.Clamp.Hi
	bounded := !math.IsInf(float64(lo), -1) || !math.IsInf(float64(hi), 1)
	out := tensor.NewUninit(tensor.Float32, shape...) // every plane is written
	normPlanes(shape[0]*ch, size, c.Threads, func(pl int) {
		b, k := pl/ch, pl%ch
		in := ins[owner[k]]
		j := b*in.Shape[1] + k - first[owner[k]]
		dst := out.F32[pl*size : (pl+1)*size]
		vec.ScaleShift(dst, in.F32[j*size:(j+1)*size], nm.Mul[k], nm.Add[k])
		if bounded {
			vec.Clamp(dst, dst, lo, hi)
		}
	})
	return []*tensor.Dense{out}, nil
}

// concatInto writes ins into out along an axis: per outer index, blocks[i]
// elements of each input in turn.
func concatInto(out *tensor.Dense, ins []*tensor.Dense, blocks []int, outer, threads int) {
	switch k, _ := shapeStore(out.DType); k {
	case shapeF32:
		concatKernel(out.F32, shapeSlices(ins, func(t *tensor.Dense) []float32 { return t.F32 }), blocks, outer, threads)
	case shapeF64:
		concatKernel(out.F64, shapeSlices(ins, func(t *tensor.Dense) []float64 { return t.F64 }), blocks, outer, threads)
	default:
		concatKernel(out.I64, shapeSlices(ins, func(t *tensor.Dense) []int64 { return t.I64 }), blocks, outer, threads)
	}
}

// shapeSlices collects one storage slice from each tensor.
func shapeSlices[T any](ts []*tensor.Dense, get func(*tensor.Dense) []T) [][]T {
	out := make([][]T, len(ts))
	for i, t := range ts {
		out[i] = get(t)
	}
	return out
}

// concatKernel interleaves blocks[i]-long runs of each source per outer
// index; split is the same walk in the other direction.
func concatKernel[T any](dst []T, srcs [][]T, blocks []int, outer, threads int) {
	row := 0
	for _, b := range blocks {
		row += b
	}
	parallelFor(threads, outer, max(1, (1<<16)/max(row, 1)), func(lo, hi int) {
		for o := lo; o < hi; o++ {
			pos := o * row
			for i, s := range srcs {
				b := blocks[i]
				copy(dst[pos:pos+b], s[o*b:(o+1)*b])
				pos += b
			}
		}
	})
}

// ---------------------------------------------------------------------------
// Split

// splitSizes returns the output sizes along the split axis from an
// explicit split, or by dividing the axis evenly; dim < 0 (unknown at
// inference time) gives nil sizes unless split is explicit.
func splitSizes(n *onnx.Node, opset int, split []int64, haveSplit bool, dim int64) ([]int64, error) {
	outs := len(n.Outputs)
	if haveSplit {
		if len(split) != outs {
			return nil, shapeError(n, "split %v has %d entries for %d outputs", split, len(split), outs)
		}
		var sum int64
		for _, s := range split {
			if s < 0 {
				return nil, shapeError(n, "split %v has a negative size", split)
			}
			sum += s
		}
		if dim >= 0 && sum != dim {
			return nil, shapeError(n, "split %v sums to %d, axis has %d", split, sum, dim)
		}
		return split, nil
	}
	parts := int64(outs)
	if opset >= 18 {
		if a := n.Attr("num_outputs"); a != nil {
			parts = a.I
			if parts != int64(outs) {
				return nil, shapeError(n, "num_outputs %d but %d outputs", parts, outs)
			}
		}
	}
	if parts <= 0 {
		return nil, shapeError(n, "no outputs")
	}
	if dim < 0 {
		return nil, nil
	}
	size := dim / parts
	if dim%parts != 0 {
		// Opset 18 allows an uneven split: ceil-sized chunks and a
		// smaller last one. Earlier opsets require an exact division.
		if opset < 18 {
			return nil, shapeError(n, "cannot split %d evenly into %d parts", dim, parts)
		}
		size = (dim + parts - 1) / parts
	}
	out := make([]int64, parts)
	left := dim
	for i := range out {
		out[i] = min(size, left)
		left -= out[i]
	}
	if left != 0 {
		return nil, shapeError(n, "cannot split %d into %d parts", dim, parts)
	}
	return out, nil
}

func splitInfer(c *InferCtx) ([]onnx.Type, error) {
	n := c.Node
	x, _ := c.Input(0)
	outs := make([]onnx.Type, len(n.Outputs))
	for i := range outs {
		outs[i].DType = x.DType
	}
	if !x.HasShape {
		return outs, nil
	}
	axis, err := normAxis(n, attrInt(n, "axis", 0), len(x.Dims))
	if err != nil {
		return nil, err
	}
	var split []int64
	have, known := false, true
	if c.Opset < 13 {
		if a := n.Attr("split"); a != nil {
			split, have = a.Ints, true
		}
	} else if _, present := c.Input(1); present {
		split, known = shapeInts(c, 1)
		have = !known || len(split) > 0 // an empty split reads as absent
	}
	dim := int64(-1)
	if d := x.Dims[axis]; d.Known() {
		dim = d.Value
	}
	var sizes []int64
	if known {
		if sizes, err = splitSizes(n, c.Opset, split, have, dim); err != nil {
			return nil, err
		}
	}
	for i := range outs {
		dims := append([]onnx.Dim{}, x.Dims...)
		dims[axis] = onnx.UnknownDim
		if sizes != nil {
			dims[axis] = onnx.Dim{Value: sizes[i]}
		}
		outs[i].HasShape, outs[i].Dims = true, dims
	}
	return outs, nil
}

func splitRun(c *RunCtx) ([]*tensor.Dense, error) {
	n := c.Node
	x, err := shapeInput(c, 0)
	if err != nil {
		return nil, err
	}
	axis, err := normAxis(n, attrInt(n, "axis", 0), x.Rank())
	if err != nil {
		return nil, err
	}
	var split []int64
	have := false
	if c.Opset < 13 {
		if a := n.Attr("split"); a != nil {
			split, have = a.Ints, true
		}
	} else if split, have, err = shapeRunInts(c, 1, "split"); err != nil {
		return nil, err
	}
	have = have && len(split) > 0 // an empty split reads as absent
	sizes, err := splitSizes(n, c.Opset, split, have, int64(x.Shape[axis]))
	if err != nil {
		return nil, err
	}
	inner := shapeProd(x.Shape[axis+1:])
	outer := shapeProd(x.Shape[:axis])
	outs := make([]*tensor.Dense, len(sizes))
	blocks := make([]int, len(sizes))
	for i, s := range sizes {
		shape := append([]int{}, x.Shape...)
		shape[axis] = int(s)
		outs[i] = tensor.NewUninit(x.DType, shape...) // splitInto writes every element
		blocks[i] = int(s) * inner
	}
	splitInto(outs, x, blocks, outer)
	return outs, nil
}

// splitInto is concatInto in the other direction: x's elements dealt out
// to outs, blocks[i] to output i per outer index.
func splitInto(outs []*tensor.Dense, x *tensor.Dense, blocks []int, outer int) {
	switch k, _ := shapeStore(x.DType); k {
	case shapeF32:
		splitKernel(x.F32, shapeSlices(outs, func(t *tensor.Dense) []float32 { return t.F32 }), blocks, outer)
	case shapeF64:
		splitKernel(x.F64, shapeSlices(outs, func(t *tensor.Dense) []float64 { return t.F64 }), blocks, outer)
	default:
		splitKernel(x.I64, shapeSlices(outs, func(t *tensor.Dense) []int64 { return t.I64 }), blocks, outer)
	}
}

func splitKernel[T any](src []T, dsts [][]T, blocks []int, outer int) {
	pos := 0
	for o := range outer {
		for i, d := range dsts {
			b := blocks[i]
			copy(d[o*b:(o+1)*b], src[pos:pos+b])
			pos += b
		}
	}
}

// ---------------------------------------------------------------------------
// Slice

// sliceRange is one axis of a slice after clamping: elements start,
// start+step, ... (n of them).
type sliceRange struct{ start, step, n int }

// sliceRanges clamps starts/ends per the spec and returns each axis's
// range (untouched axes take everything).
func sliceRanges(n *onnx.Node, dims []int, starts, ends, axes, steps []int64) ([]sliceRange, error) {
	if len(starts) != len(ends) {
		return nil, shapeError(n, "starts %v and ends %v differ in length", starts, ends)
	}
	if axes != nil && len(axes) != len(starts) {
		return nil, shapeError(n, "axes %v and starts %v differ in length", axes, starts)
	}
	if steps != nil && len(steps) != len(starts) {
		return nil, shapeError(n, "steps %v and starts %v differ in length", steps, starts)
	}
	r := make([]sliceRange, len(dims))
	for i, d := range dims {
		r[i] = sliceRange{0, 1, d}
	}
	seen := make([]bool, len(dims))
	for i := range starts {
		a := int64(i)
		if axes != nil {
			a = axes[i]
		}
		ax, err := normAxis(n, a, len(dims))
		if err != nil {
			return nil, err
		}
		if seen[ax] {
			return nil, shapeError(n, "axis %d repeated", a)
		}
		seen[ax] = true
		step := int64(1)
		if steps != nil {
			step = steps[i]
		}
		if step == 0 {
			return nil, shapeError(n, "step 0 on axis %d", a)
		}
		d := int64(dims[ax])
		s, e := starts[i], ends[i]
		if s < 0 {
			s += d
		}
		if e < 0 {
			e += d
		}
		// Counts are computed so that huge steps (INT64_MAX) cannot
		// overflow.
		var cnt int64
		if step > 0 {
			s, e = min(max(s, 0), d), min(max(e, 0), d)
			if e > s {
				cnt = (e-s-1)/step + 1
			}
		} else {
			s, e = min(max(s, 0), d-1), min(max(e, -1), d-1)
			if s > e {
				cnt = 1
				if step > -d {
					cnt = (s-e-1)/(-step) + 1
				}
			}
		}
		if step < -d || step > d {
			// At most one element is taken; keep strides small.
			step = 1
		}
		r[ax] = sliceRange{int(s), int(step), int(cnt)}
	}
	return r, nil
}

// sliceParams reads starts, ends, axes and steps at inference time.
// sliceAttrs returns Slice-1's starts, ends and axes attributes (opsets
// before 10 give them as attributes, not inputs, and have no steps).
func sliceAttrs(n *onnx.Node, opset int) (starts, ends, axes []int64, legacy bool, err error) {
	if opset >= 10 {
		return nil, nil, nil, false, nil
	}
	starts, ends, axes = attrInts(n, "starts"), attrInts(n, "ends"), attrInts(n, "axes")
	if len(starts) != len(ends) {
		return nil, nil, nil, true, onnx.NodeErrorf(n, "Slice-1: %d starts but %d ends", len(starts), len(ends))
	}
	if axes != nil && len(axes) != len(starts) {
		return nil, nil, nil, true, onnx.NodeErrorf(n, "Slice-1: %d axes for %d starts", len(axes), len(starts))
	}
	if starts == nil {
		starts, ends = []int64{}, []int64{}
	}
	return starts, ends, axes, true, nil
}

func sliceParams(c *InferCtx) (starts, ends, axes, steps []int64, ok bool) {
	if s, e, a, legacy, err := sliceAttrs(c.Node, c.Opset); legacy {
		return s, e, a, nil, err == nil
	}
	if starts, ok = shapeInts(c, 1); !ok {
		return
	}
	if ends, ok = shapeInts(c, 2); !ok {
		return
	}
	if _, present := c.Input(3); present {
		if axes, ok = shapeInts(c, 3); !ok {
			return
		}
	}
	if _, present := c.Input(4); present {
		if steps, ok = shapeInts(c, 4); !ok {
			return
		}
	}
	return starts, ends, axes, steps, true
}

func sliceInfer(c *InferCtx) ([]onnx.Type, error) {
	n := c.Node
	if _, _, _, _, err := sliceAttrs(n, c.Opset); err != nil {
		return nil, err
	}
	x, _ := c.Input(0)
	out := onnx.Type{DType: x.DType}
	if !x.HasShape {
		return []onnx.Type{out}, nil
	}
	rank := len(x.Dims)
	out.HasShape = true
	starts, ends, axes, steps, ok := sliceParams(c)
	if !ok {
		// Axes that the slice cannot touch keep their dims.
		out.Dims = shapeUnknownDims(rank)
		if a, ok := shapeInts(c, 3); ok {
			out.Dims = append([]onnx.Dim{}, x.Dims...)
			for _, ax := range a {
				if i, err := normAxis(n, ax, rank); err == nil {
					out.Dims[i] = onnx.UnknownDim
				}
			}
		}
		return []onnx.Type{out}, nil
	}
	// Clamp against known dims; a symbolic dim stands in as a huge one so
	// that a full-range slice can be recognised and keep its symbol.
	const big = math.MaxInt32
	dims := make([]int, rank)
	for i, d := range x.Dims {
		dims[i] = big
		if d.Known() {
			dims[i] = int(d.Value)
		}
	}
	r, err := sliceRanges(n, dims, starts, ends, axes, steps)
	if err != nil {
		return nil, err
	}
	out.Dims = make([]onnx.Dim, rank)
	for i, d := range x.Dims {
		switch {
		case d.Known():
			out.Dims[i] = onnx.Dim{Value: int64(r[i].n)}
		case r[i].start == 0 && r[i].step == 1 && r[i].n == big:
			out.Dims[i] = d
		default:
			out.Dims[i] = onnx.UnknownDim
		}
	}
	return []onnx.Type{out}, nil
}

func sliceSymbolic(c *InferCtx) []onnx.Dim {
	if t, _ := c.Input(0); t.HasShape && len(t.Dims) != 1 {
		return nil
	}
	data := shapeContents(c, 0)
	starts, ends, axes, steps, ok := sliceParams(c)
	if data == nil || !ok {
		return nil
	}
	r, err := sliceRanges(c.Node, []int{len(data)}, starts, ends, axes, steps)
	if err != nil {
		return nil
	}
	out := make([]onnx.Dim, r[0].n)
	for i := range out {
		out[i] = data[r[0].start+i*r[0].step]
	}
	return out
}

func sliceRun(c *RunCtx) ([]*tensor.Dense, error) {
	n := c.Node
	x, err := shapeInput(c, 0)
	if err != nil {
		return nil, err
	}
	var vals [5][]int64
	names := [5]string{"", "starts", "ends", "axes", "steps"}
	starts, ends, axes, legacy, err := sliceAttrs(n, c.Opset)
	if err != nil {
		return nil, err
	}
	if legacy {
		vals[1], vals[2], vals[3] = starts, ends, axes
	}
	for i := 1; i < 5 && !legacy; i++ {
		v, ok, err := shapeRunInts(c, i, names[i])
		if err != nil {
			return nil, err
		}
		if i <= 2 && !ok {
			return nil, onnx.NodeErrorf(n, "%s input missing", names[i])
		}
		vals[i] = v
		if ok && v == nil {
			vals[i] = []int64{}
		}
	}
	r, err := sliceRanges(n, x.Shape, vals[1], vals[2], vals[3], vals[4])
	if err != nil {
		return nil, err
	}
	shape := make([]int, len(r))
	src := make([]int, len(r))
	st := tensor.Strides(x.Shape)
	off := 0
	for i, a := range r {
		shape[i] = a.n
		src[i] = a.step * st[i]
		if a.n > 0 {
			off += a.start * st[i]
		}
	}
	out := tensor.NewUninit(x.DType, shape...) // the plan writes every element
	shapeRunPlan(out, x, shapePlan{shape: shape, dst: tensor.Strides(shape), src: src, sOff: off}, c.Threads)
	return []*tensor.Dense{out}, nil
}

// ---------------------------------------------------------------------------
// Gather

func gatherInfer(c *InferCtx) ([]onnx.Type, error) {
	n := c.Node
	x, _ := c.Input(0)
	idx, _ := c.Input(1)
	out := onnx.Type{DType: x.DType}
	if !x.HasShape || !idx.HasShape {
		return []onnx.Type{out}, nil
	}
	axis, err := normAxis(n, attrInt(n, "axis", 0), len(x.Dims))
	if err != nil {
		return nil, err
	}
	if ix, ok := shapeInts(c, 1); ok && x.Dims[axis].Known() {
		d := x.Dims[axis].Value
		for _, i := range ix {
			if i < -d || i >= d {
				return nil, shapeError(n, "index %d out of range for axis of size %d", i, d)
			}
		}
	}
	dims := append([]onnx.Dim{}, x.Dims[:axis]...)
	dims = append(dims, idx.Dims...)
	dims = append(dims, x.Dims[axis+1:]...)
	out.HasShape, out.Dims = true, dims
	return []onnx.Type{out}, nil
}

func gatherSymbolic(c *InferCtx) []onnx.Dim {
	if t, _ := c.Input(0); t.HasShape && len(t.Dims) != 1 {
		return nil
	}
	data := shapeContents(c, 0)
	idx, ok := shapeInts(c, 1)
	if data == nil || !ok {
		return nil
	}
	if _, err := normAxis(c.Node, attrInt(c.Node, "axis", 0), 1); err != nil {
		return nil
	}
	out := make([]onnx.Dim, len(idx))
	for i, j := range idx {
		if j < 0 {
			j += int64(len(data))
		}
		if j < 0 || j >= int64(len(data)) {
			return nil
		}
		out[i] = data[j]
	}
	return out
}

func gatherRun(c *RunCtx) ([]*tensor.Dense, error) {
	n := c.Node
	x, err := shapeInput(c, 0)
	if err != nil {
		return nil, err
	}
	it := c.Input(1)
	if it == nil {
		return nil, onnx.NodeErrorf(n, "indices input missing")
	}
	if k, ok := shapeStore(it.DType); !ok || k != shapeI64 {
		return nil, onnx.NodeErrorf(n, "indices: want an integer tensor, got %s", it.DType)
	}
	axis, err := normAxis(n, attrInt(n, "axis", 0), x.Rank())
	if err != nil {
		return nil, err
	}
	d := x.Shape[axis]
	idx := make([]int, len(it.I64))
	for i, v := range it.I64 {
		if v < -int64(d) || v >= int64(d) {
			return nil, shapeError(n, "index %d out of range for axis of size %d", v, d)
		}
		if v < 0 {
			v += int64(d)
		}
		idx[i] = int(v)
	}
	shape := append([]int{}, x.Shape[:axis]...)
	shape = append(shape, it.Shape...)
	shape = append(shape, x.Shape[axis+1:]...)
	out, err := shapeNew(n, x.DType, shape)
	if err != nil {
		return nil, err
	}
	outer, inner := shapeProd(x.Shape[:axis]), shapeProd(x.Shape[axis+1:])
	switch k, _ := shapeStore(x.DType); k {
	case shapeF32:
		gatherKernel(out.F32, x.F32, idx, outer, d, inner, c.Threads)
	case shapeF64:
		gatherKernel(out.F64, x.F64, idx, outer, d, inner, c.Threads)
	default:
		gatherKernel(out.I64, x.I64, idx, outer, d, inner, c.Threads)
	}
	return []*tensor.Dense{out}, nil
}

// gatherKernel copies inner-long rows: dst[o,k,:] = src[o,idx[k],:].
func gatherKernel[T any](dst, src []T, idx []int, outer, axisLen, inner, threads int) {
	k := len(idx)
	if k == 0 || inner == 0 {
		return
	}
	parallelFor(threads, outer, max(1, (1<<15)/(k*inner)), func(lo, hi int) {
		for o := lo; o < hi; o++ {
			base := o * axisLen * inner
			d := dst[o*k*inner : (o+1)*k*inner]
			if inner == 1 {
				for j, i := range idx {
					d[j] = src[base+i]
				}
				continue
			}
			for j, i := range idx {
				copy(d[j*inner:(j+1)*inner], src[base+i*inner:base+(i+1)*inner])
			}
		}
	})
}

// ---------------------------------------------------------------------------
// Unsqueeze and Squeeze

func unsqueezeInfer(c *InferCtx) ([]onnx.Type, error) {
	x, _ := c.Input(0)
	out := onnx.Type{DType: x.DType}
	if !x.HasShape {
		return []onnx.Type{out}, nil
	}
	axes, ok := shapeAxes(c, 13, 1)
	if !ok {
		if k := shapeVectorLen(c, 1); k >= 0 {
			out.HasShape, out.Dims = true, shapeUnknownDims(len(x.Dims)+k)
		}
		return []onnx.Type{out}, nil
	}
	dims, err := unsqueezeDims(c.Node, x.Dims, axes)
	if err != nil {
		return nil, err
	}
	out.HasShape, out.Dims = true, dims
	return []onnx.Type{out}, nil
}

// unsqueezeDims inserts 1s at axes, which index the output.
func unsqueezeDims[D any](n *onnx.Node, in []D, axes []int64) ([]D, error) {
	rank := len(in) + len(axes)
	ax, err := shapeNormAxes(n, axes, rank)
	if err != nil {
		return nil, err
	}
	ones := make([]bool, rank)
	for _, a := range ax {
		ones[a] = true
	}
	out := make([]D, rank)
	j := 0
	for i := range out {
		if ones[i] {
			out[i] = shapeOne[D]()
			continue
		}
		out[i] = in[j]
		j++
	}
	return out, nil
}

// shapeOne returns a size-1 dim as either an int or an onnx.Dim.
func shapeOne[D any]() D {
	var d D
	switch p := any(&d).(type) {
	case *int:
		*p = 1
	case *onnx.Dim:
		*p = onnx.Dim{Value: 1}
	}
	return d
}

func unsqueezeRun(c *RunCtx) ([]*tensor.Dense, error) {
	x, err := shapeInput(c, 0)
	if err != nil {
		return nil, err
	}
	axes, err := shapeRunAxes(c, 13, 1)
	if err != nil {
		return nil, err
	}
	if axes == nil && c.Input(1) == nil {
		return nil, onnx.NodeErrorf(c.Node, "axes missing")
	}
	shape, err := unsqueezeDims(c.Node, x.Shape, axes)
	if err != nil {
		return nil, err
	}
	return []*tensor.Dense{shapeView(x, shape)}, nil
}

func squeezeInfer(c *InferCtx) ([]onnx.Type, error) {
	n := c.Node
	x, _ := c.Input(0)
	out := onnx.Type{DType: x.DType}
	if !x.HasShape {
		return []onnx.Type{out}, nil
	}
	axes, ok := shapeAxes(c, 13, 1)
	if !ok {
		if k := shapeVectorLen(c, 1); k >= 0 && k <= len(x.Dims) {
			out.HasShape, out.Dims = true, shapeUnknownDims(len(x.Dims)-k)
		}
		return []onnx.Type{out}, nil
	}
	if len(axes) == 0 {
		// Which dims are 1 decides the rank; unknown dims leave it open.
		for _, d := range x.Dims {
			if !d.Known() {
				return []onnx.Type{out}, nil
			}
		}
	}
	drop, err := squeezeAxes(n, x.Dims, axes, func(d onnx.Dim) (bool, bool) { return d.Value == 1, d.Known() })
	if err != nil {
		return nil, err
	}
	out.HasShape = true
	out.Dims = []onnx.Dim{}
	for i, d := range x.Dims {
		if !drop[i] {
			out.Dims = append(out.Dims, d)
		}
	}
	return []onnx.Type{out}, nil
}

// squeezeAxes marks the dims to remove: axes, or every 1 when axes is
// empty (absent, as ONNX Runtime also reads an empty axes tensor). one
// reports whether a dim is 1 and whether that is known.
func squeezeAxes[D any](n *onnx.Node, dims []D, axes []int64, one func(D) (bool, bool)) ([]bool, error) {
	drop := make([]bool, len(dims))
	if len(axes) == 0 {
		for i, d := range dims {
			drop[i], _ = one(d)
		}
		return drop, nil
	}
	ax, err := shapeNormAxes(n, axes, len(dims))
	if err != nil {
		return nil, err
	}
	for _, a := range ax {
		if is, known := one(dims[a]); known && !is {
			return nil, shapeError(n, "cannot squeeze axis %d of size %v", a, dims[a])
		}
		drop[a] = true
	}
	return drop, nil
}

func squeezeRun(c *RunCtx) ([]*tensor.Dense, error) {
	x, err := shapeInput(c, 0)
	if err != nil {
		return nil, err
	}
	axes, err := shapeRunAxes(c, 13, 1)
	if err != nil {
		return nil, err
	}
	drop, err := squeezeAxes(c.Node, x.Shape, axes, func(d int) (bool, bool) { return d == 1, true })
	if err != nil {
		return nil, err
	}
	shape := []int{}
	for i, d := range x.Shape {
		if !drop[i] {
			shape = append(shape, d)
		}
	}
	return []*tensor.Dense{shapeView(x, shape)}, nil
}

// ---------------------------------------------------------------------------
// Shape

// shapeRange returns the [start, end) dims Shape reports (opset 15 added
// start and end; both clamp to the rank).
func shapeRange(n *onnx.Node, opset, rank int) (int, int) {
	start, end := int64(0), int64(rank)
	if opset >= 15 {
		start = attrInt(n, "start", 0)
		end = attrInt(n, "end", int64(rank))
	}
	clamp := func(v int64) int {
		if v < 0 {
			v += int64(rank)
		}
		return int(min(max(v, 0), int64(rank)))
	}
	s, e := clamp(start), clamp(end)
	return s, max(s, e)
}

func shapeInfer(c *InferCtx) ([]onnx.Type, error) {
	x, _ := c.Input(0)
	out := onnx.Type{DType: tensor.Int64, HasShape: true, Dims: []onnx.Dim{onnx.UnknownDim}}
	if x.HasShape {
		s, e := shapeRange(c.Node, c.Opset, len(x.Dims))
		out.Dims[0] = onnx.Dim{Value: int64(e - s)}
	}
	return []onnx.Type{out}, nil
}

func shapeSymbolic(c *InferCtx) []onnx.Dim {
	x, _ := c.Input(0)
	if !x.HasShape {
		return nil
	}
	s, e := shapeRange(c.Node, c.Opset, len(x.Dims))
	out := make([]onnx.Dim, 0, e-s)
	for _, d := range x.Dims[s:e] {
		if !d.Known() && d.Param == "" {
			d = onnx.Dim{Param: shapeUnknown}
		}
		out = append(out, d)
	}
	return out
}

func shapeRun(c *RunCtx) ([]*tensor.Dense, error) {
	x := c.Input(0)
	if x == nil {
		return nil, onnx.NodeErrorf(c.Node, "input 0 missing")
	}
	s, e := shapeRange(c.Node, c.Opset, x.Rank())
	out := tensor.New(tensor.Int64, e-s)
	for i := range out.I64 {
		out.I64[i] = int64(x.Shape[s+i])
	}
	return []*tensor.Dense{out}, nil
}

// ---------------------------------------------------------------------------
// Expand

func expandInfer(c *InferCtx) ([]onnx.Type, error) {
	x, _ := c.Input(0)
	out := onnx.Type{DType: x.DType}
	target := shapeContents(c, 1)
	if target == nil {
		if k := shapeVectorLen(c, 1); k >= 0 && x.HasShape {
			out.HasShape, out.Dims = true, shapeUnknownDims(max(k, len(x.Dims)))
		}
		return []onnx.Type{out}, nil
	}
	if !x.HasShape {
		return []onnx.Type{out}, nil
	}
	t := onnx.Type{DType: x.DType, HasShape: true, Dims: make([]onnx.Dim, len(target))}
	for i, e := range target {
		t.Dims[i] = shapeSizeDim(e)
	}
	b, err := broadcastTypes(x, t)
	if err != nil {
		return nil, shapeError(c.Node, "%v", err)
	}
	return []onnx.Type{b}, nil
}

func expandRun(c *RunCtx) ([]*tensor.Dense, error) {
	n := c.Node
	x, err := shapeInput(c, 0)
	if err != nil {
		return nil, err
	}
	target, err := shapeRunNeeded(c, 1, "shape")
	if err != nil {
		return nil, err
	}
	ts := make([]int, len(target))
	for i, v := range target {
		if v < 0 || v > math.MaxInt32*int64(math.MaxInt32) {
			return nil, shapeError(n, "shape %v: invalid size %d", target, v)
		}
		ts[i] = int(v)
	}
	shape, err := broadcastShapes(x.Shape, ts)
	if err != nil {
		return nil, shapeError(n, "%v", err)
	}
	out, err := shapeNew(n, x.DType, shape)
	if err != nil {
		return nil, err
	}
	src := make([]int, len(shape))
	st := tensor.Strides(x.Shape)
	off := len(shape) - x.Rank()
	for i, d := range x.Shape {
		if d != 1 {
			src[off+i] = st[i]
		}
	}
	shapeRunPlan(out, x, shapePlan{shape: shape, dst: tensor.Strides(shape), src: src}, c.Threads)
	return []*tensor.Dense{out}, nil
}

// ---------------------------------------------------------------------------
// Pad

// padPads returns per-axis (begin, end) pads for a rank, from the pads
// attribute (opset < 11) or inputs pads and axes (opset 11, 18).
func padPads(n *onnx.Node, rank int, pads, axes []int64) ([]int64, []int64, error) {
	if axes == nil {
		axes = make([]int64, rank)
		for i := range axes {
			axes[i] = int64(i)
		}
	}
	if len(pads) != 2*len(axes) {
		return nil, nil, shapeError(n, "pads %v: want %d values", pads, 2*len(axes))
	}
	ax, err := shapeNormAxes(n, axes, rank)
	if err != nil {
		return nil, nil, err
	}
	begin, end := make([]int64, rank), make([]int64, rank)
	for i, a := range ax {
		begin[a], end[a] = pads[i], pads[i+len(ax)]
	}
	return begin, end, nil
}

func padMode(n *onnx.Node, opset int) (string, error) {
	mode := attrString(n, "mode", "constant")
	switch mode {
	case "constant", "reflect", "edge":
		return mode, nil
	case "wrap":
		if opset >= 19 {
			return mode, nil
		}
	}
	return "", unsupportedf(n, "mode %q", mode)
}

func padInfer(c *InferCtx) ([]onnx.Type, error) {
	n := c.Node
	x, _ := c.Input(0)
	out := onnx.Type{DType: x.DType}
	if _, err := padMode(n, c.Opset); err != nil {
		return nil, err
	}
	if !x.HasShape {
		return []onnx.Type{out}, nil
	}
	rank := len(x.Dims)
	out.HasShape, out.Dims = true, shapeUnknownDims(rank)
	var pads, axes []int64
	if c.Opset < 11 {
		pads = attrInts(n, "pads")
	} else {
		var ok bool
		if pads, ok = shapeInts(c, 1); !ok {
			return []onnx.Type{out}, nil
		}
		if _, present := c.Input(3); present && c.Opset >= 18 {
			if axes, ok = shapeInts(c, 3); !ok {
				return []onnx.Type{out}, nil
			}
		}
	}
	begin, end, err := padPads(n, rank, pads, axes)
	if err != nil {
		return nil, err
	}
	for i, d := range x.Dims {
		p := begin[i] + end[i]
		switch {
		case p == 0:
			out.Dims[i] = d
		case d.Known():
			if d.Value+p < 0 {
				return nil, shapeError(n, "pads %v shrink axis %d of size %d below zero", pads, i, d.Value)
			}
			out.Dims[i] = onnx.Dim{Value: d.Value + p}
		}
	}
	return []onnx.Type{out}, nil
}

func padRun(c *RunCtx) ([]*tensor.Dense, error) {
	n := c.Node
	x, err := shapeInput(c, 0)
	if err != nil {
		return nil, err
	}
	mode, err := padMode(n, c.Opset)
	if err != nil {
		return nil, err
	}
	var pads, axes []int64
	// The fill value keeps the element's own type, so int64 pads are exact.
	fillF := float64(0)
	var fillI int64
	if c.Opset < 11 {
		pads = attrInts(n, "pads")
		fillF = float64(attrFloat(n, "value", 0))
		fillI = int64(fillF)
	} else {
		if pads, err = shapeRunNeeded(c, 1, "pads"); err != nil {
			return nil, err
		}
		if v := c.Input(2); v != nil && v.Len() > 0 {
			if v.DType != x.DType {
				return nil, shapeError(n, "constant_value is %s, data %s", v.DType, x.DType)
			}
			fillF = v.Float64s()[0]
			if v.I64 != nil {
				fillI = v.I64[0]
			}
		}
		if c.Opset >= 18 {
			if axes, _, err = shapeRunInts(c, 3, "axes"); err != nil {
				return nil, err
			}
		}
	}
	begin, end, err := padPads(n, x.Rank(), pads, axes)
	if err != nil {
		return nil, err
	}
	shape := make([]int, x.Rank())
	maps := make([][]int, x.Rank())
	for i, d := range x.Shape {
		o := int64(d) + begin[i] + end[i]
		if o < 0 || o > math.MaxInt32*int64(math.MaxInt32) {
			return nil, shapeError(n, "pads %v give axis %d size %d", pads, i, o)
		}
		shape[i] = int(o)
		if mode != "constant" && d == 0 && o > 0 {
			return nil, shapeError(n, "mode %s cannot pad the empty axis %d", mode, i)
		}
	}
	if !slices.ContainsFunc(begin, func(p int64) bool { return p != 0 }) && !slices.ContainsFunc(end, func(p int64) bool { return p != 0 }) {
		// Nothing to pad (PyTorch exports AvgPool2d with a Pad of zeros
		// before it): the input itself, as a view, where a copy of
		// DenseNet's transition inputs took 0.15–0.4 ms each.
		return []*tensor.Dense{shapeView(x, x.Shape)}, nil
	}
	// The output first: its size is checked before the index maps, as
	// long as its axes, are built.
	out, err := shapeNew(n, x.DType, shape)
	if err != nil {
		return nil, err
	}
	for i, d := range x.Shape {
		maps[i] = padMap(mode, int(begin[i]), d, shape[i])
	}
	lastBegin := 0
	if len(begin) > 0 {
		lastBegin = int(begin[len(begin)-1])
	}
	switch k, _ := shapeStore(x.DType); k {
	case shapeF32:
		padKernel(out.F32, x.F32, x.Shape, shape, maps, lastBegin, float32(fillF), c.Threads)
	case shapeF64:
		padKernel(out.F64, x.F64, x.Shape, shape, maps, lastBegin, fillF, c.Threads)
	default:
		padKernel(out.I64, x.I64, x.Shape, shape, maps, lastBegin, fillI, c.Threads)
	}
	return []*tensor.Dense{out}, nil
}

// padMap maps each output index of one axis to its input index, or -1
// for the constant fill.
func padMap(mode string, begin, in, out int) []int {
	m := make([]int, out)
	for o := range m {
		i := o - begin
		if i >= 0 && i < in {
			m[o] = i
			continue
		}
		switch mode {
		case "constant":
			i = -1
		case "edge":
			i = min(max(i, 0), in-1)
		case "wrap":
			i = ((i % in) + in) % in
		case "reflect":
			// Reflection without repeating the edge has period 2(in-1);
			// numpy keeps reflecting when the pad exceeds the axis.
			if in == 1 {
				i = 0
				break
			}
			p := 2 * (in - 1)
			i = ((i % p) + p) % p
			if i >= in {
				i = p - i
			}
		}
		m[o] = i
	}
	return m
}

// padKernel fills dst row by row: each output row of the last axis reads
// one input row (or is all fill), copying its interior in one go.
func padKernel[T any](dst, src []T, in, out []int, maps [][]int, begin int, fill T, threads int) {
	r := len(out)
	if len(dst) == 0 {
		return
	}
	if r == 0 {
		dst[0] = src[0]
		return
	}
	L := out[r-1]
	last := maps[r-1]
	// The interior of the last axis maps to a contiguous input run.
	lo, hi := max(begin, 0), min(begin+in[r-1], L)
	lo, hi = min(lo, L), max(min(hi, L), 0)
	if hi < lo {
		hi = lo
	}
	st := tensor.Strides(in)
	outer := out[:r-1]
	rows := shapeProd(outer)
	parallelFor(threads, rows, max(1, (1<<15)/max(L, 1)), func(rlo, rhi int) {
		idx := make([]int, len(outer))
		for row := rlo; row < rhi; row++ {
			rem := row
			base, fillRow := 0, false
			for k := len(outer) - 1; k >= 0; k-- {
				idx[k] = rem % outer[k]
				rem /= outer[k]
				m := maps[k][idx[k]]
				if m < 0 {
					fillRow = true
				}
				base += m * st[k]
			}
			d := dst[row*L : (row+1)*L]
			if fillRow {
				for j := range d {
					d[j] = fill
				}
				continue
			}
			for j := 0; j < lo; j++ {
				if m := last[j]; m >= 0 {
					d[j] = src[base+m]
				} else {
					d[j] = fill
				}
			}
			if hi > lo {
				s := base + lo - begin
				copy(d[lo:hi], src[s:s+hi-lo])
			}
			for j := hi; j < L; j++ {
				if m := last[j]; m >= 0 {
					d[j] = src[base+m]
				} else {
					d[j] = fill
				}
			}
		}
	})
}

// ---------------------------------------------------------------------------
// Tile

func tileInfer(c *InferCtx) ([]onnx.Type, error) {
	x, _ := c.Input(0)
	out := onnx.Type{DType: x.DType}
	if !x.HasShape {
		return []onnx.Type{out}, nil
	}
	out.HasShape, out.Dims = true, shapeUnknownDims(len(x.Dims))
	reps, ok := shapeInts(c, 1)
	if !ok {
		return []onnx.Type{out}, nil
	}
	if len(reps) != len(x.Dims) {
		return nil, shapeError(c.Node, "repeats %v for a rank-%d input", reps, len(x.Dims))
	}
	for i, d := range x.Dims {
		switch {
		case reps[i] < 0:
			return nil, shapeError(c.Node, "negative repeat in %v", reps)
		case reps[i] == 1:
			out.Dims[i] = d
		case d.Known():
			out.Dims[i] = onnx.Dim{Value: d.Value * reps[i]}
		case reps[i] == 0:
			out.Dims[i] = onnx.Dim{Value: 0}
		}
	}
	return []onnx.Type{out}, nil
}

func tileRun(c *RunCtx) ([]*tensor.Dense, error) {
	n := c.Node
	x, err := shapeInput(c, 0)
	if err != nil {
		return nil, err
	}
	reps, ok, err := shapeRunInts(c, 1, "repeats")
	if err != nil {
		return nil, err
	}
	if !ok || len(reps) != x.Rank() {
		return nil, shapeError(n, "repeats %v for a rank-%d input", reps, x.Rank())
	}
	shape := make([]int, x.Rank())
	for i, d := range x.Shape {
		if reps[i] < 0 || reps[i] > math.MaxInt32 {
			return nil, shapeError(n, "invalid repeats %v", reps)
		}
		shape[i] = d * int(reps[i])
	}
	out, err := shapeNew(n, x.DType, shape)
	if err != nil {
		return nil, err
	}
	switch k, _ := shapeStore(x.DType); k {
	case shapeF32:
		tileKernel(out.F32, x.F32, x.Shape, shape, c.Threads)
	case shapeF64:
		tileKernel(out.F64, x.F64, x.Shape, shape, c.Threads)
	default:
		tileKernel(out.I64, x.I64, x.Shape, shape, c.Threads)
	}
	return []*tensor.Dense{out}, nil
}

// tileKernel fills each output row of the last axis by repeating the input
// row it wraps around to.
func tileKernel[T any](dst, src []T, in, out []int, threads int) {
	if len(dst) == 0 {
		return
	}
	r := len(out)
	if r == 0 {
		dst[0] = src[0]
		return
	}
	L, w := out[r-1], in[r-1]
	st := tensor.Strides(in)
	outer := out[:r-1]
	parallelFor(threads, shapeProd(outer), max(1, (1<<15)/L), func(lo, hi int) {
		for row := lo; row < hi; row++ {
			rem, base := row, 0
			for k := len(outer) - 1; k >= 0; k-- {
				base += (rem % outer[k] % in[k]) * st[k]
				rem /= outer[k]
			}
			d := dst[row*L : (row+1)*L]
			for j := 0; j < L; j += w {
				copy(d[j:j+w], src[base:base+w])
			}
		}
	})
}
