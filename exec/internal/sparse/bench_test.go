package sparse

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/graft-ml/graft/exec/internal/gemm"
)

// BenchmarkMul times a fully connected layer's product, y = x·W with W
// K×N, on one thread: the sparse product (yᵀ = Wᵀ·xᵀ, xᵀ K×M) against
// the dense SGEMM with W packed once (as exec/ops runs a constant
// weight), at batch M and weight density d. The ratio of the two at each
// density gives the crossover exec uses (see exec/sparse.go).
func BenchmarkMul(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	const k, n = 2048, 2048
	for _, m := range []int{1, 8, 32} {
		x := make([]float32, m*k)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		y := make([]float32, m*n)
		for _, d := range []float64{0.02, 0.05, 0.1, 0.2, 0.3, 0.5} {
			w := randomSparse(r, k, n, d)
			a := FromDense(w, n, k, true)
			b.Run(fmt.Sprintf("sparse/%dx%d/m%d/d%g", k, n, m, d), func(b *testing.B) {
				for b.Loop() {
					a.Mul(0, n, y, m, x, m, m)
				}
				b.ReportMetric(2*float64(m*k*n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "effGFLOP/s")
			})
		}
		w := randomSparse(r, k, n, 1)
		pb := gemm.PackB(false, k, n, w, n)
		b.Run(fmt.Sprintf("dense/%dx%d/m%d", k, n, m), func(b *testing.B) {
			for b.Loop() {
				gemm.SgemmPackedB(1, false, m, 1, x, k, pb, 0, y, n)
			}
			b.ReportMetric(2*float64(m*k*n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "effGFLOP/s")
		})
	}
}
