package fitting_test

import (
	"fmt"

	"github.com/graft-ml/graft/fitting"
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
