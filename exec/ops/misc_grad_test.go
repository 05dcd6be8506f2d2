package ops_test

import (
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

func TestGradMisc(t *testing.T) {
	x := randn(71, []int{2, 5})
	cases := []gradCase{
		{name: "Identity", op: "Identity", in: []*tensor.Dense{x}},
		{name: "Dropout_inference", op: "Dropout", opset: 13, in: []*tensor.Dense{x}},
		{name: "Cast_float_to_float", op: "Cast", attrs: []*onnx.Attr{onnx.IntAttr("to", int64(tensor.Float64))}, in: []*tensor.Dense{x}},
	}
	runGradCases(t, cases)
}
