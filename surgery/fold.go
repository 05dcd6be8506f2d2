package surgery

import (
	"fmt"
	"math"

	"github.com/graft-ml/graft/exec/ops"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// FoldReport counts what Fold changed.
type FoldReport struct {
	BatchNorms  int // BatchNormalization nodes merged into the preceding Conv or Gemm
	Passthrough int // Identity and Dropout nodes removed
	Constants   int // nodes replaced by their constant result
}

// Fold simplifies a model without changing what it computes: it merges
// each inference-mode BatchNormalization into the Conv (or Gemm with
// transB) that feeds it alone, removes Identity and Dropout nodes, and
// replaces nodes whose inputs are all constant by their result, which also
// collapses Shape→Gather→Concat chains when shapes are static.
func Fold(m *onnx.Model) (FoldReport, error) {
	var r FoldReport
	g := m.Graph
	if err := g.Toposort(); err != nil {
		return r, err
	}
	for _, n := range append([]*onnx.Node{}, g.Nodes...) {
		if n.Graph() == nil {
			continue // removed by an earlier fold
		}
		ok, err := foldBatchNorm(g, n)
		if err != nil {
			return r, err
		}
		if ok {
			r.BatchNorms++
		}
	}
	for _, n := range append([]*onnx.Node{}, g.Nodes...) {
		if n.Graph() != nil && removePassthrough(g, n) {
			r.Passthrough++
		}
	}
	k, err := foldConstants(m)
	if err != nil {
		return r, err
	}
	r.Constants = k
	g.Cleanup()
	if err := finish(m); err != nil {
		return r, fmt.Errorf("fold: %w", err)
	}
	return r, nil
}

// constData returns v's data if v is an initializer that no caller can
// override.
func constData(g *onnx.Graph, v *onnx.Value) *tensor.Dense {
	if v == nil || v.Const == nil || isInput(g, v) {
		return nil
	}
	d, err := v.Const.Dense()
	if err != nil || d.DType != tensor.Float32 {
		return nil
	}
	return d
}

// foldBatchNorm merges bn into its producer: with s = γ/√(var+ε),
// W' = W·s per output channel and b' = (b−μ)·s + β.
func foldBatchNorm(g *onnx.Graph, bn *onnx.Node) (bool, error) {
	if bn.OpType != "BatchNormalization" || len(bn.Inputs) < 5 || len(bn.Outputs) == 0 {
		return false, nil
	}
	for _, o := range bn.Outputs[1:] {
		if o != nil && len(o.Uses()) > 0 {
			return false, nil // training outputs in use
		}
	}
	x := bn.Inputs[0]
	prod := x.Producer()
	if prod == nil || len(x.Uses()) != 1 || x.IsGraphOutput() {
		return false, nil
	}
	gamma, beta := constData(g, bn.Inputs[1]), constData(g, bn.Inputs[2])
	mean, variance := constData(g, bn.Inputs[3]), constData(g, bn.Inputs[4])
	if gamma == nil || beta == nil || mean == nil || variance == nil {
		return false, nil
	}
	eps := float64(1e-5)
	if a := bn.Attr("epsilon"); a != nil {
		eps = float64(a.F)
	}
	c := gamma.Len()
	scale := make([]float64, c)
	shift := make([]float64, c)
	for i := 0; i < c; i++ {
		scale[i] = float64(gamma.F32[i]) / math.Sqrt(float64(variance.F32[i])+eps)
		shift[i] = float64(beta.F32[i]) - float64(mean.F32[i])*scale[i]
	}
	var w *tensor.Dense
	switch prod.OpType {
	case "Conv":
		w = constData(g, prod.Input(1))
		if w == nil || w.Shape[0] != c {
			return false, nil
		}
	case "Gemm":
		w = constData(g, prod.Input(1))
		transB := prod.Attr("transB") != nil && prod.Attr("transB").I == 1
		if w == nil || !transB || w.Rank() != 2 || w.Shape[0] != c || bn.Inputs[0].Type.Rank() != 2 {
			return false, nil
		}
		if a := prod.Attr("alpha"); a != nil && a.F != 1 {
			return false, nil
		}
		if a := prod.Attr("beta"); a != nil && a.F != 1 {
			return false, nil
		}
	default:
		return false, nil
	}
	// Only fold weights used by this node alone, or the other users change.
	if len(prod.Input(1).Uses()) != 1 {
		return false, nil
	}
	per := w.Len() / c
	nw := w.Clone()
	for o := 0; o < c; o++ {
		for k := 0; k < per; k++ {
			nw.F32[o*per+k] = float32(float64(w.F32[o*per+k]) * scale[o])
		}
	}
	nb := tensor.New(tensor.Float32, c)
	oldBias := constData(g, prod.Input(2))
	if prod.Input(2) != nil && (oldBias == nil || oldBias.Len() != c || len(prod.Input(2).Uses()) != 1) {
		return false, nil
	}
	for o := 0; o < c; o++ {
		b := 0.0
		if oldBias != nil {
			b = float64(oldBias.F32[o])
		}
		nb.F32[o] = float32(b*scale[o] + shift[o])
	}
	prod.Input(1).SetConst(nw)
	if prod.Input(2) != nil {
		prod.Input(2).SetConst(nb)
	} else {
		prod.SetInput(2, g.AddConst(prod.Name+".bias", nb))
	}
	y := bn.Outputs[0]
	g.Remove(bn)
	y.ReplaceUses(x, false)
	if y.IsGraphOutput() {
		keepOutputName(g, x, y)
	}
	return true, nil
}

// keepOutputName makes x, which now replaces graph output y, carry y's name
// so that the model's interface does not change.
func keepOutputName(g *onnx.Graph, x, y *onnx.Value) {
	name := y.Name
	for i, o := range g.Outputs {
		if o == y {
			g.Outputs[i] = x
		}
	}
	g.Cleanup() // forgets y
	_ = g.Rename(x, name)
}

// removePassthrough deletes Identity and inference Dropout nodes, wiring
// their consumers to their input.
func removePassthrough(g *onnx.Graph, n *onnx.Node) bool {
	if n.OpType != "Identity" && n.OpType != "Dropout" {
		return false
	}
	if len(n.Inputs) == 0 || n.Inputs[0] == nil || len(n.Outputs) == 0 {
		return false
	}
	if n.OpType == "Dropout" {
		if len(n.Outputs) > 1 && n.Outputs[1] != nil && len(n.Outputs[1].Uses()) > 0 {
			return false // the mask is used
		}
		if len(n.Inputs) > 2 && n.Inputs[2] != nil && !dropoutPasses(g, n) {
			return false // training mode, or unknown
		}
	}
	x, y := n.Inputs[0], n.Outputs[0]
	if y.IsGraphOutput() && (x.IsGraphOutput() || isInput(g, x) || x.Const != nil) {
		return false // the output would vanish into an input or another output
	}
	g.Remove(n)
	y.ReplaceUses(x, false)
	if y.IsGraphOutput() {
		keepOutputName(g, x, y)
	}
	return true
}

// dropoutPasses reports whether a Dropout with a training_mode input passes
// its input through: training_mode a constant false, or ratio a constant 0
// (torchvision's Swin exports attention dropout as ratio 0 with
// training_mode true, both from Constant nodes).
func dropoutPasses(g *onnx.Graph, n *onnx.Node) bool {
	if d := constScalar(g, n.Inputs[2]); d != nil && d.I64 != nil && d.I64[0] == 0 {
		return true
	}
	if len(n.Inputs) < 2 || n.Inputs[1] == nil {
		return false // the default ratio, 0.5
	}
	d := constScalar(g, n.Inputs[1])
	return d != nil && d.DType.IsFloat() && d.Float64s()[0] == 0
}

// constScalar returns v's one element if v is an initializer no caller can
// override or the output of a Constant node, or nil.
func constScalar(g *onnx.Graph, v *onnx.Value) *tensor.Dense {
	var d *tensor.Dense
	var err error
	switch p := v.Producer(); {
	case v.Const != nil && !isInput(g, v):
		d, err = v.Const.Dense()
	case p != nil && p.OpType == "Constant" && p.Attr("value") != nil && p.Attr("value").T != nil:
		d, err = p.Attr("value").T.Dense()
	}
	if err != nil || d == nil || d.Len() != 1 {
		return nil
	}
	return d
}

// foldConstants replaces each node whose inputs are all constant by
// initializers holding its outputs.
func foldConstants(m *onnx.Model) (int, error) {
	g := m.Graph
	opset := int(m.Opset(""))
	folded := 0
	for _, n := range append([]*onnx.Node{}, g.Nodes...) {
		if n.Graph() == nil || len(n.ImplicitInputs()) > 0 || len(n.Outputs) == 0 {
			continue
		}
		in := make([]*tensor.Dense, len(n.Inputs))
		all := true
		for i, v := range n.Inputs {
			if v == nil {
				continue
			}
			if v.Const == nil || isInput(g, v) {
				all = false
				break
			}
			d, err := v.Const.Dense()
			if err != nil {
				all = false
				break
			}
			in[i] = d
		}
		if !all {
			continue
		}
		op, err := ops.Resolve(n, opset)
		if err != nil {
			continue
		}
		out, err := foldRun(op, &ops.RunCtx{Node: n, Opset: opset, In: in, Threads: 1})
		if err != nil {
			return folded, fmt.Errorf("fold: %w", err)
		}
		outs := append([]*onnx.Value{}, n.Outputs...)
		g.Remove(n)
		for i, v := range outs {
			if v == nil || i >= len(out) {
				continue
			}
			c := g.AddConst(v.Name+"_folded", out[i])
			v.ReplaceUses(c, false)
			if v.IsGraphOutput() {
				keepOutputName(g, c, v)
			}
		}
		folded++
	}
	return folded, nil
}

// foldRun runs one constant node's kernel. A kernel that panics (a tensor
// over the memory budget, or an input its checks missed) fails the fold
// with an error naming the node, as exec does for a run.
func foldRun(op *ops.Op, c *ops.RunCtx) (out []*tensor.Dense, err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok {
				out, err = nil, onnx.NodeErrorf(c.Node, "constant folding: %w", e)
				return
			}
			out, err = nil, onnx.NodeErrorf(c.Node, "constant folding: %v", r)
		}
	}()
	return op.Run(c)
}
