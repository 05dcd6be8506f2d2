package fitting

import (
	"errors"
	"fmt"

	"gonum.org/v1/gonum/mat"
)

// ProcrustesOptions configures Procrustes.
type ProcrustesOptions struct {
	// NoBias fits y = s·R·x through the origin on uncentred moments and
	// leaves B zero; otherwise the data are centred and B is the optimal
	// shift.
	NoBias bool
	// Scale also fits an isotropic scale s (otherwise s = 1).
	Scale bool
}

// Procrustes fits y ≈ s·R·x + B with R orthogonal (Schönemann 1966):
//
//	M = Xcᵀ·Yc = U·Σ·Vᵀ,  R = V·Uᵀ (Out×In),
//	s = tr(Σ) / tr(R·Xcᵀ·Xc·Rᵀ),  B = μy − s·R·μx
//
// with Xc, Yc the centred samples (uncentred with NoBias). This is the
// least-squares optimum over rotations, scale and shift, not the
// unconstrained solution projected onto the orthogonal matrices.
//
// When the widths differ, R is semi-orthogonal, from the thin SVD: with
// In ≤ Out it has orthonormal columns (RᵀR = I, an isometric embedding of
// x into the larger y space), which is the exact constrained optimum, and
// s reduces to tr(Σ)/‖Xc‖²_F. With In > Out it has orthonormal rows
// (R·Rᵀ = I, a projection), the R that maximises tr(R·M); as ‖R·x‖ then
// depends on R, this is the usual semi-orthogonal Procrustes choice
// rather than a joint optimum over R and s, and s is the best scale for
// that R. When the inputs are all constant, s is 0 and B = μy.
//
// EffectiveRank counts the singular values of M above RankTol times the
// largest: where it is below min(In, Out), R is not unique.
func Procrustes(s *Stats, opts ProcrustesOptions) (*Fit, error) {
	need := 2
	if opts.NoBias {
		need = 1
	}
	if err := checkStats(s, need); err != nil {
		return nil, fmt.Errorf("fitting: procrustes: %w", err)
	}
	mo := s.moments(!opts.NoBias)
	r, sv, err := procrustesRotation(mo.xy)
	if err != nil {
		return nil, fmt.Errorf("fitting: procrustes: %w", err)
	}
	rank := 0
	for _, v := range sv {
		if v > RankTol*sv[0] {
			rank++
		}
	}
	scale := 1.0
	if opts.Scale {
		var rc mat.Dense
		rc.Mul(r, mo.xx)
		den := traceProdT(&rc, r)
		scale = 0
		if den > 0 {
			tr := 0.0
			for _, v := range sv {
				tr += v
			}
			scale = tr / den
		}
	}
	r.Scale(scale, r)
	f := &Fit{Affine: affineFrom(r, mo, opts.NoBias), EffectiveRank: rank}
	f.Quality = quality(s.moments(true), &f.Affine)
	return f, nil
}

// procrustesRotation returns R = V·Uᵀ (q×p) for m = U·Σ·Vᵀ (p×q) and the
// singular values of m, largest first.
func procrustesRotation(m *mat.Dense) (*mat.Dense, []float64, error) {
	var svd mat.SVD
	if !svd.Factorize(m, mat.SVDThin) {
		return nil, nil, errors.New("SVD of the cross-covariance did not converge")
	}
	var u, v mat.Dense
	svd.UTo(&u)
	svd.VTo(&v)
	p, q := m.Dims()
	r := mat.NewDense(q, p, nil)
	r.Mul(&v, u.T())
	return r, svd.Values(nil), nil
}
