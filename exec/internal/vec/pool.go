package vec

import "math"

// MaxTaps sets dst[i] = max_t src[off[t]+i] for every i < len(dst): a run
// of max-pooling outputs whose window taps lie at the offsets off in a
// plane padded with −Inf (MaxPool in exec/ops). Every off[t] must be at
// least 0 and src must hold max(off)+len(dst) elements. A NaN among an
// output's taps makes it NaN, as Go's max does; of −0 and +0 either may
// come out.
func MaxTaps(dst, src []float32, off []int) {
	m := 0
	for _, o := range off {
		if o < 0 {
			panic("vec: negative tap offset")
		}
		m = max(m, o)
	}
	if len(dst) == 0 {
		return
	}
	_ = src[m+len(dst)-1]
	n := maxTapsBlocks(dst, src, off)
	maxTapsGo(dst[n:], src[n:], off)
}

// maxTapsGo is MaxTaps one tap at a time over the whole of dst.
func maxTapsGo(dst, src []float32, off []int) {
	for i := range dst {
		dst[i] = float32(math.Inf(-1))
	}
	for _, o := range off {
		s := src[o : o+len(dst)]
		for i, v := range s {
			dst[i] = max(dst[i], v)
		}
	}
}

// Sum returns the sum of src, accumulated in float64 (as exec/ops'
// reductions are) in an order of its own: on amd64, four float64 lanes
// per accumulator, four accumulators. The result differs from a
// sequential float64 sum by float64 rounding only.
func Sum(src []float32) float64 {
	s, n := sumBlocks(src)
	for _, v := range src[n:] {
		s += float64(v)
	}
	return s
}
