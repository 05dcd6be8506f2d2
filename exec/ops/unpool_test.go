package ops_test

import (
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// TestGradMaxUnpool checks MaxUnpool's gathering gradient on an odd
// shape: X (1, 2, 2, 3) unpooled with a 2x2 window and stride 2 into
// (1, 2, 4, 6), each index inside its own window.
func TestGradMaxUnpool(t *testing.T) {
	is := onnx.IntsAttr
	idx := tensor.FromI64([]int{1, 2, 2, 3}, []int64{0, 3, 5, 13, 14, 23, 25, 26, 28, 42, 45, 47})
	cases := []gradCase{
		{name: "2x2_stride2", op: "MaxUnpool", attrs: []*onnx.Attr{is("kernel_shape", 2, 2), is("strides", 2, 2)},
			in: []*tensor.Dense{randn(251, []int{1, 2, 2, 3}), idx}},
	}
	runGradCases(t, cases)
}
