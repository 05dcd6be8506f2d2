package vec

// CopyRows copies rows of cols elements between strided layouts:
// dst[r·ldd + c] = src[r·lds + c] for r < rows and c < cols. dst and src
// must not overlap. One call does what a copy per row did, whose call
// cost exceeded the copying on rows of a few dozen elements (a small
// convolution's padded input planes in exec/ops).
func CopyRows(dst []float32, ldd int, src []float32, lds, rows, cols int) {
	if rows <= 0 || cols <= 0 {
		return
	}
	if ldd < 0 || lds < 0 {
		panic("vec: CopyRows needs non-negative row strides")
	}
	_ = dst[(rows-1)*ldd+cols-1]
	_ = src[(rows-1)*lds+cols-1]
	if copyRowsBlocks(dst, ldd, src, lds, rows, cols) {
		return
	}
	copyRowsGo(dst, ldd, src, lds, rows, cols)
}

// copyRowsGo is CopyRows a row at a time.
func copyRowsGo(dst []float32, ldd int, src []float32, lds, rows, cols int) {
	for r := range rows {
		copy(dst[r*ldd:r*ldd+cols], src[r*lds:r*lds+cols])
	}
}
