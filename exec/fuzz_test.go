package exec_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/graft-ml/graft/exec"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// FuzzRun decodes the input as a model, infers its shapes, compiles it
// and runs it on zero inputs of its declared shapes (symbolic dims 1)
// under a 64 MiB tensor budget: nothing may panic, and every failure must
// be an error. Seeds are the fixtures' models and ONNX's node tests
// (Debian's libonnx-testdata, when installed), one model per op form.
//
//	go test ./exec -run XXX -fuzz FuzzRun -fuzzminimizetime 1s
func FuzzRun(f *testing.F) {
	seeds, _ := filepath.Glob("../fixtures/*/model.onnx")
	node, _ := filepath.Glob("/usr/share/libonnx-testdata/data/node/*/model.onnx")
	for i, p := range node {
		if i%3 == 0 { // a third of them: every op, without a minute of seeds
			seeds = append(seeds, p)
		}
	}
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil && len(b) < 40000 {
			f.Add(b)
		}
	}
	old := tensor.MemoryBudget()
	tensor.SetMemoryBudget(64 << 20)
	f.Cleanup(func() { tensor.SetMemoryBudget(old) })
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := onnx.Decode(data)
		if err != nil {
			return
		}
		if err := m.Graph.Validate(); err != nil {
			return
		}
		if err := exec.InferShapes(m); err != nil {
			return
		}
		p, err := exec.Compile(m)
		if err != nil {
			return
		}
		p.Threads = 1
		in := map[string]*tensor.Dense{}
		for _, v := range m.Graph.Inputs {
			if v.Const != nil {
				continue
			}
			if !v.Type.HasShape || !v.Type.DType.Supported() {
				return
			}
			shape := make([]int, len(v.Type.Dims))
			for i, d := range v.Type.Dims {
				shape[i] = 1
				if d.Known() {
					shape[i] = int(d.Value)
				}
			}
			if tensor.CheckAlloc(v.Type.DType, shape) != nil {
				return
			}
			in[v.Name] = tensor.New(v.Type.DType, shape...)
		}
		p.Run(in, exec.RunOptions{})
	})
}
