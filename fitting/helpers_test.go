package fitting

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)) }

// gaussian returns rows×cols float32 values with the given column means
// and standard deviation.
func gaussian(rng *rand.Rand, rows, cols int, mean, std float64) []float32 {
	out := make([]float32, rows*cols)
	for i := range out {
		out[i] = float32(mean + std*rng.NormFloat64())
	}
	return out
}

// randMatrix returns an r×c matrix of standard normal values.
func randMatrix(rng *rand.Rand, r, c int) []float64 {
	out := make([]float64, r*c)
	for i := range out {
		out[i] = rng.NormFloat64()
	}
	return out
}

// randOrthogonal returns an n×n orthogonal matrix (Q of the QR of a
// Gaussian matrix).
func randOrthogonal(rng *rand.Rand, n int) *mat.Dense {
	var qr mat.QR
	qr.Factorize(mat.NewDense(n, n, randMatrix(rng, n, n)))
	var q mat.Dense
	qr.QTo(&q)
	return &q
}

// applyRows computes y = W·x + b for every row of x (rows×in), adding
// noise·N(0,1), as float32.
func applyRows(rng *rand.Rand, x []float32, in, out int, w, b []float64, noise float64) []float32 {
	rows := len(x) / in
	y := make([]float32, rows*out)
	for r := range rows {
		for o := range out {
			v := b[o]
			for i := range in {
				v += w[o*in+i] * float64(x[r*in+i])
			}
			y[r*out+o] = float32(v + noise*rng.NormFloat64())
		}
	}
	return y
}

// to64 returns x (rows×cols) as a gonum matrix.
func to64(x []float32, cols int) *mat.Dense {
	d := make([]float64, len(x))
	for i, v := range x {
		d[i] = float64(v)
	}
	return mat.NewDense(len(x)/cols, cols, d)
}

// relDiff returns max|a−b| / max|b|: the relative error of a against the
// reference b.
func relDiff(a, b []float64) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	num, den := 0.0, 0.0
	for i := range a {
		num = math.Max(num, math.Abs(a[i]-b[i]))
		den = math.Max(den, math.Abs(b[i]))
	}
	if den == 0 {
		return num
	}
	return num / den
}

func maxAbsDiff(a, b []float64) float64 {
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(a[i]-b[i]))
	}
	return d
}

func statsOf(t testing.TB, x, y []float32, p, q int) *Stats {
	t.Helper()
	s, err := NewStats(p, q)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Add(x, y); err != nil {
		t.Fatal(err)
	}
	return s
}

// directLstsq solves min ‖[X 1]·B − Y‖ (or ‖X·B − Y‖ without bias) with
// gonum's QR least squares on the full data and returns W (q×p) and b.
func directLstsq(t *testing.T, x, y []float32, p, q int, bias bool) ([]float64, []float64) {
	t.Helper()
	xm := to64(x, p)
	m := len(x) / p
	cols := p
	if bias {
		cols++
	}
	a := mat.NewDense(m, cols, nil)
	a.Slice(0, m, 0, p).(*mat.Dense).Copy(xm)
	if bias {
		for r := range m {
			a.Set(r, p, 1)
		}
	}
	var sol mat.Dense
	if err := sol.Solve(a, to64(y, q)); err != nil {
		t.Fatal(err)
	}
	w := make([]float64, q*p)
	b := make([]float64, q)
	for o := range q {
		for i := range p {
			w[o*p+i] = sol.At(i, o)
		}
		if bias {
			b[o] = sol.At(p, o)
		}
	}
	return w, b
}
