package ops_test

import (
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// TestGradMaskScanMove checks the gradients of Trilu, CumSum, TopK,
// DepthToSpace and SpaceToDepth on odd shapes.
func TestGradMaskScanMove(t *testing.T) {
	k := func(v int64) *tensor.Dense { return tensor.FromI64(nil, []int64{v}) }
	attr := onnx.IntAttr
	str := onnx.StringAttr
	// TopK's cases keep only the values output: the checker differentiates
	// every output, and the indices are integers.
	cases := []gradCase{
		{name: "Trilu_upper", op: "Trilu", in: []*tensor.Dense{randn(91, []int{2, 3, 5})}},
		{name: "Trilu_lower_k-1", op: "Trilu", attrs: []*onnx.Attr{attr("upper", 0)}, in: []*tensor.Dense{randn(92, []int{5, 3}), k(-1)}},
		{name: "CumSum_axis1", op: "CumSum", in: []*tensor.Dense{randn(93, []int{2, 5, 3}), k(1)}},
		{name: "CumSum_exclusive_reverse", op: "CumSum", attrs: []*onnx.Attr{attr("exclusive", 1), attr("reverse", 1)}, in: []*tensor.Dense{randn(94, []int{3, 5}), k(-1)}},
		{name: "CumSum_exclusive", op: "CumSum", attrs: []*onnx.Attr{attr("exclusive", 1)}, in: []*tensor.Dense{randn(95, []int{7}), k(0)}},
		{name: "TopK_largest", op: "TopK", in: []*tensor.Dense{randn(96, []int{3, 7}), i64s(3)}},
		{name: "TopK_smallest_axis0", op: "TopK", attrs: []*onnx.Attr{attr("axis", 0), attr("largest", 0)}, in: []*tensor.Dense{randn(97, []int{5, 3, 2}), i64s(2)}},
		{name: "DepthToSpace_DCR", op: "DepthToSpace", attrs: []*onnx.Attr{attr("blocksize", 2)}, in: []*tensor.Dense{randn(98, []int{1, 12, 3, 2})}},
		{name: "DepthToSpace_CRD", op: "DepthToSpace", attrs: []*onnx.Attr{attr("blocksize", 3), str("mode", "CRD")}, in: []*tensor.Dense{randn(99, []int{2, 9, 1, 2})}},
		{name: "SpaceToDepth", op: "SpaceToDepth", attrs: []*onnx.Attr{attr("blocksize", 2)}, in: []*tensor.Dense{randn(100, []int{1, 3, 4, 6})}},
	}
	runGradCases(t, cases)
}
