package ops

import "github.com/graft-ml/graft/exec/internal/vec"

// tapKind is what a tapPlan computes over each window.
type tapKind int

const (
	tapConv tapKind = iota // bias + Σ w·x (depthwise convolution)
	tapSum                 // Σ x (average pooling, before the division)
	tapMax                 // max x (max pooling)
)

// tapPlan runs a 2-D window (any size, stride, dilation and padding) over
// planes of one geometry, with vector kernels: depthwise convolution and
// pooling. Each plane is copied into a buffer PH×PW just large enough for
// every window, (Ho−1)·sh + (kh−1)·dh + 1 by (Wo−1)·sw + (kw−1)·dw + 1,
// at the top-left padding's offset, the rest filled with the padding
// value (0, or −Inf for max pooling), so that output (oy, ox) reads
// padded[(oy·sh + ky·dh)·PW + ox·sw + kx·dw] for every tap without bounds
// checks. Then:
//   - at stride 1, the buffer is one long row: a single vec.ConvTaps (or
//     vec.MaxTaps) over (Ho−1)·PW + Wo outputs, tap (ky, kx) at offset
//     ky·dh·PW + kx·dw, computes every output and (kw−1)·dw dropped
//     columns per row;
//   - at column stride 1 and row stride sh, each output row is one call
//     straight into the output;
//   - at column stride sw > 1, each output row is computed at every
//     column, (Wo−1)·sw + 1 of them, and every sw-th kept: for the small
//     windows of depthwise layers and pools the extra work costs less
//     than splitting the input into sw column phases would.
//
// A tapPlan holds its buffers, so each goroutine needs its own.
type tapPlan struct {
	kind            tapKind
	fill            float32
	h, wd, ho, wo   int
	s, pad          [2]int
	ph, pw          int
	off             []int // each tap's offset from its window's start
	padded, scratch []float32
	// w and bias are a tapConv's window (kh×kw, row-major) and bias,
	// set before each run; tapSum's weights are ones.
	w    []float32
	bias float32
}

// newTapPlan plans windows k with strides s, dilations d and begin pads
// pad (each as rows, columns) from H×W planes to Ho×Wo outputs.
func newTapPlan(kind tapKind, fill float32, H, W, Ho, Wo int, k, s, d, pad [2]int) *tapPlan {
	t := &tapPlan{kind: kind, fill: fill, h: H, wd: W, ho: Ho, wo: Wo, s: s, pad: pad,
		ph: (Ho-1)*s[0] + (k[0]-1)*d[0] + 1,
		pw: (Wo-1)*s[1] + (k[1]-1)*d[1] + 1}
	t.padded = make([]float32, t.ph*t.pw)
	for ky := range k[0] {
		for kx := range k[1] {
			t.off = append(t.off, ky*d[0]*t.pw+kx*d[1])
		}
	}
	switch {
	case s == [2]int{1, 1}:
		t.scratch = make([]float32, (Ho-1)*t.pw+Wo)
	case s[1] > 1:
		t.scratch = make([]float32, (Wo-1)*s[1]+1)
	}
	if kind == tapSum {
		t.w = make([]float32, len(t.off))
		for i := range t.w {
			t.w[i] = 1
		}
	}
	return t
}

// run sets out (Ho×Wo) from in (H×W).
func (t *tapPlan) run(out, in []float32) {
	H, W, Ho, Wo := t.h, t.wd, t.ho, t.wo
	sh, sw := t.s[0], t.s[1]
	top, left := t.pad[0], t.pad[1]
	pw := t.pw
	if t.fill == 0 {
		clear(t.padded)
	} else {
		for i := range t.padded {
			t.padded[i] = t.fill
		}
	}
	// Input columns that land inside the buffer.
	x0, x1 := max(0, -left), min(W, pw-left)
	for y := range H {
		py := y + top
		if py < 0 || py >= t.ph || x0 >= x1 {
			continue
		}
		copy(t.padded[py*pw+left+x0:py*pw+left+x1], in[y*W+x0:y*W+x1])
	}
	switch {
	case sh == 1 && sw == 1:
		acc := t.scratch
		t.taps(acc, t.padded)
		for y := range Ho {
			copy(out[y*Wo:(y+1)*Wo], acc[y*pw:y*pw+Wo])
		}
	case sw == 1:
		for y := range Ho {
			t.taps(out[y*Wo:(y+1)*Wo], t.padded[y*sh*pw:])
		}
	default:
		full := t.scratch
		for y := range Ho {
			t.taps(full, t.padded[y*sh*pw:])
			row := out[y*Wo : (y+1)*Wo]
			for x := range row {
				row[x] = full[x*sw]
			}
		}
	}
}

// taps computes one run of outputs, dst[i] from src[off[t]+i].
func (t *tapPlan) taps(dst, src []float32) {
	switch t.kind {
	case tapMax:
		vec.MaxTaps(dst, src, t.off)
	case tapSum:
		vec.ConvTaps(dst, src, t.off, t.w, 0)
	default:
		vec.ConvTaps(dst, src, t.off, t.w, t.bias)
	}
}
