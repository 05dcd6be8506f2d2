package ops

import (
	"fmt"

	"github.com/graft-ml/graft/onnx"
)

// broadcastShapes applies ONNX multidirectional (numpy) broadcasting.
func broadcastShapes(shapes ...[]int) ([]int, error) {
	rank := 0
	for _, s := range shapes {
		rank = max(rank, len(s))
	}
	out := make([]int, rank)
	for i := range out {
		out[i] = 1
	}
	for _, s := range shapes {
		off := rank - len(s)
		for i, d := range s {
			switch {
			case d == out[off+i] || d == 1:
			case out[off+i] == 1:
				out[off+i] = d
			default:
				return nil, fmt.Errorf("shapes %v cannot be broadcast together", shapes)
			}
		}
	}
	return out, nil
}

// broadcastTypes is broadcastShapes over static types, keeping symbolic
// dims where they decide the result. Two different dims that are not
// numbers ("batch" and "m", or "batch" and an unknown one) give an
// unknown dim: either may be 1 at run time, and the result is then the
// other.
func broadcastTypes(ts ...onnx.Type) (onnx.Type, error) {
	rank := 0
	for _, t := range ts {
		if !t.HasShape {
			return onnx.Type{DType: ts[0].DType}, nil
		}
		rank = max(rank, len(t.Dims))
	}
	out := make([]onnx.Dim, rank)
	for i := range out {
		out[i] = onnx.Dim{Value: 1}
	}
	for _, t := range ts {
		off := rank - len(t.Dims)
		for i, d := range t.Dims {
			o := out[off+i]
			switch {
			case d == o:
			case d.Known() && d.Value == 1:
			case o.Known() && o.Value == 1:
				out[off+i] = d
			case d.Known() && o.Known():
				return onnx.Type{}, fmt.Errorf("shapes %s cannot be broadcast together", typesString(ts))
			case d.Known():
				out[off+i] = d // a symbolic dim must equal the concrete one
			case !o.Known():
				out[off+i] = onnx.UnknownDim
			}
		}
	}
	return onnx.Type{DType: ts[0].DType, HasShape: true, Dims: out}, nil
}

func typesString(ts []onnx.Type) string {
	s := ""
	for i, t := range ts {
		if i > 0 {
			s += " and "
		}
		s += t.ShapeString()
	}
	return s
}
