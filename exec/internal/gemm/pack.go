package gemm

import (
	"slices"
	"sync"
	"unsafe"
)

// Packed layouts. For a kernel with an mr×nr register tile and depth block
// kc, an operand is cut into depth blocks of kc (the last may be shorter,
// call its depth kb). Within a depth block:
//
//   - A (m×k) is stored as ⌈m/mr⌉ panels of mr rows; panel q holds, for each
//     p < kb, the mr values op(A)[q*mr+r][pc+p] (r < mr) consecutively.
//   - B (k×n) is stored as ⌈n/nr⌉ panels of nr columns; panel q holds, for
//     each p < kb, the nr values op(B)[pc+p][q*nr+j] (j < nr) consecutively.
//
// Rows or columns beyond the matrix are zero. So any run of whole panels of
// a depth block is one contiguous slice, which is what the driver consumes,
// whether it packs on the fly or reads a PackedA / PackedB.

// PackedA is the left operand op(A) of a product, packed once for the
// micro-kernel in use so that it can be reused by many calls of
// SgemmPackedA (for example constant weights of a convolution).
// A PackedA is safe for concurrent use; only PackAInto changes one.
type PackedA struct {
	kern *kernel
	m, k int
	mp   int // m rounded up to a multiple of kern.mr
	data []float32
}

// PackedB is the right operand op(B) of a product, packed once for reuse by
// SgemmPackedB. A PackedB is immutable and safe for concurrent use.
type PackedB struct {
	kern *kernel
	k, n int
	np   int // n rounded up to a multiple of kern.nr
	data []float32
}

// Dims returns the shape m×k of op(A).
func (p *PackedA) Dims() (m, k int) { return p.m, p.k }

// Dims returns the shape k×n of op(B).
func (p *PackedB) Dims() (k, n int) { return p.k, p.n }

// PackA packs op(A), where A is m×k (k×m if transA) with row stride lda,
// for use as the left operand of SgemmPackedA. a is not retained.
func PackA(transA bool, m, k int, a []float32, lda int) *PackedA {
	return PackAInto(nil, transA, m, k, a, lda)
}

// PackAInto is PackA reusing the storage of pa, which it returns, when
// that is large enough (pa may be nil). Callers that pack a different
// operand for every product keep one PackedA rather than allocating.
func PackAInto(pa *PackedA, transA bool, m, k int, a []float32, lda int) *PackedA {
	if m < 0 || k < 0 {
		panic("gemm: negative dimension")
	}
	checkA(transA, m, k, a, lda)
	kn := active
	mp := roundUp(m, kn.mr)
	if pa == nil || cap(pa.data) < mp*k {
		pa = &PackedA{data: alignedFloats(mp * k)}
	}
	pa.kern, pa.m, pa.k, pa.mp, pa.data = kn, m, k, mp, pa.data[:mp*k]
	for pc := 0; pc < k; pc += kn.kc {
		kb := min(kn.kc, k-pc)
		packA(pa.data[pc*mp:pc*mp+mp*kb], transA, a, lda, 0, m, pc, kb, kn.mr)
	}
	return pa
}

// PackB packs op(B), where B is k×n (n×k if transB) with row stride ldb,
// for use as the right operand of SgemmPackedB. b is not retained.
func PackB(transB bool, k, n int, b []float32, ldb int) *PackedB {
	if k < 0 || n < 0 {
		panic("gemm: negative dimension")
	}
	checkB(transB, k, n, b, ldb)
	kn := active
	np := roundUp(n, kn.nr)
	pb := &PackedB{kern: kn, k: k, n: n, np: np, data: alignedFloats(np * k)}
	for pc := 0; pc < k; pc += kn.kc {
		kb := min(kn.kc, k-pc)
		packB(pb.data[pc*np:pc*np+np*kb], transB, b, ldb, 0, n, pc, kb, kn.nr)
	}
	return pb
}

// packA packs rows i0..i0+mb of op(A) over depths p0..p0+kb into dst as
// ⌈mb/mr⌉ panels (see the layout above).
func packA(dst []float32, trans bool, a []float32, lda, i0, mb, p0, kb, mr int) {
	for ip := 0; ip < mb; ip += mr {
		rows := min(mr, mb-ip)
		d := dst[ip*kb : ip*kb+mr*kb]
		if !trans {
			// op(A)[i][p] = a[i*lda+p]: rows of A are contiguous in p.
			off := (i0+ip)*lda + p0
			if rows == mr && mr%8 == 0 {
				for r := 0; r < mr; r += 8 {
					transpose8(d[r:], mr, a, off+r*lda, lda, kb)
				}
				continue
			}
			interleave(d, mr, a, off, lda, rows, kb)
			for r := rows; r < mr; r++ {
				for p := 0; p < kb; p++ {
					d[p*mr+r] = 0
				}
			}
			continue
		}
		// op(A)[i][p] = a[p*lda+i]: each depth step is contiguous.
		off := p0*lda + i0 + ip
		if rows == mr && mr%8 == 0 {
			copyRows(d, mr, a, off, lda, kb, mr)
			continue
		}
		for p := 0; p < kb; p++ {
			dd := d[p*mr : p*mr+mr]
			for r, v := range a[off : off+rows] {
				dd[r] = v
			}
			clear(dd[rows:])
			off += lda
		}
	}
}

// packBGroup is the number of depth steps packB copies per panel before
// moving to the next panel: it keeps packBGroup read streams (rows of B)
// going, which the hardware prefetchers follow, instead of jumping across
// kb rows for every panel.
const packBGroup = 16

// packB packs columns j0..j0+nb of op(B) over depths p0..p0+kb into dst as
// ⌈nb/nr⌉ panels (see the layout above).
func packB(dst []float32, trans bool, b []float32, ldb, j0, nb, p0, kb, nr int) {
	full := nb / nr // whole panels
	rem := nb - full*nr
	if !trans {
		// op(B)[p][j] = b[p*ldb+j]: each depth step is contiguous.
		for pg := 0; pg < kb; pg += packBGroup {
			g := min(packBGroup, kb-pg)
			off := (p0+pg)*ldb + j0
			for q := range full {
				copyRows(dst[q*nr*kb+pg*nr:], nr, b, off+q*nr, ldb, g, nr)
			}
		}
		if rem > 0 {
			d := dst[full*nr*kb : (full+1)*nr*kb]
			off := p0*ldb + j0 + full*nr
			for p := 0; p < kb; p++ {
				dd := d[p*nr : p*nr+nr]
				for j, v := range b[off : off+rem] {
					dd[j] = v
				}
				clear(dd[rem:])
				off += ldb
			}
		}
		return
	}
	// op(B)[p][j] = b[j*ldb+p]: columns of op(B) are contiguous in p.
	for q := range full {
		d := dst[q*nr*kb : (q+1)*nr*kb]
		off := (j0+q*nr)*ldb + p0
		if nr%8 == 0 {
			for j := 0; j < nr; j += 8 {
				transpose8(d[j:], nr, b, off+j*ldb, ldb, kb)
			}
		} else {
			interleave(d, nr, b, off, ldb, nr, kb)
		}
	}
	if rem > 0 {
		d := dst[full*nr*kb : (full+1)*nr*kb]
		interleave(d, nr, b, (j0+full*nr)*ldb+p0, ldb, rem, kb)
		for j := rem; j < nr; j++ {
			for p := 0; p < kb; p++ {
				d[p*nr+j] = 0
			}
		}
	}
}

// packBRows packs columns j0..j0+nb of the B whose row p is at
// b[rows[p]:] in segments of seg columns, stride apart (see
// SgemmPackedASegments), over the depth block whose row offsets are
// rows, into dst as ⌈nb/nr⌉ panels: each run of a panel's columns that
// lies in one segment is one copyRowsAt.
func packBRows(dst, b []float32, rows []int, j0, nb, nr, seg, stride int) {
	kb := len(rows)
	maxRow := slices.Max(rows)
	for q := 0; q*nr < nb; q++ {
		d := dst[q*nr*kb : (q+1)*nr*kb]
		w := min(nr, nb-q*nr)
		for jj := 0; jj < w; {
			col := j0 + q*nr + jj
			run := min(w-jj, seg-col%seg)
			src := col/seg*stride + col%seg
			if run < 8 && jj+8 <= nr && src+maxRow+8 <= len(b) {
				// A run shorter than a vector (a 7×7 map's rows) copied
				// as eight columns: the ones past it belong to the next
				// run, which overwrites them, or lie past w, cleared
				// below. The scalar copy had cost a tenth of ResNet-18's
				// batched 512-channel layers.
				copyRowsAt(d[jj:], nr, b, src, rows, 8)
			} else {
				copyRowsAt(d[jj:], nr, b, src, rows, run)
			}
			jj += run
		}
		if w < nr {
			for p := range kb {
				clear(d[p*nr+w : (p+1)*nr])
			}
		}
	}
}

// gemvPanelGo is the portable gemvPanel.
func gemvPanelGo(kb int, a, b []float32, nr int, acc []float32) {
	for p, av := range a[:kb] {
		row := b[p*nr : (p+1)*nr]
		for j, bv := range row {
			acc[j] += av * bv
		}
	}
}

// copyRowsAtGo is the portable copyRowsAt.
func copyRowsAtGo(dst []float32, ldd int, src []float32, base int, offs []int, w int) {
	for r, o := range offs {
		d, s := dst[r*ldd:r*ldd+w], src[base+o:base+o+w]
		if w >= 16 {
			copy(d, s)
			continue
		}
		// Short runs element by element: a call per row cost more.
		for i := range d {
			d[i] = s[i]
		}
	}
}

// interleave sets dst[p*stride+r] = src[off+r*ld+p] for r < cnt, p < kb.
func interleave(dst []float32, stride int, src []float32, off, ld, cnt, kb int) {
	if kb == 0 {
		return
	}
	r := 0
	for ; r+4 <= cnt; r += 4 {
		s0 := src[off : off+kb]
		s1 := src[off+ld : off+ld+kb]
		s2 := src[off+2*ld : off+2*ld+kb]
		s3 := src[off+3*ld : off+3*ld+kb]
		s1, s2, s3 = s1[:len(s0)], s2[:len(s0)], s3[:len(s0)]
		d := dst[r : r+(kb-1)*stride+4]
		for p := range s0 {
			o := d[p*stride : p*stride+4 : p*stride+4]
			o[0], o[1], o[2], o[3] = s0[p], s1[p], s2[p], s3[p]
		}
		off += 4 * ld
	}
	for ; r+2 <= cnt; r += 2 {
		s0 := src[off : off+kb]
		s1 := src[off+ld : off+ld+kb]
		s1 = s1[:len(s0)]
		d := dst[r : r+(kb-1)*stride+2]
		for p := range s0 {
			o := d[p*stride : p*stride+2 : p*stride+2]
			o[0], o[1] = s0[p], s1[p]
		}
		off += 2 * ld
	}
	if r < cnt {
		s := src[off : off+kb]
		d := dst[r:]
		for p, v := range s {
			d[p*stride] = v
		}
	}
}

// transpose8Go is the portable transpose8.
func transpose8Go(dst []float32, ldd int, src []float32, off, lds, kb int) {
	interleave(dst, ldd, src, off, lds, 8, kb)
}

// copyRowsGo is the portable copyRows.
func copyRowsGo(dst []float32, ldd int, src []float32, off, lds, rows, w int) {
	for r := range rows {
		copy(dst[r*ldd:r*ldd+w], src[off+r*lds:off+r*lds+w])
	}
}

// workspace holds the packing buffers of one serial driver run.
type workspace struct {
	a, b []float32 // 64-byte aligned
	tmp  []float32 // one mr×nr tile for edges
	rb   rowsB     // B read in place
}

var wsPool = sync.Pool{New: func() any { return new(workspace) }}

func (w *workspace) bufA(n int) []float32 {
	if cap(w.a) < n {
		w.a = alignedFloats(n)
	}
	return w.a[:n]
}

func (w *workspace) bufB(n int) []float32 {
	if cap(w.b) < n {
		w.b = alignedFloats(n)
	}
	return w.b[:n]
}

func (w *workspace) bufTmp(n int) []float32 {
	if cap(w.tmp) < n {
		w.tmp = alignedFloats(n)
	}
	return w.tmp[:n]
}

// AlignedFloats returns a zeroed slice of n float32 whose first element
// is 64-byte aligned (one cache line, one zmm register): vector loads of
// whole registers from it then never straddle two cache lines.
func AlignedFloats(n int) []float32 { return alignedFloats(n) }

// alignedFloats is AlignedFloats.
func alignedFloats(n int) []float32 {
	buf := make([]float32, n+16)
	off := int((64 - uintptr(unsafe.Pointer(&buf[0]))&63) & 63 / 4)
	return buf[off : off+n : off+n]
}

func roundUp(x, m int) int { return (x + m - 1) / m * m }

// Transpose8 sets dst[p*ldd+r] = src[off+r*lds+p] for r < 8 and p < kb:
// eight rows of src interleaved element by element, as a blocked-channel
// layout (eight channels a pixel) needs them.
func Transpose8(dst []float32, ldd int, src []float32, off, lds, kb int) {
	transpose8(dst, ldd, src, off, lds, kb)
}
