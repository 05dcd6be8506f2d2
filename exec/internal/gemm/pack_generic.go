//go:build purego || !amd64

package gemm

// useSIMDPack is false: no assembly in this build.
var useSIMDPack = false

// transpose8 sets dst[p*ldd+r] = src[off+r*lds+p] for r < 8, p < kb.
func transpose8(dst []float32, ldd int, src []float32, off, lds, kb int) {
	transpose8Go(dst, ldd, src, off, lds, kb)
}

// copyRows sets dst[r*ldd+j] = src[off+r*lds+j] for r < rows, j < w.
func copyRows(dst []float32, ldd int, src []float32, off, lds, rows, w int) {
	copyRowsGo(dst, ldd, src, off, lds, rows, w)
}

// copyRowsAt sets dst[r*ldd+j] = src[base+offs[r]+j] for r < len(offs), j < w.
func copyRowsAt(dst []float32, ldd int, src []float32, base int, offs []int, w int) {
	copyRowsAtGo(dst, ldd, src, base, offs, w)
}

// gemvPanel sets acc[j] += Σ_{p<kb} a[p]·b[p*nr+j] for j < nr.
func gemvPanel(kb int, a, b []float32, nr int, acc []float32) { gemvPanelGo(kb, a, b, nr, acc) }
