package surgery_test

import (
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/graft-ml/graft/exec"
	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/surgery"
	"github.com/graft-ml/graft/tensor"
)

// ExampleTruncate loads the bundled small ResNet, cuts it after its
// first stage (module layer1), runs the truncated model on the recorded
// input, checks the result against the activation PyTorch recorded for
// layer1, and saves the model.
func ExampleTruncate() {
	fx, err := fixtures.Load("resnet_small")
	if err != nil {
		panic(err)
	}
	m, err := onnx.Load(fx.Model())
	if err != nil {
		panic(err)
	}
	if err := surgery.Truncate(m, "layer1"); err != nil {
		panic(err)
	}
	p, err := exec.Compile(m)
	if err != nil {
		panic(err)
	}
	x, err := tensor.LoadNPY(fx.Path("input.npy"))
	if err != nil {
		panic(err)
	}
	out, err := p.Run(map[string]*tensor.Dense{"input": x}, exec.RunOptions{})
	if err != nil {
		panic(err)
	}
	y := out[m.Graph.Outputs[0].Name]
	want, err := tensor.LoadNPY(fx.Path("hidden/layer1.npy"))
	if err != nil {
		panic(err)
	}
	worst := 0.0
	for i, v := range want.F32 {
		worst = math.Max(worst, math.Abs(float64(y.F32[i]-v)))
	}
	dir, err := os.MkdirTemp("", "graft-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	if err := m.Save(filepath.Join(dir, "layer1.onnx")); err != nil {
		panic(err)
	}
	back, err := onnx.Load(filepath.Join(dir, "layer1.onnx"))
	if err != nil {
		panic(err)
	}
	fmt.Printf("output %s %v\n", m.Graph.Outputs[0].Name, y.Shape)
	fmt.Printf("matches PyTorch's layer1 to 1e-4: %v\n", worst < 1e-4)
	fmt.Printf("saved and reloaded: %d nodes, output %s\n", len(back.Graph.Nodes), back.Graph.Outputs[0].Name)
	// Output:
	// output layer1 [2 8 8 8]
	// matches PyTorch's layer1 to 1e-4: true
	// saved and reloaded: 13 nodes, output layer1
}
