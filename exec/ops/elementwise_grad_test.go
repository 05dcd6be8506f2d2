package ops_test

import (
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

func TestGradElementwise(t *testing.T) {
	a := func() *tensor.Dense { return randn(1, []int{2, 3, 4}) }
	b := func() *tensor.Dense { return randn(2, []int{2, 3, 4}) }
	pos := func(seed uint64, shape ...int) *tensor.Dense {
		d := randn(seed, shape)
		for i, v := range d.F64 {
			if v < 0 {
				v = -v
			}
			d.F64[i] = v + 0.5
		}
		return d
	}
	cases := []gradCase{
		{name: "Add", op: "Add", in: []*tensor.Dense{a(), b()}},
		{name: "Add_bcast_bias", op: "Add", in: []*tensor.Dense{a(), randn(3, []int{4})}},
		{name: "Add_bcast_both", op: "Add", in: []*tensor.Dense{randn(3, []int{2, 1, 4}), randn(4, []int{3, 1})}},
		{name: "Sub_bcast", op: "Sub", in: []*tensor.Dense{a(), randn(3, []int{3, 1})}},
		{name: "Mul_bcast_scalar", op: "Mul", in: []*tensor.Dense{a(), randn(3, nil)}},
		{name: "Mul_same_input", op: "Mul", in: []*tensor.Dense{a(), b()}},
		{name: "Div", op: "Div", in: []*tensor.Dense{a(), pos(5, 2, 3, 4)}},
		{name: "Div_bcast", op: "Div", in: []*tensor.Dense{a(), pos(5, 1, 3, 1)}},
		{name: "Pow", op: "Pow", in: []*tensor.Dense{pos(6, 2, 3), randn(7, []int{2, 3})}},
		{name: "Pow_const_exp", op: "Pow", in: []*tensor.Dense{pos(6, 2, 3), f64s(2)}, consts: []int{1}},
		{name: "Sqrt", op: "Sqrt", in: []*tensor.Dense{pos(8, 2, 5)}},
		{name: "Log", op: "Log", in: []*tensor.Dense{pos(8, 2, 5)}},
		{name: "Exp", op: "Exp", in: []*tensor.Dense{a()}},
		{name: "Neg", op: "Neg", in: []*tensor.Dense{a()}},
		{name: "Abs", op: "Abs", in: []*tensor.Dense{randn(9, []int{10}, 0)}},
		{name: "Reciprocal", op: "Reciprocal", in: []*tensor.Dense{pos(8, 2, 5)}},
		{name: "Relu", op: "Relu", in: []*tensor.Dense{randn(9, []int{3, 7}, 0)}},
		{name: "LeakyRelu", op: "LeakyRelu", attrs: []*onnx.Attr{onnx.FloatAttr("alpha", 0.1)}, in: []*tensor.Dense{randn(9, []int{3, 7}, 0)}},
		{name: "Sigmoid", op: "Sigmoid", in: []*tensor.Dense{a()}},
		{name: "Tanh", op: "Tanh", in: []*tensor.Dense{a()}},
		{name: "Erf", op: "Erf", in: []*tensor.Dense{a()}},
		{name: "Softplus", op: "Softplus", in: []*tensor.Dense{a()}},
		{name: "Gelu", op: "Gelu", opset: 20, in: []*tensor.Dense{scaled(a(), 2, 0)}},
		{name: "Gelu_tanh", op: "Gelu", opset: 20, attrs: []*onnx.Attr{onnx.StringAttr("approximate", "tanh")}, in: []*tensor.Dense{scaled(a(), 2, 0)}},
		{name: "Elu", op: "Elu", in: []*tensor.Dense{randn(9, []int{3, 7}, 0)}},
		{name: "Sin", op: "Sin", in: []*tensor.Dense{a()}},
		{name: "Cos", op: "Cos", in: []*tensor.Dense{a()}},
		{name: "HardSigmoid", op: "HardSigmoid", attrs: []*onnx.Attr{onnx.FloatAttr("alpha", 0.3), onnx.FloatAttr("beta", 0.4)},
			in: []*tensor.Dense{scaled(randn(10, []int{4, 8}, -4.0/3, 2), 3, 0)}},
		{name: "HardSwish", op: "HardSwish", in: []*tensor.Dense{scaled(randn(10, []int{4, 8}, -1, 1), 3, 0)}},
		{name: "Clip_both", op: "Clip", in: []*tensor.Dense{randn(11, []int{4, 6}, -0.5, 0.7), f64s(-0.5), f64s(0.7)}, consts: []int{1, 2}},
		{name: "Clip_min_only", op: "Clip", in: []*tensor.Dense{randn(11, []int{4, 6}, -0.5), f64s(-0.5)}, consts: []int{1}},
		{name: "Clip_max_only", op: "Clip", in: []*tensor.Dense{randn(11, []int{4, 6}, 0.7), nil, f64s(0.7)}, consts: []int{2}},
		{name: "Clip_opset11_bounds_as_inputs", op: "Clip", opset: 11, in: []*tensor.Dense{randn(11, []int{4, 6}, 0, 6), f64s(0), f64s(6)}},
		{name: "Sum3_bcast", op: "Sum", in: []*tensor.Dense{a(), randn(12, []int{4}), randn(13, []int{3, 1})}},
		{name: "Mean2", op: "Mean", in: []*tensor.Dense{a(), b()}},
		{name: "Max2", op: "Max", in: []*tensor.Dense{a(), b()}},
		{name: "Min_bcast", op: "Min", in: []*tensor.Dense{a(), randn(14, []int{4})}},
		{name: "PRelu_channel", op: "PRelu", in: []*tensor.Dense{randn(15, []int{2, 3, 4}, 0), randn(16, []int{3, 1})}},
		{name: "Where_bcast", op: "Where", in: []*tensor.Dense{
			{DType: tensor.Bool, Shape: []int{3, 4}, I64: []int64{1, 0, 0, 1, 1, 1, 0, 0, 1, 0, 1, 0}},
			a(), randn(17, []int{4})}},
	}
	runGradCases(t, cases)
}
