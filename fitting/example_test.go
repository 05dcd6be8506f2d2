package fitting_test

import (
	"fmt"
	"path/filepath"

	"github.com/graft-ml/graft/data"
	"github.com/graft-ml/graft/eval"
	"github.com/graft-ml/graft/feed"
	"github.com/graft-ml/graft/fitting"
	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/onnx"
)

// ExampleLinear streams samples of y = 2·x₀ − x₁ + 3 in two batches and
// fits the affine map.
func ExampleLinear() {
	s, err := fitting.NewStats(2, 1)
	if err != nil {
		panic(err)
	}
	batches := [][2][]float32{
		{{0, 0, 1, 0, 0, 1}, {3, 5, 2}},
		{{1, 1, 2, 3}, {4, 4}},
	}
	for _, b := range batches {
		if err := s.Add(b[0], b[1]); err != nil {
			panic(err)
		}
	}
	fit, err := fitting.Linear(s, fitting.LinearOptions{})
	if err != nil {
		panic(err)
	}
	fmt.Printf("W = [%.3f %.3f], b = %.3f, rank %d, R² = %.3f\n", fit.W[0], fit.W[1], fit.B[0], fit.EffectiveRank, fit.R2)
	// Output: W = [2.000 -1.000], b = 3.000, rank 2, R² = 1.000
}

// ExampleCKA compares a representation with a rotated, scaled and shifted
// copy of itself.
func ExampleCKA() {
	x := []float32{1, 0, 0, 2, 3, 1, -1, 4, 2, 2}
	y := make([]float32, len(x))
	for i := 0; i < len(x); i += 2 { // rotate by 90°, scale by 2, shift
		y[i], y[i+1] = -2*x[i+1]+1, 2*x[i]-5
	}
	s, _ := fitting.NewStats(2, 2)
	if err := s.Add(x, y); err != nil {
		panic(err)
	}
	cka, _ := fitting.CKA(s)
	d, _ := fitting.ProcrustesDistance(s)
	fmt.Printf("CKA %.6f, Procrustes distance %.6f\n", cka, d)
	// Output: CKA 1.000000, Procrustes distance 0.000000
}

// ExampleStitch joins the two bundled Fashion-MNIST CNNs: model A up to
// pool2, an adapter fitted by least squares on 500 training images (a
// 1x1 conv: each pixel of A's 64 channels maps to B's 64), then model B
// from pool2 on. The stitched model classifies the 1000 test images
// about as well as either model alone (90 %).
func ExampleStitch() {
	dir := filepath.Join(fixtures.Dir(), "fmnist")
	norm := data.Options{Mean: []float64{0.2860}, Std: []float64{0.3530}}
	train, err := data.Open(filepath.Join(dir, "train-images-2k-idx3-ubyte.gz"), norm)
	if err != nil {
		panic(err)
	}
	a, err := onnx.Load(filepath.Join(dir, "a.onnx"))
	if err != nil {
		panic(err)
	}
	b, err := onnx.Load(filepath.Join(dir, "b.onnx"))
	if err != nil {
		panic(err)
	}
	r, err := fitting.Stitch(a, "pool2", b, "pool2", train, fitting.StitchOptions{
		Method: fitting.Method{Kind: fitting.FitLinear},
		Feed:   feed.Options{Limit: 500},
	})
	if err != nil {
		panic(err)
	}
	fmt.Printf("adapter %d → %d fitted on %d samples (%d pixels), R² %.2f\n", r.Fit.In, r.Fit.Out, r.Samples, r.Rows, r.Fit.R2)
	fmt.Printf("joints %s and %s\n", r.Stitch.AType, r.Stitch.BType)

	test, err := data.Open(filepath.Join(dir, "t10k-images-1k-idx3-ubyte.gz"), norm)
	if err != nil {
		panic(err)
	}
	acc, err := eval.Accuracy(a, test, eval.Options{}) // a is now the stitched model
	if err != nil {
		panic(err)
	}
	fmt.Printf("stitched top-1 on %d test images: %.0f %%\n", acc.Samples, 100**acc.Top1)
	// Output:
	// adapter 64 → 64 fitted on 500 samples (24500 pixels), R² 0.91
	// joints [batch,64,7,7] and [batch,64,7,7]
	// stitched top-1 on 1000 test images: 90 %
}
