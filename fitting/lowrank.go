package fitting

import (
	"errors"
	"fmt"

	"gonum.org/v1/gonum/mat"
)

// LowRank fits the affine map of rank at most rank minimising
// Σ‖y − W·x − B‖² (reduced-rank regression; Izenman 1975, and Mukherjee
// and Zhu 2011 for the ridge version). With W the Linear solution and C
// the input covariance, the optimum is
//
//	W_r = V_r·V_rᵀ·W,   B = μy − W_r·μx
//
// where V_r (Out×r) holds the top r eigenvectors of W·(C + λI)·Wᵀ, the
// covariance of the fitted values (plus the ridge term). A truncated SVD of
// W would be optimal only for whitened inputs. The result carries the
// factors Down = V_rᵀ·W (r×In) and Up = V_r (Out×r), so that the map can be
// emitted as two layers in → r → out.
//
// A rank of min(In, Out) or more cannot reduce anything: LowRank then
// returns the Linear fit, without factors. A rank below 1 is an error.
func LowRank(s *Stats, rank int, opts LinearOptions) (*Fit, error) {
	if rank < 1 {
		return nil, fmt.Errorf("fitting: low rank %d: %w", rank, errRank)
	}
	if s != nil && rank >= min(s.p, s.q) {
		return Linear(s, opts)
	}
	mo, err := prepare(s, opts)
	if err != nil {
		return nil, fmt.Errorf("fitting: low rank: %w", err)
	}
	w, eff, err := solve(mo.xx, mo.xy, opts.Ridge)
	if err != nil {
		return nil, fmt.Errorf("fitting: low rank: %w", err)
	}
	// Covariance of the fitted values, W·(C + λI)·Wᵀ.
	_, p := w.Dims()
	lam := opts.Ridge * mat.Trace(mo.xx) / float64(p)
	var wc, g mat.Dense
	wc.Mul(w, mo.xx)
	g.Mul(&wc, w.T())
	if lam > 0 {
		var wwt mat.Dense
		wwt.Mul(w, w.T())
		wwt.Scale(lam, &wwt)
		g.Add(&g, &wwt)
	}
	vr, err := topEigenvectors(&g, rank)
	if err != nil {
		return nil, fmt.Errorf("fitting: low rank: %w", err)
	}
	var down, wr mat.Dense
	down.Mul(vr.T(), w) // r×p
	wr.Mul(vr, &down)   // q×p
	f := &Fit{Affine: affineFrom(&wr, mo, opts.NoBias), EffectiveRank: eff}
	f.Rank = rank
	f.Down = rawCopy(&down)
	f.Up = rawCopy(vr)
	f.Quality = quality(s.moments(true), &f.Affine)
	return f, nil
}

// LowRankWeights compresses a given map without data: W ≈ U_r·Σ_r·V_rᵀ,
// the truncated SVD (Eckart–Young: the best rank-r approximation of W in
// Frobenius norm, which is the best map only if the inputs are white).
// The result has Down = Σ_r·V_rᵀ (r×In) and Up = U_r (Out×r) and the bias
// of a. A rank of min(In, Out) or more returns a copy of a without
// factors; a rank below 1 is an error.
func LowRankWeights(a *Affine, rank int) (*Affine, error) {
	if err := a.validate(); err != nil {
		return nil, fmt.Errorf("fitting: low rank weights: %w", err)
	}
	if rank < 1 {
		return nil, fmt.Errorf("fitting: low rank weights %d: %w", rank, errRank)
	}
	out := &Affine{In: a.In, Out: a.Out, B: append([]float64(nil), a.B...)}
	if rank >= min(a.In, a.Out) {
		out.W = append([]float64(nil), a.W...)
		return out, nil
	}
	var svd mat.SVD
	if !svd.Factorize(mat.NewDense(a.Out, a.In, append([]float64(nil), a.W...)), mat.SVDThin) {
		return nil, errors.New("fitting: low rank weights: SVD did not converge")
	}
	var u, v mat.Dense
	svd.UTo(&u)
	svd.VTo(&v)
	sv := svd.Values(nil)
	ur := u.Slice(0, a.Out, 0, rank)
	down := mat.NewDense(rank, a.In, nil)
	for j := range rank {
		for i := range a.In {
			down.Set(j, i, sv[j]*v.At(i, j))
		}
	}
	var w mat.Dense
	w.Mul(ur, down)
	out.W = rawCopy(&w)
	out.Rank = rank
	out.Down = rawCopy(down)
	out.Up = rawCopy(ur)
	return out, nil
}

// topEigenvectors returns the eigenvectors of the symmetric part of g for
// its k largest eigenvalues, as the columns of an n×k matrix.
func topEigenvectors(g *mat.Dense, k int) (*mat.Dense, error) {
	n, _ := g.Dims()
	sym := mat.NewSymDense(n, nil)
	for i := range n {
		for j := i; j < n; j++ {
			sym.SetSym(i, j, (g.At(i, j)+g.At(j, i))/2)
		}
	}
	var eig mat.EigenSym
	if !eig.Factorize(sym, true) {
		return nil, errors.New("eigendecomposition of the fitted-value covariance did not converge")
	}
	var v mat.Dense
	eig.VectorsTo(&v)
	out := mat.NewDense(n, k, nil)
	for j := range k {
		for r := range n {
			out.Set(r, j, v.At(r, n-1-j)) // ascending order: largest last
		}
	}
	return out, nil
}

// rawCopy returns the elements of m row-major in a new slice.
func rawCopy(m mat.Matrix) []float64 {
	r, c := m.Dims()
	out := make([]float64, 0, r*c)
	for i := range r {
		for j := range c {
			out = append(out, m.At(i, j))
		}
	}
	return out
}
