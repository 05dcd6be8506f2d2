package ops

import (
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// GatherElements and GatherND: gathers by per-element and by
// index-tuple indices (ONNX operator docs, opsets 11 and 13). Both
// compute, for each output element, the flat position in data it reads
// (gatherElementsPos, gatherNDPos), and indexTake copies those elements:
// the positions are the plain definition of the op, shared by every dtype.
// Their gradient is shape_grad.go's indexGrad (GradCtx.IndexGrad): the op
// applied to data's flat indices names where each dy element goes.

func init() {
	register(
		&Op{Name: "GatherElements", Since: 11, Infer: gatherElementsInfer, Run: gatherElementsRun, Grad: indexGrad},
		&Op{Name: "GatherND", Since: 11, Infer: gatherNDInfer, Run: gatherNDRun, Grad: indexGrad},
	)
}

// indexInput returns input i as a tensor of integer indices.
func indexInput(c *RunCtx, i int, what string) (*tensor.Dense, error) {
	t := c.Input(i)
	if t == nil {
		return nil, onnx.NodeErrorf(c.Node, "%s input missing", what)
	}
	if k, ok := shapeStore(t.DType); !ok || k != shapeI64 || t.DType == tensor.Bool {
		return nil, onnx.NodeErrorf(c.Node, "%s: want an integer tensor, got %s", what, t.DType)
	}
	return t, nil
}

// indexNorm maps an index into [0, d), accepting -d..-1 as counted from the
// end, or reports an error naming the node.
func indexNorm(n *onnx.Node, v int64, d int) (int, error) {
	if v < -int64(d) || v >= int64(d) {
		return 0, shapeError(n, "index %d out of range for axis of size %d", v, d)
	}
	if v < 0 {
		v += int64(d)
	}
	return int(v), nil
}

// indexTake returns a tensor of x's dtype and the given shape whose
// element j is x's element pos[j].
func indexTake(n *onnx.Node, x *tensor.Dense, shape []int, pos []int) (*tensor.Dense, error) {
	out, err := shapeNew(n, x.DType, shape)
	if err != nil {
		return nil, err
	}
	switch k, _ := shapeStore(x.DType); k {
	case shapeF32:
		indexTakeKernel(out.F32, x.F32, pos)
	case shapeF64:
		indexTakeKernel(out.F64, x.F64, pos)
	default:
		indexTakeKernel(out.I64, x.I64, pos)
	}
	return out, nil
}

func indexTakeKernel[T any](dst, src []T, pos []int) {
	for j, p := range pos {
		dst[j] = src[p]
	}
}

// ---------------------------------------------------------------------------
// GatherElements(data, indices; axis): out has indices' shape, and
// out[i0..ik..] = data[i0..indices[i0..ik..]..] with the index replacing
// the coordinate on axis.

func gatherElementsInfer(c *InferCtx) ([]onnx.Type, error) {
	n := c.Node
	x, _ := c.Input(0)
	idx, _ := c.Input(1)
	out := onnx.Type{DType: x.DType}
	if x.HasShape {
		if _, err := normAxis(n, attrInt(n, "axis", 0), len(x.Dims)); err != nil {
			return nil, err
		}
		if idx.HasShape && len(idx.Dims) != len(x.Dims) {
			return nil, shapeError(n, "indices of rank %d for data of rank %d", len(idx.Dims), len(x.Dims))
		}
	}
	if idx.HasShape {
		out.HasShape, out.Dims = true, idx.Dims
	}
	return []onnx.Type{out}, nil
}

// gatherElementsPos returns the flat data position of each element of
// indices, for GatherElements and ScatterElements alike: the index tensor
// must have data's rank and no larger a size than data's on any axis but
// axis.
func gatherElementsPos(n *onnx.Node, dataShape []int, idx *tensor.Dense, axisAttr int64) ([]int, error) {
	r := len(dataShape)
	axis, err := normAxis(n, axisAttr, r)
	if err != nil {
		return nil, err
	}
	if idx.Rank() != r {
		return nil, shapeError(n, "indices %v and data %v differ in rank", idx.Shape, dataShape)
	}
	for i := range r {
		if i != axis && idx.Shape[i] > dataShape[i] {
			return nil, shapeError(n, "indices %v exceed data %v on axis %d", idx.Shape, dataShape, i)
		}
	}
	strides := tensor.Strides(dataShape)
	pos := make([]int, len(idx.I64))
	coord := make([]int, r)
	for j, v := range idx.I64 {
		k, err := indexNorm(n, v, dataShape[axis])
		if err != nil {
			return nil, err
		}
		p := 0
		for a := range r {
			if a == axis {
				p += k * strides[a]
			} else {
				p += coord[a] * strides[a]
			}
		}
		pos[j] = p
		for a := r - 1; a >= 0; a-- { // next coordinate of indices
			if coord[a]++; coord[a] < idx.Shape[a] {
				break
			}
			coord[a] = 0
		}
	}
	return pos, nil
}

func gatherElementsRun(c *RunCtx) ([]*tensor.Dense, error) {
	x, err := shapeInput(c, 0)
	if err != nil {
		return nil, err
	}
	idx, err := indexInput(c, 1, "indices")
	if err != nil {
		return nil, err
	}
	pos, err := gatherElementsPos(c.Node, x.Shape, idx, attrInt(c.Node, "axis", 0))
	if err != nil {
		return nil, err
	}
	out, err := indexTake(c.Node, x, idx.Shape, pos)
	return []*tensor.Dense{out}, err
}

// ---------------------------------------------------------------------------
// GatherND(data, indices; batch_dims b): indices has shape B + Q + [k]
// (B the b batch dims shared with data); each length-k tuple selects
// data[batch][t0..tk-1], a slice of shape data.shape[b+k:]. The output
// has shape B + Q + data.shape[b+k:].

func gatherNDInfer(c *InferCtx) ([]onnx.Type, error) {
	n := c.Node
	x, _ := c.Input(0)
	idx, _ := c.Input(1)
	out := onnx.Type{DType: x.DType}
	if !x.HasShape || !idx.HasShape {
		return []onnx.Type{out}, nil
	}
	b := int(attrInt(n, "batch_dims", 0))
	q := len(idx.Dims)
	if q < 1 || b < 0 || b >= q || b >= len(x.Dims) {
		return nil, shapeError(n, "attribute \"batch_dims\" %d with data of rank %d and indices of rank %d", b, len(x.Dims), q)
	}
	last := idx.Dims[q-1]
	if !last.Known() {
		return []onnx.Type{out}, nil
	}
	k := int(last.Value)
	if b+k > len(x.Dims) {
		return nil, shapeError(n, "index tuples of length %d into data of rank %d with %d batch dims", k, len(x.Dims), b)
	}
	dims := append([]onnx.Dim{}, idx.Dims[:q-1]...)
	dims = append(dims, x.Dims[b+k:]...)
	out.HasShape, out.Dims = true, dims
	return []onnx.Type{out}, nil
}

// gatherNDPos returns, for GatherND and ScatterND, the output shape and,
// per index tuple, the flat data position of the slice it selects and the
// slice's length.
func gatherNDPos(n *onnx.Node, dataShape []int, idx *tensor.Dense, b int) (shape []int, starts []int, slice int, err error) {
	q, r := idx.Rank(), len(dataShape)
	if q < 1 || b < 0 || b >= q || b >= r {
		return nil, nil, 0, shapeError(n, "attribute \"batch_dims\" %d with data %v and indices %v", b, dataShape, idx.Shape)
	}
	k := idx.Shape[q-1]
	if b+k > r {
		return nil, nil, 0, shapeError(n, "index tuples of length %d into data %v with %d batch dims", k, dataShape, b)
	}
	for i := range b {
		if idx.Shape[i] != dataShape[i] {
			return nil, nil, 0, shapeError(n, "batch dims of indices %v and data %v differ", idx.Shape, dataShape)
		}
	}
	shape = append(append([]int{}, idx.Shape[:q-1]...), dataShape[b+k:]...)
	slice = shapeProd(dataShape[b+k:])
	batchSize := shapeProd(dataShape[b:]) // data elements per batch entry
	tuples := shapeProd(idx.Shape[:q-1])
	perBatch := shapeProd(idx.Shape[b : q-1]) // tuples per batch entry
	strides := tensor.Strides(dataShape)
	starts = make([]int, tuples)
	for t := range tuples {
		p := (t / perBatch) * batchSize
		for j := range k {
			v, err := indexNorm(n, idx.I64[t*k+j], dataShape[b+j])
			if err != nil {
				return nil, nil, 0, err
			}
			p += v * strides[b+j]
		}
		starts[t] = p
	}
	return shape, starts, slice, nil
}

func gatherNDRun(c *RunCtx) ([]*tensor.Dense, error) {
	x, err := shapeInput(c, 0)
	if err != nil {
		return nil, err
	}
	idx, err := indexInput(c, 1, "indices")
	if err != nil {
		return nil, err
	}
	shape, starts, slice, err := gatherNDPos(c.Node, x.Shape, idx, int(attrInt(c.Node, "batch_dims", 0)))
	if err != nil {
		return nil, err
	}
	pos := make([]int, 0, len(starts)*slice)
	for _, s := range starts {
		for e := range slice {
			pos = append(pos, s+e)
		}
	}
	out, err := indexTake(c.Node, x, shape, pos)
	return []*tensor.Dense{out}, err
}
