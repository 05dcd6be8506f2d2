package ops_test

import (
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

func TestGradReduce(t *testing.T) {
	x := randn(51, []int{2, 3, 4})
	attrs := func(keep int64, axes ...int64) []*onnx.Attr {
		a := []*onnx.Attr{onnx.IntAttr("keepdims", keep)}
		if axes != nil {
			a = append(a, onnx.IntsAttr("axes", axes...))
		}
		return a
	}
	keep0 := []*onnx.Attr{onnx.IntAttr("keepdims", 0)}
	cases := []gradCase{
		{name: "ReduceSum/opset13_axes_input", op: "ReduceSum", opset: 13, attrs: keep0, in: []*tensor.Dense{x, i64s(1, -1)}},
		{name: "ReduceSum/opset11_attr_keep", op: "ReduceSum", opset: 11, attrs: attrs(1, 0), in: []*tensor.Dense{x}},
		{name: "ReduceSum/all", op: "ReduceSum", opset: 13, attrs: keep0, in: []*tensor.Dense{x}},
		{name: "ReduceMean/opset17_attr", op: "ReduceMean", opset: 17, attrs: attrs(0, -1), in: []*tensor.Dense{x}},
		{name: "ReduceMean/opset18_input_keep", op: "ReduceMean", opset: 18, in: []*tensor.Dense{x, i64s(0, 2)}},
		{name: "ReduceMean/all_keep", op: "ReduceMean", opset: 13, in: []*tensor.Dense{x}},
		{name: "ReduceSumSquare", op: "ReduceSumSquare", opset: 13, attrs: attrs(0, 1), in: []*tensor.Dense{x}},
		{name: "ReduceL2", op: "ReduceL2", opset: 13, attrs: attrs(1, 2), in: []*tensor.Dense{x}},
		{name: "ReduceLogSumExp", op: "ReduceLogSumExp", opset: 13, attrs: attrs(0, 0, 2), in: []*tensor.Dense{x}},
		{name: "ReduceMax", op: "ReduceMax", opset: 13, attrs: attrs(0, 1), in: []*tensor.Dense{x}},
		{name: "ReduceMin", op: "ReduceMin", opset: 13, attrs: attrs(1, 2), in: []*tensor.Dense{x}},
	}
	runGradCases(t, cases)
}
