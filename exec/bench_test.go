package exec

import (
	"testing"

	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// BenchmarkBig runs the torchvision models of fixtures/gen_big.py at batch
// 1 on two threads, the configuration of the executor's speed target.
// Compare with `go run ./tools/benchcmp`, which times ONNX Runtime too.
func BenchmarkBig(b *testing.B) {
	for _, name := range []string{"resnet18", "mobilenet_v2"} {
		b.Run(name, func(b *testing.B) {
			path, err := fixtures.Big(name)
			if err != nil {
				b.Skip(err)
			}
			m, err := onnx.Load(path)
			if err != nil {
				b.Fatal(err)
			}
			p, err := Compile(m)
			if err != nil {
				b.Fatal(err)
			}
			p.Threads = 2
			x := tensor.New(tensor.Float32, 1, 3, 224, 224)
			for i := range x.F32 {
				x.F32[i] = float32(i%255)/255 - 0.5
			}
			in := map[string]*tensor.Dense{m.Graph.Inputs[0].Name: x}
			for b.Loop() {
				if _, err := p.Run(in, RunOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
