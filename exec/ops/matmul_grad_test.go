package ops_test

import (
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

func TestGradMatmul(t *testing.T) {
	r := func(seed uint64, shape ...int) *tensor.Dense { return randn(seed, shape) }
	gemm := func(alpha, beta float32, ta, tb int64) []*onnx.Attr {
		return []*onnx.Attr{onnx.FloatAttr("alpha", alpha), onnx.FloatAttr("beta", beta), onnx.IntAttr("transA", ta), onnx.IntAttr("transB", tb)}
	}
	cases := []gradCase{
		{name: "Gemm/plain_bias_row", op: "Gemm", in: []*tensor.Dense{r(1, 3, 4), r(2, 4, 5), r(3, 5)}},
		{name: "Gemm/transB_linear", op: "Gemm", attrs: gemm(1, 1, 0, 1), in: []*tensor.Dense{r(1, 3, 4), r(2, 5, 4), r(3, 5)}},
		{name: "Gemm/transA_alpha_beta_colbias", op: "Gemm", attrs: gemm(0.7, 1.3, 1, 0), in: []*tensor.Dense{r(1, 4, 3), r(2, 4, 5), r(3, 3, 1)}},
		{name: "Gemm/transAB_fullC", op: "Gemm", attrs: gemm(-1.5, 0.5, 1, 1), in: []*tensor.Dense{r(1, 4, 3), r(2, 5, 4), r(3, 3, 5)}},
		{name: "Gemm/scalarC", op: "Gemm", attrs: gemm(1, 2, 0, 0), in: []*tensor.Dense{r(1, 2, 3), r(2, 3, 2), r(3)}},
		{name: "Gemm/noC", op: "Gemm", in: []*tensor.Dense{r(1, 2, 3), r(2, 3, 2)}},
		{name: "MatMul/2d", op: "MatMul", in: []*tensor.Dense{r(1, 3, 4), r(2, 4, 5)}},
		{name: "MatMul/batched", op: "MatMul", in: []*tensor.Dense{r(1, 2, 3, 4), r(2, 2, 4, 5)}},
		{name: "MatMul/bcast_weight", op: "MatMul", in: []*tensor.Dense{r(1, 2, 3, 4), r(2, 4, 5)}},
		{name: "MatMul/bcast_both", op: "MatMul", in: []*tensor.Dense{r(1, 2, 1, 3, 4), r(2, 3, 4, 2)}},
		{name: "MatMul/vec_mat", op: "MatMul", in: []*tensor.Dense{r(1, 4), r(2, 2, 4, 5)}},
		{name: "MatMul/mat_vec", op: "MatMul", in: []*tensor.Dense{r(1, 2, 3, 4), r(2, 4)}},
		{name: "MatMul/dot", op: "MatMul", in: []*tensor.Dense{r(1, 4), r(2, 4)}},
	}
	runGradCases(t, cases)
}
