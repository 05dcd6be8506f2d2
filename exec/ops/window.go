package ops

import (
	"math"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Window functions (ONNX operator docs, opset 17): HannWindow,
// HammingWindow and BlackmanWindow of a given size, as generalized cosine
// windows w[n] = a0 - a1·cos(2πn/N) + a2·cos(4πn/N), where N is the size
// (periodic=1, the default, as for spectral analysis) or size-1
// (periodic=0, symmetric). Computed in float64 and stored in
// output_datatype (default float32).

func init() {
	for _, w := range []struct {
		name       string
		a0, a1, a2 float64
	}{
		{"HannWindow", 0.5, 0.5, 0},
		{"HammingWindow", 25.0 / 46, 21.0 / 46, 0},
		{"BlackmanWindow", 0.42, 0.5, 0.08},
	} {
		coef := [3]float64{w.a0, w.a1, w.a2}
		register(&Op{Name: w.name, Since: 17, Infer: windowInfer, Run: func(c *RunCtx) ([]*tensor.Dense, error) { return windowRun(c, coef) },
			NoGrad: "the output depends only on the integer size"})
	}
}

func windowDType(n *onnx.Node) (tensor.DType, error) {
	dt := tensor.DType(attrInt(n, "output_datatype", int64(tensor.Float32)))
	if _, ok := shapeStore(dt); !ok {
		return dt, unsupportedf(n, "output_datatype %s", dt)
	}
	return dt, nil
}

func windowInfer(c *InferCtx) ([]onnx.Type, error) {
	dt, err := windowDType(c.Node)
	if err != nil {
		return nil, err
	}
	size := onnx.UnknownDim
	if k := c.ConstInput(0); k != nil && k.I64 != nil && k.Len() == 1 {
		size = onnx.Dim{Value: k.I64[0]}
	}
	return []onnx.Type{{DType: dt, HasShape: true, Dims: []onnx.Dim{size}}}, nil
}

func windowRun(c *RunCtx, a [3]float64) ([]*tensor.Dense, error) {
	dt, err := windowDType(c.Node)
	if err != nil {
		return nil, err
	}
	s := c.Input(0)
	if s == nil || s.I64 == nil || s.Len() != 1 {
		return nil, onnx.NodeErrorf(c.Node, "size: want one integer")
	}
	size := s.I64[0]
	if size < 0 {
		return nil, shapeError(c.Node, "size %d is negative", size)
	}
	y, err := shapeNew(c.Node, dt, []int{int(size)})
	if err != nil {
		return nil, err
	}
	n := float64(size)
	if attrInt(c.Node, "periodic", 1) == 0 {
		n--
	}
	w := make([]float64, size)
	for i := range w {
		x := 2 * math.Pi * float64(i) / n
		w[i] = a[0] - a[1]*math.Cos(x) + a[2]*math.Cos(2*x)
	}
	switch {
	case y.F32 != nil:
		for i, v := range w {
			y.F32[i] = float32(v)
		}
		elemNarrow(y)
	case y.F64 != nil:
		copy(y.F64, w)
	default:
		for i, v := range w {
			y.I64[i] = int64(v)
		}
		elemNarrow(y)
	}
	return []*tensor.Dense{y}, nil
}
