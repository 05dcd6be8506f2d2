package ops_test

import (
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// TestGradGatherScatter checks GatherElements, GatherND and the scatters
// on odd shapes, with repeated and negative indices where the op allows
// them (a repeated gather index sums its gradients).
func TestGradGatherScatter(t *testing.T) {
	axis := func(a int64) *onnx.Attr { return onnx.IntAttr("axis", a) }
	add := onnx.StringAttr("reduction", "add")
	idx := func(shape []int, v ...int64) *tensor.Dense { return tensor.FromI64(shape, v) }
	// 3x5 data; 2x5 and 3x2 index tensors along axes 0 and 1.
	ge0 := idx([]int{2, 5}, 0, 2, -1, 1, 0, 2, 2, 0, 1, 1)
	ge1 := idx([]int{3, 2}, 4, 4, -5, 2, 1, 3)
	// distinct scatter indices along axis 1 (rows of 3 into width 5)
	se1 := idx([]int{3, 3}, 4, 0, 2, 1, 3, -1, 0, 1, 2)
	cases := []gradCase{
		{name: "GatherElements_axis0_repeated", op: "GatherElements", attrs: []*onnx.Attr{axis(0)}, in: []*tensor.Dense{randn(71, []int{3, 5}), ge0}},
		{name: "GatherElements_axis1_negative", op: "GatherElements", attrs: []*onnx.Attr{axis(-1)}, in: []*tensor.Dense{randn(72, []int{3, 5}), ge1}},
		{name: "GatherElements_3d", op: "GatherElements", attrs: []*onnx.Attr{axis(1)}, in: []*tensor.Dense{randn(73, []int{2, 3, 3}), idx([]int{2, 2, 3}, 0, 2, 1, 1, 1, 0, 2, 0, 0, 1, 2, 2)}},
		{name: "GatherND_pairs", op: "GatherND", in: []*tensor.Dense{randn(74, []int{3, 4, 5}), idx([]int{3, 2}, 0, 1, 2, 3, 0, 1)}},
		{name: "GatherND_batch_dims1", op: "GatherND", attrs: []*onnx.Attr{onnx.IntAttr("batch_dims", 1)}, in: []*tensor.Dense{randn(75, []int{2, 3, 5}), idx([]int{2, 2, 1}, 2, -1, 0, 0)}},
		{name: "ScatterElements_axis1", op: "ScatterElements", attrs: []*onnx.Attr{axis(1)}, in: []*tensor.Dense{randn(76, []int{3, 5}), se1, randn(77, []int{3, 3})}},
		{name: "ScatterElements_add_duplicates", op: "ScatterElements", attrs: []*onnx.Attr{axis(0), add}, in: []*tensor.Dense{randn(78, []int{3, 5}), ge0, randn(79, []int{2, 5})}},
		{name: "ScatterND_rows", op: "ScatterND", in: []*tensor.Dense{randn(80, []int{4, 3}), idx([]int{2, 1}, 3, 1), randn(81, []int{2, 3})}},
		{name: "ScatterND_elements_add", op: "ScatterND", opset: 16, attrs: []*onnx.Attr{add}, in: []*tensor.Dense{randn(82, []int{4, 3}), idx([]int{3, 2}, 3, 1, 0, 0, 3, 1), randn(83, []int{3})}},
	}
	runGradCases(t, cases)
}
