package ops

import (
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// ScatterElements, its deprecated form Scatter, and ScatterND (ONNX
// operator docs): the output is a copy of data with the elements that
// indices name replaced by, or combined (reduction add, mul, max, min)
// with, updates. The positions come from gatherElementsPos and
// gatherNDPos, the same as the matching gathers, so a scatter and its
// gather agree by construction. Updates apply in index order, so with
// reduction "none" the last of duplicate indices wins, as in ONNX
// Runtime.
//
// Gradients, for reductions none and add: d updates gathers dy at the
// indices (GatherElements, GatherND); d data is dy with the scattered
// places zeroed (none) or dy itself (add). With duplicate indices and
// reduction none the overwritten updates get the gradient too, where in
// truth they have none.

func init() {
	register(
		&Op{Name: "ScatterElements", Since: 11, Infer: scatterInfer, Run: scatterElementsRun, Grad: scatterGrad},
		&Op{Name: "Scatter", Since: 9, Infer: scatterInfer, Run: scatterElementsRun, Grad: scatterGrad},
		&Op{Name: "ScatterND", Since: 11, Infer: scatterInfer, Run: scatterNDRun, Grad: scatterGrad},
	)
}

// scatterReduction reads and checks the reduction attribute.
func scatterReduction(n *onnx.Node) (string, error) {
	r := attrString(n, "reduction", "none")
	switch r {
	case "none", "add", "mul", "max", "min":
		return r, nil
	}
	return "", onnx.NodeErrorf(n, "attribute \"reduction\": unknown value %q", r)
}

func scatterInfer(c *InferCtx) ([]onnx.Type, error) {
	if _, err := scatterReduction(c.Node); err != nil {
		return nil, err
	}
	x, ok := c.Input(0)
	if !ok || len(c.Node.Inputs) != 3 {
		return nil, shapeError(c.Node, "want inputs data, indices and updates")
	}
	return []onnx.Type{x}, nil
}

// scatterApply copies data and combines updates[j] into position pos[j].
func scatterApply(n *onnx.Node, data, updates *tensor.Dense, pos []int) (*tensor.Dense, error) {
	red, err := scatterReduction(n)
	if err != nil {
		return nil, err
	}
	if updates.DType != data.DType {
		return nil, shapeError(n, "updates of dtype %s for data of dtype %s", updates.DType, data.DType)
	}
	if updates.Len() != len(pos) {
		return nil, shapeError(n, "updates %v do not match the indices' %d places", updates.Shape, len(pos))
	}
	out := data.Clone()
	switch k, _ := shapeStore(data.DType); k {
	case shapeF32:
		scatterKernel(out.F32, updates.F32, pos, red)
	case shapeF64:
		scatterKernel(out.F64, updates.F64, pos, red)
	default:
		scatterKernel(out.I64, updates.I64, pos, red)
	}
	elemNarrow(out)
	return out, nil
}

type scatterNumber interface{ ~float32 | ~float64 | ~int64 }

func scatterKernel[T scatterNumber](dst, upd []T, pos []int, red string) {
	for j, p := range pos {
		u := upd[j]
		switch red {
		case "none":
			dst[p] = u
		case "add":
			dst[p] += u
		case "mul":
			dst[p] *= u
		case "max":
			dst[p] = max(dst[p], u)
		case "min":
			dst[p] = min(dst[p], u)
		}
	}
}

// scatterInputs returns data, indices and updates.
func scatterInputs(c *RunCtx) (data, idx, upd *tensor.Dense, err error) {
	if data, err = shapeInput(c, 0); err != nil {
		return
	}
	if idx, err = indexInput(c, 1, "indices"); err != nil {
		return
	}
	upd, err = shapeInput(c, 2)
	return
}

func scatterElementsRun(c *RunCtx) ([]*tensor.Dense, error) {
	data, idx, upd, err := scatterInputs(c)
	if err != nil {
		return nil, err
	}
	if !tensor.SameShape(idx.Shape, upd.Shape) {
		return nil, shapeError(c.Node, "indices %v and updates %v differ in shape", idx.Shape, upd.Shape)
	}
	pos, err := gatherElementsPos(c.Node, data.Shape, idx, attrInt(c.Node, "axis", 0))
	if err != nil {
		return nil, err
	}
	out, err := scatterApply(c.Node, data, upd, pos)
	return []*tensor.Dense{out}, err
}

func scatterNDRun(c *RunCtx) ([]*tensor.Dense, error) {
	data, idx, upd, err := scatterInputs(c)
	if err != nil {
		return nil, err
	}
	shape, starts, slice, err := gatherNDPos(c.Node, data.Shape, idx, 0)
	if err != nil {
		return nil, err
	}
	if !tensor.SameShape(shape, upd.Shape) {
		return nil, shapeError(c.Node, "updates %v, want shape %v for indices %v", upd.Shape, shape, idx.Shape)
	}
	pos := make([]int, 0, len(starts)*slice)
	for _, s := range starts {
		for e := range slice {
			pos = append(pos, s+e)
		}
	}
	out, err := scatterApply(c.Node, data, upd, pos)
	return []*tensor.Dense{out}, err
}

func scatterGrad(c *GradCtx) ([]*onnx.Value, error) {
	n := c.Node
	red, err := scatterReduction(n)
	if err != nil {
		return nil, err
	}
	if red != "none" && red != "add" {
		return nil, c.Unsupportedf("reduction %q", red)
	}
	dy, idx := c.DY[0], c.In(1)
	res := make([]*onnx.Value, 3)
	if c.Needs(0) {
		if red == "add" {
			res[0] = dy
		} else {
			res[0] = c.EmitN(n.OpType, "", 1, []*onnx.Value{dy, idx, c.Zeros(c.In(2))}, n.Attrs...)[0]
		}
	}
	if c.Needs(2) {
		if n.OpType == "ScatterND" {
			res[2] = c.Op1("GatherND", dy, idx)
		} else {
			res[2] = c.Emit("GatherElements", []*onnx.Value{dy, idx}, onnx.IntAttr("axis", attrInt(n, "axis", 0)))
		}
	}
	return res, nil
}
