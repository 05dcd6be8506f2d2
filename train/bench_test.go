package train

import (
	"testing"
)

// BenchmarkStep times one training step (forward, loss, backward, Adam)
// at batch 64 on the Fashion-MNIST CNN: its last layer alone, and every
// parameter. tools/trainbench compares such steps with PyTorch.
func BenchmarkStep(b *testing.B) {
	for _, c := range []struct{ name, params string }{{"fc2", "fc2"}, {"all", "*"}} {
		b.Run(c.name, func(b *testing.B) {
			t := &testing.T{}
			src := fmnistData(t, "train-images-2k-idx3-ubyte.gz", 64)
			tm, err := Prepare(loadFMNIST(t), Config{Params: []string{c.params}})
			if err != nil {
				b.Fatal(err)
			}
			o, err := NewOptimizer(OptimizerConfig{Name: "adam"})
			if err != nil {
				b.Fatal(err)
			}
			x, y, err := src.Batch(0, 64)
			if err != nil {
				b.Fatal(err)
			}
			idx := make([]int, 64)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := tm.Step(x, idx, y); err != nil {
					b.Fatal(err)
				}
				if err := o.Step(tm.Params, 1e-3); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
