package fitting

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// transformed returns y = s·x·Qᵀ + c for every row of x (rows×p), Q q×p
// with orthonormal columns: an orthogonal transform up to scale and shift.
func transformed(t *testing.T, seed uint64, x []float32, p, q int, s float64) []float32 {
	t.Helper()
	rng := newRand(seed)
	qm := randOrthogonal(rng, q).Slice(0, q, 0, p)
	w := rawCopy(qm)
	for i := range w {
		w[i] *= s
	}
	return applyRows(rng, x, p, q, w, randMatrix(rng, 1, q), 0)
}

// gramCKA is the definition: HSIC(K,L)/√(HSIC(K,K)·HSIC(L,L)) with
// K = X·Xᵀ, L = Y·Yᵀ, HSIC(K,L) = tr(K·H·L·H), H = I − 11ᵀ/n, computed
// with n×n matrices.
func gramCKA(x, y []float32, p, q int) float64 {
	xm, ym := to64(x, p), to64(y, q)
	n, _ := xm.Dims()
	var k, l mat.Dense
	k.Mul(xm, xm.T())
	l.Mul(ym, ym.T())
	h := mat.NewDense(n, n, nil)
	for i := range n {
		for j := range n {
			h.Set(i, j, -1/float64(n))
		}
		h.Set(i, i, 1-1/float64(n))
	}
	hsic := func(a, b *mat.Dense) float64 {
		var ah, bh mat.Dense
		ah.Mul(a, h)
		bh.Mul(b, h)
		return traceProd(&ah, &bh)
	}
	return hsic(&k, &l) / math.Sqrt(hsic(&k, &k)*hsic(&l, &l))
}

// uStatCKA computes unbiased CKA from the U-statistic definition of HSIC
// (Song et al. 2012, eq. 4): the mean over ordered 4-tuples of distinct
// samples (i,j,q,r) of k_ij·l_ij + k_ij·l_qr − 2·k_ij·l_iq, with raw
// (uncentred) linear kernels. O(n⁴): tiny n only.
func uStatCKA(x, y []float32, p, q int) float64 {
	n := len(x) / p
	kern := func(v []float32, d int) [][]float64 {
		k := make([][]float64, n)
		for i := range n {
			k[i] = make([]float64, n)
			for j := range n {
				for c := range d {
					k[i][j] += float64(v[i*d+c]) * float64(v[j*d+c])
				}
			}
		}
		return k
	}
	hsic := func(k, l [][]float64) float64 {
		sum, cnt := 0.0, 0
		for i := range n {
			for j := range n {
				for a := range n {
					for b := range n {
						if i == j || i == a || i == b || j == a || j == b || a == b {
							continue
						}
						sum += k[i][j]*l[i][j] + k[i][j]*l[a][b] - 2*k[i][j]*l[i][a]
						cnt++
					}
				}
			}
		}
		return sum / float64(cnt)
	}
	k, l := kern(x, p), kern(y, q)
	return hsic(k, l) / math.Sqrt(hsic(k, k)*hsic(l, l))
}

// TestCKA checks the biased streaming CKA against the Gram-matrix
// definition (1e-10 relative: both are float64 sums of a few thousand
// terms), CKA = 1 under orthogonal transforms with scale and shift, and
// the unbiased estimator against the brute-force U-statistic.
func TestCKA(t *testing.T) {
	for _, c := range []struct{ p, q, n int }{{4, 4, 30}, {3, 6, 50}, {8, 2, 40}} {
		t.Run(fmt.Sprintf("gram_p%d_q%d", c.p, c.q), func(t *testing.T) {
			rng := newRand(uint64(120 + c.p))
			x := gaussian(rng, c.n, c.p, 2, 1)
			y := applyRows(rng, x, c.p, c.q, randMatrix(rng, c.q, c.p), randMatrix(rng, 1, c.q), 2)
			got, err := CKA(statsOf(t, x, y, c.p, c.q))
			if err != nil {
				t.Fatal(err)
			}
			if want := gramCKA(x, y, c.p, c.q); math.Abs(got-want) > 1e-10*want {
				t.Errorf("streaming CKA %.15f, Gram-matrix CKA %.15f", got, want)
			}
		})
	}
	t.Run("ustat", func(t *testing.T) {
		const p, q, n = 3, 2, 8
		rng := newRand(130)
		x := gaussian(rng, n, p, 1, 1)
		y := applyRows(rng, x, p, q, randMatrix(rng, q, p), randMatrix(rng, 1, q), 1)
		got, err := CKAUnbiased(x, y, n)
		if err != nil {
			t.Fatal(err)
		}
		if want := uStatCKA(x, y, p, q); math.Abs(got-want) > 1e-10*math.Abs(want) {
			t.Errorf("unbiased CKA %.15f, U-statistic %.15f", got, want)
		}
	})
	// Orthogonal (or, for q > p, isometric) transform, scale, shift: 1.
	// The y values are rounded to float32 (relative 6e-8), which moves
	// CKA only at second order; 1e-9 covers it.
	for _, c := range []struct{ p, q int }{{5, 5}, {3, 7}} {
		t.Run(fmt.Sprintf("invariant_p%d_q%d", c.p, c.q), func(t *testing.T) {
			rng := newRand(140)
			x := gaussian(rng, 300, c.p, 1, 1)
			y := transformed(t, 141, x, c.p, c.q, 3.5)
			got, err := CKA(statsOf(t, x, y, c.p, c.q))
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got-1) > 1e-9 {
				t.Errorf("CKA = %.15f, want 1", got)
			}
			got, err = CKAUnbiased(x, y, 300)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got-1) > 1e-9 {
				t.Errorf("unbiased CKA = %.15f, want 1", got)
			}
		})
	}
	// Independent data: population CKA is 0. With n = 2000 and 10
	// features the biased estimate is about q/n ≈ 0.005; with n = 100 and
	// 50 features it is inflated to about 0.3, while the unbiased one
	// stays near 0 (standard deviation ≈ 0.01 there).
	t.Run("independent", func(t *testing.T) {
		rng := newRand(150)
		x, y := gaussian(rng, 2000, 10, 0, 1), gaussian(rng, 2000, 10, 5, 2)
		if got, err := CKA(statsOf(t, x, y, 10, 10)); err != nil || got > 0.02 {
			t.Errorf("biased CKA of independent data = %v (%v), want < 0.02", got, err)
		}
		x, y = gaussian(rng, 100, 50, 0, 1), gaussian(rng, 100, 50, 0, 1)
		biased, err := CKA(statsOf(t, x, y, 50, 50))
		if err != nil {
			t.Fatal(err)
		}
		unbiased, err := CKAUnbiased(x, y, 100)
		if err != nil {
			t.Fatal(err)
		}
		if biased < 0.2 || math.Abs(unbiased) > 0.05 {
			t.Errorf("wide independent data: biased CKA %.3f (want > 0.2), unbiased %.3f (want |·| < 0.05)", biased, unbiased)
		}
	})
}

// TestProcrustesDistance compares the distance from statistics with the
// definition on the normalised data, min over R of ‖Xc·Rᵀ − Yc‖² with the
// narrower of X and Y embedded isometrically in the wider and R from the
// direct SVD, to 1e-10; and checks it is 0 for transformed data.
func TestProcrustesDistance(t *testing.T) {
	for _, c := range []struct{ p, q int }{{4, 4}, {3, 6}, {6, 2}} {
		t.Run(fmt.Sprintf("p%d_q%d", c.p, c.q), func(t *testing.T) {
			rng := newRand(uint64(160 + c.p))
			x := gaussian(rng, 100, c.p, -1, 2)
			y := applyRows(rng, x, c.p, c.q, randMatrix(rng, c.q, c.p), randMatrix(rng, 1, c.q), 3)
			got, err := ProcrustesDistance(statsOf(t, x, y, c.p, c.q))
			if err != nil {
				t.Fatal(err)
			}
			xm, ym := to64(x, c.p), to64(y, c.q)
			centre(xm, colMeans(xm))
			centre(ym, colMeans(ym))
			xm.Scale(1/mat.Norm(xm, 2), xm)
			ym.Scale(1/mat.Norm(ym, 2), ym)
			// Embed the narrower representation in the wider one.
			if c.p > c.q {
				xm, ym = ym, xm
			}
			var m mat.Dense
			m.Mul(xm.T(), ym)
			r, _, err := procrustesRotation(&m)
			if err != nil {
				t.Fatal(err)
			}
			var diff mat.Dense
			diff.Mul(xm, r.T())
			diff.Sub(&diff, ym)
			want := math.Pow(mat.Norm(&diff, 2), 2)
			if math.Abs(got-want) > 1e-10 {
				t.Errorf("distance %.15f, direct %.15f", got, want)
			}
			if got <= 0 || got > 2 {
				t.Errorf("distance %v outside (0, 2]", got)
			}
		})
	}
	rng := newRand(170)
	x := gaussian(rng, 200, 3, 1, 1)
	d, err := ProcrustesDistance(statsOf(t, x, transformed(t, 171, x, 3, 5, 0.1), 3, 5))
	if err != nil || d > 1e-9 {
		t.Errorf("distance to a transformed copy = %v (%v), want 0", d, err)
	}
}

func TestR2(t *testing.T) {
	const p, q, m = 4, 3, 5000
	rng := newRand(180)
	x := gaussian(rng, m, p, 0, 1)
	y := applyRows(rng, x, p, q, randMatrix(rng, q, p), randMatrix(rng, 1, q), 0.5)
	s := statsOf(t, x, y, p, q)
	got, err := R2(s)
	if err != nil {
		t.Fatal(err)
	}
	w, b := directLstsq(t, x, y, p, q, true)
	res, tot := directSS(x, y, p, q, &Affine{In: p, Out: q, W: w, B: b})
	if want := 1 - res/tot; math.Abs(got-want) > 1e-10 {
		t.Errorf("R² = %.12f, direct %.12f", got, want)
	}
}

func TestSimilarityErrors(t *testing.T) {
	constant := statsOf(t, []float32{1, 1, 1}, []float32{1, 2, 3}, 1, 1)
	one := statsOf(t, []float32{1}, []float32{2}, 1, 1)
	cases := []struct {
		name string
		f    func() error
		want string
	}{
		{"cka_constant", func() error { _, err := CKA(constant); return err }, "x is constant"},
		{"cka_one_sample", func() error { _, err := CKA(one); return err }, "need at least 2"},
		{"distance_constant", func() error { _, err := ProcrustesDistance(constant); return err }, "x is constant"},
		{"distance_nil", func() error { _, err := ProcrustesDistance(nil); return err }, "nil stats"},
		{"unbiased_few", func() error { _, err := CKAUnbiased([]float32{1, 2, 3}, []float32{1, 2, 3}, 3); return err }, "need at least 4"},
		{"unbiased_ragged", func() error { _, err := CKAUnbiased([]float32{1, 2, 3, 4, 5}, []float32{1, 2, 3, 4}, 4); return err }, "not 4 non-empty rows"},
		{"unbiased_nan", func() error {
			_, err := CKAUnbiased([]float32{1, 2, float32(math.NaN()), 4}, []float32{1, 2, 3, 4}, 4)
			return err
		}, "x row 2 column 0 is NaN"},
		{"unbiased_constant", func() error { _, err := CKAUnbiased([]float32{1, 1, 1, 1}, []float32{1, 2, 3, 4}, 4); return err }, "constant"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.f(); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}
