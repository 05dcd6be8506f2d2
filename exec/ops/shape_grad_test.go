package ops_test

import (
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

func TestGradShape(t *testing.T) {
	x := func() *tensor.Dense { return randn(61, []int{2, 3, 4}) }
	img := func() *tensor.Dense { return randn(62, []int{1, 2, 3, 4}) }
	axis := func(a int64) *onnx.Attr { return onnx.IntAttr("axis", a) }
	cases := []gradCase{
		{name: "Reshape", op: "Reshape", in: []*tensor.Dense{x(), i64s(4, -1)}},
		{name: "Flatten", op: "Flatten", attrs: []*onnx.Attr{axis(2)}, in: []*tensor.Dense{x()}},
		{name: "Squeeze", op: "Squeeze", in: []*tensor.Dense{randn(63, []int{2, 1, 3}), i64s(1)}},
		{name: "Unsqueeze_opset11", op: "Unsqueeze", opset: 11, attrs: []*onnx.Attr{onnx.IntsAttr("axes", 0, 3)}, in: []*tensor.Dense{x()}},
		{name: "Transpose", op: "Transpose", attrs: []*onnx.Attr{onnx.IntsAttr("perm", 1, 2, 0)}, in: []*tensor.Dense{x()}},
		{name: "Transpose_default", op: "Transpose", in: []*tensor.Dense{x()}},
		{name: "Expand", op: "Expand", in: []*tensor.Dense{randn(64, []int{3, 1}), i64s(2, 3, 4)}},
		{name: "Concat", op: "Concat", attrs: []*onnx.Attr{axis(1)}, in: []*tensor.Dense{x(), randn(65, []int{2, 2, 4}), randn(66, []int{2, 1, 4})}},
		{name: "Concat_neg_axis", op: "Concat", attrs: []*onnx.Attr{axis(-1)}, in: []*tensor.Dense{x(), randn(65, []int{2, 3, 2})}},
		{name: "Split_opset13", op: "Split", opset: 13, nout: 2, attrs: []*onnx.Attr{axis(2)}, in: []*tensor.Dense{x(), i64s(1, 3)}},
		{name: "Split_opset11_attr", op: "Split", opset: 11, nout: 3, attrs: []*onnx.Attr{axis(1)}, in: []*tensor.Dense{x()}},
		{name: "Slice", op: "Slice", in: []*tensor.Dense{x(), i64s(0, 1), i64s(2, 4), i64s(1, 2)}},
		{name: "Slice_steps", op: "Slice", in: []*tensor.Dense{x(), i64s(-1, 0), i64s(-100, 4), i64s(2, 1), i64s(-2, 2)}},
		{name: "Gather_repeated", op: "Gather", attrs: []*onnx.Attr{axis(1)}, in: []*tensor.Dense{x(), i64s(2, 0, 2, -1)}},
		{name: "Gather_embedding", op: "Gather", in: []*tensor.Dense{randn(67, []int{5, 3}), tensor.FromI64([]int{2, 3}, []int64{1, 4, 1, 0, 0, 3})}},
		{name: "Tile", op: "Tile", in: []*tensor.Dense{x(), i64s(2, 1, 2)}},
		{name: "Pad_constant", op: "Pad", opset: 13, in: []*tensor.Dense{img(), i64s(0, 0, 1, 2, 0, 0, 2, 1), f64s(0.5)}, consts: []int{2}},
		{name: "Pad_constant_value_grad", op: "Pad", opset: 13, in: []*tensor.Dense{img(), i64s(0, 0, 1, 2, 0, 0, 2, 1), f64s(0.5)}},
		{name: "Pad_reflect", op: "Pad", opset: 13, attrs: []*onnx.Attr{onnx.StringAttr("mode", "reflect")}, in: []*tensor.Dense{img(), i64s(0, 0, 2, 1, 0, 0, 1, 3)}},
		{name: "Pad_edge", op: "Pad", opset: 13, attrs: []*onnx.Attr{onnx.StringAttr("mode", "edge")}, in: []*tensor.Dense{img(), i64s(0, 0, 2, 1, 0, 0, 1, 3)}},
		{name: "Pad_negative_crop", op: "Pad", opset: 13, in: []*tensor.Dense{img(), i64s(0, 0, -1, 1, 0, 0, 0, -2)}},
		{name: "Resize_nearest_x2", op: "Resize", opset: 13, attrs: []*onnx.Attr{onnx.StringAttr("mode", "nearest"), onnx.StringAttr("coordinate_transformation_mode", "asymmetric"), onnx.StringAttr("nearest_mode", "floor")},
			in: []*tensor.Dense{img(), nil, tensor.FromF64([]int{4}, []float64{1, 1, 2, 2})}, consts: []int{2}},
		{name: "Resize_nearest_half_pixel_sizes", op: "Resize", opset: 13, attrs: []*onnx.Attr{onnx.StringAttr("mode", "nearest")},
			in: []*tensor.Dense{img(), nil, nil, i64s(1, 2, 5, 3)}},
	}
	runGradCases(t, cases)
}
