package ntk_test

import (
	"fmt"
	"math"
	"path/filepath"

	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/ntk"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// ExampleCompute computes the empirical NTK of the bundled MLP (20 → 32
// → 32 → 5) over six samples, its trace over the five outputs, and
// compares it with the kernel functorch computed for the same model and
// samples (fixtures/gen_ntk.py).
func ExampleCompute() {
	dir := filepath.Join(fixtures.Dir(), "ntk", "mlp")
	m, err := onnx.Load(filepath.Join(dir, "model.onnx"))
	if err != nil {
		panic(err)
	}
	x, err := tensor.LoadNPY(filepath.Join(dir, "x.npy"))
	if err != nil {
		panic(err)
	}
	r, err := ntk.Compute(m, x, ntk.Options{Mode: ntk.Mode{Kind: ntk.Trace}})
	if err != nil {
		panic(err)
	}
	ref, err := tensor.LoadNPY(filepath.Join(dir, "trace.npy"))
	if err != nil {
		panic(err)
	}
	worst, largest := 0.0, 0.0
	for i, v := range ref.Float64s() {
		worst = math.Max(worst, math.Abs(r.Kernel.F64[i]-v))
		largest = math.Max(largest, math.Abs(v))
	}
	s, err := ntk.Analyze(r.Kernel.F64, r.Samples)
	if err != nil {
		panic(err)
	}
	fmt.Printf("kernel %v over %d parameter tensors, %d outputs\n", r.Kernel.Shape, len(r.Params), r.Outputs)
	fmt.Printf("agrees with functorch to 1e-4 of its largest entry: %v\n", worst <= 1e-4*largest)
	fmt.Printf("numerical rank %d of %d\n", s.NumericalRank, r.Samples)
	// Output:
	// kernel [6 6] over 6 parameter tensors, 5 outputs
	// agrees with functorch to 1e-4 of its largest entry: true
	// numerical rank 6 of 6
}
