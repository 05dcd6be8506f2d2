package fitting

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// TestProcrustesRecovers fits y = s·R·x + b + σ·ε with R a random
// orthogonal 6×6 matrix, s = 2.5, x ~ N(1, 1). Each entry of R is
// determined to about σ/(s·√m) and s to about σ/√(m·p); b = μy − s·R·μx
// inherits the error of s·R times ‖μx‖ = √p plus the noise mean, about
// σ·√(1+p)/√m. Tolerances are 6 of those.
func TestProcrustesRecovers(t *testing.T) {
	const p, m, sigma, scale = 6, 20000, 0.05, 2.5
	rng := newRand(80)
	r := randOrthogonal(rng, p)
	w := rawCopy(r)
	for i := range w {
		w[i] *= scale
	}
	b := randMatrix(rng, 1, p)
	x := gaussian(rng, m, p, 1, 1)
	y := applyRows(rng, x, p, p, w, b, sigma)
	f, err := Procrustes(statsOf(t, x, y, p, p), ProcrustesOptions{Scale: true})
	if err != nil {
		t.Fatal(err)
	}
	gotS := detScale(f.W, p)
	sd := sigma / math.Sqrt(m)
	if math.Abs(gotS-scale) > 6*sd/math.Sqrt(p) {
		t.Errorf("scale %.6f, want %.6f", gotS, scale)
	}
	gotR := append([]float64(nil), f.W...)
	for i := range gotR {
		gotR[i] /= gotS
	}
	if d := maxAbsDiff(gotR, rawCopy(r)); d > 6*sd/scale {
		t.Errorf("R off by %.3g, want ≤ %.3g", d, 6*sd/scale)
	}
	if d := maxAbsDiff(f.B, b); d > 6*sd*math.Sqrt(1+p) {
		t.Errorf("b off by %.3g, want ≤ %.3g", d, 6*sd*math.Sqrt(1+p))
	}
	if f.EffectiveRank != p {
		t.Errorf("effective rank %d, want %d", f.EffectiveRank, p)
	}
}

// directProcrustes computes the Procrustes fit from the data: centre (or
// not), M = Xcᵀ·Yc, R = V·Uᵀ from gonum's SVD, s = tr(Σ)/tr(R·XcᵀXc·Rᵀ),
// b = μy − s·R·μx.
func directProcrustes(t *testing.T, x, y []float32, p, q int, opts ProcrustesOptions) ([]float64, []float64) {
	t.Helper()
	xm, ym := to64(x, p), to64(y, q)
	mx, my := colMeans(xm), colMeans(ym)
	if !opts.NoBias {
		centre(xm, mx)
		centre(ym, my)
	}
	var m mat.Dense
	m.Mul(xm.T(), ym)
	var svd mat.SVD
	if !svd.Factorize(&m, mat.SVDThin) {
		t.Fatal("SVD failed")
	}
	var u, v, r mat.Dense
	svd.UTo(&u)
	svd.VTo(&v)
	r.Mul(&v, u.T())
	s := 1.0
	if opts.Scale {
		var xr mat.Dense
		xr.Mul(xm, r.T())
		tr := 0.0
		for _, sv := range svd.Values(nil) {
			tr += sv
		}
		s = tr / math.Pow(mat.Norm(&xr, 2), 2)
	}
	w := rawCopy(&r)
	for i := range w {
		w[i] *= s
	}
	b := make([]float64, q)
	if !opts.NoBias {
		for o := range q {
			b[o] = my[o]
			for i := range p {
				b[o] -= w[o*p+i] * mx[i]
			}
		}
	}
	return w, b
}

// TestProcrustesMatchesDirect compares Procrustes with the SVD on the full
// centred data, for equal and differing widths, to 1e-9 relative (the SVDs
// of well-separated singular values agree to ~1e-14). It also checks the
// semi-orthogonality documented for differing widths.
func TestProcrustesMatchesDirect(t *testing.T) {
	cases := []struct {
		p, q int
		opts ProcrustesOptions
	}{
		{5, 5, ProcrustesOptions{}},
		{5, 5, ProcrustesOptions{Scale: true}},
		{5, 5, ProcrustesOptions{Scale: true, NoBias: true}},
		{3, 7, ProcrustesOptions{Scale: true}},
		{7, 3, ProcrustesOptions{Scale: true}},
		{7, 3, ProcrustesOptions{NoBias: true}},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("p%d_q%d_scale%v_nobias%v", c.p, c.q, c.opts.Scale, c.opts.NoBias), func(t *testing.T) {
			rng := newRand(uint64(90 + c.p*c.q))
			x := gaussian(rng, 200, c.p, 3, 1)
			y := applyRows(rng, x, c.p, c.q, randMatrix(rng, c.q, c.p), randMatrix(rng, 1, c.q), 0.5)
			f, err := Procrustes(statsOf(t, x, y, c.p, c.q), c.opts)
			if err != nil {
				t.Fatal(err)
			}
			w, b := directProcrustes(t, x, y, c.p, c.q, c.opts)
			if d := relDiff(f.W, w); d > 1e-9 {
				t.Errorf("W differs from the direct SVD by %.3g relative", d)
			}
			if d := relDiff(f.B, b); d > 1e-9 {
				t.Errorf("b differs from the direct SVD by %.3g relative", d)
			}
			if !c.opts.Scale {
				// R itself: orthonormal columns (p ≤ q) or rows (p > q).
				rm := mat.NewDense(c.q, c.p, f.W)
				var g mat.Dense
				if c.p <= c.q {
					g.Mul(rm.T(), rm)
				} else {
					g.Mul(rm, rm.T())
				}
				n, _ := g.Dims()
				for i := range n {
					for j := range n {
						want := 0.0
						if i == j {
							want = 1
						}
						if math.Abs(g.At(i, j)-want) > 1e-12 {
							t.Fatalf("R is not semi-orthogonal: (RᵀR or RRᵀ)[%d,%d] = %g", i, j, g.At(i, j))
						}
					}
				}
			}
		})
	}
}

// TestProcrustesEmbedding: with in < out and y an exact isometric embedding
// of x (orthonormal columns Q, scale 0.5, shift), Procrustes recovers the
// embedding: R = Q, s = 0.5 to rounding (the y values are float32, so
// 1e-6).
func TestProcrustesEmbedding(t *testing.T) {
	const p, q, m = 3, 5, 100
	rng := newRand(100)
	full := randOrthogonal(rng, q)
	qm := full.Slice(0, q, 0, p)
	w := rawCopy(qm)
	for i := range w {
		w[i] *= 0.5
	}
	b := randMatrix(rng, 1, q)
	x := gaussian(rng, m, p, -2, 3)
	y := applyRows(rng, x, p, q, w, b, 0)
	f, err := Procrustes(statsOf(t, x, y, p, q), ProcrustesOptions{Scale: true})
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(f.W, w); d > 1e-6 {
		t.Errorf("W off by %.3g", d)
	}
	if d := maxAbsDiff(f.B, b); d > 1e-5 {
		t.Errorf("b off by %.3g", d)
	}
	if f.R2 < 1-1e-9 {
		t.Errorf("R² = %v, want 1", f.R2)
	}
}

// TestProcrustesOptimal checks that the fit is the constrained optimum:
// rotating R a little (R·Cayley(εA), A skew-symmetric), with the scale and
// shift refitted for it, never lowers SSres; and the SEEDS defect —
// projecting the unconstrained least-squares W onto the nearest orthogonal
// matrix and keeping the unconstrained bias — fits worse on anisotropic
// inputs.
func TestProcrustesOptimal(t *testing.T) {
	const p, m = 4, 500
	rng := newRand(110)
	x := gaussian(rng, m, p, 1, 1)
	for i := range x {
		x[i] *= float32(1 + 3*float64(i%p)) // column scales 1, 4, 7, 10
	}
	y := applyRows(rng, x, p, p, randMatrix(rng, p, p), randMatrix(rng, 1, p), 1)
	s := statsOf(t, x, y, p, p)
	f, err := Procrustes(s, ProcrustesOptions{Scale: true})
	if err != nil {
		t.Fatal(err)
	}
	mo := s.moments(true)
	// refit returns SSres of the best scale and shift for rotation r.
	refit := func(r *mat.Dense) float64 {
		var rc mat.Dense
		rc.Mul(r, mo.xx)
		sc := traceProd(r, mo.xy) / traceProdT(&rc, r)
		var w mat.Dense
		w.Scale(sc, r)
		a := affineFrom(&w, mo, false)
		q, err := Evaluate(s, &a)
		if err != nil {
			t.Fatal(err)
		}
		return q.SSRes
	}
	r0 := mat.NewDense(p, p, nil)
	r0.Scale(1/detScale(f.W, p), mat.NewDense(p, p, f.W))
	if d := math.Abs(refit(r0)-f.SSRes) / f.SSRes; d > 1e-9 {
		t.Fatalf("refitting scale for the fitted R changes SSres by %.3g", d)
	}
	for k := range 20 {
		a := mat.NewDense(p, p, nil)
		for i := range p {
			for j := range i {
				v := 1e-3 * rng.NormFloat64()
				a.Set(i, j, v)
				a.Set(j, i, -v)
			}
		}
		// Cayley transform (I − A)⁻¹(I + A) is exactly orthogonal.
		var ip, im, c, r mat.Dense
		ip.Add(eye(p), a)
		im.Sub(eye(p), a)
		if err := c.Solve(&im, &ip); err != nil {
			t.Fatal(err)
		}
		r.Mul(r0, &c)
		if got := refit(&r); got < f.SSRes*(1-1e-12) {
			t.Errorf("perturbation %d: SSres %.12g below the Procrustes fit's %.12g", k, got, f.SSRes)
		}
	}
	// The defect: polar projection of the OLS weights, OLS bias kept.
	lin, err := Linear(s, LinearOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var svd mat.SVD
	svd.Factorize(mat.NewDense(p, p, lin.W), mat.SVDThin)
	var u, v, polar mat.Dense
	svd.UTo(&u)
	svd.VTo(&v)
	polar.Mul(&u, v.T())
	defect := &Affine{In: p, Out: p, W: rawCopy(&polar), B: lin.B}
	q, err := Evaluate(s, defect)
	if err != nil {
		t.Fatal(err)
	}
	if q.SSRes <= f.SSRes {
		t.Errorf("projected OLS fits as well (%.6g) as Procrustes (%.6g)", q.SSRes, f.SSRes)
	}
}

// detScale returns s for W = s·R (p×p, R orthogonal): |det W|^(1/p).
func detScale(w []float64, p int) float64 {
	return math.Pow(math.Abs(mat.Det(mat.NewDense(p, p, w))), 1/float64(p))
}

func eye(n int) *mat.Dense {
	d := mat.NewDense(n, n, nil)
	for i := range n {
		d.Set(i, i, 1)
	}
	return d
}

func TestProcrustesErrors(t *testing.T) {
	empty, _ := NewStats(2, 2)
	if _, err := Procrustes(empty, ProcrustesOptions{}); err == nil || !strings.Contains(err.Error(), "no samples") {
		t.Errorf("no samples: got %v", err)
	}
	one := statsOf(t, []float32{1, 2}, []float32{3, 4}, 2, 2)
	if _, err := Procrustes(one, ProcrustesOptions{}); err == nil || !strings.Contains(err.Error(), "need at least 2") {
		t.Errorf("one sample with shift: got %v", err)
	}
	if _, err := Procrustes(one, ProcrustesOptions{NoBias: true}); err != nil {
		t.Errorf("one sample without shift: %v", err)
	}
	// Constant inputs: scale 0, the map predicts the mean of y.
	c := statsOf(t, []float32{1, 2, 1, 2, 1, 2}, []float32{0, 1, 2, 3, 4, 5}, 2, 2)
	f, err := Procrustes(c, ProcrustesOptions{Scale: true})
	if err != nil {
		t.Fatal(err)
	}
	if maxAbsDiff(f.W, make([]float64, 4)) != 0 || maxAbsDiff(f.B, []float64{2, 3}) > 1e-12 {
		t.Errorf("constant inputs: W = %v, b = %v; want 0 and the mean of y", f.W, f.B)
	}
}
