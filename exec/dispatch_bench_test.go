package exec

import (
	"path/filepath"
	"testing"

	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// BenchmarkDispatch runs small models at batch 1, where the time around
// the kernels (per-node bookkeeping, constant and shape nodes) counts:
// the Fashion-MNIST CNN, the quantized CNN (QLinear ops), the MLP
// fixture, and shufflenet_v2 (its 300 Constant nodes and shape chains)
// when gen_big.py has exported it.
func BenchmarkDispatch(b *testing.B) {
	small := []struct{ name, path string }{
		{"fmnist_cnn", filepath.Join(fixtures.Dir(), "fmnist", "a.onnx")},
		{"quant_qop", filepath.Join(fixtures.Dir(), "quant", "qop.onnx")},
		{"mlp", filepath.Join(fixtures.Dir(), "mlp", "model.onnx")},
		{"shufflenet_v2_x1_0", ""},
	}
	for _, c := range small {
		b.Run(c.name, func(b *testing.B) {
			path := c.path
			if path == "" {
				var err error
				if path, err = fixtures.Big(c.name); err != nil {
					b.Skip(err)
				}
			}
			m, err := onnx.Load(path)
			if err != nil {
				b.Fatal(err)
			}
			p, err := Compile(m)
			if err != nil {
				b.Fatal(err)
			}
			in := map[string]*tensor.Dense{}
			for _, v := range m.Graph.Inputs {
				if v.Const != nil {
					continue
				}
				shape := make([]int, len(v.Type.Dims))
				for i, d := range v.Type.Dims {
					shape[i] = max(1, int(d.Value))
				}
				x := tensor.New(v.Type.DType, shape...)
				for i := range x.F32 {
					x.F32[i] = float32(i%255)/255 - 0.5
				}
				in[v.Name] = x
			}
			if _, err := p.Run(in, RunOptions{}); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Run(in, RunOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
