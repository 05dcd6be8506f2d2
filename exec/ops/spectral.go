package ops

import (
	"math"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Spectral ops (ONNX operator docs, opset 17): DFT, STFT and
// MelWeightMatrix. Complex values are a trailing dim of 2 (real,
// imaginary); real inputs have a trailing dim of 1. The transforms are
// direct sums over a table of the n roots of unity, accumulated in
// float64: O(n²) a transform, which is what the usual frame sizes (up to
// a few thousand samples) afford, and exact to float32 rounding.

func init() {
	register(
		&Op{Name: "DFT", Since: 17, Infer: dftInfer, Run: dftRun},
		&Op{Name: "STFT", Since: 17, Infer: stftInfer, Run: stftRun},
		&Op{Name: "MelWeightMatrix", Since: 17, Infer: melInfer, Run: melRun,
			NoGrad: "its inputs are sizes and frequencies, not data"},
	)
}

// dftTable holds cos and sin of 2πk/n for k < n.
type dftTable struct{ cos, sin []float64 }

func newDFTTable(n int) dftTable {
	t := dftTable{cos: make([]float64, n), sin: make([]float64, n)}
	for k := range n {
		a := 2 * math.Pi * float64(k) / float64(n)
		t.cos[k], t.sin[k] = math.Cos(a), math.Sin(a)
	}
	return t
}

// transform writes bins outputs of the n-point DFT of the complex signal
// (re, im; shorter signals are zero-padded, longer ones cut) into
// outRe, outIm: X[k] = Σ x[j]·e^(∓2πi·jk/n), with the + sign and a 1/n
// factor when inverse.
func (t dftTable) transform(re, im []float64, n, bins int, inverse bool, outRe, outIm []float64) {
	sign, scale := -1.0, 1.0
	if inverse {
		sign, scale = 1, 1/float64(n)
	}
	m := min(len(re), n)
	for k := range bins {
		var sr, si float64
		idx := 0
		for j := range m {
			c, s := t.cos[idx], sign*t.sin[idx]
			sr += re[j]*c - im[j]*s
			si += re[j]*s + im[j]*c
			if idx += k; idx >= n {
				idx -= n
			}
		}
		outRe[k], outIm[k] = sr*scale, si*scale
	}
}

// scalarInput reads optional input i as one integer, or def if absent.
func scalarInput(c *RunCtx, i int, what string, def int) (int, error) {
	if c.Input(i) == nil {
		return def, nil
	}
	t, err := indexInput(c, i, what)
	if err != nil {
		return 0, err
	}
	if t.Len() != 1 {
		return 0, onnx.NodeErrorf(c.Node, "%s: want a scalar, got shape %v", what, t.Shape)
	}
	return int(t.I64[0]), nil
}

// dftAxis returns the transformed axis of an input of rank r (its last
// dim being the complex pair, which no axis may name).
func dftAxis(n *onnx.Node, r int) (int, error) {
	return normAxis(n, attrInt(n, "axis", 1), r-1)
}

// constScalar returns input i's value where inference knows it.
func constScalar(c *InferCtx, i int) (int64, bool) {
	d := c.ConstInput(i)
	if d == nil || d.Len() != 1 {
		return 0, false
	}
	return int64(d.Float64s()[0]), true
}

func dftInfer(c *InferCtx) ([]onnx.Type, error) {
	x, _ := c.Input(0)
	out := onnx.Type{DType: x.DType}
	if !x.HasShape {
		return []onnx.Type{out}, nil
	}
	r := len(x.Dims)
	if r < 2 {
		return nil, shapeError(c.Node, "input %s: want [batch, signal dims..., 1 or 2]", x)
	}
	axis, err := dftAxis(c.Node, r)
	if err != nil {
		return nil, err
	}
	dims := append([]onnx.Dim{}, x.Dims...)
	dims[r-1] = onnx.Dim{Value: 2}
	size := dims[axis]
	if _, has := c.Input(1); has {
		size = onnx.UnknownDim
		if v, ok := constScalar(c, 1); ok {
			size = onnx.Dim{Value: v}
		}
	}
	if attrInt(c.Node, "onesided", 0) == 1 && size.Known() {
		size = onnx.Dim{Value: size.Value/2 + 1}
	} else if attrInt(c.Node, "onesided", 0) == 1 {
		size = onnx.UnknownDim
	}
	dims[axis] = size
	out.HasShape, out.Dims = true, dims
	return []onnx.Type{out}, nil
}

func dftRun(c *RunCtx) ([]*tensor.Dense, error) {
	nd := c.Node
	x, err := normFloat(c, 0, "input")
	if err != nil {
		return nil, err
	}
	r := x.Rank()
	if r < 2 || (x.Shape[r-1] != 1 && x.Shape[r-1] != 2) {
		return nil, shapeError(nd, "input shape %v: want [batch, signal dims..., 1 or 2]", x.Shape)
	}
	axis, err := dftAxis(nd, r)
	if err != nil {
		return nil, err
	}
	dim := x.Shape[axis]
	n, err := scalarInput(c, 1, "dft_length", dim)
	if err != nil {
		return nil, err
	}
	if n < 1 {
		return nil, onnx.NodeErrorf(nd, "dft_length %d: want at least 1", n)
	}
	complexIn := x.Shape[r-1] == 2
	inverse := attrInt(nd, "inverse", 0) == 1
	bins := n
	if attrInt(nd, "onesided", 0) == 1 {
		if complexIn {
			return nil, onnx.NodeErrorf(nd, "onesided=1 needs a real input, got a complex one")
		}
		bins = n/2 + 1
	}
	shape := append([]int{}, x.Shape...)
	shape[axis], shape[r-1] = bins, 2
	y, err := shapeNew(nd, x.DType, shape)
	if err != nil {
		return nil, err
	}
	xs := x.Float64s()
	ys := make([]float64, y.Len())
	outer := shapeProd(x.Shape[:axis])
	inner := shapeProd(x.Shape[axis+1 : r-1])
	table := newDFTTable(n)
	m := min(dim, n)
	re, im := make([]float64, m), make([]float64, m)
	oRe, oIm := make([]float64, bins), make([]float64, bins)
	for o := range outer {
		for in := range inner {
			for j := range m {
				p := ((o*dim+j)*inner + in) * x.Shape[r-1]
				re[j], im[j] = xs[p], 0
				if complexIn {
					im[j] = xs[p+1]
				}
			}
			table.transform(re, im, n, bins, inverse, oRe, oIm)
			for k := range bins {
				q := ((o*bins+k)*inner + in) * 2
				ys[q], ys[q+1] = oRe[k], oIm[k]
			}
		}
	}
	storeFloat64s(y, ys)
	return []*tensor.Dense{y}, nil
}

// storeFloat64s writes vals into float tensor t, rounding to its dtype.
func storeFloat64s(t *tensor.Dense, vals []float64) {
	if t.F64 != nil {
		copy(t.F64, vals)
		return
	}
	for i, v := range vals {
		t.F32[i] = float32(v)
	}
	elemNarrow(t)
}

// stftFrame returns the frame length: frame_length where given, else the
// window's length; they must agree when both are.
func stftFrame(c *RunCtx) (int, []float64, error) {
	nd := c.Node
	var window []float64
	length := -1
	if w := c.Input(2); w != nil {
		if w.Rank() != 1 {
			return 0, nil, shapeError(nd, "window shape %v: want one dim", w.Shape)
		}
		window = w.Float64s()
		length = len(window)
	}
	if c.Input(3) != nil {
		fl, err := scalarInput(c, 3, "frame_length", 0)
		if err != nil {
			return 0, nil, err
		}
		if length >= 0 && fl != length {
			return 0, nil, onnx.NodeErrorf(nd, "frame_length %d, window of %d samples: want them equal", fl, length)
		}
		length = fl
	}
	if length < 1 {
		return 0, nil, onnx.NodeErrorf(nd, "no frame length: give a window or frame_length of at least 1")
	}
	return length, window, nil
}

func stftInfer(c *InferCtx) ([]onnx.Type, error) {
	x, _ := c.Input(0)
	out := onnx.Type{DType: x.DType, HasShape: true, Dims: shapeUnknownDims(4)}
	if x.HasShape {
		if len(x.Dims) != 3 {
			return nil, shapeError(c.Node, "signal %s: want [batch, length, 1 or 2]", x)
		}
		out.Dims[0] = x.Dims[0]
	}
	out.Dims[3] = onnx.Dim{Value: 2}
	return []onnx.Type{out}, nil
}

func stftRun(c *RunCtx) ([]*tensor.Dense, error) {
	nd := c.Node
	x, err := normFloat(c, 0, "signal")
	if err != nil {
		return nil, err
	}
	if x.Rank() != 3 || (x.Shape[2] != 1 && x.Shape[2] != 2) {
		return nil, shapeError(nd, "signal shape %v: want [batch, length, 1 or 2]", x.Shape)
	}
	step, err := scalarInput(c, 1, "frame_step", 0)
	if err != nil {
		return nil, err
	}
	if step < 1 {
		return nil, onnx.NodeErrorf(nd, "frame_step %d: want at least 1", step)
	}
	length, window, err := stftFrame(c)
	if err != nil {
		return nil, err
	}
	batch, total, ch := x.Shape[0], x.Shape[1], x.Shape[2]
	if length > total {
		return nil, onnx.NodeErrorf(nd, "frame of %d samples, signal of %d", length, total)
	}
	frames := 1 + (total-length)/step
	bins := length
	if attrInt(nd, "onesided", 1) == 1 {
		if ch == 2 {
			return nil, onnx.NodeErrorf(nd, "onesided=1 needs a real signal, got a complex one")
		}
		bins = length/2 + 1
	}
	y, err := shapeNew(nd, x.DType, []int{batch, frames, bins, 2})
	if err != nil {
		return nil, err
	}
	xs := x.Float64s()
	ys := make([]float64, y.Len())
	table := newDFTTable(length)
	re, im := make([]float64, length), make([]float64, length)
	oRe, oIm := make([]float64, bins), make([]float64, bins)
	for b := range batch {
		for f := range frames {
			for j := range length {
				p := (b*total + f*step + j) * ch
				w := 1.0
				if window != nil {
					w = window[j]
				}
				re[j], im[j] = xs[p]*w, 0
				if ch == 2 {
					im[j] = xs[p+1] * w
				}
			}
			table.transform(re, im, length, bins, false, oRe, oIm)
			for k := range bins {
				q := ((b*frames+f)*bins + k) * 2
				ys[q], ys[q+1] = oRe[k], oIm[k]
			}
		}
	}
	storeFloat64s(y, ys)
	return []*tensor.Dense{y}, nil
}

func melDType(n *onnx.Node) (tensor.DType, error) {
	dt := tensor.DType(attrInt(n, "output_datatype", int64(tensor.Float32)))
	if !dt.IsFloat() {
		return 0, unsupportedf(n, "output_datatype %s", dt)
	}
	return dt, nil
}

func melInfer(c *InferCtx) ([]onnx.Type, error) {
	dt, err := melDType(c.Node)
	if err != nil {
		return nil, err
	}
	out := onnx.Type{DType: dt, HasShape: true, Dims: shapeUnknownDims(2)}
	if v, ok := constScalar(c, 1); ok {
		out.Dims[0] = onnx.Dim{Value: v/2 + 1}
	}
	if v, ok := constScalar(c, 0); ok {
		out.Dims[1] = onnx.Dim{Value: v}
	}
	return []onnx.Type{out}, nil
}

// melRun builds the triangular filters as ONNX's reference does: the
// band edges are num_mel_bins+2 points spaced (mel(upper) −
// mel(lower))/(num_mel_bins+2) apart on the mel scale (mel(f) =
// 2595·log10(1 + f/700)) from mel(lower), mapped back to hertz and to
// DFT bins by floor((dft_length+1)·f / sample_rate); filter i rises from
// edge i to 1 at edge i+1 and falls to 0 at edge i+2.
func melRun(c *RunCtx) ([]*tensor.Dense, error) {
	nd := c.Node
	dt, err := melDType(nd)
	if err != nil {
		return nil, err
	}
	mels, err := scalarInput(c, 0, "num_mel_bins", 0)
	if err != nil {
		return nil, err
	}
	dftLen, err := scalarInput(c, 1, "dft_length", 0)
	if err != nil {
		return nil, err
	}
	rate, err := scalarInput(c, 2, "sample_rate", 0)
	if err != nil {
		return nil, err
	}
	if mels < 1 || dftLen < 1 || rate < 1 {
		return nil, onnx.NodeErrorf(nd, "num_mel_bins %d, dft_length %d, sample_rate %d: want each at least 1", mels, dftLen, rate)
	}
	var edges [2]float64
	for i := range edges {
		t := c.Input(3 + i)
		if t == nil || t.Len() != 1 {
			return nil, onnx.NodeErrorf(nd, "lower_edge_hertz and upper_edge_hertz: want one value each")
		}
		edges[i] = t.Float64s()[0]
	}
	// The reference computes the edges' mel values in the inputs' own
	// precision (float32 in practice), then the bins in float64.
	in32 := c.Input(3).DType == tensor.Float32
	mel := func(f float64) float64 {
		if in32 {
			return float64(float32(2595) * float32(math.Log10(float64(float32(1)+float32(f)/700))))
		}
		return 2595 * math.Log10(1+f/700)
	}
	lo, hi := mel(edges[0]), mel(edges[1])
	step := (hi - lo) / float64(mels+2)
	if in32 {
		step = float64(float32(hi-lo) / float32(mels+2))
	}
	spec := dftLen/2 + 1
	bin := make([]int, mels+2)
	for i := range bin {
		hz := 700 * (math.Pow(10, (float64(i)*step+lo)/2595) - 1)
		bin[i] = int(math.Floor(float64(dftLen+1) * hz / float64(rate)))
		if bin[i] < 0 || bin[i] >= spec {
			return nil, onnx.NodeErrorf(nd, "band edge %d falls in DFT bin %d, outside the %d bins: check upper_edge_hertz (at most sample_rate/2)", i, bin[i], spec)
		}
	}
	w := make([]float64, spec*mels)
	for i := range mels {
		left, center, right := bin[i], bin[i+1], bin[i+2]
		if center == left {
			w[center*mels+i] = 1
		} else {
			for j := left; j <= center; j++ {
				w[j*mels+i] = float64(j-left) / float64(center-left)
			}
		}
		for j := center; j < right; j++ {
			w[j*mels+i] = float64(right-j) / float64(right-center)
		}
	}
	y, err := shapeNew(nd, dt, []int{spec, mels})
	if err != nil {
		return nil, err
	}
	storeFloat64s(y, w)
	return []*tensor.Dense{y}, nil
}
