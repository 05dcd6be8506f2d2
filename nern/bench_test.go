package nern

import "testing"

// BenchmarkStep times one full training step (forward, the three losses,
// backward, Ranger) of the h-180 predictor on the fixture ResNet20 with a
// batch of 64 images and 4096 kernels, on one thread.
func BenchmarkStep(b *testing.B) {
	o := DefaultOptions()
	o.Batch, o.Threads, o.Steps = 64, 1, 1<<30
	r, err := NewRun(loadFixture(b), "", fmnist(b, "train-images-2k-idx3-ubyte.gz"), nil, o)
	if err != nil {
		b.Fatal(err)
	}
	if err := r.compile(); err != nil {
		b.Fatal(err)
	}
	step := func(t int) {
		_, params, err := r.Gradients(r.Sample(t), false)
		if err != nil {
			b.Fatal(err)
		}
		if err := r.opt.Step(params, r.sched.LR(t)); err != nil {
			b.Fatal(err)
		}
	}
	step(0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		step(i + 1)
	}
}
