package ops_test

import (
	"math"
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// within maps normal values into (lo, hi) through tanh, for functions
// defined on an interval.
func within(d *tensor.Dense, lo, hi float64) *tensor.Dense {
	for i, v := range d.F64 {
		d.F64[i] = lo + (hi-lo)*(math.Tanh(v)+1)/2
	}
	return d
}

// TestGradUnaryExtra checks the trigonometric, hyperbolic and activation
// rows of unary_extra.go against finite differences on odd shapes, away
// from the kinks of Celu, Shrink and ThresholdedRelu (randn's avoid list).
func TestGradUnaryExtra(t *testing.T) {
	f := onnx.FloatAttr
	odd := []int{3, 5}
	cases := []gradCase{
		{name: "Tan", op: "Tan", in: []*tensor.Dense{within(randn(201, odd), -1.2, 1.2)}},
		{name: "Asin", op: "Asin", in: []*tensor.Dense{within(randn(202, odd), -0.9, 0.9)}},
		{name: "Acos", op: "Acos", in: []*tensor.Dense{within(randn(203, odd), -0.9, 0.9)}},
		{name: "Atan", op: "Atan", in: []*tensor.Dense{scaled(randn(204, odd), 2, 0)}},
		{name: "Sinh", op: "Sinh", in: []*tensor.Dense{randn(205, []int{2, 3, 7})}},
		{name: "Cosh", op: "Cosh", in: []*tensor.Dense{randn(206, []int{7})}},
		{name: "Asinh", op: "Asinh", in: []*tensor.Dense{scaled(randn(207, odd), 3, 0)}},
		{name: "Acosh", op: "Acosh", in: []*tensor.Dense{within(randn(208, odd), 1.1, 5)}},
		{name: "Atanh", op: "Atanh", in: []*tensor.Dense{within(randn(209, odd), -0.9, 0.9)}},
		{name: "Softsign", op: "Softsign", in: []*tensor.Dense{randn(210, []int{1, 9}, 0)}},
		{name: "Celu", op: "Celu", attrs: []*onnx.Attr{f("alpha", 1.5)}, in: []*tensor.Dense{randn(211, odd, 0)}},
		{name: "Shrink_soft", op: "Shrink", attrs: []*onnx.Attr{f("lambd", 0.5), f("bias", 0.2)}, in: []*tensor.Dense{randn(212, odd, -0.5, 0.5)}},
		{name: "Shrink_hard", op: "Shrink", attrs: []*onnx.Attr{f("lambd", 0.3)}, in: []*tensor.Dense{randn(213, []int{4, 3}, -0.3, 0.3)}},
		{name: "ThresholdedRelu", op: "ThresholdedRelu", attrs: []*onnx.Attr{f("alpha", 0.3)}, in: []*tensor.Dense{randn(214, odd, 0.3)}},
	}
	runGradCases(t, cases)
}
