package exec

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// BenchmarkBig runs the models of fixtures/gen_big.py at batch 1 on two
// threads, the configuration of the executor's speed target, on the input
// bundled beside each. GRAFT_BENCH_MODELS (comma-separated) picks others
// than ResNet-18 and MobileNetV2, for a CPU profile of one model, and
// GRAFT_BENCH_BATCH repeats the input to that batch:
//
//	GRAFT_BENCH_MODELS=resnet20 go test ./exec -run X -bench Big -cpuprofile cpu.out
//
// Compare with `go run ./tools/benchcmp`, which times ONNX Runtime too.
func BenchmarkBig(b *testing.B) {
	names := []string{"resnet18", "mobilenet_v2"}
	if s := os.Getenv("GRAFT_BENCH_MODELS"); s != "" {
		names = strings.Split(s, ",")
	}
	for _, name := range names {
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
			f, err := os.Open(strings.TrimSuffix(path, ".onnx") + ".input.npy")
			if err != nil {
				b.Fatal(err)
			}
			x, err := tensor.ReadNPY(f)
			f.Close()
			if err != nil {
				b.Fatal(err)
			}
			if s := os.Getenv("GRAFT_BENCH_BATCH"); s != "" {
				batch, err := strconv.Atoi(s)
				if err != nil || batch < 1 {
					b.Fatalf("GRAFT_BENCH_BATCH=%q: want a positive integer", s)
				}
				shape := append([]int{batch * x.Shape[0]}, x.Shape[1:]...)
				xb := tensor.New(x.DType, shape...)
				for i := range batch {
					copy(xb.F32[i*len(x.F32):], x.F32)
				}
				x = xb
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
