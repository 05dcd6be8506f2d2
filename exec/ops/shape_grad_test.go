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
		// Linear and cubic mix elements: ResizeGrad, the interpolation's
		// transpose, against finite differences of the forward op.
		{name: "Resize_linear_x2_pytorch_half_pixel", op: "Resize", opset: 13, attrs: []*onnx.Attr{onnx.StringAttr("mode", "linear"), onnx.StringAttr("coordinate_transformation_mode", "pytorch_half_pixel")},
			in: []*tensor.Dense{img(), nil, scales(1, 1, 2, 2)}, consts: []int{2}},
		{name: "Resize_linear_align_corners_sizes", op: "Resize", opset: 13, attrs: []*onnx.Attr{onnx.StringAttr("mode", "linear"), onnx.StringAttr("coordinate_transformation_mode", "align_corners")},
			in: []*tensor.Dense{img(), nil, nil, i64s(1, 2, 7, 5)}},
		{name: "Resize_linear_down", op: "Resize", opset: 13, attrs: []*onnx.Attr{onnx.StringAttr("mode", "linear")},
			in: []*tensor.Dense{randn(68, []int{1, 2, 5, 7}), nil, nil, i64s(1, 2, 3, 2)}},
		{name: "Resize_linear_axes_opset18", op: "Resize", opset: 18, attrs: []*onnx.Attr{onnx.StringAttr("mode", "linear"), onnx.IntsAttr("axes", 3, 1)},
			in: []*tensor.Dense{img(), nil, scales(1.5, 2)}, consts: []int{2}},
		{name: "Resize_cubic_x2", op: "Resize", opset: 13, attrs: []*onnx.Attr{onnx.StringAttr("mode", "cubic")},
			in: []*tensor.Dense{img(), nil, scales(1, 1, 2, 2)}, consts: []int{2}},
		{name: "Resize_cubic_exclude_outside_asymmetric", op: "Resize", opset: 13, attrs: []*onnx.Attr{onnx.StringAttr("mode", "cubic"), onnx.IntAttr("exclude_outside", 1), onnx.FloatAttr("cubic_coeff_a", -0.5), onnx.StringAttr("coordinate_transformation_mode", "asymmetric")},
			in: []*tensor.Dense{img(), nil, nil, i64s(1, 2, 4, 6)}},
		{name: "Resize_linear_tf_crop_and_resize", op: "Resize", opset: 13, attrs: []*onnx.Attr{onnx.StringAttr("mode", "linear"), onnx.StringAttr("coordinate_transformation_mode", "tf_crop_and_resize"), onnx.FloatAttr("extrapolation_value", 0.5)},
			in: []*tensor.Dense{img(), tensor.FromF64([]int{8}, []float64{0, 0, -0.2, 0.1, 1, 1, 0.9, 1.3}), nil, i64s(1, 2, 4, 5)}, consts: []int{1}},
	}
	runGradCases(t, cases)
}

func scales(v ...float64) *tensor.Dense { return tensor.FromF64([]int{len(v)}, v) }
