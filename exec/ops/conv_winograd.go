package ops

import (
	"github.com/graft-ml/graft/exec/internal/gemm"
	"github.com/graft-ml/graft/exec/internal/vec"
	"github.com/graft-ml/graft/tensor"
)

// Winograd F(2×2, 3×3) for 3×3 stride-1 convolutions.
//
// The output is cut into 2×2 tiles; tile t reads a 4×4 patch d of the
// zero-padded input. With the transforms
//
//	Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
//	G  = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1]
//	Aᵀ = [1 1 1 0; 0 1 -1 -1]
//
// a tile of output channel m is Aᵀ [Σ_c (G g_mc Gᵀ) ⊙ (Bᵀ d_c B)] A, so the
// 16 positions ξ of the 4×4 transformed domain are 16 independent GEMMs
// M_ξ[Cout × tiles] = U_ξ[Cout × Cin] · V_ξ[Cin × tiles], each of depth
// Cin, where the direct convolution multiplies 9·Cin per output: 2.25×
// fewer multiply-adds, through the same packed SGEMM. Tiles of all images
// of the batch share the GEMMs' columns, processed in blocks of whole tile
// rows small enough (convWinoBudget) that V and M stay in cache between
// the transforms and the GEMMs.
//
// Accuracy: the transforms' coefficients are 0, ±1 and ±½, exact in
// float32; the extra rounding comes from summing up to four terms in each
// transform. Against a float64 direct convolution the largest error seen
// in the tests, relative to the output's largest magnitude, is about 1e-6
// (the direct im2col path: about 5e-7); against the direct float32 path
// results agree within 1e-5 relative to the largest magnitude.

// convWinoBudget bounds, in floats, the transformed input and output of
// one block of tiles (16·(Cin+Cout) per tile column).
const convWinoBudget = 1 << 17

// convWinoMinCols is the fewest tile columns a block's GEMMs get (where
// there are as many tiles): four widths of the AVX-512 micro-kernel.
const convWinoMinCols = 128

// convWinoMinTiles is the fewest 2×2 output tiles (over the batch) for
// which Winograd pays: ResNet-18's 7×7 layer at batch 1 (16 tiles, 512
// channels) ran 1.7× slower than the direct path, streaming 16 transformed
// weight matrices for 20 columns; its 14×14 layer (49 tiles) ran 1.1×
// faster (BenchmarkConvPaths, one thread). A variable for the tests.
var convWinoMinTiles = 40

// convWinoMaxWeights is the most weights (Cin·Cout) a layer may have
// for Winograd: its transformed weights, kept packed for the model's
// life, take 16/9 of the weights' memory. ResNet-18's 512-channel layers
// (only at batch 8 and up: see convWinoMinTiles) gained 12 % for 16 MB
// each over the direct path; the 256-channel ones take 4 MB.
const convWinoMaxWeights = 1 << 17

// convWinoMinChannels is the fewest input and output channels for which
// Winograd pays: with fewer, the transforms dominate the smaller GEMMs.
// Against the direct path (the flat GEMM, convGemmFlat) on two threads
// (BenchmarkConvResNet20, BenchmarkConvPaths), Winograd took 2.2-3.8×
// as long at 16, 32 and 64 channels (ResNet-20's layers, batch 1 and 8)
// and about as long at ResNet-18's 64 (56×56), and was 1.15-1.8× faster
// at 128 and 256. A variable for the tests.
var convWinoMinChannels = 128

// convWinoEnabled turns the Winograd path off when false (tests and
// benchmarks compare it with the direct path).
var convWinoEnabled = true

// convWinogradOK reports whether g is a convolution convWinograd computes:
// 2-D, 3×3, stride and dilation 1, one group, enough channels.
func convWinogradOK(g *convShape) bool {
	return convWinoEnabled && g.group == 1 && g.in[0] == 1 && g.k == [3]int{1, 3, 3} &&
		g.s == [3]int{1, 1, 1} && g.d == [3]int{1, 1, 1} &&
		g.cin >= convWinoMinChannels && g.cout >= convWinoMinChannels && g.cin*g.cout <= convWinoMaxWeights &&
		g.batch*((g.out[1]+1)/2)*((g.out[2]+1)/2) >= convWinoMinTiles
}

// convWinoWeights returns the 16 transformed weight matrices U_ξ =
// (G g Gᵀ)_ξ, Cout × Cin each, packed for the GEMM. The transform is
// computed in float64 and rounded once, one ξ at a time so that only one
// unpacked matrix exists at once.
func convWinoWeights(w []float32, cout, cin int) []*gemm.PackedA {
	u := make([]float32, cout*cin)
	packs := make([]*gemm.PackedA, 16)
	for xi := range packs {
		i, j := xi/4, xi%4
		for mc := range cout * cin {
			k := w[mc*9 : mc*9+9]
			// Row i of G·g, then its product with column j of Gᵀ.
			var r [3]float64
			for c := range 3 {
				r[c] = convWinoG(i, float64(k[c]), float64(k[3+c]), float64(k[6+c]))
			}
			u[mc] = float32(convWinoG(j, r[0], r[1], r[2]))
		}
		packs[xi] = gemm.PackA(false, cout, cin, u, cin)
	}
	return packs
}

// convWinoG returns row i of G = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1] times
// (g0, g1, g2).
func convWinoG(i int, g0, g1, g2 float64) float64 {
	switch i {
	case 0:
		return g0
	case 1:
		return (g0 + g1 + g2) / 2
	case 2:
		return (g0 - g1 + g2) / 2
	}
	return g2
}

// convWinograd computes the convolution g (convWinogradOK) into y.
//
// The zero-padded input is stored split into its four stride-2 phases
// (even or odd row, even or odd column), each phase of a channel holding
// the images one after another as (th+1) × (tw+1) grids: tile (ty, tx)
// of image b is then column (b·(th+1)+ty)·(tw+1)+tx of every phase, and
// element (r, c) of its 4×4 patch lies in phase (r%2, c%2) at that column
// plus (r/2)·(tw+1) + c/2. So each transformed input row V_ξ[ci] is one
// run of vec.ConvTaps (four ±1 taps) over a whole block of tile rows, and
// each output phase Aᵀ M A one run of nine taps over the M_ξ. The grids'
// last row and column are padding: their columns are computed and
// dropped, a (th·tw)/((th+1)·(tw+1)) share of the GEMMs being useful.
func convWinograd(c *RunCtx, y, x []float32, w *tensor.Dense, bias []float32, g *convShape) {
	cin, cout := g.cin, g.cout
	pack := func() []*gemm.PackedA { return convWinoWeights(w.F32, cout, cin) }
	packs, ok := convPacked(c, 1, convPackWinograd, 0, pack)
	if !ok {
		packs = pack()
	}
	H, W, Ho, Wo := g.in[1], g.in[2], g.out[1], g.out[2]
	th, tw := (Ho+1)/2, (Wo+1)/2
	gw := tw + 1 // grid row length
	rows := g.batch * (th + 1)
	phase := rows*gw + gw + 1 // one phase of one channel, with a tail the last taps read
	padT := tensor.NewUninit(tensor.Float32, cin*4*phase)
	defer tensor.Recycle(padT)
	padded := padT.F32
	top, left := g.p[1], g.p[2]
	parallelFor(c.Threads, cin, 4, func(lo, hi int) {
		for ci := lo; ci < hi; ci++ {
			ph := padded[ci*4*phase : (ci+1)*4*phase]
			clear(ph)
			for b := range g.batch {
				src := x[(b*cin+ci)*H*W : (b*cin+ci+1)*H*W]
				for iy := range H {
					py := iy + top
					row := (b*(th+1) + py/2) * gw
					// Input column ix lands in column phase (ix+left)%2 at
					// grid column (ix+left)/2.
					even := ph[(py%2*2+left%2)*phase+row+left/2:]
					odd := ph[(py%2*2+(left+1)%2)*phase+row+(left+1)/2:]
					vec.Deinterleave2(even[:(W+1)/2], odd[:W/2], src[iy*W:(iy+1)*W])
				}
			}
		}
	})
	rowsPer := max(1, convWinoBudget/(16*(cin+cout)*gw), (convWinoMinCols+gw-1)/gw)
	rowsPer = min(rowsPer, rows)
	blocks := (rows + rowsPer - 1) / rowsPer
	// A block per thread at a time where there are enough blocks to go
	// round evenly (rounded up to a multiple of the threads); otherwise
	// each block's stages are split among the threads.
	perThread := c.Threads <= 1
	if t := c.Threads; t > 1 && blocks >= t {
		blocks = (blocks + t - 1) / t * t
		rowsPer = (rows + blocks - 1) / blocks
		blocks = (rows + rowsPer - 1) / rowsPer
		perThread = blocks%t == 0 || blocks >= 3*t
	}
	T := rowsPer * gw
	block := func(bi int, v, m []float32, threads int) {
		r0, r1 := bi*rowsPer, min((bi+1)*rowsPer, rows)
		n := (r1 - r0) * gw
		parallelFor(threads, cin, 1, func(lo, hi int) {
			for ci := lo; ci < hi; ci++ {
				src := padded[ci*4*phase+r0*gw : (ci+1)*4*phase]
				for xi := range 16 {
					vec.ConvTaps(v[(xi*cin+ci)*T:(xi*cin+ci)*T+n], src, convWinoInTaps[xi].off(phase, gw), convWinoInTaps[xi].w[:], 0)
				}
			}
		})
		parallelFor(threads, 16, 1, func(lo, hi int) {
			for xi := lo; xi < hi; xi++ {
				gemm.SgemmPackedA(1, false, n, 1, packs[xi], v[xi*cin*T:], T, 0, m[xi*cout*T:], T, nil)
			}
		})
		parallelFor(threads, cout, 1, func(lo, hi int) {
			tmp := make([]float32, 4*n)
			for co := lo; co < hi; co++ {
				convWinoOutput(c, y, m, tmp, T, co, g, bias, th, tw, r0, r1)
			}
		})
	}
	if perThread {
		parallelFor(c.Threads, blocks, 1, func(lo, hi int) {
			v, m := convGetBuf(16*cin*T), convGetBuf(16*cout*T)
			for bi := lo; bi < hi; bi++ {
				block(bi, *v, *m, 1)
			}
			convBufs.Put(v)
			convBufs.Put(m)
		})
		return
	}
	v, m := convGetBuf(16*cin*T), convGetBuf(16*cout*T)
	for bi := range blocks {
		block(bi, *v, *m, c.Threads)
	}
	convBufs.Put(v)
	convBufs.Put(m)
}

// convWinoTaps is one entry of a transform as vec.ConvTaps taps: n taps
// reading element (r[t], col[t]) of a tile (or M_ξ index ξ[t]) with
// weight w[t].
type convWinoTaps struct {
	n      int
	r, col [9]int
	w      [9]float32
}

// off returns the taps' offsets in the phase-split input (see
// convWinograd): phase (r%2, c%2), then (r/2) grid rows and c/2 columns.
func (t *convWinoTaps) off(phase, gw int) []int {
	var o [4]int
	for i := range t.n {
		r, c := t.r[i], t.col[i]
		o[i] = (r%2*2+c%2)*phase + r/2*gw + c/2
	}
	return o[:t.n]
}

// convWinoBT lists, per row of Bᵀ, its nonzero columns and their signs.
var convWinoBT = [4][2]struct {
	k int
	s float32
}{
	{{0, 1}, {2, -1}},
	{{1, 1}, {2, 1}},
	{{1, -1}, {2, 1}},
	{{1, 1}, {3, -1}},
}

// convWinoAT lists, per row of Aᵀ, its nonzero columns and their signs.
var convWinoAT = [2][3]struct {
	k int
	s float32
}{
	{{0, 1}, {1, 1}, {2, 1}},
	{{1, 1}, {2, -1}, {3, -1}},
}

// convWinoInTaps holds, for each ξ = 4i+j, the four taps of (Bᵀ d B)_ij =
// Σ Bᵀ[i][r]·Bᵀ[j][c]·d[r][c].
var convWinoInTaps = func() (taps [16]convWinoTaps) {
	for i, bi := range convWinoBT {
		for j, bj := range convWinoBT {
			t := &taps[i*4+j]
			for _, a := range bi {
				for _, b := range bj {
					t.r[t.n], t.col[t.n], t.w[t.n] = a.k, b.k, a.s*b.s
					t.n++
				}
			}
		}
	}
	return taps
}()

// convWinoOutTaps holds, for output phase 2i+j of a tile, the nine taps
// of (Aᵀ M A)_ij = Σ Aᵀ[i][a]·Aᵀ[j][b]·M_{4a+b}, the ξ in r.
var convWinoOutTaps = func() (taps [4]convWinoTaps) {
	for i, ai := range convWinoAT {
		for j, aj := range convWinoAT {
			t := &taps[i*2+j]
			for _, a := range ai {
				for _, b := range aj {
					t.r[t.n], t.w[t.n] = a.k*4+b.k, a.s*b.s
					t.n++
				}
			}
		}
	}
	return taps
}()

// convWinoOutput writes the output tiles of channel co for grid rows
// r0..r1 from M_ξ (at m[ξ·cout·T:], row stride T): each output phase as
// one vec.ConvTaps run into tmp (4·n floats), with the bias, then
// interleaved into y, then the fused activation over the output rows
// the block covers.
func convWinoOutput(c *RunCtx, y, m, tmp []float32, T, co int, g *convShape, bias []float32, th, tw, r0, r1 int) {
	cout, Ho, Wo := g.cout, g.out[1], g.out[2]
	gw := tw + 1
	n := (r1 - r0) * gw
	var bv float32
	if bias != nil {
		bv = bias[co]
	}
	var off [9]int
	src := m[co*T:]
	for p := range 4 {
		t := &convWinoOutTaps[p]
		for k := range t.n {
			off[k] = t.r[k] * cout * T
		}
		vec.ConvTaps(tmp[p*n:(p+1)*n], src, off[:t.n], t.w[:t.n], bv)
	}
	plane := Ho * Wo
	for r := r0; r < r1; r++ {
		b, ty := r/(th+1), r%(th+1)
		if ty == th {
			continue // the grid's padding row
		}
		out := y[(b*cout+co)*plane : (b*cout+co+1)*plane]
		col := (r - r0) * gw
		for i := range 2 {
			oy := 2*ty + i
			if oy >= Ho {
				break
			}
			row := out[oy*Wo : (oy+1)*Wo]
			e := tmp[(2*i)*n+col : (2*i)*n+col+tw]
			o := tmp[(2*i+1)*n+col : (2*i+1)*n+col+tw]
			for tx := range Wo / 2 {
				row[2*tx], row[2*tx+1] = e[tx], o[tx]
			}
			if Wo%2 == 1 {
				row[Wo-1] = e[tw-1]
			}
		}
	}
	if c.Clamp == nil {
		return
	}
	// Whole output rows of each image the block covers.
	for r := r0; r < r1; {
		b := r / (th + 1)
		end := min(r1, (b+1)*(th+1))
		lo, hi := min(2*(r%(th+1)), Ho)*Wo, min(2*(end-b*(th+1)), Ho)*Wo
		if lo < hi {
			seg := y[(b*cout+co)*plane+lo : (b*cout+co)*plane+hi]
			c.biasActivate(seg, seg, 0)
		}
		r = end
	}
}
