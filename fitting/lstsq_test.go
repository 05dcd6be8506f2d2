package fitting

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// TestLinearRecovers fits y = W·x + b + σ·ε on m samples of x ~ N(0.5, 1)
// per column. The OLS estimate of each weight has standard deviation
// σ/√m (unit input variance), and the bias σ·√(1 + μxᵀC⁻¹μx)/√m =
// σ·√(1 + p/4)/√m; the tolerances are 6 of those standard deviations, which
// no entry of 45 exceeds by chance (P < 1e-7).
func TestLinearRecovers(t *testing.T) {
	const p, q, m, sigma = 8, 5, 20000, 0.1
	rng := newRand(10)
	w := randMatrix(rng, q, p)
	b := randMatrix(rng, 1, q)
	x := gaussian(rng, m, p, 0.5, 1)
	y := applyRows(rng, x, p, q, w, b, sigma)
	s := statsOf(t, x, y, p, q)
	f, err := Linear(s, LinearOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sd := sigma / math.Sqrt(m)
	if d := maxAbsDiff(f.W, w); d > 6*sd {
		t.Errorf("W off by %.3g, want ≤ %.3g", d, 6*sd)
	}
	if d := maxAbsDiff(f.B, b); d > 6*sd*math.Sqrt(1+p/4.0) {
		t.Errorf("b off by %.3g, want ≤ %.3g", d, 6*sd*math.Sqrt(1+p/4.0))
	}
	if f.EffectiveRank != p {
		t.Errorf("effective rank %d, want %d", f.EffectiveRank, p)
	}
	// Expected R²: 1 − qσ²/(‖W‖²_F + qσ²), the noise share of the
	// variance; the sample estimate is within a few percent of it.
	wf := 0.0
	for _, v := range w {
		wf += v * v
	}
	want := 1 - q*sigma*sigma/(wf+q*sigma*sigma)
	if math.Abs((1-f.R2)/(1-want)-1) > 0.05 {
		t.Errorf("R² = %.6f, want about %.6f", f.R2, want)
	}
}

// TestLinearMatchesQR compares Linear with gonum's QR least squares on the
// full design matrix. The problems are well conditioned (cond(C) ≲ 100),
// so both solve to about 1e-13; 1e-9 relative leaves room for the
// normal-equation squaring of the condition number.
func TestLinearMatchesQR(t *testing.T) {
	cases := []struct {
		p, q, m int
		mean    float64
		noBias  bool
		ridge   float64
		noise   float64
	}{
		{p: 3, q: 2, m: 50, noise: 0.3},
		{p: 10, q: 4, m: 200, mean: 2, noise: 1},
		{p: 10, q: 4, m: 200, mean: 1e4, noise: 0.5},
		{p: 6, q: 3, m: 80, mean: 1, noBias: true, noise: 0.2},
		{p: 6, q: 3, m: 80, mean: 1, ridge: 0.1, noise: 0.2},
		{p: 6, q: 3, m: 80, mean: 1, noBias: true, ridge: 0.05, noise: 0.2},
		{p: 1, q: 1, m: 2, noise: 1},
	}
	for _, c := range cases {
		name := fmt.Sprintf("p%d_q%d_m%d_mean%g_nobias%v_ridge%g", c.p, c.q, c.m, c.mean, c.noBias, c.ridge)
		t.Run(name, func(t *testing.T) {
			rng := newRand(uint64(c.p*100 + c.m))
			x := gaussian(rng, c.m, c.p, c.mean, 1)
			y := applyRows(rng, x, c.p, c.q, randMatrix(rng, c.q, c.p), randMatrix(rng, 1, c.q), c.noise)
			s := statsOf(t, x, y, c.p, c.q)
			f, err := Linear(s, LinearOptions{NoBias: c.noBias, Ridge: c.ridge})
			if err != nil {
				t.Fatal(err)
			}
			var w, b []float64
			if c.ridge == 0 {
				w, b = directLstsq(t, x, y, c.p, c.q, !c.noBias)
			} else {
				w, b = directRidge(t, x, y, c.p, c.q, !c.noBias, c.ridge)
			}
			if d := relDiff(f.W, w); d > 1e-9 {
				t.Errorf("W differs from the direct solve by %.3g relative", d)
			}
			if d := relDiff(f.B, b); d > 1e-9 {
				t.Errorf("b differs from the direct solve by %.3g relative", d)
			}
			// The quality from the statistics against sums over the data.
			res, tot := directSS(x, y, c.p, c.q, &f.Affine)
			if d := math.Abs(f.SSRes-res) / tot; d > 1e-9 {
				t.Errorf("SSres = %.12g, direct %.12g (%.3g of SStot)", f.SSRes, res, d)
			}
			if d := math.Abs(f.SSTot-tot) / tot; d > 1e-9 {
				t.Errorf("SStot = %.12g, direct %.12g", f.SSTot, tot)
			}
		})
	}
}

// directRidge solves the ridge problem as an augmented least-squares
// problem with QR: [Xc; √(m·λ)·I]·W = [Yc; 0], λ = ridge·tr(C)/p, C the
// input covariance (second moment without bias), then b = μy − W·μx.
func directRidge(t *testing.T, x, y []float32, p, q int, bias bool, ridge float64) ([]float64, []float64) {
	t.Helper()
	xm, ym := to64(x, p), to64(y, q)
	m, _ := xm.Dims()
	mx, my := colMeans(xm), colMeans(ym)
	if bias {
		centre(xm, mx)
		centre(ym, my)
	}
	tr := 0.0
	for i := range p {
		c := mat.Col(nil, i, xm)
		tr += mat.Dot(mat.NewVecDense(m, c), mat.NewVecDense(m, c)) / float64(m)
	}
	lam := ridge * tr / float64(p)
	a := mat.NewDense(m+p, p, nil)
	a.Slice(0, m, 0, p).(*mat.Dense).Copy(xm)
	for i := range p {
		a.Set(m+i, i, math.Sqrt(float64(m)*lam))
	}
	rhs := mat.NewDense(m+p, q, nil)
	rhs.Slice(0, m, 0, q).(*mat.Dense).Copy(ym)
	var sol mat.Dense
	if err := sol.Solve(a, rhs); err != nil {
		t.Fatal(err)
	}
	w := rawCopy(sol.T())
	b := make([]float64, q)
	if bias {
		for o := range q {
			b[o] = my[o]
			for i := range p {
				b[o] -= w[o*p+i] * mx[i]
			}
		}
	}
	return w, b
}

func colMeans(a *mat.Dense) []float64 {
	r, c := a.Dims()
	out := make([]float64, c)
	for j := range c {
		for i := range r {
			out[j] += a.At(i, j)
		}
		out[j] /= float64(r)
	}
	return out
}

func centre(a *mat.Dense, mean []float64) {
	r, c := a.Dims()
	for i := range r {
		for j := range c {
			a.Set(i, j, a.At(i, j)-mean[j])
		}
	}
}

// directSS returns Σ‖y − W·x − b‖² and Σ‖y − μy‖² over the samples.
func directSS(x, y []float32, p, q int, a *Affine) (res, tot float64) {
	m := len(x) / p
	my := colMeans(to64(y, q))
	xr, pred := make([]float64, p), make([]float64, q)
	for r := range m {
		for i := range p {
			xr[i] = float64(x[r*p+i])
		}
		a.Apply(pred, xr)
		for o := range q {
			d := float64(y[r*q+o]) - pred[o]
			res += d * d
			e := float64(y[r*q+o]) - my[o]
			tot += e * e
		}
	}
	return res, tot
}

// TestLinearRankDeficient: duplicated and constant input columns make the
// covariance singular; the pseudo-inverse gives the minimum-norm solution
// and reports the rank. y = 2a + 3b + 1 exactly, so with x = [a, b, a] the
// minimum-norm weights split the 2 evenly: [1, 3, 1]; with x = [a, 5, b]
// the constant column gets weight 0 and the bias absorbs it. The data are
// exact, so the fit is too, up to rounding (1e-9).
func TestLinearRankDeficient(t *testing.T) {
	const m = 100
	rng := newRand(20)
	a, b := gaussian(rng, m, 1, 0, 1), gaussian(rng, m, 1, 0, 1)
	cases := []struct {
		name   string
		row    func(r int) []float32
		noBias bool
		rank   int
		w      []float64
		b      float64
	}{
		{"duplicate", func(r int) []float32 { return []float32{a[r], b[r], a[r]} }, false, 2, []float64{1, 3, 1}, 1},
		{"constant", func(r int) []float32 { return []float32{a[r], 5, b[r]} }, false, 2, []float64{2, 0, 3}, 1},
		// Without bias the constant column carries the intercept: 5·0.2 = 1.
		{"constant_nobias", func(r int) []float32 { return []float32{a[r], 5, b[r]} }, true, 3, []float64{2, 0.2, 3}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var x, y []float32
			for r := range m {
				x = append(x, c.row(r)...)
				y = append(y, float32(2*float64(a[r])+3*float64(b[r])+1))
			}
			s := statsOf(t, x, y, 3, 1)
			f, err := Linear(s, LinearOptions{NoBias: c.noBias})
			if err != nil {
				t.Fatal(err)
			}
			if f.EffectiveRank != c.rank {
				t.Errorf("effective rank %d, want %d", f.EffectiveRank, c.rank)
			}
			// y was rounded to float32: its exact least-squares weights
			// differ from the ideal ones by about 1e-7.
			if d := maxAbsDiff(f.W, c.w); d > 1e-6 {
				t.Errorf("W = %v, want %v", f.W, c.w)
			}
			if d := math.Abs(f.B[0] - c.b); d > 1e-6 {
				t.Errorf("b = %v, want %v", f.B[0], c.b)
			}
			if f.R2 < 1-1e-9 {
				t.Errorf("R² = %v, want 1", f.R2)
			}
		})
	}
}

func TestLinearErrors(t *testing.T) {
	empty, _ := NewStats(3, 2)
	rng := newRand(30)
	few := statsOf(t, gaussian(rng, 3, 3, 0, 1), gaussian(rng, 3, 2, 0, 1), 3, 2)
	cases := []struct {
		name string
		s    *Stats
		opts LinearOptions
		want string
	}{
		{"nil", nil, LinearOptions{}, "nil stats"},
		{"no_samples", empty, LinearOptions{}, "no samples"},
		{"too_few", few, LinearOptions{}, "3 samples for 3 inputs: need at least 4"},
		{"negative_ridge", few, LinearOptions{Ridge: -1}, "ridge -1"},
		{"nan_ridge", few, LinearOptions{Ridge: math.NaN()}, "ridge NaN"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Linear(c.s, c.opts)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
	// With a ridge, too few samples is a well-posed problem.
	if _, err := Linear(few, LinearOptions{Ridge: 1e-3}); err != nil {
		t.Errorf("ridge with few samples: %v", err)
	}
	// Evaluate checks the widths of the map.
	if _, err := Evaluate(few, &Affine{In: 2, Out: 2, W: make([]float64, 4), B: make([]float64, 2)}); err == nil || !strings.Contains(err.Error(), "map of 2 inputs") {
		t.Errorf("evaluate with a mismatched map: got %v", err)
	}
}
