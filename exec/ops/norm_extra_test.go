package ops_test

import (
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// TestGradLRNMVN checks LRNGrad and MeanVarianceNormalizationGrad against
// finite differences on odd shapes and window sizes.
func TestGradLRNMVN(t *testing.T) {
	f, i, is := onnx.FloatAttr, onnx.IntAttr, onnx.IntsAttr
	cases := []gradCase{
		{name: "LRN_size3", op: "LRN", attrs: []*onnx.Attr{i("size", 3), f("alpha", 0.5), f("beta", 0.75), f("bias", 1.5)},
			in: []*tensor.Dense{randn(241, []int{2, 5, 3, 1})}},
		{name: "LRN_size4_2d", op: "LRN", attrs: []*onnx.Attr{i("size", 4), f("alpha", 0.3)}, in: []*tensor.Dense{randn(242, []int{3, 7})}},
		{name: "MVN_default_axes", op: "MeanVarianceNormalization", in: []*tensor.Dense{randn(243, []int{2, 3, 3, 5})}},
		{name: "MVN_last_axis", op: "MeanVarianceNormalization", attrs: []*onnx.Attr{is("axes", -1)}, in: []*tensor.Dense{randn(244, []int{3, 7})}},
	}
	runGradCases(t, cases)
}
