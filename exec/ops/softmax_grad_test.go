package ops_test

import (
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

func TestGradSoftmax(t *testing.T) {
	x := randn(41, []int{2, 3, 4})
	axis := func(a int64) []*onnx.Attr { return []*onnx.Attr{onnx.IntAttr("axis", a)} }
	cases := []gradCase{
		{name: "Softmax/opset13_last", op: "Softmax", opset: 13, in: []*tensor.Dense{x}},
		{name: "Softmax/opset13_axis1", op: "Softmax", opset: 13, attrs: axis(1), in: []*tensor.Dense{x}},
		{name: "Softmax/opset11_axis1_coerced", op: "Softmax", opset: 11, attrs: axis(1), in: []*tensor.Dense{x}},
		{name: "Softmax/opset11_default", op: "Softmax", opset: 11, in: []*tensor.Dense{x}},
		{name: "LogSoftmax/opset13_axis0", op: "LogSoftmax", opset: 13, attrs: axis(0), in: []*tensor.Dense{x}},
		{name: "LogSoftmax/opset11_axis1", op: "LogSoftmax", opset: 11, attrs: axis(1), in: []*tensor.Dense{x}},
	}
	runGradCases(t, cases)
}
