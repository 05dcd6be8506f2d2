package fitting

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// RankTol is the relative cut-off of the pseudo-inverse: eigenvalues of the
// system matrix (singular values, as it is symmetric and positive
// semi-definite) below RankTol times the largest are dropped.
const RankTol = 1e-6

// LinearOptions configures the least-squares fits (Linear and LowRank).
type LinearOptions struct {
	// NoBias fits y = W·x through the origin, on uncentred second moments,
	// and leaves B zero.
	NoBias bool
	// Ridge is the Tikhonov regularisation relative to the mean eigenvalue
	// of the input covariance C (the second moment with NoBias): the
	// system solved is (C + λI)·W = Cxy with λ = Ridge·tr(C)/In. The
	// relative convention makes one value (1e-3, say) mean the same for
	// activations of any scale. Ridge must be ≥ 0; 0 is plain least
	// squares.
	Ridge float64
}

// Linear fits the affine map minimising Σ‖y − W·x − B‖² over the samples
// of s (ordinary least squares, with ridge if asked):
//
//	W = Cyx·(Cxx + λI)⁺,   B = μy − W·μx
//
// with C the covariances (raw second moments and B = 0 with NoBias). The
// inverse is a pseudo-inverse through the eigendecomposition of the
// symmetric system matrix, dropping eigenvalues below RankTol times the
// largest, so collinear, duplicated or constant input columns give the
// minimum-norm solution instead of an error; EffectiveRank reports how
// many directions were kept. Without ridge, fewer samples than unknowns per
// output (In+1 with bias, In without) is an error, as the fit would merely
// interpolate the samples.
//
// NoBias works on raw second moments, whose conditioning grows with the
// square of the inputs' mean over their spread: for activations with a
// large mean (1e4 against a spread of 1, say) directions below RankTol are
// dropped and EffectiveRank says so. Fit with bias in that case.
func Linear(s *Stats, opts LinearOptions) (*Fit, error) {
	mo, err := prepare(s, opts)
	if err != nil {
		return nil, fmt.Errorf("fitting: linear: %w", err)
	}
	w, rank, err := solve(mo.xx, mo.xy, opts.Ridge)
	if err != nil {
		return nil, fmt.Errorf("fitting: linear: %w", err)
	}
	f := &Fit{Affine: affineFrom(w, mo, opts.NoBias), EffectiveRank: rank}
	f.Quality = quality(s.moments(true), &f.Affine)
	return f, nil
}

// prepare checks s and opts and returns the moments the fit uses.
func prepare(s *Stats, opts LinearOptions) (moments, error) {
	if opts.Ridge < 0 || math.IsNaN(opts.Ridge) || math.IsInf(opts.Ridge, 0) {
		return moments{}, fmt.Errorf("ridge %v: want a finite value ≥ 0", opts.Ridge)
	}
	if err := checkStats(s, 1); err != nil {
		return moments{}, err
	}
	need := s.p + 1
	if opts.NoBias {
		need = s.p
	}
	if opts.Ridge == 0 && s.n < need {
		return moments{}, fmt.Errorf("%d samples for %d inputs: need at least %d, or a ridge", s.n, s.p, need)
	}
	return s.moments(!opts.NoBias), nil
}

// solve returns W (q×p, the ONNX layout) minimising the quadratic with
// system matrix a (p×p) and right-hand side b (p×q): W = bᵀ·(a + λI)⁺,
// and the number of eigenvalues kept.
func solve(a *mat.SymDense, b *mat.Dense, ridge float64) (*mat.Dense, int, error) {
	p, q := b.Dims()
	w := mat.NewDense(q, p, nil)
	vecs, vals, err := eigenPinv(a, ridge)
	if err != nil || len(vals) == 0 {
		return w, 0, err
	}
	// W = bᵀ·V·diag(1/λ)·Vᵀ over the kept eigenpairs.
	var bv mat.Dense
	bv.Mul(b.T(), vecs) // q×k
	for j, l := range vals {
		for i := range q {
			bv.Set(i, j, bv.At(i, j)/l)
		}
	}
	w.Mul(&bv, vecs.T())
	return w, len(vals), nil
}

// eigenPinv returns the eigenpairs of a + λI (λ = ridge·tr(a)/p) with
// eigenvalues above RankTol times the largest, largest first: vecs is p×k.
// It returns no pairs when a + λI is zero.
func eigenPinv(a *mat.SymDense, ridge float64) (*mat.Dense, []float64, error) {
	p := a.SymmetricDim()
	lam := ridge * mat.Trace(a) / float64(p)
	var eig mat.EigenSym
	if !eig.Factorize(a, true) {
		return nil, nil, errors.New("eigendecomposition of the input covariance did not converge")
	}
	all := eig.Values(nil)
	var v mat.Dense
	eig.VectorsTo(&v)
	top := 0.0
	for i := range all {
		all[i] += lam
		top = max(top, all[i])
	}
	var keep []int
	for i := len(all) - 1; i >= 0; i-- { // gonum orders them ascending
		if all[i] > RankTol*top {
			keep = append(keep, i)
		}
	}
	if len(keep) == 0 {
		return nil, nil, nil
	}
	vecs := mat.NewDense(p, len(keep), nil)
	vals := make([]float64, len(keep))
	for j, i := range keep {
		vals[j] = all[i]
		for r := range p {
			vecs.Set(r, j, v.At(r, i))
		}
	}
	return vecs, vals, nil
}

// affineFrom wraps W, adding the bias μy − W·μx unless noBias.
func affineFrom(w *mat.Dense, mo moments, noBias bool) Affine {
	q, p := w.Dims()
	a := Affine{In: p, Out: q, W: make([]float64, q*p), B: make([]float64, q)}
	for o := range q {
		row := a.W[o*p : (o+1)*p]
		mat.Row(row, o, w)
		if noBias {
			continue
		}
		b := mo.my[o]
		for i, v := range row {
			b -= v * mo.mx[i]
		}
		a.B[o] = b
	}
	return a
}

// errRank is returned for a requested rank below 1.
var errRank = errors.New("rank must be at least 1")
