package ops_test

import (
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// TestGradGridSample checks GridSampleGrad's dX and dgrid against finite
// differences on odd shapes, with grid points up to 1.6 outside [-1, 1]
// so that every padding mode's clamp or reflection is crossed. Random
// points lie on a kink (an integer source coordinate, a bound) with
// probability zero.
func TestGradGridSample(t *testing.T) {
	s, i := onnx.StringAttr, onnx.IntAttr
	x := func() *tensor.Dense { return randn(231, []int{2, 3, 4, 5}) }
	grid := func() *tensor.Dense { return scaled(randn(232, []int{2, 3, 2, 2}), 0.9, 0) }
	var cases []gradCase
	for _, pad := range []string{"zeros", "border", "reflection"} {
		for _, align := range []int64{0, 1} {
			name := "bilinear_" + pad
			if align == 1 {
				name += "_align"
			}
			cases = append(cases, gradCase{name: name, op: "GridSample", opset: 16,
				attrs: []*onnx.Attr{s("padding_mode", pad), i("align_corners", align)}, in: []*tensor.Dense{x(), grid()}})
		}
	}
	cases = append(cases, gradCase{name: "nearest_border", op: "GridSample", opset: 16,
		attrs: []*onnx.Attr{s("mode", "nearest"), s("padding_mode", "border")}, in: []*tensor.Dense{x(), grid()}})
	runGradCases(t, cases)
}
