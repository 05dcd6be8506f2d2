package fitting

import (
	"errors"
	"fmt"
	"math"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Patches is the geometry of a square convolution: K×K kernels, Pad zeros
// on every side, stride Stride (0 means 1). It is a Conv with
// kernel_shape [K,K], pads [Pad,Pad,Pad,Pad] and strides
// [Stride,Stride]; Patches{K: 1} is a 1x1 conv, whose samples are pixels.
type Patches struct {
	K, Pad, Stride int
}

func (pt Patches) stride() int { return max(pt.Stride, 1) }

func (pt Patches) validate() error {
	if pt.K < 1 || pt.Pad < 0 || pt.Stride < 0 {
		return fmt.Errorf("patches k=%d pad=%d stride=%d: want k ≥ 1, pad ≥ 0, stride ≥ 0", pt.K, pt.Pad, pt.Stride)
	}
	if pt.Pad >= pt.K {
		return fmt.Errorf("patches k=%d pad=%d: padding must be below the kernel size", pt.K, pt.Pad)
	}
	return nil
}

// OutSize returns the output height and width of the conv on an h×w map,
// ⌊(h + 2·Pad − K)/Stride⌋ + 1, or an error if the map is too small.
func (pt Patches) OutSize(h, w int) (int, int, error) {
	if err := pt.validate(); err != nil {
		return 0, 0, err
	}
	s := pt.stride()
	if h+2*pt.Pad < pt.K || w+2*pt.Pad < pt.K {
		return 0, 0, fmt.Errorf("a %d×%d map padded by %d is smaller than the %d×%d kernel", h, w, pt.Pad, pt.K, pt.K)
	}
	return (h+2*pt.Pad-pt.K)/s + 1, (w+2*pt.Pad-pt.K)/s + 1, nil
}

// nchw returns the dims of a float32 rank-4 tensor.
func nchw(x *tensor.Dense, name string) (n, c, h, w int, err error) {
	if x == nil {
		return 0, 0, 0, 0, fmt.Errorf("%s is nil", name)
	}
	if x.DType != tensor.Float32 || len(x.Shape) != 4 || len(x.F32) != x.Len() {
		return 0, 0, 0, 0, fmt.Errorf("%s is %v %v, want a float32 NCHW tensor", name, x.DType, x.Shape)
	}
	return x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3], nil
}

// finiteNCHW reports the first NaN or ±Inf of an NCHW tensor by position.
func finiteNCHW(x *tensor.Dense, name string) error {
	_, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	for i, f := range x.F32 {
		if f != f || f > math.MaxFloat32 || f < -math.MaxFloat32 {
			return fmt.Errorf("%s image %d channel %d pixel (%d,%d) is %v", name, i/(c*h*w), i/(h*w)%c, i/w%h, i%w, f)
		}
	}
	return nil
}

// Unfold turns the NCHW activation x into one row per output position of
// the conv pt: (N·H'·W') rows in the order image, output row, output
// column, each of C·K·K values ordered channel, kernel row, kernel column
// (the layout of a Conv weight (Cout, C, K, K) row), with zeros where a
// patch reaches into the padding. It returns a float32 (N·H'·W', C·K·K)
// tensor. With Patches{K: 1} the rows are the pixels, each holding the C
// channel values.
func Unfold(x *tensor.Dense, pt Patches) (*tensor.Dense, error) {
	n, c, h, w, err := nchw(x, "input")
	if err != nil {
		return nil, fmt.Errorf("fitting: unfold: %w", err)
	}
	oh, ow, err := pt.OutSize(h, w)
	if err != nil {
		return nil, fmt.Errorf("fitting: unfold: %w", err)
	}
	cols := c * pt.K * pt.K
	out := tensor.New(tensor.Float32, n*oh*ow, cols)
	for r := range n * oh * ow {
		img, pos := r/(oh*ow), r%(oh*ow)
		patchRow(out.F32[r*cols:(r+1)*cols], x.F32[img*c*h*w:(img+1)*c*h*w], c, h, w, pos/ow, pos%ow, pt)
	}
	return out, nil
}

// Pixels is Unfold with Patches{K: 1}: one row of C values per pixel.
func Pixels(x *tensor.Dense) (*tensor.Dense, error) { return Unfold(x, Patches{K: 1}) }

// patchRow writes the patch of one image (c×h×w) at output position
// (oy, ox) into dst (c·K·K values).
func patchRow(dst, img []float32, c, h, w, oy, ox int, pt Patches) {
	k, s := pt.K, pt.stride()
	y0, x0 := oy*s-pt.Pad, ox*s-pt.Pad
	i := 0
	for ch := range c {
		plane := img[ch*h*w : (ch+1)*h*w]
		for ky := range k {
			iy := y0 + ky
			for kx := range k {
				ix := x0 + kx
				if iy >= 0 && iy < h && ix >= 0 && ix < w {
					dst[i] = plane[iy*w+ix]
				} else {
					dst[i] = 0
				}
				i++
			}
		}
	}
}

// AddConv feeds s the samples for fitting a conv pt from activation a to
// activation b, both float32 NCHW over the same N images: x is the patch
// of a (C_a·K·K values, as in Unfold) at each output position and y the
// pixel of b (C_b values) at that position, so b must be H'×W', the
// conv's output size on a. s must have In = C_a·K·K and Out = C_b. At most
// one chunk of rows (not the whole unfolded batch) is materialised at a
// time. A or B holding NaN or ±Inf is an error naming the position, and
// then nothing is added. When the maps need resizing first (B of another
// size), resize A before calling.
func AddConv(s *Stats, a, b *tensor.Dense, pt Patches) error {
	if s == nil {
		return errors.New("fitting: add conv: nil stats")
	}
	n, ca, ha, wa, err := nchw(a, "activation A")
	if err != nil {
		return fmt.Errorf("fitting: add conv: %w", err)
	}
	nb, cb, hb, wb, err := nchw(b, "activation B")
	if err != nil {
		return fmt.Errorf("fitting: add conv: %w", err)
	}
	oh, ow, err := pt.OutSize(ha, wa)
	if err != nil {
		return fmt.Errorf("fitting: add conv: activation A: %w", err)
	}
	switch {
	case nb != n:
		return fmt.Errorf("fitting: add conv: activation A holds %d images, B %d", n, nb)
	case hb != oh || wb != ow:
		return fmt.Errorf("fitting: add conv: activation B is %d×%d but a %d×%d conv (pad %d, stride %d) on A's %d×%d gives %d×%d", hb, wb, pt.K, pt.K, pt.Pad, pt.stride(), ha, wa, oh, ow)
	case s.p != ca*pt.K*pt.K || s.q != cb:
		return fmt.Errorf("fitting: add conv: stats of %d inputs and %d outputs, but A's %d channels in %d×%d patches give %d and B has %d channels", s.p, s.q, ca, pt.K, pt.K, ca*pt.K*pt.K, cb)
	}
	if err := finiteNCHW(a, "activation A"); err != nil {
		return fmt.Errorf("fitting: add conv: %w", err)
	}
	if err := finiteNCHW(b, "activation B"); err != nil {
		return fmt.Errorf("fitting: add conv: %w", err)
	}
	rows := n * oh * ow
	chunk := min(rows, chunkRows)
	xs := make([]float32, chunk*s.p)
	ys := make([]float32, chunk*s.q)
	planeA, planeB := ca*ha*wa, cb*hb*wb
	for r0 := 0; r0 < rows; r0 += chunk {
		m := min(chunk, rows-r0)
		for i := range m {
			r := r0 + i
			img, pos := r/(oh*ow), r%(oh*ow)
			patchRow(xs[i*s.p:(i+1)*s.p], a.F32[img*planeA:(img+1)*planeA], ca, ha, wa, pos/ow, pos%ow, pt)
			yb := b.F32[img*planeB : (img+1)*planeB]
			for ch := range cb {
				ys[i*s.q+ch] = yb[ch*oh*ow+pos]
			}
		}
		if err := s.Add(xs[:m*s.p], ys[:m*s.q]); err != nil {
			return err // unreachable: shapes and values were checked above
		}
	}
	return nil
}

// ConvPatches returns the Patches that reproduce Conv node n's window: a
// square 2-D kernel (read from its constant weight), group 1, equal
// padding on every side and equal strides, no dilation and no auto_pad.
// Other convolutions report false: Unfold cannot read them.
func ConvPatches(n *onnx.Node) (Patches, bool) {
	if n.OpType != "Conv" || len(n.Inputs) < 2 || n.Inputs[1] == nil || n.Inputs[1].Const == nil {
		return Patches{}, false
	}
	w := n.Inputs[1].Const.Shape
	if len(w) != 4 || w[2] != w[3] || n.AttrInt("group", 1) != 1 || n.AttrString("auto_pad", "NOTSET") != "NOTSET" {
		return Patches{}, false
	}
	for _, d := range n.AttrInts("dilations") {
		if d != 1 {
			return Patches{}, false
		}
	}
	same := func(v []int64, def int64) (int64, bool) {
		for _, x := range v {
			if x != v[0] {
				return 0, false
			}
		}
		if len(v) == 0 {
			return def, true
		}
		return v[0], true
	}
	pad, okPad := same(n.AttrInts("pads"), 0)
	stride, okStride := same(n.AttrInts("strides"), 1)
	pt := Patches{K: w[2], Pad: int(pad), Stride: int(stride)}
	return pt, okPad && okStride && pt.Pad < pt.K
}
