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
// at the top-left padding's offset, the rest holding the padding value
// (0, or −Inf for max pooling; written once, since every plane overwrites
// the same interior). Output (oy, ox) then reads padded[oy·sh + ky·dh]
// [ox·sw + kx·dw] for every tap without bounds checks.
//
// At strides 1 and 2 the buffer is stored as sh·sw phase planes: phase
// (py, px) holds the padded rows ≡ py and columns ≡ px modulo the strides
// (vec.Deinterleave2 splits the columns as each row is copied in), each
// ⌈PH/sh⌉×⌈PW/sw⌉ =: Hp×Wp. Tap (ky, kx) of output (oy, ox) is then
// element (oy + ⌊ky·dh/sh⌋, ox + ⌊kx·dw/sw⌋) of phase (ky·dh mod sh,
// kx·dw mod sw), the same offset from oy·Wp + ox for every output, so
// the whole plane is one vec.ConvTaps (or vec.MaxTaps) over
// (Ho−1)·Wp + Wo outputs (mostly whole 64-output blocks of the vector
// kernel), of which the Wp−Wo per row past the edge are dropped as the
// rows are copied out. At larger strides each output row is computed at every
// column, (Wo−1)·sw + 1 of them, and every sw-th kept.
//
// A tapPlan holds its buffers, so each goroutine needs its own.
type tapPlan struct {
	kind          tapKind
	h, wd, ho, wo int
	s, pad        [2]int
	ph, cols      int   // the padded plane, PH×PW
	rp, cp        int   // row and column phases: the strides, or 1 above 2
	hp, wp        int   // each phase plane
	off           []int // each tap's offset from its output's
	padded        []float32
	scratch       []float32
	// w and bias are a tapConv's window (kh×kw, row-major) and bias,
	// set before each run; tapSum's weights are ones.
	w    []float32
	bias float32
}

// newTapPlan plans windows k with strides s, dilations d and begin pads
// pad (each as rows, columns) from H×W planes to Ho×Wo outputs.
func newTapPlan(kind tapKind, fill float32, H, W, Ho, Wo int, k, s, d, pad [2]int) *tapPlan {
	t := &tapPlan{kind: kind, h: H, wd: W, ho: Ho, wo: Wo, s: s, pad: pad,
		ph:   (Ho-1)*s[0] + (k[0]-1)*d[0] + 1,
		cols: (Wo-1)*s[1] + (k[1]-1)*d[1] + 1,
		rp:   1, cp: 1}
	if s[0] <= 2 && s[1] <= 2 {
		t.rp, t.cp = s[0], s[1]
	}
	t.hp, t.wp = (t.ph+t.rp-1)/t.rp, (t.cols+t.cp-1)/t.cp
	t.padded = make([]float32, t.rp*t.cp*t.hp*t.wp)
	if fill != 0 {
		for i := range t.padded {
			t.padded[i] = fill
		}
	}
	for ky := range k[0] {
		for kx := range k[1] {
			y, x := ky*d[0], kx*d[1]
			phase := y%t.rp*t.cp + x%t.cp
			t.off = append(t.off, phase*t.hp*t.wp+y/t.rp*t.wp+x/t.cp)
		}
	}
	switch {
	case t.rp != s[0] || t.cp != s[1]:
		t.scratch = make([]float32, (Wo-1)*s[1]+1)
	default:
		t.scratch = make([]float32, (Ho-1)*t.wp+Wo)
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
	top, left := t.pad[0], t.pad[1]
	wp, plane := t.wp, t.hp*t.wp
	// Input columns that land inside the buffer.
	x0, x1 := max(0, -left), min(W, t.cols-left)
	for y := range H {
		py := y + top
		if py < 0 || py >= t.ph || x0 >= x1 {
			continue
		}
		seg := in[y*W+x0 : y*W+x1]
		// Row py is row py/rp of the phases py%rp·cp + (0 … cp−1).
		base := py%t.rp*t.cp*plane + py/t.rp*wp
		px := left + x0
		if t.cp == 1 {
			copy(t.padded[base+px:], seg)
			continue
		}
		// Element j of seg is padded column px+j: phase (px+j)%2,
		// column (px+j)/2.
		row0 := t.padded[base : base+wp]
		row1 := t.padded[base+plane : base+plane+wp]
		ne, no := (len(seg)+1)/2, len(seg)/2
		if px%2 == 0 {
			vec.Deinterleave2(row0[px/2:px/2+ne], row1[px/2:px/2+no], seg)
		} else {
			vec.Deinterleave2(row1[px/2:px/2+ne], row0[px/2+1:px/2+1+no], seg)
		}
	}
	switch {
	case t.rp != t.s[0] || t.cp != t.s[1]:
		// Strides above 2: the rows at every column, then every sw-th.
		sh, sw := t.s[0], t.s[1]
		full := t.scratch
		for y := range Ho {
			t.taps(full, t.padded[y*sh*wp:])
			row := out[y*Wo : (y+1)*Wo]
			for x := range row {
				row[x] = full[x*sw]
			}
		}
	default:
		acc := t.scratch
		t.taps(acc, t.padded)
		if wp == Wo {
			copy(out, acc)
			break
		}
		for y := range Ho {
			copy(out[y*Wo:(y+1)*Wo], acc[y*wp:y*wp+Wo])
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

// planeWindows runs a 2-D window over planes of one geometry at column
// strides 1 and 2 (depthwise convolution; average pooling's sums, with
// weights of one) two calls a plane: the plane is copied into a buffer
// with zero borders just large enough for every window (vec.CopyRows;
// the borders are written once and stay zero, every plane overwriting
// the same interior), then vec.ConvWindows computes the whole output
// plane from it, rows sh·pw apart. A tapPlan, or the 3×3 row kernel,
// called a vector kernel per input or output row, whose cost on 56- and
// 112-wide planes exceeded the arithmetic. The taps are summed in the
// same order as a tapPlan's. Each goroutine needs its own.
type planeWindows struct {
	h, w, ho, wo int
	sh, sw       int
	pw, top      int
	left         int
	off          []int
	buf          []float32
}

// newPlaneWindows plans windows k with strides s (columns 1 or 2),
// dilations d and begin pads pad (each as rows, columns) from H×W planes
// to Ho×Wo outputs.
func newPlaneWindows(H, W, Ho, Wo int, k, s, d, pad [2]int) *planeWindows {
	ph := max(pad[0]+H, (Ho-1)*s[0]+(k[0]-1)*d[0]+1)
	// One more column at stride 2, which the pair loads read.
	pw := max(pad[1]+W, (Wo-1)*s[1]+(k[1]-1)*d[1]+1) + s[1] - 1
	t := &planeWindows{h: H, w: W, ho: Ho, wo: Wo, sh: s[0], sw: s[1], pw: pw, top: pad[0], left: pad[1], buf: make([]float32, ph*pw)}
	for ky := range k[0] {
		for kx := range k[1] {
			t.off = append(t.off, ky*d[0]*pw+kx*d[1])
		}
	}
	return t
}

// run sets out (Ho×Wo) to bias + Σ w·x over each window of in (H×W),
// w being the window's weights in row-major order.
func (t *planeWindows) run(out, in, w []float32, bias float32) {
	vec.CopyRows(t.buf[t.top*t.pw+t.left:], t.pw, in, t.w, t.h, t.w)
	vec.ConvWindows(out, t.wo, t.buf, t.sh*t.pw, t.ho, t.wo, t.off, w, bias, t.sw)
}
