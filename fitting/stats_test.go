package fitting

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// twoPass computes the means and the centred sums of products of z = [x; y]
// directly: mean first, then Σ(z−μ)(z−μ)ᵀ, in float64. It is the
// reference for Stats.
func twoPass(x, y []float32, p, q int) (mean, m []float64) {
	w := p + q
	rows := len(x) / p
	z := func(r, j int) float64 {
		if j < p {
			return float64(x[r*p+j])
		}
		return float64(y[r*q+j-p])
	}
	mean = make([]float64, w)
	for r := range rows {
		for j := range w {
			mean[j] += z(r, j)
		}
	}
	for j := range mean {
		mean[j] /= float64(rows)
	}
	m = make([]float64, w*w)
	for r := range rows {
		for i := range w {
			di := z(r, i) - mean[i]
			for j := i; j < w; j++ {
				m[i*w+j] += di * (z(r, j) - mean[j])
			}
		}
	}
	return mean, m
}

// upper returns the upper triangle of s's sums (the lower one is unused).
func upper(s *Stats) []float64 {
	w := s.p + s.q
	out := make([]float64, w*w)
	for i := range w {
		for j := i; j < w; j++ {
			out[i*w+j] = s.m[i*w+j]
		}
	}
	return out
}

// TestStreaming feeds the same samples in batches of different sizes,
// merged accumulators, and one batch: all must agree to 1e-10 relative,
// and with the two-pass reference, also for data with a large offset
// (mean 1e4, std 1), where raw sums Σxxᵀ would lose about 8 of float64's
// 16 digits to cancellation. The bound 1e-10 leaves a wide margin over the
// rounding of sums of ~1000 terms (≈1e-13 relative). The wide case takes
// addGram's parallel path; the widest is above gramNarrow, so both of
// gramBand's loops are checked.
func TestStreaming(t *testing.T) {
	const rows = 3000
	for _, c := range []struct {
		name      string
		p, q      int
		mean, std float64
	}{{"centred", 7, 5, 0, 1}, {"offset1e4", 7, 5, 1e4, 1}, {"wide_offset1e4", 70, 50, 1e4, 1}, {"wider_than_narrow", 150, 60, 1, 1}} {
		p, q := c.p, c.q
		rng := newRand(1)
		x := gaussian(rng, rows, p, c.mean, c.std)
		y := gaussian(rng, rows, q, -c.mean, c.std)
		refMean, refM := twoPass(x, y, p, q)
		one := statsOf(t, x, y, p, q)
		for _, sizes := range [][]int{{1, 2, 3, 1000, 1994}, {1500, 1500}, {7, 2048, 945}, {2999, 1}} {
			t.Run(fmt.Sprintf("%s/%v", c.name, sizes), func(t *testing.T) {
				s, _ := NewStats(p, q)
				r0 := 0
				for _, n := range sizes {
					if err := s.Add(x[r0*p:(r0+n)*p], y[r0*q:(r0+n)*q]); err != nil {
						t.Fatal(err)
					}
					r0 += n
				}
				if s.N() != rows {
					t.Fatalf("N = %d, want %d", s.N(), rows)
				}
				if d := relDiff(upper(s), upper(one)); d > 1e-10 {
					t.Errorf("sums differ from one batch by %.3g relative", d)
				}
				if d := relDiff(s.mean, one.mean); d > 1e-10 {
					t.Errorf("means differ from one batch by %.3g relative", d)
				}
				if d := relDiff(upper(s), refM); d > 1e-10 {
					t.Errorf("sums differ from the two-pass reference by %.3g relative", d)
				}
				if d := relDiff(s.mean, refMean); d > 1e-10 {
					t.Errorf("means differ from the two-pass reference by %.3g relative", d)
				}
			})
		}
		t.Run(c.name+"/merge", func(t *testing.T) {
			a := statsOf(t, x[:1000*p], y[:1000*q], p, q)
			b := statsOf(t, x[1000*p:], y[1000*q:], p, q)
			empty, _ := NewStats(p, q)
			if err := empty.Merge(a); err != nil {
				t.Fatal(err)
			}
			if err := empty.Merge(b); err != nil {
				t.Fatal(err)
			}
			if d := relDiff(upper(empty), refM); d > 1e-10 {
				t.Errorf("merged sums differ from the reference by %.3g relative", d)
			}
			if d := relDiff(empty.mean, refMean); d > 1e-10 {
				t.Errorf("merged means differ from the reference by %.3g relative", d)
			}
		})
	}
}

func TestStatsErrors(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(-1))
	cases := []struct {
		name string
		x, y []float32
		want string
	}{
		{"nan_x", []float32{1, 2, 3, nan}, []float32{1, 2}, "batch 1: x row 1 column 1 is NaN"},
		{"inf_y", []float32{1, 2, 3, 4}, []float32{1, inf}, "batch 1: y row 1 column 0 is -Inf"},
		{"ragged_x", []float32{1, 2, 3}, []float32{1, 2}, "not whole rows"},
		{"short_y", []float32{1, 2, 3, 4}, []float32{1}, "2 rows of x but 1 y values"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, _ := NewStats(2, 1)
			if err := s.Add([]float32{0, 0}, []float32{0}); err != nil {
				t.Fatal(err)
			}
			err := s.Add(c.x, c.y)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
			if s.N() != 1 {
				t.Errorf("a rejected batch changed N to %d", s.N())
			}
		})
	}
	if _, err := NewStats(0, 3); err == nil {
		t.Error("NewStats(0, 3): want an error")
	}
	a, _ := NewStats(2, 1)
	b, _ := NewStats(1, 2)
	if err := a.Merge(b); err == nil {
		t.Error("merging stats of other widths: want an error")
	}
}

// BenchmarkAccumulate measures Add on batches of 4096 rows with float32
// inputs, as activations arrive from the executor.
func BenchmarkAccumulate(b *testing.B) {
	for _, p := range []int{64, 576} {
		b.Run(fmt.Sprintf("p=q=%d", p), func(b *testing.B) {
			const rows = 4096
			rng := newRand(2)
			x := gaussian(rng, rows, p, 3, 1)
			y := gaussian(rng, rows, p, -1, 2)
			s, _ := NewStats(p, p)
			b.ResetTimer()
			for b.Loop() {
				if err := s.Add(x, y); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
			// Useful arithmetic: the upper triangle of the (2p)² Gram
			// matrix, 2·rows·(2p)²/2 flops per batch.
			b.ReportMetric(float64(rows)*float64(4*p*p)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkGram compares addGram with gonum's Dsyrk and Dgemm for one
// 1024-row chunk of width 1152 (p=q=576), counting the useful flops of the
// triangle (rows·w² for all three).
func BenchmarkGram(b *testing.B) {
	const rows, w = chunkRows, 1152
	rng := newRand(3)
	z := randMatrix(rng, rows, w)
	c := make([]float64, w*w)
	b.Run("addGram", func(b *testing.B) {
		for b.Loop() {
			addGram(c, z, rows, w)
		}
		b.ReportMetric(float64(rows)*w*w*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
	// A narrow matrix (64 channels, pixels as samples) takes gramBand's
	// four-sample loop.
	b.Run("addGram_w64", func(b *testing.B) {
		const w = 64
		z := randMatrix(rng, rows, w)
		c := make([]float64, w*w)
		for b.Loop() {
			addGram(c, z, rows, w)
		}
		b.ReportMetric(float64(rows)*w*w*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
	b.Run("dsyrk", func(b *testing.B) {
		for b.Loop() {
			blas64.Implementation().Dsyrk(blas.Upper, blas.Trans, w, rows, 1, z, w, 1, c, w)
		}
		b.ReportMetric(float64(rows)*w*w*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
	b.Run("dgemm", func(b *testing.B) {
		for b.Loop() {
			blas64.Implementation().Dgemm(blas.Trans, blas.NoTrans, w, w, rows, 1, z, w, z, w, 1, c, w)
		}
		b.ReportMetric(float64(rows)*w*w*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
}
