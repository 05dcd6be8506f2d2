package surgery

import (
	"fmt"
	"math"

	"github.com/graft-ml/graft/data"
	"github.com/graft-ml/graft/exec"
	"github.com/graft-ml/graft/feed"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Criteria for unstructured pruning: how each single weight is scored.
// The lowest-scored weights are zeroed.
//
// A weight w joining input i to unit j sees, for sample s, the input
// value x_si. For a Gemm or MatMul, i is an input feature and the samples
// are the rows of the layer's input (every leading position, for a
// MatMul over tokens). For a Conv, i is one (input channel, kernel tap)
// of the weight, and the samples are every (image, output position) pair;
// x_si is the input pixel the tap reads at that output position, 0 where
// it reads padding. Then (Sparana's criteria, with a mean where Sparana
// sums, so that layers with many output positions are not favoured by
// --global; per layer, the ranking is the same):
//
//	magnitude = |w|
//	MAV       = | mean over samples of w·x_si |  = |w| · |mean x_i|
//	MAAV      =   mean over samples of |w·x_si|  = |w| · mean |x_i|
const (
	ByMagnitude = "magnitude"
	ByMAV       = "mav"
	ByMAAV      = "maav"
)

// InputStats are the statistics of the inputs one layer's weights
// multiply: Mean[i] is the mean of x_i over the samples (see ByMAV), and
// MeanAbs[i] the mean of |x_i|. For a Gemm or MatMul, i indexes input
// features; for a Conv, i = (channel·kH + kh)·kW + kw over all input
// channels (a grouped Conv's weight of group g reads channels
// g·C/group onwards).
type InputStats struct {
	Mean, MeanAbs []float64
}

// convGeom is a 2-D (or, with kH = 1, 1-D) Conv's window.
type convGeom struct {
	kH, kW, sH, sW, dH, dW int
	pH, pW                 int    // leading pads; trailing ones follow from the output size
	autoPad                string // NOTSET, SAME_UPPER, SAME_LOWER or VALID
	padEnd                 [2]int // trailing pads (NOTSET)
}

// newConvGeom reads a Conv node's window from its weight shape and
// attributes.
func newConvGeom(n *onnx.Node, wshape []int) (convGeom, error) {
	var g convGeom
	ints := func(name string, def int) ([]int, error) {
		a := n.AttrInts(name)
		sp := len(wshape) - 2
		if a == nil {
			out := make([]int, sp)
			for i := range out {
				out[i] = def
			}
			return out, nil
		}
		if name == "pads" && len(a) != 2*sp || name != "pads" && len(a) != sp {
			return nil, fmt.Errorf("attribute %q has %d values for %d spatial axes", name, len(a), sp)
		}
		out := make([]int, len(a))
		for i, x := range a {
			out[i] = int(x)
		}
		return out, nil
	}
	switch len(wshape) {
	case 3, 4:
	default:
		return g, fmt.Errorf("activation scores support 1-D and 2-D convolutions, not a weight of shape %v", wshape)
	}
	s, err := ints("strides", 1)
	if err != nil {
		return g, err
	}
	d, err := ints("dilations", 1)
	if err != nil {
		return g, err
	}
	p, err := ints("pads", 0)
	if err != nil {
		return g, err
	}
	g.autoPad = n.AttrString("auto_pad", "NOTSET")
	if len(wshape) == 3 {
		g.kH, g.kW, g.sH, g.sW, g.dH, g.dW = 1, wshape[2], 1, s[0], 1, d[0]
		g.pW, g.padEnd = p[0], [2]int{0, p[1]}
	} else {
		g.kH, g.kW, g.sH, g.sW, g.dH, g.dW = wshape[2], wshape[3], s[0], s[1], d[0], d[1]
		g.pH, g.pW, g.padEnd = p[0], p[1], [2]int{p[2], p[3]}
	}
	for _, x := range []int{g.sH, g.sW, g.dH, g.dW} {
		if x < 1 {
			return g, fmt.Errorf("strides and dilations must be positive")
		}
	}
	return g, nil
}

// axis returns the leading pad and the output size along one spatial
// axis of input size in, window k, stride s, dilation d.
func (g convGeom) axis(in, k, s, d, pBegin, pEnd int) (pad, out int) {
	span := d*(k-1) + 1
	switch g.autoPad {
	case "SAME_UPPER", "SAME_LOWER":
		out = (in + s - 1) / s
		total := max(0, (out-1)*s+span-in)
		pad = total / 2
		if g.autoPad == "SAME_LOWER" {
			pad = total - total/2
		}
		return pad, out
	case "VALID":
		return 0, (in-span)/s + 1
	}
	return pBegin, (in+pBegin+pEnd-span)/s + 1
}

// inputAcc accumulates one layer's InputStats.
type inputAcc struct {
	l           prunable
	conv        bool
	geom        convGeom
	sum, sumAbs []float64
	count       float64
}

func newInputAcc(l prunable) (*inputAcc, error) {
	w := l.weight.Const.Shape
	a := &inputAcc{l: l}
	var n int
	switch l.node.OpType {
	case "Conv":
		g, err := newConvGeom(l.node, w)
		if err != nil {
			return nil, err
		}
		a.conv, a.geom = true, g
		group := int(l.node.AttrInt("group", 1))
		n = group * w[1] * g.kH * g.kW
	case "Gemm":
		n = w[1]
		if l.node.AttrInt("transB", 0) == 0 {
			n = w[0]
		}
	default: // MatMul with a 2-D weight [in, out]
		n = w[0]
	}
	a.sum, a.sumAbs = make([]float64, n), make([]float64, n)
	return a, nil
}

// add accumulates one batch of the layer's input x.
func (a *inputAcc) add(x *tensor.Dense) error {
	f := x.F32
	var f64 []float64
	if f == nil {
		f64 = x.Float64s()
	}
	at := func(i int) float64 {
		if f != nil {
			return float64(f[i])
		}
		return f64[i]
	}
	switch {
	case a.conv:
		return a.addConv(x.Shape, at)
	case a.l.node.OpType == "Gemm" && a.l.node.AttrInt("transA", 0) != 0:
		// x is [in, N].
		if x.Rank() != 2 || x.Shape[0] != len(a.sum) {
			return fmt.Errorf("input of shape %v for %d features", x.Shape, len(a.sum))
		}
		n := x.Shape[1]
		for i := range a.sum {
			s, sa := 0.0, 0.0
			for j := range n {
				v := at(i*n + j)
				s += v
				sa += math.Abs(v)
			}
			a.sum[i] += s
			a.sumAbs[i] += sa
		}
		a.count += float64(n)
	default:
		// x is [..., in].
		if x.Rank() < 1 || x.Shape[x.Rank()-1] != len(a.sum) {
			return fmt.Errorf("input of shape %v for %d features", x.Shape, len(a.sum))
		}
		in := len(a.sum)
		rows := x.Len() / in
		for r := range rows {
			for i := range in {
				v := at(r*in + i)
				a.sum[i] += v
				a.sumAbs[i] += math.Abs(v)
			}
		}
		a.count += float64(rows)
	}
	return nil
}

// addConv accumulates, for every (channel, tap), the input pixels the
// tap reads at every output position of every image.
func (a *inputAcc) addConv(shape []int, at func(int) float64) error {
	g := a.geom
	var n, c, h, w int
	switch len(shape) {
	case 3:
		n, c, h, w = shape[0], shape[1], 1, shape[2]
	case 4:
		n, c, h, w = shape[0], shape[1], shape[2], shape[3]
	default:
		return fmt.Errorf("convolution input of shape %v", shape)
	}
	kk := g.kH * g.kW
	if c*kk != len(a.sum) {
		return fmt.Errorf("convolution input of shape %v for a weight reading %d channels", shape, len(a.sum)/kk)
	}
	pH, oH := g.axis(h, g.kH, g.sH, g.dH, g.pH, g.padEnd[0])
	pW, oW := g.axis(w, g.kW, g.sW, g.dW, g.pW, g.padEnd[1])
	if oH < 1 || oW < 1 {
		return fmt.Errorf("convolution input of shape %v gives no output", shape)
	}
	// valid returns the output positions [lo, hi) at which tap k reads
	// inside an axis of size in.
	valid := func(k, s, d, pad, in, out int) (int, int) {
		off := k*d - pad // input index = o·s + off
		lo := 0
		if off < 0 {
			lo = (-off + s - 1) / s
		}
		hi := min(out, (in-1-off)/s+1)
		if in-1-off < 0 {
			hi = 0
		}
		return lo, max(lo, hi)
	}
	for img := range n {
		for ch := range c {
			base := (img*c + ch) * h * w
			for kh := range g.kH {
				hlo, hhi := valid(kh, g.sH, g.dH, pH, h, oH)
				for kw := range g.kW {
					wlo, whi := valid(kw, g.sW, g.dW, pW, w, oW)
					s, sa := 0.0, 0.0
					for oh := hlo; oh < hhi; oh++ {
						row := base + (oh*g.sH+kh*g.dH-pH)*w
						for ow := wlo; ow < whi; ow++ {
							v := at(row + ow*g.sW + kw*g.dW - pW)
							s += v
							sa += math.Abs(v)
						}
					}
					i := ch*kk + kh*g.kW + kw
					a.sum[i] += s
					a.sumAbs[i] += sa
				}
			}
		}
	}
	a.count += float64(n * oH * oW)
	return nil
}

func (a *inputAcc) stats() InputStats {
	st := InputStats{Mean: make([]float64, len(a.sum)), MeanAbs: make([]float64, len(a.sum))}
	for i := range a.sum {
		st.Mean[i] = a.sum[i] / a.count
		st.MeanAbs[i] = a.sumAbs[i] / a.count
	}
	return st
}

// MeasureInputStats runs m over the samples of src once, in the batches o
// chooses (memory bounded by one batch's activations), and returns the
// InputStats of every layer Prune would consider (Conv, Gemm and MatMul
// with constant weights, restricted to layers if not empty), keyed by
// the name of the layer's weight: what the mav and maav criteria need.
func MeasureInputStats(m *onnx.Model, layers []string, src data.Source, o feed.Options) (map[string]InputStats, error) {
	if err := exec.InferShapes(m); err != nil {
		return nil, err
	}
	ls := prunableLayers(m.Graph, layers)
	if len(ls) == 0 {
		return nil, fmt.Errorf("no Conv, Gemm or MatMul with constant weights found%s", layersNote(layers))
	}
	accs := make([]*inputAcc, len(ls))
	var want []string
	for i, l := range ls {
		a, err := newInputAcc(l)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", l.node, err)
		}
		accs[i] = a
		want = append(want, l.node.Inputs[0].Name)
	}
	fm, err := feed.Compile(m, o.Threads)
	if err != nil {
		return nil, err
	}
	err = feed.Each(src, o, func(b data.Batch) error {
		res, err := fm.Run(b.X, want...)
		if err != nil {
			return err
		}
		for i, a := range accs {
			x := res[want[i]]
			if want[i] == fm.Input {
				x = b.X
			}
			if x == nil {
				return fmt.Errorf("%s: no value %q computed", a.l.node, want[i])
			}
			if err := a.add(x); err != nil {
				return fmt.Errorf("%s: %w", a.l.node, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make(map[string]InputStats, len(accs))
	for _, a := range accs {
		out[a.l.weight.Name] = a.stats()
	}
	return out, nil
}

// MeasureUnitStatsOver is MeasureUnitStats over a dataset read in the
// batches o chooses: the statistics of the structured mean and meanabs
// criteria.
func MeasureUnitStatsOver(m *onnx.Model, layers []string, src data.Source, o feed.Options) (map[string]UnitStats, error) {
	targets, err := PruneTargets(m, layers)
	if err != nil {
		return nil, err
	}
	if len(targets) == 0 {
		return nil, fmt.Errorf("no prunable layers%s", layersNote(layers))
	}
	fm, err := feed.Compile(m, o.Threads)
	if err != nil {
		return nil, err
	}
	acc := NewStatsAccumulator()
	err = feed.Each(src, o, func(b data.Batch) error {
		res, err := fm.Run(b.X, targets...)
		if err != nil {
			return err
		}
		for _, t := range targets {
			if err := acc.Add(t, res[t]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return acc.Stats(), nil
}

// layerScores scores every weight of one layer by criterion (see
// ByMagnitude), in the weight's row-major order.
func layerScores(l prunable, w *tensor.Dense, criterion string, inputs map[string]InputStats) ([]float64, error) {
	v := w.Float64s()
	out := make([]float64, len(v))
	if criterion == ByMagnitude || criterion == "" {
		for i, x := range v {
			out[i] = math.Abs(x)
		}
		return out, nil
	}
	if criterion != ByMAV && criterion != ByMAAV {
		return nil, fmt.Errorf("unknown criterion %q (want magnitude, mav or maav)", criterion)
	}
	st, ok := inputs[l.weight.Name]
	if !ok {
		return nil, fmt.Errorf("%s: no input statistics for weight %q (see MeasureInputStats)", l.node, l.weight.Name)
	}
	in := st.MeanAbs
	if criterion == ByMAV {
		in = make([]float64, len(st.Mean))
		for i, x := range st.Mean {
			in[i] = math.Abs(x)
		}
	}
	idx, err := inputIndex(l, w.Shape, len(in))
	if err != nil {
		return nil, err
	}
	for i, x := range v {
		out[i] = math.Abs(x) * in[idx(i)]
	}
	return out, nil
}

// inputIndex maps a flat weight index to the index of the input
// statistic it multiplies (see InputStats), checking that n statistics
// fit the weight.
func inputIndex(l prunable, shape []int, n int) (func(int) int, error) {
	bad := func() (func(int) int, error) {
		return nil, fmt.Errorf("%s: %d input statistics for a weight of shape %v", l.node, n, shape)
	}
	switch l.node.OpType {
	case "Conv":
		// W[o, c', taps...] reads channel g·C' + c', g = o / (O/group).
		group := int(l.node.AttrInt("group", 1))
		perOut := 1
		for _, d := range shape[1:] {
			perOut *= d
		}
		if group < 1 || shape[0]%group != 0 || n != group*perOut {
			return bad()
		}
		outPerGroup := shape[0] / group
		return func(i int) int {
			o := i / perOut
			return (o/outPerGroup)*perOut + i%perOut
		}, nil
	case "Gemm":
		if l.node.AttrInt("transB", 0) != 0 { // W[j, i]
			if n != shape[1] {
				return bad()
			}
			return func(i int) int { return i % shape[1] }, nil
		}
	}
	// W[i, j]
	if n != shape[0] {
		return bad()
	}
	return func(i int) int { return i / shape[1] }, nil
}

// WeightScores returns the score (see ByMagnitude) of every weight of
// the layers Prune would consider, keyed by weight name and shaped like
// the weight, in float64. inputs comes from MeasureInputStats; the
// magnitude criterion needs none.
func WeightScores(m *onnx.Model, criterion string, inputs map[string]InputStats, layers []string) (map[string]*tensor.Dense, error) {
	ls := prunableLayers(m.Graph, layers)
	if len(ls) == 0 {
		return nil, fmt.Errorf("no Conv, Gemm or MatMul with constant weights found%s", layersNote(layers))
	}
	out := map[string]*tensor.Dense{}
	for _, l := range ls {
		w, err := l.weight.Const.Dense()
		if err != nil {
			return nil, err
		}
		s, err := layerScores(l, w, criterion, inputs)
		if err != nil {
			return nil, err
		}
		d := tensor.New(tensor.Float64, w.Shape...)
		copy(d.F64, s)
		out[l.weight.Name] = d
	}
	return out, nil
}

// finalLayers returns the layers from whose output no other layer of ls
// can be reached: the classifier, or each head's last layer.
func finalLayers(g *onnx.Graph, ls []prunable) map[*onnx.Node]bool {
	isLayer := map[*onnx.Node]bool{}
	for _, l := range ls {
		isLayer[l.node] = true
	}
	final := map[*onnx.Node]bool{}
	for _, l := range ls {
		seen := map[*onnx.Node]bool{}
		stack := []*onnx.Node{l.node}
		reaches := false
		for len(stack) > 0 && !reaches {
			n := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			for _, o := range n.Outputs {
				if o == nil {
					continue
				}
				for _, u := range o.Uses() {
					if isLayer[u.Node] {
						reaches = true
					}
					if !seen[u.Node] {
						seen[u.Node] = true
						stack = append(stack, u.Node)
					}
				}
			}
		}
		if !reaches {
			final[l.node] = true
		}
	}
	return final
}
