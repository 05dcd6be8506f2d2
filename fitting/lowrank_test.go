package fitting

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// singularValues returns the singular values of the r×c matrix w,
// largest first.
func singularValues(t *testing.T, w []float64, r, c int) []float64 {
	t.Helper()
	var svd mat.SVD
	if !svd.Factorize(mat.NewDense(r, c, append([]float64(nil), w...)), mat.SVDNone) {
		t.Fatal("SVD failed")
	}
	return svd.Values(nil)
}

// checkFactors checks that a's factors multiply to W, that W has rank
// a.Rank (singular value Rank+1 below 1e-12 of the first: rounding), and
// returns nothing.
func checkFactors(t *testing.T, a *Affine, rank int) {
	t.Helper()
	if a.Rank != rank || a.Down == nil || a.Up == nil {
		t.Fatalf("rank %d with factors %v/%v, want rank %d", a.Rank, a.Down != nil, a.Up != nil, rank)
	}
	var prod mat.Dense
	prod.Mul(mat.NewDense(a.Out, rank, a.Up), mat.NewDense(rank, a.In, a.Down))
	if d := relDiff(rawCopy(&prod), a.W); d > 1e-12 {
		t.Errorf("Up·Down differs from W by %.3g relative", d)
	}
	sv := singularValues(t, a.W, a.Out, a.In)
	if sv[rank]/sv[0] > 1e-12 {
		t.Errorf("W has singular values %v: rank above %d", sv, rank)
	}
}

// TestLowRankRecovers fits y = U·V·x + b + σ·ε with U·V of rank 3. The
// reduced-rank estimate is at least as accurate as OLS, so the tolerances
// of TestLinearRecovers (6σ/√m on weights) hold.
func TestLowRankRecovers(t *testing.T) {
	const p, q, r, m, sigma = 10, 8, 3, 20000, 0.1
	rng := newRand(40)
	var w mat.Dense
	w.Mul(mat.NewDense(q, r, randMatrix(rng, q, r)), mat.NewDense(r, p, randMatrix(rng, r, p)))
	wt := rawCopy(&w)
	b := randMatrix(rng, 1, q)
	x := gaussian(rng, m, p, 0.5, 1)
	y := applyRows(rng, x, p, q, wt, b, sigma)
	f, err := LowRank(statsOf(t, x, y, p, q), r, LinearOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sd := sigma / math.Sqrt(m)
	if d := maxAbsDiff(f.W, wt); d > 6*sd {
		t.Errorf("W off by %.3g, want ≤ %.3g", d, 6*sd)
	}
	if d := maxAbsDiff(f.B, b); d > 6*sd*math.Sqrt(1+p/4.0) {
		t.Errorf("b off by %.3g", d)
	}
	checkFactors(t, &f.Affine, r)
}

// TestLowRankMatchesDirect compares LowRank with reduced-rank regression
// done directly on the data: QR least squares for W, then the SVD of the
// centred fitted values X̃c·Wᵀ (augmented with √(mλ)·Wᵀ for ridge),
// W_r = V_r·V_rᵀ·W. The inputs are anisotropic (column scales 0.1 to 10)
// so that the answer differs from the truncated SVD of W, which must fit
// worse. Agreement to 1e-9 relative, as in TestLinearMatchesQR.
func TestLowRankMatchesDirect(t *testing.T) {
	cases := []struct {
		p, q, m, r int
		noBias     bool
		ridge      float64
	}{
		{6, 5, 100, 2, false, 0},
		{6, 5, 100, 1, true, 0},
		{8, 12, 300, 4, false, 0},
		{6, 5, 100, 3, false, 0.05},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("p%d_q%d_r%d_nobias%v_ridge%g", c.p, c.q, c.r, c.noBias, c.ridge), func(t *testing.T) {
			rng := newRand(uint64(50 + c.r))
			x := gaussian(rng, c.m, c.p, 1, 1)
			for i := range x {
				x[i] *= float32(math.Pow(10, float64(i%c.p)/float64(c.p-1)*2-1))
			}
			y := applyRows(rng, x, c.p, c.q, randMatrix(rng, c.q, c.p), randMatrix(rng, 1, c.q), 1)
			s := statsOf(t, x, y, c.p, c.q)
			f, err := LowRank(s, c.r, LinearOptions{NoBias: c.noBias, Ridge: c.ridge})
			if err != nil {
				t.Fatal(err)
			}
			var w, b []float64
			if c.ridge == 0 {
				w, b = directLstsq(t, x, y, c.p, c.q, !c.noBias)
			} else {
				w, b = directRidge(t, x, y, c.p, c.q, !c.noBias, c.ridge)
			}
			wr, br := directRRR(t, x, c.p, w, b, c.r, !c.noBias, c.ridge)
			if d := relDiff(f.W, wr); d > 1e-9 {
				t.Errorf("W differs from direct RRR by %.3g relative", d)
			}
			if d := relDiff(f.B, br); d > 1e-9 {
				t.Errorf("b differs from direct RRR by %.3g relative", d)
			}
			checkFactors(t, &f.Affine, c.r)

			// Data-free truncation of the full fit is optimal only for
			// white inputs: it must fit these worse.
			full := &Affine{In: c.p, Out: c.q, W: w, B: b}
			trunc, err := LowRankWeights(full, c.r)
			if err != nil {
				t.Fatal(err)
			}
			if !c.noBias { // refit the bias of the truncated map
				copy(trunc.B, affineFrom(mat.NewDense(c.q, c.p, trunc.W), s.moments(true), false).B)
			}
			qt, err := Evaluate(s, trunc)
			if err != nil {
				t.Fatal(err)
			}
			if c.ridge == 0 && qt.SSRes < f.SSRes {
				t.Errorf("truncated SVD of W fits better (SSres %.6g) than reduced-rank regression (%.6g)", qt.SSRes, f.SSRes)
			}
		})
	}
}

// directRRR projects W (q×p) onto the top r right singular vectors of the
// fitted values X̃·Wᵀ (centred with bias; with ridge, stacked on
// √(m·λ)·Wᵀ) and returns W_r and its bias μy − W_r·μx (b is the full
// fit's bias, μy = b + W·μx).
func directRRR(t *testing.T, x []float32, p int, w, b []float64, r int, bias bool, ridge float64) ([]float64, []float64) {
	t.Helper()
	q := len(b)
	xm := to64(x, p)
	m, _ := xm.Dims()
	mx := colMeans(xm)
	if bias {
		centre(xm, mx)
	}
	wm := mat.NewDense(q, p, w)
	tr := 0.0
	for i := range p {
		for k := range m {
			tr += xm.At(k, i) * xm.At(k, i)
		}
	}
	lam := ridge * tr / float64(m) / float64(p)
	a := mat.NewDense(m+p, p, nil)
	a.Slice(0, m, 0, p).(*mat.Dense).Copy(xm)
	for i := range p {
		a.Set(m+i, i, math.Sqrt(float64(m)*lam))
	}
	var fitted mat.Dense
	fitted.Mul(a, wm.T())
	var svd mat.SVD
	if !svd.Factorize(&fitted, mat.SVDThin) {
		t.Fatal("SVD failed")
	}
	var v mat.Dense
	svd.VTo(&v)
	vr := v.Slice(0, q, 0, r)
	var proj, wr mat.Dense
	proj.Mul(vr, vr.T())
	wr.Mul(&proj, wm)
	out := rawCopy(&wr)
	br := make([]float64, q)
	if bias {
		for o := range q {
			br[o] = b[o]
			for i := range p {
				br[o] += (w[o*p+i] - out[o*p+i]) * mx[i]
			}
		}
	}
	return out, br
}

func TestLowRankEdges(t *testing.T) {
	rng := newRand(60)
	x := gaussian(rng, 50, 4, 0, 1)
	y := gaussian(rng, 50, 3, 0, 1)
	s := statsOf(t, x, y, 4, 3)
	lin, err := Linear(s, LinearOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []int{3, 10} {
		f, err := LowRank(s, r, LinearOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if f.Down != nil || relDiff(f.W, lin.W) != 0 {
			t.Errorf("rank %d ≥ min(in, out) should be the Linear fit without factors", r)
		}
	}
	for _, r := range []int{0, -2} {
		if _, err := LowRank(s, r, LinearOptions{}); err == nil || !strings.Contains(err.Error(), "rank must be at least 1") {
			t.Errorf("rank %d: got %v", r, err)
		}
		if _, err := LowRankWeights(&lin.Affine, r); err == nil || !strings.Contains(err.Error(), "rank must be at least 1") {
			t.Errorf("weights rank %d: got %v", r, err)
		}
	}
	empty, _ := NewStats(4, 3)
	if _, err := LowRank(empty, 2, LinearOptions{}); err == nil || !strings.Contains(err.Error(), "no samples") {
		t.Errorf("no samples: got %v", err)
	}
	if _, err := LowRankWeights(&Affine{In: 2, Out: 2, W: []float64{1}, B: []float64{0, 0}}, 1); err == nil {
		t.Error("malformed map: want an error")
	}
}

// TestLowRankWeights checks the data-free truncation against the
// Eckart–Young theorem: the error ‖W − W_r‖²_F is the sum of the dropped
// squared singular values (1e-10 relative: two SVDs of a 7×9 matrix).
func TestLowRankWeights(t *testing.T) {
	const out, in = 7, 9
	rng := newRand(70)
	a := &Affine{In: in, Out: out, W: randMatrix(rng, out, in), B: randMatrix(rng, 1, out)}
	sv := singularValues(t, a.W, out, in)
	for r := 1; r < out; r++ {
		got, err := LowRankWeights(a, r)
		if err != nil {
			t.Fatal(err)
		}
		checkFactors(t, got, r)
		errF, want := 0.0, 0.0
		for i := range a.W {
			errF += (a.W[i] - got.W[i]) * (a.W[i] - got.W[i])
		}
		for _, v := range sv[r:] {
			want += v * v
		}
		if math.Abs(errF-want) > 1e-10*want {
			t.Errorf("rank %d: ‖W − W_r‖² = %.12g, want %.12g", r, errF, want)
		}
		if relDiff(got.B, a.B) != 0 {
			t.Errorf("rank %d: bias changed", r)
		}
	}
	full, err := LowRankWeights(a, out)
	if err != nil || full.Down != nil || relDiff(full.W, a.W) != 0 {
		t.Errorf("rank min(in, out): want an unfactored copy, got %v", err)
	}
}
