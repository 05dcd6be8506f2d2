package ntk

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestAnalyzeKnownSpectra builds matrices Q·diag(λ)·Qᵀ with a random
// orthogonal Q and checks that the eigenvalues, trace, condition number
// and effective rank come back (1e-9 relative: the eigensolver is backward
// stable and these matrices are well scaled).
func TestAnalyzeKnownSpectra(t *testing.T) {
	cases := []struct {
		name    string
		lambda  []float64
		cond    float64
		effRank float64
		rank    int
	}{
		{"identity", []float64{2, 2, 2, 2}, 1, 4, 4},
		{"graded", []float64{100, 10, 1, 0.1}, 1000, 0, 4},
		{"rank one", []float64{5, 0, 0, 0}, math.Inf(1), 1, 1},
	}
	r := rand.New(rand.NewPCG(3, 4))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := len(c.lambda)
			q := randomOrthogonal(r, n)
			k := make([]float64, n*n)
			for i := range n {
				for j := range n {
					for l := range n {
						k[i*n+j] += q[i*n+l] * c.lambda[l] * q[j*n+l]
					}
				}
			}
			s, err := Analyze(k, n)
			if err != nil {
				t.Fatal(err)
			}
			for i, want := range c.lambda {
				if math.Abs(s.Eigenvalues[i]-want) > 1e-9*c.lambda[0] {
					t.Errorf("eigenvalue %d = %g, want %g", i, s.Eigenvalues[i], want)
				}
			}
			sum := 0.0
			for _, v := range c.lambda {
				sum += v
			}
			if math.Abs(s.Trace-sum) > 1e-9*sum {
				t.Errorf("trace %g, want %g", s.Trace, sum)
			}
			if math.IsInf(c.cond, 1) != math.IsInf(s.Condition, 1) || (!math.IsInf(c.cond, 1) && math.Abs(s.Condition-c.cond) > 1e-6*c.cond) {
				// A rank-one kernel's smallest eigenvalues are rounding
				// noise of either sign: then the condition number is
				// either +Inf or huge.
				if !(math.IsInf(c.cond, 1) && s.Condition > 1e12) {
					t.Errorf("condition %g, want %g", s.Condition, c.cond)
				}
			}
			if c.effRank > 0 && math.Abs(s.EffectiveRank-c.effRank) > 1e-6 {
				t.Errorf("effective rank %g, want %g", s.EffectiveRank, c.effRank)
			}
			if s.NumericalRank != c.rank {
				t.Errorf("numerical rank %d, want %d", s.NumericalRank, c.rank)
			}
		})
	}
}

func TestAnalyzeRejects(t *testing.T) {
	if _, err := Analyze([]float64{1, 2, 3}, 2); err == nil {
		t.Error("3 values as 2×2: no error")
	}
	if _, err := Analyze([]float64{1, 2, 0, 1}, 2); err == nil {
		t.Error("non-symmetric: no error")
	}
	if _, err := Analyze([]float64{1, math.NaN(), math.NaN(), 1}, 2); err == nil {
		t.Error("NaN: no error")
	}
}

// randomOrthogonal returns an n×n orthogonal matrix by Gram–Schmidt on
// Gaussian columns.
func randomOrthogonal(r *rand.Rand, n int) []float64 {
	q := make([]float64, n*n)
	for c := range n {
		v := make([]float64, n)
		for i := range v {
			v[i] = r.NormFloat64()
		}
		for p := range c {
			d := 0.0
			for i := range n {
				d += v[i] * q[i*n+p]
			}
			for i := range n {
				v[i] -= d * q[i*n+p]
			}
		}
		norm := 0.0
		for _, x := range v {
			norm += x * x
		}
		norm = math.Sqrt(norm)
		for i := range n {
			q[i*n+c] = v[i] / norm
		}
	}
	return q
}
