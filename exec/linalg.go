package exec

import "github.com/graft-ml/graft/exec/internal/gemm"

// Gram sets c (m×n, row-major) to a·bᵀ for a (m×k) and b (n×k), both
// row-major, with the executor's SGEMM on up to threads goroutines. It
// serves packages that contract activations and gradients outside a graph
// (ntk's kernels) at the speed the graph's own products run.
func Gram(threads, m, n, k int, a, b, c []float32) {
	gemm.SgemmParallel(threads, false, true, m, n, k, 1, a, k, b, k, 0, c, n)
}

// MatMul sets c (m×n) to a (m×k) · b (k×n), all row-major, with the
// executor's SGEMM on up to threads goroutines.
func MatMul(threads, m, n, k int, a, b, c []float32) {
	gemm.SgemmParallel(threads, false, false, m, n, k, 1, a, k, b, n, 0, c, n)
}
