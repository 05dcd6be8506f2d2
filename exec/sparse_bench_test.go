package exec

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// BenchmarkSparseGemm times one Gemm layer (transB, bias) at the given
// weight density, sparse against dense, on two threads.
func BenchmarkSparseGemm(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	type shape struct{ k, n int }
	for _, sh := range []shape{{2048, 10}, {784, 2048}, {2048, 2048}} {
		for _, m := range []int{1, 32} {
			for _, d := range []float64{0.1} {
				x := prunedTensor(r, 1, m, sh.k)
				w := prunedTensor(r, d, sh.n, sh.k)
				bias := prunedTensor(r, 1, sh.n)
				model := oneNodeModelB(b, "Gemm", x, []*tensor.Dense{w, bias})
				for _, mode := range []SparseMode{SparseOff, SparseOn} {
					b.Run(fmt.Sprintf("%dx%d/m%d/d%g/%s", sh.k, sh.n, m, d, mode), func(b *testing.B) {
						p, err := CompileWith(model, Options{Sparse: mode})
						if err != nil {
							b.Fatal(err)
						}
						p.Threads = 2
						in := map[string]*tensor.Dense{"x": x}
						for b.Loop() {
							if _, err := p.Run(in, RunOptions{}); err != nil {
								b.Fatal(err)
							}
						}
					})
				}
			}
		}
	}
}

// BenchmarkSparseConv times 3×3 convolutions (padding 1) at 10 % weight
// density, sparse against dense, on two threads: the Fashion-MNIST CNN's
// second and third layers and a ResNet-18 layer1 convolution.
func BenchmarkSparseConv(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	type shape struct{ cin, cout, hw int }
	for _, sh := range []shape{{32, 64, 14}, {64, 64, 7}, {64, 64, 56}} {
		for _, batch := range []int{1, 32} {
			if sh.hw == 56 && batch == 32 {
				continue
			}
			for _, d := range []float64{0.1} {
				x := prunedTensor(r, 1, batch, sh.cin, sh.hw, sh.hw)
				w := prunedTensor(r, d, sh.cout, sh.cin, 3, 3)
				bias := prunedTensor(r, 1, sh.cout)
				model := oneNodeModel(b, "Conv", x, []*tensor.Dense{w, bias}, true, onnx.IntsAttr("pads", 1, 1, 1, 1))
				for _, mode := range []SparseMode{SparseOff, SparseOn} {
					b.Run(fmt.Sprintf("%dx%d_%dx%d/b%d/d%g/%s", sh.cin, sh.cout, sh.hw, sh.hw, batch, d, mode), func(b *testing.B) {
						p, err := CompileWith(model, Options{Sparse: mode})
						if err != nil {
							b.Fatal(err)
						}
						p.Threads = 2
						in := map[string]*tensor.Dense{"x": x}
						for b.Loop() {
							if _, err := p.Run(in, RunOptions{}); err != nil {
								b.Fatal(err)
							}
						}
					})
				}
			}
		}
	}
}
