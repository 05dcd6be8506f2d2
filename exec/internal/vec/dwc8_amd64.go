//go:build !purego

package vec

// dwc8AVX2 is DWC8 for n ≥ 1 groups of eight outputs.
//
//go:noescape
func dwc8AVX2(out *float32, ldo int, in *float32, wp8 int, w, bias *float32, kh, kw, s8, n int, lo, hi float32)

func dwc8Blocks(out []float32, ldo int, in []float32, wp int, w, bias []float32, kh, kw, s, n int, lo, hi float32) bool {
	if !haveAVX2 {
		return false
	}
	dwc8AVX2(&out[0], ldo, &in[0], wp*8, &w[0], &bias[0], kh, kw, s*8, n, lo, hi)
	return true
}

// dwc16AVX512 is DWC16 for n ≥ 1 groups of eight outputs.
//
//go:noescape
func dwc16AVX512(out *float32, ldo int, in *float32, wp16 int, w, bias *float32, kh, kw, s16, n int, lo, hi float32)

// useDWC16AVX512 selects the AVX-512 DWC16 (tests turn it off to run the
// portable twin).
var useDWC16AVX512 = haveAVX512

func dwc16Fast() bool { return useDWC16AVX512 }

func dwc16Blocks(out []float32, ldo int, in []float32, wp int, w, bias []float32, kh, kw, s, n int, lo, hi float32) bool {
	if !useDWC16AVX512 {
		return false
	}
	dwc16AVX512(&out[0], ldo, &in[0], wp*16, &w[0], &bias[0], kh, kw, s*16, n, lo, hi)
	return true
}
