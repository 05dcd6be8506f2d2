package ops_test

import (
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// TestGradLoss checks the loss ops' private gradient kernels against finite
// differences: each reduction, class weights, an ignored target, extra
// spatial dims, and SoftmaxCrossEntropyLoss's log_prob output.
func TestGradLoss(t *testing.T) {
	red := func(r string) *onnx.Attr { return onnx.StringAttr("reduction", r) }
	ii := onnx.IntAttr("ignore_index", -1)
	// N=3, C=4, one spatial dim of 2; the second target of row 1 is ignored
	target := tensor.FromI64([]int{3, 2}, []int64{0, 3, 2, -1, 1, 1})
	flat := tensor.FromI64([]int{5}, []int64{0, 3, 2, 2, 1})
	w := tensor.FromF64([]int{4}, []float64{0.5, 1, 2, 1.5})
	x := func(seed uint64) *tensor.Dense { return randn(seed, []int{3, 4, 2}) }
	cases := []gradCase{
		{name: "NLL_mean", op: "NegativeLogLikelihoodLoss", in: []*tensor.Dense{randn(131, []int{5, 4}), flat}},
		{name: "NLL_sum_weight_ignore", op: "NegativeLogLikelihoodLoss", attrs: []*onnx.Attr{red("sum"), ii}, in: []*tensor.Dense{x(132), target, w}, fixed: []int{2}},
		{name: "NLL_none_ignore", op: "NegativeLogLikelihoodLoss", attrs: []*onnx.Attr{red("none"), ii}, in: []*tensor.Dense{x(133), target}},
		{name: "NLL_mean_weight_ignore", op: "NegativeLogLikelihoodLoss", attrs: []*onnx.Attr{ii}, in: []*tensor.Dense{x(134), target, w}, fixed: []int{2}},
		{name: "SCE_mean", op: "SoftmaxCrossEntropyLoss", in: []*tensor.Dense{randn(135, []int{5, 4}), flat}},
		{name: "SCE_none_weight_ignore", op: "SoftmaxCrossEntropyLoss", attrs: []*onnx.Attr{red("none"), ii}, in: []*tensor.Dense{x(136), target, w}, fixed: []int{2}},
		{name: "SCE_mean_weight_ignore_log_prob", op: "SoftmaxCrossEntropyLoss", nout: 2, attrs: []*onnx.Attr{ii}, in: []*tensor.Dense{x(137), target, w}, fixed: []int{2}},
		{name: "SCE_sum_log_prob", op: "SoftmaxCrossEntropyLoss", nout: 2, attrs: []*onnx.Attr{red("sum")}, in: []*tensor.Dense{randn(138, []int{5, 4}), flat}},
	}
	runGradCases(t, cases)
}
