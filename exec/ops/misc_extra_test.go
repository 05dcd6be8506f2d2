package ops_test

import (
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// TestGradReverseCompress checks the gradients of ReverseSequence (its
// own transpose) and Compress (scattered back) on odd shapes.
func TestGradReverseCompress(t *testing.T) {
	attr := onnx.IntAttr
	cond := &tensor.Dense{DType: tensor.Bool, Shape: []int{4}, I64: []int64{1, 0, 1, 1}}
	cases := []gradCase{
		{name: "ReverseSequence_time0", op: "ReverseSequence", in: []*tensor.Dense{randn(221, []int{5, 3, 2}), i64s(5, 2, 0)}},
		{name: "ReverseSequence_batch0", op: "ReverseSequence", attrs: []*onnx.Attr{attr("batch_axis", 0), attr("time_axis", 1)},
			in: []*tensor.Dense{randn(222, []int{2, 7}), i64s(3, 7)}},
		{name: "Compress_axis1", op: "Compress", attrs: []*onnx.Attr{attr("axis", 1)}, in: []*tensor.Dense{randn(223, []int{3, 5, 2}), cond}},
		{name: "Compress_flat", op: "Compress", in: []*tensor.Dense{randn(224, []int{3, 3}), cond}},
	}
	runGradCases(t, cases)
}
