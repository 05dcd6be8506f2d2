package fitting

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// CKA returns the linear centred kernel alignment of the x and y samples
// of s (Kornblith et al., "Similarity of neural network representations
// revisited", 2019) with the biased HSIC estimator, computed from the
// covariances without any n×n Gram matrix:
//
//	CKA = ‖Cxy‖²_F / (‖Cxx‖_F·‖Cyy‖_F)
//
// which equals HSIC(K,L)/√(HSIC(K,K)·HSIC(L,L)) for the linear kernels
// K = X·Xᵀ and L = Y·Yᵀ. It lies in [0, 1], is 1 when y is an orthogonal
// transform of x up to isotropic scale and shift, and is invariant to
// those. It needs two samples; constant x or y (variance at most 1e-20 of
// the squared mean: rounding noise) is an error.
func CKA(s *Stats) (float64, error) {
	if err := checkStats(s, 2); err != nil {
		return 0, fmt.Errorf("fitting: cka: %w", err)
	}
	if err := nonConstant(s); err != nil {
		return 0, fmt.Errorf("fitting: cka: %w", err)
	}
	mo := s.moments(true)
	nx, ny := mat.Norm(mo.xx, 2), mat.Norm(mo.yy, 2) // Frobenius
	nxy := mat.Norm(mo.xy, 2)
	return nxy * nxy / (nx * ny), nil
}

// CKAUnbiased returns linear CKA with the unbiased HSIC estimator of Song
// et al. ("Feature selection via dependence maximization", 2012) for n
// in-memory samples: x holds n×p and y n×q values, row-major. Unlike the
// biased estimator it is not inflated for few samples of wide features:
// for independent x and y it is near 0 (and may be slightly negative)
// where biased CKA is not. It needs the n×n Gram matrices, so it works on
// samples in memory, not on a Stats; memory is 2·n² float64s, and n must
// be at least 4.
//
// With K̃ and L̃ the Gram matrices of the centred samples with their
// diagonals set to zero,
//
//	HSIC₁(K,L) = [tr(K̃L̃) + 1ᵀK̃1·1ᵀL̃1/((n−1)(n−2)) − 2/(n−2)·1ᵀK̃L̃1] / (n(n−3))
//
// and CKA = HSIC₁(K,L)/√(HSIC₁(K,K)·HSIC₁(L,L)).
func CKAUnbiased(x, y []float32, n int) (float64, error) {
	if n < 4 {
		return 0, fmt.Errorf("fitting: unbiased cka: %d samples, need at least 4", n)
	}
	if len(x)%n != 0 || len(y)%n != 0 || len(x) == 0 || len(y) == 0 {
		return 0, fmt.Errorf("fitting: unbiased cka: %d x and %d y values are not %d non-empty rows", len(x), len(y), n)
	}
	if err := checkFinite(x, len(x)/n, "x"); err != nil {
		return 0, fmt.Errorf("fitting: unbiased cka: %w", err)
	}
	if err := checkFinite(y, len(y)/n, "y"); err != nil {
		return 0, fmt.Errorf("fitting: unbiased cka: %w", err)
	}
	k, l := gram(x, n), gram(y, n)
	kl := hsicUnbiased(k, l, n)
	kk := hsicUnbiased(k, k, n)
	ll := hsicUnbiased(l, l, n)
	if kk <= 0 || ll <= 0 {
		return 0, fmt.Errorf("fitting: unbiased cka: HSIC(K,K)=%g, HSIC(L,L)=%g: x or y is (nearly) constant", kk, ll)
	}
	return kl / math.Sqrt(kk*ll), nil
}

// gram returns X̃·X̃ᵀ (n×n) for the centred rows of x, with a zero
// diagonal.
func gram(x []float32, n int) *mat.Dense {
	p := len(x) / n
	xc := mat.NewDense(n, p, nil)
	for j := range p {
		mean := 0.0
		for i := range n {
			mean += float64(x[i*p+j])
		}
		mean /= float64(n)
		for i := range n {
			xc.Set(i, j, float64(x[i*p+j])-mean)
		}
	}
	k := mat.NewDense(n, n, nil)
	k.Mul(xc, xc.T())
	for i := range n {
		k.Set(i, i, 0)
	}
	return k
}

func hsicUnbiased(k, l *mat.Dense, n int) float64 {
	fn := float64(n)
	var trKL, sumK, sumL, kl1 float64
	rowK, rowL := make([]float64, n), make([]float64, n)
	for i := range n {
		for j := range n {
			a, b := k.At(i, j), l.At(i, j)
			trKL += a * b // tr(K̃L̃) = Σ K̃ij·L̃ji, both symmetric
			rowK[i] += a
			rowL[i] += b
		}
		sumK += rowK[i]
		sumL += rowL[i]
	}
	for i := range n {
		kl1 += rowK[i] * rowL[i] // 1ᵀK̃L̃1 = (K̃1)·(L̃1)
	}
	return (trKL + sumK*sumL/((fn-1)*(fn-2)) - 2/(fn-2)*kl1) / (fn * (fn - 3))
}

// ProcrustesDistance returns the orthogonal Procrustes distance between the
// x and y samples of s (as in Ding et al., "Grounding representation
// similarity with statistical testing", 2021): with Xc, Yc centred and each
// scaled to unit Frobenius norm,
//
//	d = min over orthogonal R of ‖Xc·Rᵀ − Yc‖²_F = 2 − 2·‖Xcᵀ·Yc‖_* / (‖Xc‖_F·‖Yc‖_F)
//
// with ‖·‖_* the nuclear norm (sum of singular values). The widths may
// differ: the formula then embeds the narrower representation
// isometrically in the wider one (as if padded with zero columns), R
// mapping narrow to wide with orthonormal columns, so d is symmetric in x
// and y. d lies in [0, 2]; 0 means y is a rotation of x up to scale and
// shift. Constant x or y is an error.
func ProcrustesDistance(s *Stats) (float64, error) {
	if err := checkStats(s, 2); err != nil {
		return 0, fmt.Errorf("fitting: procrustes distance: %w", err)
	}
	if err := nonConstant(s); err != nil {
		return 0, fmt.Errorf("fitting: procrustes distance: %w", err)
	}
	mo := s.moments(true)
	tx, ty := mat.Trace(mo.xx), mat.Trace(mo.yy)
	var svd mat.SVD
	if !svd.Factorize(mo.xy, mat.SVDNone) {
		return 0, errors.New("fitting: procrustes distance: SVD of the cross-covariance did not converge")
	}
	nuc := 0.0
	for _, v := range svd.Values(nil) {
		nuc += v
	}
	return max(0, 2-2*nuc/math.Sqrt(tx*ty)), nil
}

// R2 returns the R² of the least-squares affine fit of y on x, the share
// of y's variance that a linear map of x explains (Linear with default
// options; see Quality.R2).
func R2(s *Stats) (float64, error) {
	f, err := Linear(s, LinearOptions{})
	if err != nil {
		return 0, err
	}
	return f.R2, nil
}

// nonConstant reports constant x or y (see Stats.constant) as an error.
func nonConstant(s *Stats) error {
	x, y := s.constant()
	switch {
	case x && y:
		return errors.New("x and y are constant")
	case x:
		return errors.New("x is constant")
	case y:
		return errors.New("y is constant")
	}
	return nil
}
