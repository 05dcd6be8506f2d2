package fitting

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// Affine is the map y = W·x + B from In inputs to Out outputs. W is stored
// Out×In row-major, which is the layout of an ONNX Gemm weight with
// transB=1 and, read as (Out, C, k, k), of a Conv weight.
//
// A map fitted at reduced rank also holds its two factors: W = Up·Down
// with Down (Rank×In) and Up (Out×Rank), both row-major. Rank is 0 and the
// factors nil for a full-rank map.
type Affine struct {
	In, Out int
	W       []float64 // Out×In
	B       []float64 // Out; zeros for a map fitted without bias

	Rank     int
	Down, Up []float64
}

// Apply computes dst = W·x + B for one sample x of length In; dst has
// length Out.
func (a *Affine) Apply(dst, x []float64) {
	for o := range a.Out {
		v := a.B[o]
		for i, w := range a.W[o*a.In : (o+1)*a.In] {
			v += w * x[i]
		}
		dst[o] = v
	}
}

// validate checks that the slices have the lengths In, Out and Rank say.
func (a *Affine) validate() error {
	if a == nil {
		return errors.New("nil map")
	}
	if a.In < 1 || a.Out < 1 {
		return fmt.Errorf("map of %d inputs and %d outputs", a.In, a.Out)
	}
	if len(a.W) != a.Out*a.In {
		return fmt.Errorf("weight has %d values, want %d×%d", len(a.W), a.Out, a.In)
	}
	if len(a.B) != a.Out {
		return fmt.Errorf("bias has %d values, want %d", len(a.B), a.Out)
	}
	if a.Rank != 0 || a.Down != nil || a.Up != nil {
		if a.Rank < 1 || len(a.Down) != a.Rank*a.In || len(a.Up) != a.Out*a.Rank {
			return fmt.Errorf("rank-%d factors have %d and %d values, want %d×%d and %d×%d", a.Rank, len(a.Down), len(a.Up), a.Rank, a.In, a.Out, a.Rank)
		}
	}
	for i, v := range a.W {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("weight (%d,%d) is %v", i/a.In, i%a.In, v)
		}
	}
	for i, v := range a.B {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("bias %d is %v", i, v)
		}
	}
	return nil
}

// Quality measures how well a map fits the samples of a Stats.
type Quality struct {
	// R2 is 1 − SSres/SStot, with SSres = Σ‖y − W·x − B‖² and SStot =
	// Σ‖y − μy‖², both summed over samples and outputs (the pooled,
	// variance-weighted R²). It is NaN when y is constant (SStot = 0).
	R2 float64
	// RelResidual is √(SSres / Σ‖y‖²), the residual relative to the
	// uncentred targets; 0 when the targets are all zero.
	RelResidual float64
	// SSRes and SSTot are the sums above.
	SSRes, SSTot float64
}

// Fit is a map fitted to a Stats, with what the fit learned about the
// data.
type Fit struct {
	Affine
	// EffectiveRank is the number of directions the solver kept: for the
	// least-squares fits, eigenvalues of the (ridged) input covariance
	// above 1e-6 of the largest; for Procrustes, singular values of the
	// cross-covariance above 1e-6 of the largest. Below In (least squares)
	// it means the inputs are collinear or constant and the pseudo-inverse
	// was used, which a command-line tool should report.
	EffectiveRank int
	Quality
}

// Evaluate measures a on the samples of s from the statistics alone:
// SSres = tr(Syy) − 2·tr(W·Sxy) + tr(W·Sxx·Wᵀ) + n·‖μy − W·μx − B‖², with
// S the centred sums of products. On held-out statistics this is a
// validation score. When the fit is nearly exact, SSres is a small
// difference of large sums and has an absolute error of about 1e-16·SStot
// (·n for the bias term); it is clamped at 0.
func Evaluate(s *Stats, a *Affine) (Quality, error) {
	if err := checkStats(s, 1); err != nil {
		return Quality{}, fmt.Errorf("fitting: evaluate: %w", err)
	}
	if err := a.validate(); err != nil {
		return Quality{}, fmt.Errorf("fitting: evaluate: %w", err)
	}
	if a.In != s.p || a.Out != s.q {
		return Quality{}, fmt.Errorf("fitting: evaluate: map of %d inputs and %d outputs on stats of %d and %d", a.In, a.Out, s.p, s.q)
	}
	return quality(s.moments(true), a), nil
}

func quality(mo moments, a *Affine) Quality {
	w := mat.NewDense(a.Out, a.In, a.W)
	// All terms per sample (divided by n); multiplied back at the end.
	var wxx mat.Dense
	wxx.Mul(w, mo.xx)
	res := mat.Trace(mo.yy) - 2*traceProd(w, mo.xy) + traceProdT(&wxx, w)
	off := 0.0
	for o := range a.Out {
		d := mo.my[o] - a.B[o]
		for i, v := range a.W[o*a.In : (o+1)*a.In] {
			d -= v * mo.mx[i]
		}
		off += d * d
	}
	res = max(0, res) + off
	tot := mat.Trace(mo.yy)
	yy := tot
	for _, v := range mo.my {
		yy += v * v
	}
	q := Quality{SSRes: res * mo.n, SSTot: tot * mo.n, R2: math.NaN()}
	if tot > 0 {
		q.R2 = 1 - res/tot
	}
	if yy > 0 {
		q.RelResidual = math.Sqrt(res / yy)
	}
	return q
}

// traceProd returns tr(a·b) for a (r×c) and b (c×r).
func traceProd(a, b mat.Matrix) float64 {
	r, c := a.Dims()
	t := 0.0
	for i := range r {
		for j := range c {
			t += a.At(i, j) * b.At(j, i)
		}
	}
	return t
}

// traceProdT returns tr(a·bᵀ) for a and b of the same shape.
func traceProdT(a, b mat.Matrix) float64 {
	r, c := a.Dims()
	t := 0.0
	for i := range r {
		for j := range c {
			t += a.At(i, j) * b.At(i, j)
		}
	}
	return t
}

// checkStats rejects a nil Stats or one with fewer than need samples.
func checkStats(s *Stats, need int) error {
	if s == nil {
		return errors.New("nil stats")
	}
	if s.n == 0 {
		return errors.New("no samples")
	}
	if s.n < need {
		return fmt.Errorf("%d sample(s), need at least %d", s.n, need)
	}
	return nil
}
