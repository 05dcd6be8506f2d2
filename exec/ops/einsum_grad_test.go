package ops_test

import (
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// TestGradEinsum checks Einsum's rule (an Einsum of dy and the other
// operands) on odd shapes: contractions, batch labels, an unused label
// (restored by Expand), size-1 broadcasting, ellipses and diagonals.
func TestGradEinsum(t *testing.T) {
	eq := func(s string) []*onnx.Attr { return []*onnx.Attr{onnx.StringAttr("equation", s)} }
	cases := []gradCase{
		{name: "matmul", op: "Einsum", opset: 12, attrs: eq("ij,jk->ik"), in: []*tensor.Dense{randn(111, []int{3, 5}), randn(112, []int{5, 2})}},
		{name: "attention", op: "Einsum", opset: 12, attrs: eq("bhqd,bhkd->bhqk"), in: []*tensor.Dense{randn(113, []int{2, 3, 5, 4}), randn(114, []int{2, 3, 3, 4})}},
		{name: "implicit_transpose", op: "Einsum", opset: 12, attrs: eq("ji"), in: []*tensor.Dense{randn(115, []int{3, 5})}},
		{name: "summed_label", op: "Einsum", opset: 12, attrs: eq("ij,kj->i"), in: []*tensor.Dense{randn(116, []int{3, 4}), randn(117, []int{5, 4})}},
		{name: "ellipsis_broadcast", op: "Einsum", opset: 12, attrs: eq("...ij,...jk->...ik"), in: []*tensor.Dense{randn(118, []int{2, 1, 3, 4}), randn(119, []int{3, 4, 2})}},
		{name: "size_one", op: "Einsum", opset: 12, attrs: eq("ij,ij->ij"), in: []*tensor.Dense{randn(120, []int{3, 1}), randn(121, []int{3, 5})}},
		{name: "trace", op: "Einsum", opset: 12, attrs: eq("ii"), in: []*tensor.Dense{randn(125, []int{4, 4})}},
		{name: "batch_diagonal", op: "Einsum", opset: 12, attrs: eq("...ii->...i"), in: []*tensor.Dense{randn(126, []int{2, 3, 3})}},
		{name: "diagonal_times_matrix", op: "Einsum", opset: 12, attrs: eq("iij,jk->ik"), in: []*tensor.Dense{randn(127, []int{3, 3, 2}), randn(128, []int{2, 5})}},
		{name: "three_operands", op: "Einsum", opset: 12, attrs: eq("bn,anm,bm->ba"), in: []*tensor.Dense{randn(122, []int{3, 4}), randn(123, []int{5, 4, 2}), randn(124, []int{3, 2})}},
	}
	runGradCases(t, cases)
}
