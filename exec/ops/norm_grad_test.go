package ops_test

import (
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

func TestGradNorm(t *testing.T) {
	r := func(seed uint64, shape ...int) *tensor.Dense { return randn(seed, shape) }
	variance := func(seed uint64, n int) *tensor.Dense {
		d := randn(seed, []int{n})
		for i, v := range d.F64 {
			d.F64[i] = v*v + 0.5
		}
		return d
	}
	cases := []gradCase{
		{name: "BatchNormalization/4d", op: "BatchNormalization", opset: 15, attrs: []*onnx.Attr{onnx.FloatAttr("epsilon", 1e-3)},
			in: []*tensor.Dense{r(1, 2, 3, 4, 4), r(2, 3), r(3, 3), r(4, 3), variance(5, 3)}},
		{name: "BatchNormalization/2d_fixed_stats", op: "BatchNormalization", opset: 13,
			in: []*tensor.Dense{r(1, 4, 3), r(2, 3), r(3, 3), r(4, 3), variance(5, 3)}, fixed: []int{3, 4}},
		{name: "LayerNormalization/last_axis", op: "LayerNormalization", in: []*tensor.Dense{r(1, 2, 3, 8), r(2, 8), r(3, 8)}},
		{name: "LayerNormalization/axis1_bcast_scale", op: "LayerNormalization", attrs: []*onnx.Attr{onnx.IntAttr("axis", 1), onnx.FloatAttr("epsilon", 1e-3)},
			in: []*tensor.Dense{r(1, 2, 3, 4), r(2, 1, 4), r(3, 3, 1)}},
		{name: "LayerNormalization/no_bias", op: "LayerNormalization", in: []*tensor.Dense{r(1, 3, 6), r(2, 6)}},
		{name: "InstanceNormalization/4d", op: "InstanceNormalization", attrs: []*onnx.Attr{onnx.FloatAttr("epsilon", 1e-3)},
			in: []*tensor.Dense{r(1, 2, 3, 4, 5), r(2, 3), r(3, 3)}},
		{name: "InstanceNormalization/3d", op: "InstanceNormalization", in: []*tensor.Dense{r(1, 3, 2, 7), r(2, 2), r(3, 2)}},
	}
	runGradCases(t, cases)
}
