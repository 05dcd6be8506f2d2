package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// refGemm is the naive triple loop with float64 accumulation. It also
// returns, per element of C, a bound on the rounding error allowed to a
// float32 implementation (a standard γ_{k+2} forward error bound).
func refGemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) (want, tol []float64) {
	want = make([]float64, m*n)
	tol = make([]float64, m*n)
	const eps = 1.0 / (1 << 24)
	gamma := float64(k+4) * eps
	for i := range m {
		for j := range n {
			var s, abs float64
			if alpha != 0 {
				for p := range k {
					var av, bv float64
					if transA {
						av = float64(a[p*lda+i])
					} else {
						av = float64(a[i*lda+p])
					}
					if transB {
						bv = float64(b[j*ldb+p])
					} else {
						bv = float64(b[p*ldb+j])
					}
					s += av * bv
					abs += math.Abs(av * bv)
				}
			}
			v := float64(alpha) * s
			bound := math.Abs(float64(alpha)) * abs
			if beta != 0 {
				cv := float64(c[i*ldc+j])
				v += float64(beta) * cv
				bound += math.Abs(float64(beta) * cv)
			}
			want[i*n+j] = v
			tol[i*n+j] = gamma*bound + 1e-30
		}
	}
	return want, tol
}

// naiveSgemm is a plain float32 triple loop, the benchmark baseline.
func naiveSgemm(m, n, k int, a, b, c []float32) {
	for i := range m {
		for j := range n {
			var s float32
			for p := range k {
				s += a[i*k+p] * b[p*n+j]
			}
			c[i*n+j] = s
		}
	}
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.Float64()*2 - 1)
	}
	return s
}

const guard = 37 // guard elements before and after C

// problem is one test case with its operands laid out in memory.
type problem struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	lda, ldb, ldc  int
	a, b           []float32
	cbuf           []float32 // guard + C + guard
	nanC           bool
}

func (p *problem) String() string {
	return fmt.Sprintf("tA=%v tB=%v m=%d n=%d k=%d alpha=%g beta=%g lda=%d ldb=%d ldc=%d nanC=%v",
		p.transA, p.transB, p.m, p.n, p.k, p.alpha, p.beta, p.lda, p.ldb, p.ldc, p.nanC)
}

func newProblem(r *rand.Rand, transA, transB bool, m, n, k int, alpha, beta float32, extra int, nanC bool) *problem {
	p := &problem{transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, beta: beta, nanC: nanC}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	p.lda, p.ldb, p.ldc = ac+extra, bc+extra, n+extra
	p.a = randSlice(r, max(0, (ar-1)*p.lda+ac))
	p.b = randSlice(r, max(0, (br-1)*p.ldb+bc))
	clen := max(0, (m-1)*p.ldc+n)
	p.cbuf = make([]float32, clen+2*guard)
	for i := range p.cbuf {
		p.cbuf[i] = -1234.5 // sentinel everywhere outside the m×n region
	}
	c := p.c()
	for i := range m {
		for j := range n {
			if nanC {
				c[i*p.ldc+j] = float32(math.NaN())
			} else {
				c[i*p.ldc+j] = float32(r.Float64()*2 - 1)
			}
		}
	}
	return p
}

func (p *problem) c() []float32 { return p.cbuf[guard : len(p.cbuf)-guard] }

// check runs call on p and verifies the result, the guard region and that
// the inputs were not modified.
func (p *problem) check(t *testing.T, call func(p *problem)) {
	t.Helper()
	a0, b0, c0 := slices.Clone(p.a), slices.Clone(p.b), slices.Clone(p.cbuf)
	want, tol := refGemm(p.transA, p.transB, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, p.c(), p.ldc)
	call(p)
	if !slices.Equal(a0, p.a) || !slices.Equal(b0, p.b) {
		t.Fatalf("%v: inputs modified", p)
	}
	inRegion := func(idx int) bool {
		idx -= guard
		if idx < 0 || idx >= len(p.c()) {
			return false
		}
		return idx/p.ldc < p.m && idx%p.ldc < p.n
	}
	for idx, v := range p.cbuf {
		if !inRegion(idx) && math.Float32bits(v) != math.Float32bits(c0[idx]) {
			t.Fatalf("%v: element %d outside C's region changed: %g -> %g", p, idx-guard, c0[idx], v)
		}
	}
	c := p.c()
	bad := 0
	for i := range p.m {
		for j := range p.n {
			got := float64(c[i*p.ldc+j])
			if d := math.Abs(got - want[i*p.n+j]); !(d <= tol[i*p.n+j]) {
				t.Errorf("%v: C[%d][%d] = %g, want %g (tol %g)", p, i, j, got, want[i*p.n+j], tol[i*p.n+j])
				if bad++; bad > 5 {
					t.FailNow()
				}
			}
		}
	}
}

// The portable kernel reads B in place only in the tests, to run that
// driver path on every platform.
func init() { genericKernel.rows = kernGeneric4x4Rows }

// withKernels runs f once for every kernel usable on this machine, with
// that kernel selected, and, where assembly packing helpers exist, once
// more with the portable packing code.
func withKernels(t *testing.T, f func(t *testing.T, kn *kernel)) {
	packModes := []bool{false}
	if useSIMDPack {
		packModes = []bool{true, false}
	}
	for _, kn := range kernels() {
		for _, simd := range packModes {
			name := kn.name
			if !simd {
				name += "/gopack"
			}
			t.Run(name, func(t *testing.T) {
				oldK, oldP := active, useSIMDPack
				active, useSIMDPack = kn, simd
				defer func() { active, useSIMDPack = oldK, oldP }()
				f(t, kn)
			})
		}
	}
}

// shapes returns (m, n, k) cases around the tile and block sizes of kn.
func shapes(kn *kernel, short bool) [][3]int {
	mr, nr, kc := kn.mr, kn.nr, kn.kc
	s := [][3]int{
		{1, 1, 1},
		{0, 5, 3}, {4, 0, 3}, {4, 5, 0},
		{mr, nr, 1},
		{mr - 1, nr - 1, 7},
		{mr + 1, nr + 1, 4},
		{2*mr + 1, 3*nr - 1, 33},
		{3, 2, kc + 1},
		{13, 37, 2*kc + 5},
		// Whole row tiles ending in a narrow last panel, each width class
		// of the masked kernels: at most a half, three quarters, more.
		{2 * mr, nr + 5, 9},
		{2 * mr, nr + 17, 9},
		{mr, 2*nr + 3*nr/4, kc + 2},
		{mr, nr + 3*nr/4 + 1, 6},
	}
	if !short {
		s = append(s,
			[3]int{2*kn.mc + 5, nr + 3, 17},
			[3]int{7, 2*kn.nc + 5, 9},
			[3]int{2*kn.mc + 5, 2*nr + 5, 2*kc + 5},
		)
	}
	return s
}

var scalars = []struct {
	alpha, beta float32
	nanC        bool
}{
	{1, 0, false},
	{1, 0, true},
	{1, 1, false},
	{-0.5, 2, false},
	{2.5, 0, true},
	{0, 0.5, false},
	{0, 0, true},
}

func TestSgemm(t *testing.T) {
	withKernels(t, func(t *testing.T, kn *kernel) {
		r := rand.New(rand.NewPCG(1, 2))
		for _, sh := range shapes(kn, testing.Short()) {
			for tr := range 4 {
				transA, transB := tr&1 != 0, tr&2 != 0
				for si, sc := range scalars {
					for _, extra := range []int{0, 3} {
						// Keep the large shapes to a subset of scalars.
						if sh[0]*sh[1]*sh[2] > 1<<16 && si%3 != 0 {
							continue
						}
						p := newProblem(r, transA, transB, sh[0], sh[1], sh[2], sc.alpha, sc.beta, extra, sc.nanC)
						p.check(t, func(p *problem) {
							Sgemm(p.transA, p.transB, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, p.c(), p.ldc)
						})
					}
				}
			}
		}
	})
}

func TestSgemmParallel(t *testing.T) {
	old := parallelMinWork
	parallelMinWork = 0 // split even tiny products
	defer func() { parallelMinWork = old }()
	withKernels(t, func(t *testing.T, kn *kernel) {
		r := rand.New(rand.NewPCG(3, 4))
		sh := [][3]int{
			{1, 1, 1}, {1, 3*kn.nr + 1, 5}, {4*kn.mr + 1, 1, 5},
			{4*kn.mr + 3, 2*kn.nr + 3, kn.kc + 2},
			{2*kn.nr + 1, kn.mr + 2, 19},
			{kn.mc + 7, kn.nr*5 + 1, 11},
		}
		for _, s := range sh {
			for tr := range 4 {
				for _, threads := range []int{0, 1, 2, 3, 7} {
					p := newProblem(r, tr&1 != 0, tr&2 != 0, s[0], s[1], s[2], 1.5, 0.5, 1, false)
					p.check(t, func(p *problem) {
						SgemmParallel(threads, p.transA, p.transB, p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, p.c(), p.ldc)
					})
				}
			}
		}
	})
}

func TestPacked(t *testing.T) {
	old := parallelMinWork
	parallelMinWork = 0
	defer func() { parallelMinWork = old }()
	withKernels(t, func(t *testing.T, kn *kernel) {
		r := rand.New(rand.NewPCG(5, 6))
		// One PackedA is repacked for every problem, large and small, so
		// that stale data from a larger one would show.
		var reused *PackedA
		sh := [][3]int{
			{1, 1, 1}, {0, 3, 2}, {3, 0, 2}, {3, 4, 0},
			{kn.mr - 1, kn.nr + 1, 3},
			{2*kn.mr + 1, 3*kn.nr + 2, kn.kc + 3},
			{kn.mc + 5, 2*kn.nr - 1, 2*kn.kc + 1},
			{9, kn.nc + kn.nr + 3, 6},
		}
		for _, s := range sh {
			for tr := range 4 {
				transA, transB := tr&1 != 0, tr&2 != 0
				for si, sc := range scalars[:5] {
					for _, threads := range []int{1, 2, 3} {
						if s[0]*s[1]*s[2] > 1<<16 && (si%2 == 1 || threads == 3) {
							continue // keep the large shapes to a subset
						}
						p := newProblem(r, transA, transB, s[0], s[1], s[2], sc.alpha, sc.beta, 2, sc.nanC)
						pa := PackAInto(reused, p.transA, p.m, p.k, p.a, p.lda)
						reused = pa
						if m, k := pa.Dims(); m != p.m || k != p.k {
							t.Fatalf("PackedA.Dims = %d, %d", m, k)
						}
						// Packing must copy: scribbling over a afterwards
						// (and restoring it) must not matter.
						p.check(t, func(p *problem) {
							SgemmPackedA(threads, p.transB, p.n, p.alpha, pa, p.b, p.ldb, p.beta, p.c(), p.ldc, nil)
						})
						p = newProblem(r, transA, transB, s[0], s[1], s[2], sc.alpha, sc.beta, 2, sc.nanC)
						pb := PackB(p.transB, p.k, p.n, p.b, p.ldb)
						if k, n := pb.Dims(); k != p.k || n != p.n {
							t.Fatalf("PackedB.Dims = %d, %d", k, n)
						}
						p.check(t, func(p *problem) {
							SgemmPackedB(threads, p.transA, p.m, p.alpha, p.a, p.lda, pb, p.beta, p.c(), p.ldc)
						})
					}
				}
			}
		}
	})
}

// TestPackedKernelSwitch checks that a packed operand keeps working (with
// the kernel it was packed for) after the active kernel changes.
func TestPackedKernelSwitch(t *testing.T) {
	ks := kernels()
	if len(ks) < 2 {
		t.Skip("only one kernel")
	}
	old := active
	defer func() { active = old }()
	r := rand.New(rand.NewPCG(7, 8))
	p := newProblem(r, false, true, 23, 71, 300, 1, 0, 1, true)
	active = ks[0]
	pa := PackA(p.transA, p.m, p.k, p.a, p.lda)
	pb := PackB(p.transB, p.k, p.n, p.b, p.ldb)
	active = ks[len(ks)-1]
	p.check(t, func(p *problem) {
		SgemmPackedA(2, p.transB, p.n, p.alpha, pa, p.b, p.ldb, p.beta, p.c(), p.ldc, nil)
	})
	p.check(t, func(p *problem) {
		SgemmPackedB(2, p.transA, p.m, p.alpha, p.a, p.lda, pb, p.beta, p.c(), p.ldc)
	})
}

// TestAlphaZeroIgnoresAB checks the BLAS convention that alpha == 0 does not
// evaluate op(A)*op(B), so NaNs there do not propagate.
func TestAlphaZeroIgnoresAB(t *testing.T) {
	nan := float32(math.NaN())
	a := []float32{nan, nan, nan, nan}
	b := []float32{nan, nan, nan, nan}
	c := []float32{1, 2, 3, 4}
	Sgemm(false, false, 2, 2, 2, 0, a, 2, b, 2, 2, c, 2)
	if !slices.Equal(c, []float32{2, 4, 6, 8}) {
		t.Fatalf("got %v", c)
	}
	c = []float32{nan, nan, nan, nan}
	Sgemm(false, false, 2, 2, 2, 0, a, 2, b, 2, 0, c, 2)
	if !slices.Equal(c, []float32{0, 0, 0, 0}) {
		t.Fatalf("got %v", c)
	}
}

func TestPanics(t *testing.T) {
	buf := make([]float32, 100)
	cases := []struct {
		want string
		f    func()
	}{
		{"gemm: negative dimension", func() { Sgemm(false, false, -1, 2, 2, 1, buf, 2, buf, 2, 0, buf, 2) }},
		{"gemm: lda < k", func() { Sgemm(false, false, 2, 2, 3, 1, buf, 2, buf, 2, 0, buf, 2) }},
		{"gemm: lda < m", func() { Sgemm(true, false, 3, 2, 2, 1, buf, 2, buf, 2, 0, buf, 2) }},
		{"gemm: ldb < n", func() { Sgemm(false, false, 2, 3, 2, 1, buf, 2, buf, 2, 0, buf, 3) }},
		{"gemm: ldb < k", func() { Sgemm(false, true, 2, 2, 3, 1, buf, 3, buf, 2, 0, buf, 2) }},
		{"gemm: ldc < n", func() { Sgemm(false, false, 2, 3, 2, 1, buf, 2, buf, 3, 0, buf, 2) }},
		{"gemm: a too short", func() { Sgemm(false, false, 2, 2, 2, 1, buf[:3], 2, buf, 2, 0, buf, 2) }},
		{"gemm: b too short", func() { Sgemm(false, false, 2, 2, 2, 1, buf, 2, buf[:3], 2, 0, buf, 2) }},
		{"gemm: c too short", func() { Sgemm(false, false, 2, 2, 2, 1, buf, 2, buf, 2, 0, buf[:3], 2) }},
		{"gemm: lda < k", func() { PackA(false, 2, 3, buf, 2) }},
		{"gemm: ldb < n", func() { PackB(false, 2, 3, buf, 2) }},
		{"gemm: nil PackedA", func() { SgemmPackedA(1, false, 2, 1, nil, buf, 2, 0, buf, 2, nil) }},
		{"gemm: nil PackedB", func() { SgemmPackedB(1, false, 2, 1, buf, 2, nil, 0, buf, 2) }},
		{"gemm: c too short", func() {
			SgemmPackedA(1, false, 2, 1, PackA(false, 2, 2, buf, 2), buf, 2, 0, buf[:3], 2, nil)
		}},
	}
	for _, tc := range cases {
		func() {
			defer func() {
				r := recover()
				if s, _ := r.(string); s != tc.want {
					t.Errorf("panic %v, want %q", r, tc.want)
				}
			}()
			tc.f()
		}()
	}
}

func TestNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops objects at random under the race detector")
	}
	r := rand.New(rand.NewPCG(9, 10))
	m, n, k := 50, 70, 300
	a, b, c := randSlice(r, m*k), randSlice(r, k*n), make([]float32, m*n)
	pa := PackA(false, m, k, a, k)
	Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
	if got := testing.AllocsPerRun(20, func() {
		Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
		Sgemm(true, true, m, n, k, 1, a, m, b, k, 1, c, n)
		SgemmPackedA(1, false, n, 1, pa, b, n, 0, c, n, nil)
		SgemmParallel(2, false, true, m, n, k, 1, a, k, b, k, 0, c, n)
	}); got >= 1 {
		t.Errorf("%v allocations per call", got)
	}
}

// benchSizes are the benchmarked (m, n, k): square and a convolution via
// im2col (64 output channels, 56×56 image, 64 input channels × 3×3).
var benchSizes = [][3]int{{256, 256, 256}, {1024, 1024, 1024}, {64, 3136, 576}}

func BenchmarkSgemm(b *testing.B) {
	for _, s := range benchSizes {
		m, n, k := s[0], s[1], s[2]
		r := rand.New(rand.NewPCG(1, 1))
		a, bb, c := randSlice(r, m*k), randSlice(r, k*n), make([]float32, m*n)
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%dx%dx%d/threads=%d", m, n, k, threads), func(b *testing.B) {
				for b.Loop() {
					SgemmParallel(threads, false, false, m, n, k, 1, a, k, bb, n, 0, c, n)
				}
				reportGFLOPS(b, m, n, k)
			})
		}
	}
}

// BenchmarkSgemmPackedA is the convolution case with the weights (A)
// packed once, as an interpreter does for constant initializers.
func BenchmarkSgemmPackedA(b *testing.B) {
	m, n, k := 64, 3136, 576
	r := rand.New(rand.NewPCG(1, 1))
	a, bb, c := randSlice(r, m*k), randSlice(r, k*n), make([]float32, m*n)
	pa := PackA(false, m, k, a, k)
	for _, threads := range []int{1, 2} {
		b.Run(fmt.Sprintf("%dx%dx%d/threads=%d", m, n, k, threads), func(b *testing.B) {
			for b.Loop() {
				SgemmPackedA(threads, false, n, 1, pa, bb, n, 0, c, n, nil)
			}
			reportGFLOPS(b, m, n, k)
		})
	}
}

// BenchmarkMicroKernel measures each micro-kernel alone on L1-resident
// panels: the ceiling for the whole GEMM.
func BenchmarkMicroKernel(b *testing.B) {
	for _, kn := range kernels() {
		b.Run(kn.name, func(b *testing.B) {
			kc := 256
			a := alignedFloats(kn.mr * kc)
			bb := alignedFloats(kn.nr * kc)
			c := alignedFloats(kn.mr * kn.nr)
			for b.Loop() {
				kn.fn(kc, &a[0], &bb[0], &c[0], kn.nr, 1, 0)
			}
			b.ReportMetric(2*float64(kn.mr*kn.nr*kc)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkMicroKernelStream runs each micro-kernel over 64 MiB of
// packed A panels, each used for reuse tiles of B, as a layer whose
// weights do not fit in cache does: the A stream comes from memory, and
// only the prefetch ahead of it keeps the kernel near its in-cache speed.
func BenchmarkMicroKernelStream(b *testing.B) {
	for _, kn := range kernels() {
		const kc = 256
		panels := (64 << 20) / (4 * kn.mr * kc)
		a := alignedFloats(kn.mr * kc * panels)
		bb := alignedFloats(2 * kn.nr * kc)
		c := alignedFloats(kn.mr * kn.nr)
		for _, reuse := range []int{1, 2, 4} {
			b.Run(fmt.Sprintf("%s/reuse=%d", kn.name, reuse), func(b *testing.B) {
				tiles := 0
				for b.Loop() {
					for i := range panels {
						for j := range reuse {
							kn.fn(kc, &a[i*kn.mr*kc], &bb[j%2*kn.nr*kc], &c[0], kn.nr, 1, 1)
						}
					}
					tiles += panels * reuse
				}
				b.ReportMetric(2*float64(kn.mr*kn.nr*kc)*float64(tiles)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

func BenchmarkSgemmNaive(b *testing.B) {
	m, n, k := 256, 256, 256
	r := rand.New(rand.NewPCG(1, 1))
	a, bb, c := randSlice(r, m*k), randSlice(r, k*n), make([]float32, m*n)
	b.Run("256x256x256", func(b *testing.B) {
		for b.Loop() {
			naiveSgemm(m, n, k, a, bb, c)
		}
		reportGFLOPS(b, m, n, k)
	})
}

func reportGFLOPS(b *testing.B, m, n, k int) {
	b.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// TestPackedAIndirect checks SgemmPackedAIndirect against refGemm on the
// B its row offsets describe, written out: offsets that overlap (as a
// convolution's do), jump about, and leave widths that are not whole
// panels, over several depth blocks and thread counts, with B read in
// place (kernel.rows) and packed, and with and without an epilogue.
func TestPackedAIndirect(t *testing.T) {
	old, oldInPlace := parallelMinWork, rowsInPlace
	parallelMinWork = 0
	defer func() { parallelMinWork, rowsInPlace = old, oldInPlace }()
	withKernels(t, func(t *testing.T, kn *kernel) {
		for _, inPlace := range []bool{true, false} {
			rowsInPlace = inPlace
			testPackedAIndirect(t, kn)
		}
	})
}

func testPackedAIndirect(t *testing.T, kn *kernel) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, s := range [][3]int{{1, 1, 1}, {kn.mr + 1, kn.nr - 1, 5}, {2*kn.mr + 3, 3*kn.nr + 5, kn.kc + 7}, {17, 2 * kn.nr, 2*kn.kc + 1}, {kn.mr, kn.nr, 3}} {
		m, n, k := s[0], s[1], s[2]
		for _, threads := range []int{1, 2, 3} {
			for _, withEp := range []bool{false, true} {
				src := make([]float32, n+3*k+40)
				for i := range src {
					src[i] = float32(r.NormFloat64())
				}
				rows := make([]int, k)
				for p := range rows {
					if p%3 == 0 {
						rows[p] = r.IntN(len(src) - n + 1)
					} else {
						rows[p] = min(rows[p-1]+1, len(src)-n) // overlapping neighbours
					}
				}
				b := make([]float32, k*n)
				for p, o := range rows {
					copy(b[p*n:(p+1)*n], src[o:o+n])
				}
				a := make([]float32, m*k)
				for i := range a {
					a[i] = float32(r.NormFloat64())
				}
				c := make([]float32, m*n)
				for i := range c {
					c[i] = float32(r.NormFloat64())
				}
				want, tol := refGemm(false, false, m, n, k, 1.5, a, k, b, n, 0.5, c, n)
				var ep *Epilogue
				if withEp {
					// A bias and a Relu, applied to the reference by hand.
					ep = &Epilogue{Bias: make([]float32, m), Lo: 0, Hi: float32(math.Inf(1))}
					for i := range ep.Bias {
						ep.Bias[i] = float32(r.NormFloat64())
					}
					for i := range want {
						want[i] = max(want[i]+float64(ep.Bias[i/n]), 0)
					}
				}
				pa := PackA(false, m, k, a, k)
				SgemmPackedAIndirect(threads, n, 1.5, pa, src, rows, 0.5, c, n, ep)
				for i := range want {
					if d := math.Abs(float64(c[i]) - want[i]); d > tol[i] {
						t.Fatalf("m,n,k=%d,%d,%d threads %d epilogue %v in place %v: C[%d] = %g, want %g (tol %g)", m, n, k, threads, withEp, rowsInPlace, i, c[i], want[i], tol[i])
					}
				}
			}
		}
	}
}

// TestPackedBRowVector checks the one-row path of SgemmPackedB (a dense
// layer at batch 1, computed panel by panel without the micro-kernel)
// against refGemm: widths that are not whole panels, depths over several
// blocks, every alpha/beta case (NaN in C with beta 0 must not leak) and
// thread counts.
func TestPackedBRowVector(t *testing.T) {
	old := parallelMinWork
	parallelMinWork = 0
	defer func() { parallelMinWork = old }()
	withKernels(t, func(t *testing.T, kn *kernel) {
		r := rand.New(rand.NewPCG(11, 12))
		for _, s := range [][2]int{{1, 1}, {kn.nr - 1, 3}, {3*kn.nr + 5, kn.kc + 7}, {2 * kn.nr, 2*kn.kc + 1}} {
			n, k := s[0], s[1]
			for _, transB := range []bool{false, true} {
				for _, sc := range scalars {
					for _, threads := range []int{1, 2, 3} {
						p := newProblem(r, false, transB, 1, n, k, sc.alpha, sc.beta, 2, sc.nanC)
						pb := PackB(p.transB, p.k, p.n, p.b, p.ldb)
						p.check(t, func(p *problem) {
							SgemmPackedB(threads, false, 1, p.alpha, p.a, p.lda, pb, p.beta, p.c(), p.ldc)
						})
					}
				}
			}
		}
	})
}

// TestPackedASegments checks SgemmPackedASegments against refGemm on the
// B its row offsets and segments describe, written out: segments of 8
// (the fast copies), of other lengths, longer than a panel, and a single
// one (SgemmPackedAIndirect), over widths that are not whole panels,
// several depth blocks and thread counts.
func TestPackedASegments(t *testing.T) {
	old := parallelMinWork
	parallelMinWork = 0
	defer func() { parallelMinWork = old }()
	withKernels(t, func(t *testing.T, kn *kernel) {
		r := rand.New(rand.NewPCG(13, 14))
		for _, s := range [][6]int{
			{kn.mr, 64, 9, 0, 8, 10}, // an 8×8 image, 3×3 window
			{2*kn.mr + 1, 3*kn.nr + 5, kn.kc + 3, 0, 16, 18},
			{5, 2*kn.nr + 3, 20, 3, 7, 9},           // segments not a multiple of 8
			{9, kn.nr + 8, 2*kn.kc + 1, 24, 40, 41}, // across panels, from mid-segment
			{3, 50, 7, 0, 50, 0},                    // one segment
			{4, 3*kn.nr + 5, 27, 5, 13, 17},         // runs of 13 and shorter: vector blocks overlapping
			{kn.mr, 4 * kn.nr, 9, 10, 111, 113},     // a stem's output rows, 111 wide
			{kn.mr, 3 * kn.nr, 18, 0, 7, 7},         // 7×7 maps back to back: runs copied eight wide
			{3, 2*kn.nr + 1, 9, 2, 5, 5},            // runs of 5, the panel's last one short
		} {
			m, n, k, col0, seg, stride := s[0], s[1], s[2], s[3], s[4], s[5]
			last := col0 + n - 1
			end := last/seg*stride + last%seg + 1
			for _, threads := range []int{1, 2, 3} {
				src := make([]float32, end+2*k+30)
				for i := range src {
					src[i] = float32(r.NormFloat64())
				}
				rows := make([]int, k)
				for p := range rows {
					rows[p] = r.IntN(len(src) - end + 1)
				}
				b := make([]float32, k*n)
				for p, o := range rows {
					for j := range n {
						i := col0 + j
						b[p*n+j] = src[o+i/seg*stride+i%seg]
					}
				}
				a := make([]float32, m*k)
				for i := range a {
					a[i] = float32(r.NormFloat64())
				}
				c := make([]float32, m*n)
				for i := range c {
					c[i] = float32(r.NormFloat64())
				}
				want, tol := refGemm(false, false, m, n, k, 1.5, a, k, b, n, 0.5, c, n)
				pa := PackA(false, m, k, a, k)
				SgemmPackedASegments(threads, n, 1.5, pa, src, rows, col0, seg, stride, 0.5, c, n, nil)
				for i := range want {
					if d := math.Abs(float64(c[i]) - want[i]); d > tol[i] {
						t.Fatalf("m,n,k=%d,%d,%d col0 %d seg %d/%d threads %d: C[%d] = %g, want %g (tol %g)", m, n, k, col0, seg, stride, threads, i, c[i], want[i], tol[i])
					}
				}
			}
		}
	})
}

// TestTranspose8 holds Transpose8 to its definition, dst[p·ldd + r] =
// src[off + r·lds + p] for r < 8 and p < kb, on row lengths around its
// blocks of eight (the last block of a row that is not a multiple of
// eight overlaps the one before it), with strides wider than the data:
// the elements of dst it must not write keep their sentinel.
func TestTranspose8(t *testing.T) {
	const sentinel = -7
	for _, kb := range []int{1, 5, 7, 8, 9, 14, 15, 16, 17, 28, 49} {
		for _, ldd := range []int{8, 16} {
			const off, lds = 3, 61
			src := make([]float32, off+7*lds+kb)
			for i := range src {
				src[i] = float32(i)
			}
			dst := make([]float32, kb*ldd)
			for i := range dst {
				dst[i] = sentinel
			}
			Transpose8(dst, ldd, src, off, lds, kb)
			for p := range kb {
				for c := range ldd {
					want := float32(sentinel)
					if c < 8 {
						want = src[off+c*lds+p]
					}
					if got := dst[p*ldd+c]; got != want {
						t.Fatalf("kb=%d ldd=%d: dst[%d*%d+%d] = %v, want %v", kb, ldd, p, ldd, c, got, want)
					}
				}
			}
		}
	}
}
