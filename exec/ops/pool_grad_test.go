package ops_test

import (
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

func TestGradPool(t *testing.T) {
	// Distinct values keep every window's maximum unique and at least
	// 1e-3 from the runner-up (normal draws rarely come that close in
	// these small windows; the seed was checked).
	x := func(shape ...int) *tensor.Dense { return randn(31, shape) }
	win := func(k, s, p []int64, extra ...*onnx.Attr) []*onnx.Attr {
		a := []*onnx.Attr{onnx.IntsAttr("kernel_shape", k...)}
		if s != nil {
			a = append(a, onnx.IntsAttr("strides", s...))
		}
		if p != nil {
			a = append(a, onnx.IntsAttr("pads", p...))
		}
		return append(a, extra...)
	}
	cases := []gradCase{
		{name: "MaxPool/3x3_s2_p1", op: "MaxPool", attrs: win([]int64{3, 3}, []int64{2, 2}, []int64{1, 1, 1, 1}), in: []*tensor.Dense{x(2, 2, 6, 6)}},
		{name: "MaxPool/2x2_s2", op: "MaxPool", attrs: win([]int64{2, 2}, []int64{2, 2}, nil), in: []*tensor.Dense{x(1, 3, 4, 6)}},
		{name: "MaxPool/overlap_ceil", op: "MaxPool", attrs: win([]int64{3, 2}, []int64{2, 1}, nil, onnx.IntAttr("ceil_mode", 1)), in: []*tensor.Dense{x(1, 2, 6, 5)}},
		{name: "MaxPool/dilated_1d", op: "MaxPool", attrs: win([]int64{2}, nil, nil, onnx.IntsAttr("dilations", 2)), in: []*tensor.Dense{x(2, 2, 7)}},
		{name: "AveragePool/2x2", op: "AveragePool", attrs: win([]int64{2, 2}, []int64{2, 2}, nil), in: []*tensor.Dense{x(2, 2, 4, 4)}},
		{name: "AveragePool/3x3_s2_p1_exclude", op: "AveragePool", attrs: win([]int64{3, 3}, []int64{2, 2}, []int64{1, 1, 1, 1}), in: []*tensor.Dense{x(1, 2, 5, 6)}},
		{name: "AveragePool/3x3_s2_p1_include", op: "AveragePool", attrs: win([]int64{3, 3}, []int64{2, 2}, []int64{1, 1, 1, 1}, onnx.IntAttr("count_include_pad", 1)), in: []*tensor.Dense{x(1, 2, 5, 6)}},
		{name: "AveragePool/ceil_include", op: "AveragePool", attrs: win([]int64{2, 2}, []int64{2, 2}, []int64{1, 0, 0, 1}, onnx.IntAttr("ceil_mode", 1), onnx.IntAttr("count_include_pad", 1)), in: []*tensor.Dense{x(1, 1, 5, 5)}},
		{name: "GlobalAveragePool", op: "GlobalAveragePool", in: []*tensor.Dense{x(2, 3, 4, 5)}},
		{name: "GlobalMaxPool", op: "GlobalMaxPool", in: []*tensor.Dense{x(2, 3, 4, 5)}},
	}
	runGradCases(t, cases)
}
