package ntk

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/graft-ml/graft/tensor"
	"gonum.org/v1/gonum/mat"
)

// Spectrum summarises a kernel matrix by its eigenvalues: the numbers
// NTK studies rank architectures and predict trainability by.
type Spectrum struct {
	// Eigenvalues, largest first.
	Eigenvalues []float64 `json:"eigenvalues"`
	// Trace is the sum of the diagonal (= the sum of the eigenvalues).
	Trace float64 `json:"trace"`
	// Condition is λmax/λmin; +Inf (written as null in JSON by the
	// caller) when λmin ≤ 0, which a kernel of rank below its size has up
	// to rounding.
	Condition float64 `json:"condition"`
	// EffectiveRank is exp of the Shannon entropy of the eigenvalues
	// normalised to sum 1 (Roy and Vetterli), over the positive ones: n
	// for a multiple of the identity, 1 for a rank-one kernel.
	EffectiveRank float64 `json:"effective_rank"`
	// NumericalRank counts eigenvalues above n·ε·λmax.
	NumericalRank int `json:"numerical_rank"`
}

// Analyze computes the spectrum of the symmetric n×n matrix k (row-major).
// It checks symmetry to a relative 1e-6 of the largest entry, since a
// kernel assembled from blocks computed apart should be symmetric, and a
// non-symmetric one means blocks were mismatched.
func Analyze(k []float64, n int) (Spectrum, error) {
	if n < 1 || len(k) != n*n {
		return Spectrum{}, fmt.Errorf("ntk: spectrum of %d values is not an n×n matrix with n=%d", len(k), n)
	}
	scale := 0.0
	for _, v := range k {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return Spectrum{}, errors.New("ntk: kernel holds NaN or Inf")
		}
		scale = math.Max(scale, math.Abs(v))
	}
	for i := range n {
		for j := range i {
			if d := math.Abs(k[i*n+j] - k[j*n+i]); d > 1e-6*scale {
				return Spectrum{}, fmt.Errorf("ntk: kernel is not symmetric: entry (%d,%d)=%g but (%d,%d)=%g", i, j, k[i*n+j], j, i, k[j*n+i])
			}
		}
	}
	sym := mat.NewSymDense(n, nil)
	for i := range n {
		for j := i; j < n; j++ {
			sym.SetSym(i, j, (k[i*n+j]+k[j*n+i])/2)
		}
	}
	var eig mat.EigenSym
	if !eig.Factorize(sym, false) {
		return Spectrum{}, errors.New("ntk: eigendecomposition did not converge")
	}
	vals := eig.Values(nil)
	sort.Sort(sort.Reverse(sort.Float64Slice(vals)))
	s := Spectrum{Eigenvalues: vals}
	for i := range n {
		s.Trace += k[i*n+i]
	}
	lmax, lmin := vals[0], vals[n-1]
	if lmin > 0 {
		s.Condition = lmax / lmin
	} else {
		s.Condition = math.Inf(1)
	}
	tol := float64(n) * 2.220446049250313e-16 * math.Max(lmax, 0)
	sum := 0.0
	for _, v := range vals {
		if v > tol {
			s.NumericalRank++
			sum += v
		}
	}
	if sum > 0 {
		h := 0.0
		for _, v := range vals {
			if v > tol {
				p := v / sum
				h -= p * math.Log(p)
			}
		}
		s.EffectiveRank = math.Exp(h)
	}
	return s, nil
}

// Square returns a kernel over the same samples as a square matrix for
// Analyze: an (N, N) kernel as it is, an (N, N, K, K) one reordered to
// (N·K) × (N·K) with row n·K+a and column m·K+b holding Θ[n, m, a, b].
// It reports false for a block whose rows and columns differ in number.
func Square(k *tensor.Dense) ([]float64, int, bool) {
	if k.Rank() < 2 || k.Shape[0] != k.Shape[1] {
		return nil, 0, false
	}
	n := k.Shape[0]
	if k.Rank() == 2 {
		return k.F64, n, true
	}
	kk := k.Shape[2]
	size := n * kk
	sq := make([]float64, size*size)
	for i := range n {
		for j := range n {
			for a := range kk {
				for b := range kk {
					sq[(i*kk+a)*size+j*kk+b] = k.F64[((i*n+j)*kk+a)*kk+b]
				}
			}
		}
	}
	return sq, size, true
}
