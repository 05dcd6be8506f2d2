package fitting

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// chunkRows bounds the rows converted to float64 at once: Add works in
// chunks of this many rows, so its scratch memory is chunkRows·(p+q)
// float64s whatever the batch size, and the O((p+q)²) merge of each chunk
// costs 1/chunkRows of the chunk's Gram product.
const chunkRows = 1024

// Stats accumulates the first and second moments of paired samples x (p
// values) and y (q values), fed in batches of rows as activations arrive.
// It keeps, in float64, the sample count, the means of x and y, and the
// centred sums of products Σ(x−μx)(x−μx)ᵀ, Σ(x−μx)(y−μy)ᵀ and
// Σ(y−μy)(y−μy)ᵀ: everything the least-squares, Procrustes and similarity
// functions of this package read. Memory is O((p+q)²), independent of the
// number of samples.
//
// Each chunk of a batch is centred on its own mean and its Gram matrix is
// merged into the running sums with the pairwise update of Chan, Golub and
// LeVeque ("Updating formulae and a pairwise algorithm for computing
// sample variances", 1979), so activations with a large mean lose no
// precision to cancellation and the result hardly depends on how the rows
// were split into batches.
//
// A Stats is not safe for concurrent use; collect in parallel with one
// Stats per goroutine and combine them with Merge.
type Stats struct {
	p, q    int
	n       int
	batches int       // Add calls so far, for error messages
	mean    []float64 // means of z = [x; y], length p+q
	m       []float64 // Σ(z−μ)(z−μ)ᵀ, (p+q)×(p+q) row-major, upper triangle
	z       []float64 // scratch: one chunk of z rows
	zmean   []float64 // scratch: the chunk's mean
	delta   []float64 // scratch: difference of means in merge
}

// NewStats returns an empty accumulator for samples with p inputs and q
// outputs.
func NewStats(p, q int) (*Stats, error) {
	if p < 1 || q < 1 {
		return nil, fmt.Errorf("fitting: new stats: need at least one input and one output column, got p=%d q=%d", p, q)
	}
	w := p + q
	if w > 1<<15 {
		return nil, fmt.Errorf("fitting: new stats: %d+%d columns would need a %d×%d matrix", p, q, w, w)
	}
	return &Stats{p: p, q: q, mean: make([]float64, w), m: make([]float64, w*w)}, nil
}

// In returns p, the number of input columns.
func (s *Stats) In() int { return s.p }

// Out returns q, the number of output columns.
func (s *Stats) Out() int { return s.q }

// N returns the number of samples accumulated.
func (s *Stats) N() int { return s.n }

// MeanX returns a copy of the mean of the inputs.
func (s *Stats) MeanX() []float64 { return append([]float64(nil), s.mean[:s.p]...) }

// MeanY returns a copy of the mean of the outputs.
func (s *Stats) MeanY() []float64 { return append([]float64(nil), s.mean[s.p:]...) }

// Add accumulates one batch of samples: x holds rows×p values and y
// rows×q values, both row-major, with sample i in row i of each. An empty
// batch is allowed. A batch holding NaN or ±Inf is rejected whole, with an
// error naming the batch (counting Add calls from 0), the row and the
// column; the statistics are then unchanged.
func (s *Stats) Add(x, y []float32) error {
	b := s.batches
	s.batches++
	if len(x)%s.p != 0 {
		return fmt.Errorf("fitting: batch %d: %d x values are not whole rows of %d", b, len(x), s.p)
	}
	rows := len(x) / s.p
	if len(y) != rows*s.q {
		return fmt.Errorf("fitting: batch %d: %d rows of x but %d y values (want %d rows of %d)", b, rows, len(y), rows, s.q)
	}
	if err := checkFinite(x, s.p, "x"); err != nil {
		return fmt.Errorf("fitting: batch %d: %w", b, err)
	}
	if err := checkFinite(y, s.q, "y"); err != nil {
		return fmt.Errorf("fitting: batch %d: %w", b, err)
	}
	for r0 := 0; r0 < rows; r0 += chunkRows {
		r1 := min(rows, r0+chunkRows)
		s.addChunk(x[r0*s.p:r1*s.p], y[r0*s.q:r1*s.q], r1-r0)
	}
	return nil
}

func checkFinite(v []float32, cols int, name string) error {
	for i, f := range v {
		if f != f || f > math.MaxFloat32 || f < -math.MaxFloat32 {
			return fmt.Errorf("%s row %d column %d is %v", name, i/cols, i%cols, f)
		}
	}
	return nil
}

// addChunk merges rows samples into s: it centres them on their own mean,
// adds their Gram matrix, then corrects for the difference of the means.
func (s *Stats) addChunk(x, y []float32, rows int) {
	p, w := s.p, s.p+s.q
	if cap(s.z) < rows*w {
		s.z = make([]float64, min(chunkRows, max(rows, 64))*w)
		s.zmean = make([]float64, w)
	}
	z, zm := s.z[:rows*w], s.zmean
	clear(zm)
	for r := range rows {
		zr := z[r*w : (r+1)*w]
		for j, v := range x[r*p : (r+1)*p] {
			zr[j] = float64(v)
		}
		for j, v := range y[r*s.q : (r+1)*s.q] {
			zr[p+j] = float64(v)
		}
		for j, v := range zr {
			zm[j] += v
		}
	}
	inv := 1 / float64(rows)
	for j := range zm {
		zm[j] *= inv
	}
	for r := range rows {
		zr := z[r*w : (r+1)*w]
		for j := range zr {
			zr[j] -= zm[j]
		}
	}
	addGram(s.m, z, rows, w)
	s.merge(rows, zm, nil)
}

// merge folds a set of nb samples with mean mb, whose centred sums have
// already been added to s.m (mm nil) or are given in mm, into s.
func (s *Stats) merge(nb int, mb, mm []float64) {
	w := s.p + s.q
	if mm != nil {
		for i := range w {
			for j := i; j < w; j++ {
				s.m[i*w+j] += mm[i*w+j]
			}
		}
	}
	na := s.n
	n := na + nb
	if na == 0 {
		copy(s.mean, mb)
		s.n = n
		return
	}
	if len(s.delta) != w {
		s.delta = make([]float64, w)
	}
	delta := s.delta
	for j := range delta {
		delta[j] = mb[j] - s.mean[j]
	}
	f := float64(na) * float64(nb) / float64(n)
	blas64.Implementation().Dsyr(blas.Upper, w, f, delta, 1, s.m, w)
	g := float64(nb) / float64(n)
	for j := range s.mean {
		s.mean[j] += g * delta[j]
	}
	s.n = n
}

// addGram adds the upper triangle of zᵀz (z rows×w, row-major) to c (w×w).
// Row i of c gains Σ_l z[l,i]·z[l,i:w], one Daxpy per sample (gonum's
// assembly axpy), as gonum's Dsyrk does; measured here, that runs about
// twice as fast as gonum's Dgemm on the same product (see BenchmarkGram).
// The rows of c are split into bands of equal work among GOMAXPROCS
// goroutines, and the samples are taken in tiles of gramTile rows so that
// a tile of z stays in cache while a band's rows are updated.
func addGram(c, z []float64, rows, w int) {
	parts := runtime.GOMAXPROCS(0)
	if float64(rows)*float64(w)*float64(w) < 1<<22 {
		parts = 1
	}
	bands := gramBands(w, parts)
	if len(bands) == 2 {
		gramBand(c, z, rows, w, 0, w)
		return
	}
	var wg sync.WaitGroup
	for k := range len(bands) - 1 {
		wg.Go(func() { gramBand(c, z, rows, w, bands[k], bands[k+1]) })
	}
	wg.Wait()
}

// gramTile is the number of samples per tile in gramBand: 128 rows of
// z of width up to ~1000 are about 1 MB, within a core's L2.
const gramTile = 128

// gramBand does addGram's work for rows i0 ≤ i < i1 of c. Narrow
// matrices (w ≤ gramNarrow) take four samples per pass over a row of c,
// which halves the loads and stores of c and the calls per sample; wide
// ones call gonum's assembly axpy once per sample (see BenchmarkGram).
func gramBand(c, z []float64, rows, w, i0, i1 int) {
	impl := blas64.Implementation()
	for l0 := 0; l0 < rows; l0 += gramTile {
		l1 := min(rows, l0+gramTile)
		for i := i0; i < i1; i++ {
			ci := c[i*w+i : i*w+w]
			l := l0
			if w <= gramNarrow {
				for ; l+4 <= l1; l += 4 {
					gram4(ci, z[l*w+i:], w)
				}
			}
			for ; l < l1; l++ {
				if a := z[l*w+i]; a != 0 {
					impl.Daxpy(w-i, a, z[l*w+i:l*w+w], 1, ci, 1)
				}
			}
		}
	}
}

// gramNarrow is the widest matrix gramBand updates four samples at a
// time: measured here, that takes 38 % less time than the axpy at w = 64
// (BenchmarkGram/addGram_w64, benchstat over 6 runs) and about 15 % less
// at 128, but more from about 300 on, where the axpy's SIMD loop wins.
const gramNarrow = 192

// gram4 adds to ci (length n) the products of the first entry with every
// entry of four consecutive rows of z (row stride w) starting at z[0].
func gram4(ci, z []float64, w int) {
	n := len(ci)
	z0, z1, z2, z3 := z[:n], z[w:w+n], z[2*w:2*w+n], z[3*w:3*w+n]
	a0, a1, a2, a3 := z0[0], z1[0], z2[0], z3[0]
	for j := range ci {
		ci[j] += a0*z0[j] + a1*z1[j] + a2*z2[j] + a3*z3[j]
	}
}

// gramBands splits the rows of a w×w upper triangle into at most parts
// bands of about equal work (row i holds w−i entries) and returns their
// bounds, starting at 0 and ending at w.
func gramBands(w, parts int) []int {
	total := float64(w) * float64(w+1) / 2
	bounds := []int{0}
	done := 0.0
	for i := range w - 1 {
		done += float64(w - i)
		if len(bounds) < parts && done >= total*float64(len(bounds))/float64(parts) {
			bounds = append(bounds, i+1)
		}
	}
	return append(bounds, w)
}

// Merge adds the samples accumulated in o to s, as if they had been fed to
// s. It is how statistics collected in parallel are combined; o is
// unchanged.
func (s *Stats) Merge(o *Stats) error {
	if o == nil {
		return errors.New("fitting: merge: nil stats")
	}
	if o.p != s.p || o.q != s.q {
		return fmt.Errorf("fitting: merge: stats of %d inputs and %d outputs into stats of %d and %d", o.p, o.q, s.p, s.q)
	}
	if o.n == 0 {
		return nil
	}
	s.merge(o.n, o.mean, o.m)
	return nil
}

// moments are the statistics as a solver reads them, divided by n:
// covariances when centred, raw second moments E[xxᵀ], E[xyᵀ], E[yyᵀ]
// otherwise. The means are set either way.
type moments struct {
	n      float64
	mx, my []float64
	xx     *mat.SymDense // p×p
	xy     *mat.Dense    // p×q
	yy     *mat.SymDense // q×q
}

func (s *Stats) moments(centred bool) moments {
	p, q, w := s.p, s.q, s.p+s.q
	n := float64(s.n)
	mo := moments{
		n:  n,
		mx: s.MeanX(),
		my: s.MeanY(),
		xx: mat.NewSymDense(p, nil),
		xy: mat.NewDense(p, q, nil),
		yy: mat.NewSymDense(q, nil),
	}
	at := func(i, j int) float64 {
		v := s.m[min(i, j)*w+max(i, j)] / n
		if !centred {
			v += s.mean[i] * s.mean[j]
		}
		return v
	}
	for i := range p {
		for j := i; j < p; j++ {
			mo.xx.SetSym(i, j, at(i, j))
		}
		for j := range q {
			mo.xy.Set(i, j, at(i, p+j))
		}
	}
	for i := range q {
		for j := i; j < q; j++ {
			mo.yy.SetSym(i, j, at(p+i, p+j))
		}
	}
	return mo
}

// newJoint returns an accumulator of w columns that are all inputs (no
// outputs): the statistics of several layers' activations side by side,
// from which Sub takes the pairs.
func newJoint(w int) (*Stats, error) {
	if w < 1 {
		return nil, fmt.Errorf("fitting: joint stats of %d columns", w)
	}
	if w > 1<<15 {
		return nil, fmt.Errorf("fitting: joint stats of %d columns would need a %d×%d matrix", w, w, w)
	}
	return &Stats{p: w, mean: make([]float64, w), m: make([]float64, w*w)}, nil
}

// Sub returns the statistics of s's columns x, as inputs, against its
// columns y, as outputs, as if only those had been accumulated. s's
// columns are numbered inputs first (0 … In−1), then outputs (In …
// In+Out−1); x and y may overlap. Centred sums are per column, so every
// pair of column sets of one Stats is exact: one accumulator over the
// concatenated activations of several layers serves all their pairs.
func (s *Stats) Sub(x, y []int) (*Stats, error) {
	w := s.p + s.q
	for _, set := range [][]int{x, y} {
		if len(set) == 0 {
			return nil, errors.New("fitting: sub: no columns")
		}
		for _, c := range set {
			if c < 0 || c >= w {
				return nil, fmt.Errorf("fitting: sub: column %d of %d", c, w)
			}
		}
	}
	idx := append(append([]int(nil), x...), y...)
	out, err := NewStats(len(x), len(y))
	if err != nil {
		return nil, fmt.Errorf("fitting: sub: %w", err)
	}
	nw := len(idx)
	for a, i := range idx {
		out.mean[a] = s.mean[i]
		for b := a; b < nw; b++ {
			j := idx[b]
			out.m[a*nw+b] = s.m[min(i, j)*w+max(i, j)]
		}
	}
	out.n = s.n
	return out, nil
}

// constantTol is the variance, relative to the squared mean, below which
// a set of columns counts as constant: rounding in the chunk means leaves
// about 1e-32 of it in a constant column, while float32 activations that
// really vary keep at least 1e-14.
const constantTol = 1e-20

// constant reports whether the inputs and the outputs of s are constant
// over its samples: their summed centred variance is at most constantTol
// times their summed squared mean (exactly zero for zero means).
func (s *Stats) constant() (x, y bool) {
	w := s.p + s.q
	part := func(lo, hi int) bool {
		var v, m2 float64
		for i := lo; i < hi; i++ {
			v += s.m[i*w+i]
			m2 += s.mean[i] * s.mean[i]
		}
		return v/float64(max(s.n, 1)) <= constantTol*m2
	}
	return part(0, s.p), part(s.p, w)
}
