//go:build !purego

package gemm

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// Implemented in pack_amd64.s.

//go:noescape
func transpose8AVX(dst *float32, ldd int, src *float32, lds int, n int)

//go:noescape
func copyRowsAVX(dst *float32, ldd int, src *float32, lds int, rows, w8 int)

//go:noescape
func gemvPanelAVX2(kb int, a *float32, b *float32, nr int, acc *float32)

//go:noescape
func copyRowsAtAVX(dst *float32, ldd int, src *float32, offs *int, rows, w8 int)

// useSIMDPack selects the assembly packing helpers. Tests turn it off to
// exercise the portable ones.
var useSIMDPack = cpu.X86.HasAVX

// transpose8 sets dst[p*ldd+r] = src[off+r*lds+p] for r < 8, p < kb.
func transpose8(dst []float32, ldd int, src []float32, off, lds, kb int) {
	if !useSIMDPack || kb < 8 {
		transpose8Go(dst, ldd, src, off, lds, kb)
		return
	}
	// Bounds: the last element read is src[off+7*lds+kb-1], the last one
	// written is dst[(kb-1)*ldd+7].
	_ = src[off+7*lds+kb-1]
	_ = dst[(kb-1)*ldd+7]
	n := kb / 8
	transpose8AVX(&dst[0], ldd, &src[off], lds, n)
	if p := 8 * n; p < kb {
		// The last columns as one more block of eight, overlapping the
		// one before it: those columns are written twice, with the same
		// values, where the scalar loop cost more than all the blocks
		// on a 14-wide row.
		p = kb - 8
		transpose8AVX(&dst[p*ldd], ldd, &src[off+p], lds, 1)
	}
}

// copyRows sets dst[r*ldd+j] = src[off+r*lds+j] for r < rows, j < w
// (w a multiple of 8).
func copyRows(dst []float32, ldd int, src []float32, off, lds, rows, w int) {
	if rows == 0 || w == 0 {
		return
	}
	_ = src[off+(rows-1)*lds+w-1]
	_ = dst[(rows-1)*ldd+w-1]
	if !useSIMDPack || w%8 != 0 {
		copyRowsGo(dst, ldd, src, off, lds, rows, w)
		return
	}
	copyRowsAVX(unsafe.SliceData(dst), ldd, &src[off], lds, rows, w/8)
}

// copyRowsAt sets dst[r*ldd+j] = src[base+offs[r]+j] for r < len(offs),
// j < w. The caller has checked that every source row lies inside src.
func copyRowsAt(dst []float32, ldd int, src []float32, base int, offs []int, w int) {
	if len(offs) == 0 || w == 0 {
		return
	}
	_ = dst[(len(offs)-1)*ldd+w-1]
	if !useSIMDPack || w < 8 {
		copyRowsAtGo(dst, ldd, src, base, offs, w)
		return
	}
	copyRowsAtAVX(unsafe.SliceData(dst), ldd, &src[base], &offs[0], len(offs), w/8)
	if w%8 != 0 {
		// The last eight columns again, overlapping the blocks before:
		// a run that a convolution's output rows cut short of a multiple
		// of 8 stays on the vector path.
		copyRowsAtAVX(&dst[w-8], ldd, &src[base+w-8], &offs[0], len(offs), 1)
	}
}

// useGemvAVX2 selects the assembly panel-times-vector loop (FMA).
var useGemvAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// gemvPanel sets acc[j] += Σ_{p<kb} a[p]·b[p*nr+j] for j < nr.
func gemvPanel(kb int, a, b []float32, nr int, acc []float32) {
	if useGemvAVX2 && useSIMDPack && (nr == 16 || nr == 32) && kb > 0 {
		_, _, _ = a[kb-1], b[kb*nr-1], acc[nr-1]
		gemvPanelAVX2(kb, &a[0], &b[0], nr, &acc[0])
		return
	}
	gemvPanelGo(kb, a, b, nr, acc)
}
