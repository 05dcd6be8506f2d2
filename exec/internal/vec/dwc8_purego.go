//go:build purego || !amd64

package vec

func dwc8Blocks(out []float32, ldo int, in []float32, wp int, w, bias []float32, kh, kw, s, n int, lo, hi float32) bool {
	return false
}

func dwc16Blocks(out []float32, ldo int, in []float32, wp int, w, bias []float32, kh, kw, s, n int, lo, hi float32) bool {
	return false
}

func dwc16Fast() bool { return false }
