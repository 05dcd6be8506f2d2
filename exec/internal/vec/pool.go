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

// MaxWindows sets dst[r·ldd + c] = max_t src[r·lds + step·c + off[t]] for
// r < rows and c < cols: rows of max-pooling windows whose taps lie at
// the offsets off from each window's start, step (1 or 2) apart. exec/ops
// runs a 2-D max pool as two such passes, down the columns (offsets that
// are multiples of the row length) and then along each row. A NaN among
// an output's taps makes it NaN, as in MaxTaps. src must hold step − 1
// elements past the last tap read (the stride-2 blocks load pairs).
func MaxWindows(dst []float32, ldd int, src []float32, lds, rows, cols int, off []int, step int) {
	if !checkWindows(dst, ldd, src, lds, rows, cols, off, step) {
		return
	}
	if maxWindowsBlocks(dst, ldd, src, lds, rows, cols, off, step) {
		return
	}
	maxWindowsGo(dst, ldd, src, lds, rows, cols, off, step)
}

// checkWindows panics unless the windows of MaxWindows or ConvWindows lie
// inside dst and src, and reports whether there are any.
func checkWindows(dst []float32, ldd int, src []float32, lds, rows, cols int, off []int, step int) bool {
	if rows <= 0 || cols <= 0 {
		return false
	}
	if step != 1 && step != 2 {
		panic("vec: window step must be 1 or 2")
	}
	if len(off) == 0 || ldd < 0 || lds < 0 {
		panic("vec: windows need taps and non-negative row strides")
	}
	m := 0
	for _, o := range off {
		if o < 0 {
			panic("vec: negative tap offset")
		}
		m = max(m, o)
	}
	_ = dst[(rows-1)*ldd+cols-1]
	_ = src[(rows-1)*lds+step*(cols-1)+m+step-1]
	return true
}

// maxWindowsGo is MaxWindows one output at a time.
func maxWindowsGo(dst []float32, ldd int, src []float32, lds, rows, cols int, off []int, step int) {
	for r := range rows {
		out, in := dst[r*ldd:r*ldd+cols], src[r*lds:]
		for c := range out {
			v := float32(math.Inf(-1))
			for _, o := range off {
				v = max(v, in[step*c+o])
			}
			out[c] = v
		}
	}
}

// Max returns the largest element of src, which must not be empty. It is
// exact when src holds no NaN; with a NaN the result is unspecified (a
// NaN or the largest of the others), for callers whose results are NaN
// either way (exec/ops' softmax, which subtracts it from every element).
func Max(src []float32) float32 {
	m, n := maxBlocks(src)
	if n == 0 {
		m = src[0]
	}
	for _, v := range src[n:] {
		if v > m {
			m = v
		}
	}
	return m
}

// Dot returns Σ a[i]·b[i] over the length of a (b must be as long),
// accumulated in float64 from exact products, in an order of its own as
// Sum's: the result differs from a sequential float64 sum of the
// products by float64 rounding only.
func Dot(a, b []float32) float64 {
	b = b[:len(a)]
	s, n := dotBlocks(a, b)
	for i := n; i < len(a); i++ {
		s += float64(a[i]) * float64(b[i])
	}
	return s
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
