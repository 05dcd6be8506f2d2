package ops

import (
	"math"
	"sort"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Assorted ops (ONNX operator docs): EyeLike, BitShift, Compress, NonZero,
// ReverseSequence, Unique and Det. Compress, NonZero and Unique have
// data-dependent output sizes, which inference leaves unknown.

func init() {
	register(
		&Op{Name: "EyeLike", Since: 9, Infer: eyeLikeInfer, Run: eyeLikeRun, NoGrad: "the output does not depend on the input's values"},
		&Op{Name: "BitShift", Since: 11, Infer: elemArithInfer, Run: bitShiftRun, NoGrad: "integer op"},
		&Op{Name: "Compress", Since: 11, Infer: compressInfer, Run: compressRun, Grad: indexGrad},
		&Op{Name: "NonZero", Since: 9, Infer: nonZeroInfer, Run: nonZeroRun, NoGrad: "the output is integer indices"},
		&Op{Name: "ReverseSequence", Since: 10, Infer: reverseSequenceInfer, Run: reverseSequenceRun, Grad: reverseSequenceGrad},
		&Op{Name: "Unique", Since: 11, Infer: uniqueInfer, Run: uniqueRun, NoGrad: "no rule yet"},
		&Op{Name: "Det", Since: 11, Infer: detInfer, Run: detRun, NoGrad: "no rule yet"},
	)
}

// ---------------------------------------------------------------------------
// EyeLike: a 2-D tensor of x's shape with ones on diagonal k; dtype from
// the dtype attribute, else x's.

func eyeLikeDType(n *onnx.Node, in tensor.DType) (tensor.DType, error) {
	dt := in
	if a := n.Attr("dtype"); a != nil {
		dt = tensor.DType(a.I)
	}
	if _, ok := shapeStore(dt); !ok {
		return dt, unsupportedf(n, "dtype %s", dt)
	}
	return dt, nil
}

func eyeLikeInfer(c *InferCtx) ([]onnx.Type, error) {
	x, _ := c.Input(0)
	if x.HasShape && len(x.Dims) != 2 {
		return nil, shapeError(c.Node, "input of rank %d, want 2", len(x.Dims))
	}
	if x.DType == tensor.Undefined && c.Node.Attr("dtype") == nil {
		return []onnx.Type{x}, nil
	}
	dt, err := eyeLikeDType(c.Node, x.DType)
	if err != nil {
		return nil, err
	}
	x.DType = dt
	return []onnx.Type{x}, nil
}

func eyeLikeRun(c *RunCtx) ([]*tensor.Dense, error) {
	x, err := shapeInput(c, 0)
	if err != nil {
		return nil, err
	}
	if x.Rank() != 2 {
		return nil, shapeError(c.Node, "input of rank %d, want 2", x.Rank())
	}
	dt, err := eyeLikeDType(c.Node, x.DType)
	if err != nil {
		return nil, err
	}
	y := tensor.New(dt, x.Shape...)
	rows, cols := x.Shape[0], x.Shape[1]
	k := int(attrInt(c.Node, "k", 0))
	for i := range rows {
		j := i + k
		if j < 0 || j >= cols {
			continue
		}
		switch {
		case y.F32 != nil:
			y.F32[i*cols+j] = 1
		case y.F64 != nil:
			y.F64[i*cols+j] = 1
		default:
			y.I64[i*cols+j] = 1
		}
	}
	return []*tensor.Dense{y}, nil
}

// ---------------------------------------------------------------------------
// BitShift: unsigned x shifted by y bits, broadcasting; bits shifted past
// the type's width are lost.

func bitShiftRun(c *RunCtx) ([]*tensor.Dense, error) {
	in, err := elemRunInputs(c, 2)
	if err != nil {
		return nil, err
	}
	if err := elemSameDType(c.Node, in...); err != nil {
		return nil, err
	}
	x, s := in[0], in[1]
	switch x.DType {
	case tensor.Uint8, tensor.Uint16, tensor.Uint32, tensor.Uint64:
	default:
		return nil, unsupportedf(c.Node, "BitShift of %s", x.DType)
	}
	var f func(a, b int64) int64
	switch d := attrString(c.Node, "direction", ""); d {
	case "LEFT":
		f = func(a, b int64) int64 {
			if uint64(b) >= 64 {
				return 0
			}
			return int64(uint64(a) << uint64(b))
		}
	case "RIGHT":
		f = func(a, b int64) int64 {
			if uint64(b) >= 64 {
				return 0
			}
			return int64(uint64(a) >> uint64(b))
		}
	default:
		return nil, onnx.NodeErrorf(c.Node, "attribute \"direction\": want LEFT or RIGHT, got %q", d)
	}
	shape, err := elemBroadcastRun(c.Node, x, s)
	if err != nil {
		return nil, err
	}
	y, err := shapeNew(c.Node, x.DType, shape)
	if err != nil {
		return nil, err
	}
	elemBroadcast2(c.Threads, y.I64, shape, x.I64, x.Shape, s.I64, s.Shape, elemMapRow(f))
	elemNarrow(y)
	return []*tensor.Dense{y}, nil
}

// ---------------------------------------------------------------------------
// Compress: the slices along axis (of the flattened input when axis is
// absent) where condition is true; condition may be shorter than the axis.

func compressInfer(c *InferCtx) ([]onnx.Type, error) {
	x, _ := c.Input(0)
	if c.Node.Attr("axis") == nil {
		return []onnx.Type{{DType: x.DType, HasShape: true, Dims: []onnx.Dim{onnx.UnknownDim}}}, nil
	}
	if !x.HasShape {
		return []onnx.Type{{DType: x.DType}}, nil
	}
	axis, err := normAxis(c.Node, attrInt(c.Node, "axis", 0), len(x.Dims))
	if err != nil {
		return nil, err
	}
	dims := append([]onnx.Dim{}, x.Dims...)
	dims[axis] = onnx.UnknownDim
	return []onnx.Type{{DType: x.DType, HasShape: true, Dims: dims}}, nil
}

func compressRun(c *RunCtx) ([]*tensor.Dense, error) {
	x, err := shapeInput(c, 0)
	if err != nil {
		return nil, err
	}
	cond := c.Input(1)
	if cond == nil || cond.Rank() != 1 || cond.I64 == nil && cond.Len() > 0 {
		return nil, onnx.NodeErrorf(c.Node, "condition: want a 1-D bool tensor")
	}
	shape := x.Shape
	axis := 0
	if a := c.Node.Attr("axis"); a != nil {
		if axis, err = normAxis(c.Node, a.I, x.Rank()); err != nil {
			return nil, err
		}
	} else {
		shape = []int{x.Len()}
	}
	if cond.Len() > shape[axis] {
		return nil, shapeError(c.Node, "condition has %d entries for an axis of %d", cond.Len(), shape[axis])
	}
	var keep []int
	for i, v := range cond.I64 {
		if v != 0 {
			keep = append(keep, i)
		}
	}
	out := append([]int{}, shape...)
	out[axis] = len(keep)
	y, err := shapeNew(c.Node, x.DType, out)
	if err != nil {
		return nil, err
	}
	outer, inner := 1, 1
	for _, d := range shape[:axis] {
		outer *= d
	}
	for _, d := range shape[axis+1:] {
		inner *= d
	}
	copySlices(y, x, func(yield func(dst, src, n int)) {
		for o := range outer {
			for j, k := range keep {
				yield((o*len(keep)+j)*inner, (o*shape[axis]+k)*inner, inner)
			}
		}
	})
	return []*tensor.Dense{y}, nil
}

// copySlices copies runs of elements from src to dst (same dtype), as
// listed by each: dst offset, src offset, length.
func copySlices(dst, src *tensor.Dense, each func(yield func(d, s, n int))) {
	switch {
	case src.F32 != nil:
		each(func(d, s, n int) { copy(dst.F32[d:d+n], src.F32[s:s+n]) })
	case src.F64 != nil:
		each(func(d, s, n int) { copy(dst.F64[d:d+n], src.F64[s:s+n]) })
	case src.I64 != nil:
		each(func(d, s, n int) { copy(dst.I64[d:d+n], src.I64[s:s+n]) })
	}
}

// ---------------------------------------------------------------------------
// NonZero: the indices of the non-zero elements, as an int64 (rank, count)
// matrix in row-major order of the elements.

func nonZeroInfer(c *InferCtx) ([]onnx.Type, error) {
	x, _ := c.Input(0)
	rank := onnx.UnknownDim
	if x.HasShape {
		rank = onnx.Dim{Value: int64(len(x.Dims))}
	}
	return []onnx.Type{{DType: tensor.Int64, HasShape: true, Dims: []onnx.Dim{rank, onnx.UnknownDim}}}, nil
}

func nonZeroRun(c *RunCtx) ([]*tensor.Dense, error) {
	x, err := shapeInput(c, 0)
	if err != nil {
		return nil, err
	}
	var hits []int
	for i, v := range x.Float64s() {
		if v != 0 {
			hits = append(hits, i)
		}
	}
	rank := x.Rank()
	y := tensor.New(tensor.Int64, rank, len(hits))
	strides := tensor.Strides(x.Shape)
	for j, i := range hits {
		for d := range rank {
			y.I64[d*len(hits)+j] = int64((i / strides[d]) % x.Shape[d])
		}
	}
	return []*tensor.Dense{y}, nil
}

// ---------------------------------------------------------------------------
// ReverseSequence: for each batch entry b, reverses the first
// sequence_lens[b] steps along time_axis. Linear, so its gradient is the
// same reversal of dy.

func reverseSequenceAxes(n *onnx.Node, rank int) (batch, time int, err error) {
	if rank < 2 {
		return 0, 0, shapeError(n, "input of rank %d, want at least 2", rank)
	}
	b, t := attrInt(n, "batch_axis", 1), attrInt(n, "time_axis", 0)
	if b < 0 || b > 1 || t < 0 || t > 1 || b == t {
		return 0, 0, onnx.NodeErrorf(n, "batch_axis %d and time_axis %d: want 0 and 1 in some order", b, t)
	}
	return int(b), int(t), nil
}

func reverseSequenceInfer(c *InferCtx) ([]onnx.Type, error) {
	x, _ := c.Input(0)
	if x.HasShape {
		if _, _, err := reverseSequenceAxes(c.Node, len(x.Dims)); err != nil {
			return nil, err
		}
	}
	return []onnx.Type{x}, nil
}

func reverseSequenceRun(c *RunCtx) ([]*tensor.Dense, error) {
	x, err := shapeInput(c, 0)
	if err != nil {
		return nil, err
	}
	lens, err := shapeRunNeeded(c, 1, "sequence_lens")
	if err != nil {
		return nil, err
	}
	ba, ta, err := reverseSequenceAxes(c.Node, x.Rank())
	if err != nil {
		return nil, err
	}
	nb, nt := x.Shape[ba], x.Shape[ta]
	if len(lens) != nb {
		return nil, shapeError(c.Node, "sequence_lens has %d entries for a batch of %d", len(lens), nb)
	}
	for _, l := range lens {
		if l < 0 || l > int64(nt) {
			return nil, shapeError(c.Node, "sequence length %d outside [0, %d]", l, nt)
		}
	}
	inner := 1
	for _, d := range x.Shape[2:] {
		inner *= d
	}
	strides := tensor.Strides(x.Shape)
	y := x.Clone()
	copySlices(y, x, func(yield func(d, s, n int)) {
		for b := range nb {
			l := int(lens[b])
			for t := range l {
				yield(b*strides[ba]+t*strides[ta], b*strides[ba]+(l-1-t)*strides[ta], inner)
			}
		}
	})
	return []*tensor.Dense{y}, nil
}

func reverseSequenceGrad(c *GradCtx) ([]*onnx.Value, error) {
	res := make([]*onnx.Value, len(c.Node.Inputs))
	res[0] = c.forwardOn(c.DY[0], nil)
	return res, nil
}

// ---------------------------------------------------------------------------
// Unique: the distinct elements (or slices along axis), sorted ascending
// or in order of first occurrence, with each one's first index, each
// input element's position among them, and their counts.

func uniqueInfer(c *InferCtx) ([]onnx.Type, error) {
	x, _ := c.Input(0)
	vec := onnx.Type{DType: tensor.Int64, HasShape: true, Dims: []onnx.Dim{onnx.UnknownDim}}
	y := onnx.Type{DType: x.DType, HasShape: true, Dims: []onnx.Dim{onnx.UnknownDim}}
	inverse := vec
	if a := c.Node.Attr("axis"); a != nil {
		y = onnx.Type{DType: x.DType}
		if x.HasShape {
			axis, err := normAxis(c.Node, a.I, len(x.Dims))
			if err != nil {
				return nil, err
			}
			y.HasShape, y.Dims = true, append([]onnx.Dim{}, x.Dims...)
			y.Dims[axis] = onnx.UnknownDim
			inverse.Dims = []onnx.Dim{x.Dims[axis]}
		}
	} else if x.HasShape {
		inverse.Dims = []onnx.Dim{shapeDimProduct(x.Dims)}
	}
	return []onnx.Type{y, vec, inverse, vec}, nil
}

func uniqueRun(c *RunCtx) ([]*tensor.Dense, error) {
	x, err := shapeInput(c, 0)
	if err != nil {
		return nil, err
	}
	shape, axis := []int{x.Len()}, 0
	if a := c.Node.Attr("axis"); a != nil {
		if axis, err = normAxis(c.Node, a.I, x.Rank()); err != nil {
			return nil, err
		}
		shape = x.Shape
	}
	outer, inner := 1, 1
	for _, d := range shape[:axis] {
		outer *= d
	}
	for _, d := range shape[axis+1:] {
		inner *= d
	}
	n := shape[axis]
	// cmp compares slices i and j along axis element by element.
	var cmp func(i, j int) int
	at := func(o, i, k int) int { return (o*n+i)*inner + k }
	switch {
	case x.F32 != nil || x.F64 != nil:
		v := x.Float64s()
		cmp = func(i, j int) int {
			for o := range outer {
				for k := range inner {
					a, b := v[at(o, i, k)], v[at(o, j, k)]
					if a != b {
						if a < b {
							return -1
						}
						return 1
					}
				}
			}
			return 0
		}
	default:
		v := x.I64
		unsigned := x.DType == tensor.Uint64
		cmp = func(i, j int) int {
			for o := range outer {
				for k := range inner {
					a, b := v[at(o, i, k)], v[at(o, j, k)]
					if a != b {
						if unsigned && uint64(a) < uint64(b) || !unsigned && a < b {
							return -1
						}
						return 1
					}
				}
			}
			return 0
		}
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return cmp(order[a], order[b]) < 0 })
	// Groups of equal slices, each led by its first occurrence.
	var first []int
	group := make([]int, n) // group of each slice, in sorted order
	counts := []int64{}
	for r, i := range order {
		if r == 0 || cmp(order[r-1], i) != 0 {
			first = append(first, i)
			counts = append(counts, 0)
		}
		group[i] = len(first) - 1
		counts[len(counts)-1]++
	}
	rank := make([]int, len(first)) // output position of each group
	for g := range rank {
		rank[g] = g
	}
	if attrInt(c.Node, "sorted", 1) == 0 {
		byFirst := make([]int, len(first))
		for g := range byFirst {
			byFirst[g] = g
		}
		sort.Slice(byFirst, func(a, b int) bool { return first[byFirst[a]] < first[byFirst[b]] })
		for pos, g := range byFirst {
			rank[g] = pos
		}
	}
	u := len(first)
	outShape := append([]int{}, shape...)
	outShape[axis] = u
	y, err := shapeNew(c.Node, x.DType, outShape)
	if err != nil {
		return nil, err
	}
	indices, inverse, count := tensor.New(tensor.Int64, u), tensor.New(tensor.Int64, n), tensor.New(tensor.Int64, u)
	for g, i := range first {
		indices.I64[rank[g]] = int64(i)
		count.I64[rank[g]] = counts[g]
	}
	for i := range n {
		inverse.I64[i] = int64(rank[group[i]])
	}
	copySlices(y, x, func(yield func(d, s, n int)) {
		for o := range outer {
			for g, i := range first {
				yield(at2(o, rank[g], u, inner), at(o, i, 0), inner)
			}
		}
	})
	return []*tensor.Dense{y, indices, inverse, count}, nil
}

func at2(o, i, n, inner int) int { return (o*n + i) * inner }

// ---------------------------------------------------------------------------
// Det: the determinant of each square matrix in the last two axes, by LU
// decomposition with partial pivoting in float64.

func detInfer(c *InferCtx) ([]onnx.Type, error) {
	x, _ := c.Input(0)
	if !x.HasShape {
		return []onnx.Type{{DType: x.DType}}, nil
	}
	r := len(x.Dims)
	if r < 2 {
		return nil, shapeError(c.Node, "input of rank %d, want at least 2", r)
	}
	if a, b := x.Dims[r-2], x.Dims[r-1]; a.Known() && b.Known() && a.Value != b.Value {
		return nil, shapeError(c.Node, "matrices of %s are not square", x.ShapeString())
	}
	return []onnx.Type{{DType: x.DType, HasShape: true, Dims: x.Dims[:r-2]}}, nil
}

func detRun(c *RunCtx) ([]*tensor.Dense, error) {
	x, err := shapeInput(c, 0)
	if err != nil {
		return nil, err
	}
	r := x.Rank()
	if r < 2 || x.Shape[r-1] != x.Shape[r-2] || !x.DType.IsFloat() {
		return nil, shapeError(c.Node, "input %s%v: want float square matrices", x.DType, x.Shape)
	}
	m := x.Shape[r-1]
	y := tensor.New(x.DType, x.Shape[:r-2]...)
	v := x.Float64s()
	a := make([]float64, m*m)
	for b := range y.Len() {
		copy(a, v[b*m*m:(b+1)*m*m])
		d := detLU(a, m)
		if y.F64 != nil {
			y.F64[b] = d
		} else {
			y.F32[b] = float32(d)
		}
	}
	elemNarrow(y)
	return []*tensor.Dense{y}, nil
}

// detLU returns the determinant of the m×m matrix a, overwriting a.
func detLU(a []float64, m int) float64 {
	det := 1.0
	for k := range m {
		p := k
		for i := k + 1; i < m; i++ {
			if math.Abs(a[i*m+k]) > math.Abs(a[p*m+k]) {
				p = i
			}
		}
		if a[p*m+k] == 0 {
			return 0
		}
		if p != k {
			for j := range m {
				a[k*m+j], a[p*m+j] = a[p*m+j], a[k*m+j]
			}
			det = -det
		}
		piv := a[k*m+k]
		det *= piv
		for i := k + 1; i < m; i++ {
			f := a[i*m+k] / piv
			for j := k + 1; j < m; j++ {
				a[i*m+j] -= f * a[k*m+j]
			}
		}
	}
	return det
}
