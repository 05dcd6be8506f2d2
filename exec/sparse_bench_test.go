package exec

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// BenchmarkSparseCrossover times single layers with weights of several
// densities dense (SparseOff) and sparse (SparseOn) on two threads and
// reports dense_ms, sparse_ms and their ratio (above 1: sparse is
// faster), each the median of its runs. The two programs alternate in
// blocks of runs so that a busy machine's load falls on both alike. The
// densities at which the ratio crosses 1 are where SparseCrossover comes
// from:
//
//	go test ./exec -run XXX -bench SparseCrossover -benchtime 1x
func BenchmarkSparseCrossover(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	type layer struct {
		name  string
		x     []int
		w     []int
		op    string
		attrs []*onnx.Attr
	}
	layers := []layer{
		{"fc_2048x2048/b1", []int{1, 2048}, []int{2048, 2048}, "Gemm", []*onnx.Attr{onnx.IntAttr("transB", 1)}},
		{"fc_2048x2048/b32", []int{32, 2048}, []int{2048, 2048}, "Gemm", []*onnx.Attr{onnx.IntAttr("transB", 1)}},
		{"fc_784x2048/b1", []int{1, 784}, []int{2048, 784}, "Gemm", []*onnx.Attr{onnx.IntAttr("transB", 1)}},
		{"conv3x3_32x64_14x14/b1", []int{1, 32, 14, 14}, []int{64, 32, 3, 3}, "Conv", []*onnx.Attr{onnx.IntsAttr("pads", 1, 1, 1, 1)}},
		{"conv3x3_32x64_14x14/b32", []int{32, 32, 14, 14}, []int{64, 32, 3, 3}, "Conv", []*onnx.Attr{onnx.IntsAttr("pads", 1, 1, 1, 1)}},
		{"conv3x3_64x64_56x56/b1", []int{1, 64, 56, 56}, []int{64, 64, 3, 3}, "Conv", []*onnx.Attr{onnx.IntsAttr("pads", 1, 1, 1, 1)}},
		{"conv1x1_64x256_56x56/b1", []int{1, 64, 56, 56}, []int{256, 64, 1, 1}, "Conv", nil},
	}
	for _, l := range layers {
		for _, d := range []float64{0.05, 0.1, 0.2, 0.25, 0.3, 0.5} {
			b.Run(fmt.Sprintf("%s/d%g", l.name, d), func(b *testing.B) {
				x := prunedTensor(r, 1, l.x...)
				w := prunedTensor(r, d, l.w...)
				bias := prunedTensor(r, 1, l.w[0])
				m := oneNodeModel(b, l.op, x, []*tensor.Dense{w, bias}, true, l.attrs...)
				var progs [2]*Program
				for i, mode := range []SparseMode{SparseOff, SparseOn} {
					p, err := CompileWith(m, Options{Sparse: mode})
					if err != nil {
						b.Fatal(err)
					}
					p.Threads = 2
					progs[i] = p
				}
				in := map[string]*tensor.Dense{"x": x}
				var times [2][]time.Duration
				for b.Loop() {
					for len(times[1]) < 40 {
						for i, p := range progs {
							for k := range 5 {
								start := time.Now()
								if _, err := p.Run(in, RunOptions{}); err != nil {
									b.Fatal(err)
								}
								if k > 0 {
									times[i] = append(times[i], time.Since(start))
								}
							}
						}
					}
				}
				med := func(t []time.Duration) float64 {
					slices.Sort(t)
					return t[len(t)/2].Seconds() * 1e3
				}
				dense, sparse := med(times[0]), med(times[1])
				b.ReportMetric(dense, "dense_ms")
				b.ReportMetric(sparse, "sparse_ms")
				b.ReportMetric(dense/sparse, "dense/sparse")
			})
		}
	}
}

// BenchmarkSparseGemm times one Gemm layer (transB, bias) at 10 % weight
// density, sparse against dense, on two threads.
func BenchmarkSparseGemm(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	type shape struct{ k, n int }
	for _, sh := range []shape{{2048, 10}, {784, 2048}, {2048, 2048}} {
		for _, m := range []int{1, 32} {
			x := prunedTensor(r, 1, m, sh.k)
			w := prunedTensor(r, 0.1, sh.n, sh.k)
			bias := prunedTensor(r, 1, sh.n)
			model := oneNodeModel(b, "Gemm", x, []*tensor.Dense{w, bias}, false, onnx.IntAttr("transB", 1))
			for _, mode := range []SparseMode{SparseOff, SparseOn} {
				b.Run(fmt.Sprintf("%dx%d/m%d/%s", sh.k, sh.n, m, mode), func(b *testing.B) {
					benchProgram(b, model, mode, x)
				})
			}
		}
	}
}

// BenchmarkSparseConv times 3×3 convolutions (padding 1, bias, Relu) at
// 10 % weight density, sparse against dense, on two threads: the
// Fashion-MNIST CNN's second and third layers and a ResNet-18 layer1
// convolution.
func BenchmarkSparseConv(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	type shape struct{ cin, cout, hw int }
	for _, sh := range []shape{{32, 64, 14}, {64, 64, 7}, {64, 64, 56}} {
		for _, batch := range []int{1, 32} {
			if sh.hw == 56 && batch == 32 {
				continue
			}
			x := prunedTensor(r, 1, batch, sh.cin, sh.hw, sh.hw)
			w := prunedTensor(r, 0.1, sh.cout, sh.cin, 3, 3)
			bias := prunedTensor(r, 1, sh.cout)
			model := oneNodeModel(b, "Conv", x, []*tensor.Dense{w, bias}, true, onnx.IntsAttr("pads", 1, 1, 1, 1))
			for _, mode := range []SparseMode{SparseOff, SparseOn} {
				b.Run(fmt.Sprintf("%dx%d_%dx%d/b%d/%s", sh.cin, sh.cout, sh.hw, sh.hw, batch, mode), func(b *testing.B) {
					benchProgram(b, model, mode, x)
				})
			}
		}
	}
}

func benchProgram(b *testing.B, m *onnx.Model, mode SparseMode, x *tensor.Dense) {
	p, err := CompileWith(m, Options{Sparse: mode})
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
}
