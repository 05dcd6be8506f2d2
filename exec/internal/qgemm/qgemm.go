// Package qgemm is the integer matrix product behind exec/ops' quantized
// convolutions and matrix products: C = A·B in int32 for int16 operands,
// and the vector loops that turn float32 values or int32 sums into
// quantized integers (Quantize, Requantize).
//
// # Arithmetic
//
// A quantized operand minus its zero point lies in [-255, 255] (uint8 or
// int8 values, uint8 or int8 zero points), so it fits an int16, and a
// product of two fits an int32. The kernels multiply adjacent pairs along
// the inner dimension and add each pair's two products into an int32 lane
// (VPMADDWD), then add lanes with wrapping int32 additions (VPADDD): every
// sum is the exact int32 result ONNX's MatMulInteger, ConvInteger and
// QLinear* define, in any order, since two's-complement addition wraps
// the same way whatever the order.
//
// # Layout
//
// A (m×k) is packed once, as PackedA, in panels of MR rows; B (k×n) is
// packed in panels of NR columns (PackedB), which a convolution's im2col
// writes directly. Within a panel the inner
// dimension runs in pairs: for pair p, the MR rows of A each give two
// consecutive int16s (k = 2p, 2p+1), as do the NR columns of B. A's rows
// beyond m and its column k when k is odd are zero, so B's padding never
// reaches a result and need not be cleared.
//
// # Position
//
// qgemm imports nothing of graft's; exec/ops (quant*.go) uses it. Shapes
// the caller got wrong panic with constant messages ("qgemm: …"); there is
// no user input at this level.
package qgemm

// MR and NR are the rows and columns of the register tile.
const (
	MR = 4
	NR = 16
)

// Pairs returns the number of inner-dimension pairs of depth k.
func Pairs(k int) int { return (k + 1) / 2 }

// PackedA is an m×k matrix packed for Gemm. It is read-only once packed,
// and safe for concurrent use.
type PackedA struct {
	M, K int
	data []int16
}

// PackA packs the m×k matrix whose element (i, p) is a[i*lda+p].
func PackA(m, k int, a []int16, lda int) *PackedA {
	if m < 0 || k < 0 || (m > 0 && k > 0 && (lda < k || len(a) < (m-1)*lda+k)) {
		panic("qgemm: bad A")
	}
	kp := Pairs(k)
	pa := &PackedA{M: m, K: k, data: make([]int16, (m+MR-1)/MR*kp*2*MR)}
	for i := range m * min(k, 1) { // no rows to copy when k == 0
		panel := pa.data[i/MR*kp*2*MR+i%MR*2:]
		row := a[i*lda : i*lda+k]
		for p, v := range row {
			panel[p/2*2*MR+p%2] = v
		}
	}
	return pa
}

// PackedB is a k×n matrix packed for Gemm. Its Data holds the int16
// pairs of the layout as uint32 words (see Pair): element (p, j) is the
// low half of word Offset(p/2, j) when p is even, the high half when odd.
// Reset sizes it; the words are then written by PackB or directly by a
// caller such as an im2col, which fills panel j/NR's NR consecutive words
// of pair q from NR columns at once.
type PackedB struct {
	K, N int
	Data []uint32
}

// Pair returns the word holding lo (row 2q) and hi (row 2q+1).
func Pair(lo, hi int16) uint32 { return uint32(uint16(lo)) | uint32(uint16(hi))<<16 }

// Reset sizes b for a k×n matrix, reusing its storage when large enough.
// The words hold whatever they held; the caller writes every pair of the
// k×n (the padding needs no clearing, see the package comment).
func (b *PackedB) Reset(k, n int) {
	if k < 0 || n < 0 {
		panic("qgemm: bad B")
	}
	b.K, b.N = k, n
	size := (n + NR - 1) / NR * b.PanelStride()
	if cap(b.Data) < size {
		b.Data = make([]uint32, size)
	}
	b.Data = b.Data[:size]
}

// PanelStride is the distance in Data between panels of NR columns.
func (b *PackedB) PanelStride() int { return Pairs(b.K) * NR }

// Offset returns the index in Data of the word holding rows 2q and 2q+1 of
// column j: (j/NR)·PanelStride() + q·NR + j%NR.
func (b *PackedB) Offset(q, j int) int {
	return j/NR*b.PanelStride() + q*NR + j%NR
}

// PackB resets b and packs the k×n matrix whose element (p, j) is
// src[p*ldb+j].
func PackB(b *PackedB, k, n int, src []int16, ldb int) {
	if k > 0 && n > 0 && (ldb < n || len(src) < (k-1)*ldb+n) {
		panic("qgemm: bad B")
	}
	b.Reset(k, n)
	for q := range Pairs(k) {
		lo := src[2*q*ldb : 2*q*ldb+n]
		hi := make([]int16, n) // row k when k is odd: zero
		if 2*q+1 < k {
			hi = src[(2*q+1)*ldb : (2*q+1)*ldb+n]
		}
		for j := range n {
			b.Data[b.Offset(q, j)] = Pair(lo[j], hi[j])
		}
	}
}

// Gemm sets c[i*ldc+j] (i < a.M, j < b.N) to the int32 product of A and
// B: Σ_p A[i][p]·B[p][j], wrapping as int32 arithmetic does.
func Gemm(a *PackedA, b *PackedB, c []int32, ldc int) {
	GemmPanels(a, b, 0, (b.N+NR-1)/NR, c, ldc)
}

// GemmPanels is Gemm restricted to B's column panels [p0, p1), that is
// to columns [p0·NR, min(p1·NR, N)); c still starts at column 0. Callers
// split a product across goroutines this way.
func GemmPanels(a *PackedA, b *PackedB, p0, p1 int, c []int32, ldc int) {
	if a.K != b.K {
		panic("qgemm: inner dimensions differ")
	}
	m, n := a.M, b.N
	if m == 0 || p0 >= p1 {
		return
	}
	if ldc < n || len(c) < (m-1)*ldc+n || p0 < 0 || p1 > (n+NR-1)/NR {
		panic("qgemm: bad C")
	}
	kp := Pairs(a.K)
	ps := b.PanelStride()
	as := kp * 2 * MR
	var tile [MR * NR]int32
	for jp := p0; jp < p1; jp++ {
		j0 := jp * NR
		w := min(NR, n-j0)
		bp := b.Data[jp*ps : (jp+1)*ps]
		for i0 := 0; i0 < m; i0 += MR {
			ap := a.data[i0/MR*as : (i0/MR+1)*as]
			h := min(MR, m-i0)
			if h == MR && w == NR {
				kernel(kp, ap, bp, c[i0*ldc+j0:], ldc)
				continue
			}
			kernel(kp, ap, bp, tile[:], NR)
			for r := range h {
				copy(c[(i0+r)*ldc+j0:(i0+r)*ldc+j0+w], tile[r*NR:r*NR+w])
			}
		}
	}
}

// kernel sets the MR×NR tile c[r*ldc+j] to the product of one packed
// panel of A (ap, kp pairs) and one of B (bp): kernGo, or the assembly
// version of this CPU (kernel_amd64.go).
func kernel(kp int, ap []int16, bp []uint32, c []int32, ldc int) {
	_ = ap[:kp*2*MR]
	_ = bp[:kp*NR]
	_ = c[(MR-1)*ldc+NR-1]
	if useAVX2 && kp > 0 {
		kernAVX2(kp, &ap[0], &bp[0], &c[0], ldc)
		return
	}
	kernGo(kp, ap, bp, c, ldc)
}

// kernGo is the reference micro-kernel: with lo and hi the int16 halves
// of a word of bp,
//
//	c[r*ldc+j] = Σ_{q<kp} ap[q*2MR+2r]·lo(bp[q*NR+j]) + ap[q*2MR+2r+1]·hi(bp[q*NR+j])
//
// in int32 arithmetic.
func kernGo(kp int, ap []int16, bp []uint32, c []int32, ldc int) {
	var acc [MR][NR]int32
	for q := range kp {
		a := ap[q*2*MR : (q+1)*2*MR]
		b := bp[q*NR : (q+1)*NR]
		for r := range MR {
			a0, a1 := int32(a[2*r]), int32(a[2*r+1])
			row := &acc[r]
			for j, w := range b {
				row[j] += a0*int32(int16(w)) + a1*int32(int16(w>>16))
			}
		}
	}
	for r := range MR {
		copy(c[r*ldc:r*ldc+NR], acc[r][:])
	}
}
