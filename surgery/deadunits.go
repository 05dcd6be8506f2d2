package surgery

import (
	"fmt"

	"github.com/graft-ml/graft/exec"
	"github.com/graft-ml/graft/exec/ops"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// A unit chain is what follows a layer's units up to the next layer: per
// unit normalisation and activation (BatchNormalization, Relu, Clip, ...),
// pooling, and a Flatten. A unit whose incoming weights are all zero
// outputs its bias everywhere, so at the chain's end it is a constant c_k,
// and the next layer can absorb it into its bias.
type unitChain struct {
	nodes []*onnx.Node // after the layer, in order
	end   *onnx.Value  // the chain's last value, read by the next layers
	group int          // features per unit at end (H·W after a Flatten, else 1)
}

// pointwise ops map each unit's constant to a constant independently.
var pointwise = map[string]bool{
	"BatchNormalization": true, "Relu": true, "LeakyRelu": true, "Sigmoid": true,
	"Tanh": true, "Clip": true, "HardSigmoid": true, "HardSwish": true, "Elu": true,
	"Selu": true, "Softplus": true, "Gelu": true,
	"Add": true, "Sub": true, "Mul": true, "Div": true,
}

// constantPreserving ops keep a spatially constant unit constant.
var constantPreserving = map[string]bool{
	"MaxPool": true, "GlobalAveragePool": true, "GlobalMaxPool": true,
}

// chainFrom follows n's output through single-consumer per-unit ops.
func chainFrom(g *onnx.Graph, n *onnx.Node) unitChain {
	c := unitChain{end: n.Outputs[0], group: 1}
	for {
		v := c.end
		if v.IsGraphOutput() || len(v.Uses()) != 1 {
			return c
		}
		u := v.Uses()[0]
		next := u.Node
		if u.Index != 0 || !chainable(g, next) {
			return c
		}
		if next.OpType == "Flatten" {
			s, ok := v.Type.Static()
			if !ok || len(s) < 2 || next.AttrInt("axis", 1) != 1 {
				return c
			}
			for _, d := range s[2:] {
				c.group *= d
			}
		}
		c.nodes = append(c.nodes, next)
		c.end = next.Outputs[0]
	}
}

// chainable reports whether n can sit in a unit chain: its other inputs
// are per-unit or scalar constants used only here.
func chainable(g *onnx.Graph, n *onnx.Node) bool {
	switch {
	case n.OpType == "Flatten":
		return true
	case constantPreserving[n.OpType]:
		return len(n.Outputs) == 1 || n.Outputs[1] == nil
	case !pointwise[n.OpType]:
		return false
	}
	for _, v := range n.Inputs[1:] {
		if v == nil {
			continue
		}
		if v.Const == nil || isInput(g, v) {
			return false
		}
		if n.OpType != "BatchNormalization" && v.Const.NumElems() != 1 {
			return false
		}
		if n.OpType == "BatchNormalization" && len(v.Uses()) != 1 {
			return false
		}
	}
	if n.OpType == "BatchNormalization" && len(n.Outputs) > 1 && n.Outputs[1] != nil {
		return false
	}
	return true
}

// DeadUnitsReport says what RemoveDeadUnits did.
type DeadUnitsReport struct {
	Removed int
	Kept    int      // dead units left in place
	Reasons []string // why they were kept, per layer
}

// consumerEdit is how one next layer absorbs and drops units.
type consumerEdit struct {
	node   *onnx.Node
	weight *onnx.Value
	axis   int  // weight axis indexing the chain's features
	padded bool // zero padding: a nonzero constant is not exact at borders
	bias   bool // the layer can take a bias (Conv, Gemm with alpha = beta = 1)
}

// RemoveDeadUnits deletes units whose incoming weights are all zero from
// Conv, Gemm and MatMul layers, with their biases and normalisation
// parameters, and the matching input channels of the next layers, whose
// biases absorb each removed unit's constant output. Units whose removal
// would not be exact (a nonzero constant into a zero-padded Conv or into a
// MatMul without bias), or whose outputs feed anything but the next
// layers' weights (a residual Add, a graph output), stay, and the report
// says why.
func RemoveDeadUnits(m *onnx.Model) (DeadUnitsReport, error) {
	var r DeadUnitsReport
	g := m.Graph
	if err := g.Toposort(); err != nil {
		return r, err
	}
	if err := exec.InferShapes(m); err != nil {
		return r, err
	}
	opset := int(m.Opset(""))
	for _, l := range prunableLayers(g, nil) {
		if l.grouped {
			continue
		}
		w, err := l.weight.Const.Dense()
		if err != nil {
			return r, err
		}
		dead := deadUnits(w, l.unit)
		if len(dead) == 0 {
			continue
		}
		if len(dead) == w.Shape[l.unit] {
			r.Kept += len(dead)
			r.Reasons = append(r.Reasons, fmt.Sprintf("%s: every unit is dead; the layer is left whole", l.node.Name))
			continue
		}
		removed, why, err := removeUnits(g, l, dead, opset)
		if err != nil {
			return r, fmt.Errorf("%s: %w", l.node, err)
		}
		r.Removed += removed
		if kept := len(dead) - removed; kept > 0 {
			r.Kept += kept
			r.Reasons = append(r.Reasons, fmt.Sprintf("%s: %d dead unit(s) kept: %s", l.node.Name, kept, why))
		}
	}
	g.Cleanup()
	if err := finish(m); err != nil {
		return r, err
	}
	return r, nil
}

// deadUnits returns the units whose weights along axis are all zero.
func deadUnits(w *tensor.Dense, axis int) []int {
	var dead []int
	for u := range w.Shape[axis] {
		zero := true
		forUnit(w.Shape, axis, u, func(i int) {
			if w.F32 != nil && w.F32[i] != 0 || w.F64 != nil && w.F64[i] != 0 {
				zero = false
			}
		})
		if zero {
			dead = append(dead, u)
		}
	}
	return dead
}

// removeUnits removes what it can of layer l's dead units and returns how
// many, with the reason for any left.
func removeUnits(g *onnx.Graph, l prunable, dead []int, opset int) (int, string, error) {
	chain := chainFrom(g, l.node)
	if chain.end.IsGraphOutput() {
		return 0, "the layer's output is a graph output", nil
	}
	var edits []consumerEdit
	for _, u := range chain.end.Uses() {
		e, ok := consumerOf(g, u, chain)
		if !ok {
			return 0, fmt.Sprintf("its output feeds %s, which is not a Conv, Gemm or MatMul weight", u.Node), nil
		}
		edits = append(edits, e)
	}
	consts, err := deadConstants(g, l, chain, opset)
	if err != nil {
		return 0, "", err
	}
	var remove []int
	why := ""
	for _, u := range dead {
		c := consts[u]
		if c == 0 {
			remove = append(remove, u)
			continue
		}
		ok := true
		for _, e := range edits {
			if e.padded || !e.bias {
				ok = false
				why = fmt.Sprintf("a nonzero constant output would reach %s, which cannot absorb it exactly", e.node)
			}
		}
		if ok {
			remove = append(remove, u)
		}
	}
	if len(remove) == 0 {
		return 0, why, nil
	}
	for _, e := range edits {
		if err := absorbUnits(g, e, remove, consts, chain.group); err != nil {
			return 0, "", err
		}
	}
	if err := dropProducerUnits(g, l, remove); err != nil {
		return 0, "", err
	}
	for _, n := range chain.nodes {
		if n.OpType == "BatchNormalization" {
			for i := 1; i <= 4; i++ {
				if err := dropConstEntries(n.Input(i), 0, remove, 1); err != nil {
					return 0, "", err
				}
			}
		}
	}
	return len(remove), why, nil
}

// consumerOf describes how use u of the chain's end can absorb units.
func consumerOf(g *onnx.Graph, u onnx.Use, chain unitChain) (consumerEdit, bool) {
	n := u.Node
	w := n.Input(1)
	if u.Index != 0 || w == nil || w.Const == nil || isInput(g, w) || len(w.Uses()) != 1 {
		return consumerEdit{}, false
	}
	e := consumerEdit{node: n, weight: w}
	switch n.OpType {
	case "Conv":
		if n.AttrInt("group", 1) != 1 || chain.group != 1 {
			return e, false
		}
		e.axis = 1
		e.bias = true
		for _, p := range n.AttrInts("pads") {
			if p != 0 {
				e.padded = true
			}
		}
		if ap := n.AttrString("auto_pad", ""); ap == "SAME_UPPER" || ap == "SAME_LOWER" {
			e.padded = true
		}
	case "Gemm":
		if n.AttrInt("transA", 0) != 0 {
			return e, false
		}
		e.axis = 0
		if n.AttrInt("transB", 0) != 0 {
			e.axis = 1
		}
		e.bias = n.AttrFloat("alpha", 1) == 1 && n.AttrFloat("beta", 1) == 1 && gemmBiasIsVector(n)
	case "MatMul":
		if len(w.Const.Shape) != 2 {
			return e, false
		}
		e.axis = 0
	default:
		return e, false
	}
	if w.Const.Shape[e.axis]%chain.group != 0 {
		return e, false
	}
	return e, true
}

// gemmBiasIsVector reports whether a Gemm's C is absent or a constant
// vector over output units that the edit may change.
func gemmBiasIsVector(n *onnx.Node) bool {
	c := n.Input(2)
	if c == nil {
		return true
	}
	return c.Const != nil && len(c.Uses()) == 1 && (len(c.Const.Shape) == 1 || len(c.Const.Shape) == 2 && c.Const.Shape[0] == 1)
}

// deadConstants computes every unit's constant output at the chain's end,
// assuming zero incoming weights: the layer's bias pushed through the
// chain's pointwise ops by their own kernels.
func deadConstants(g *onnx.Graph, l prunable, chain unitChain, opset int) ([]float64, error) {
	w, _ := l.weight.Const.Dense()
	units := w.Shape[l.unit]
	x := tensor.New(tensor.Float32, 1, units)
	if b := layerBias(l); b != nil {
		bd, err := b.Const.Dense()
		if err != nil {
			return nil, err
		}
		vals := bd.Float64s()
		scale := 1.0
		if l.node.OpType == "Gemm" {
			scale = float64(l.node.AttrFloat("beta", 1))
		}
		for u := range units {
			x.F32[u] = float32(scale * vals[u%len(vals)])
		}
	}
	for _, n := range chain.nodes {
		if !pointwise[n.OpType] {
			continue // pooling and Flatten keep constants as they are
		}
		op, err := ops.Resolve(n, opset)
		if err != nil {
			return nil, err
		}
		in := []*tensor.Dense{x}
		for _, v := range n.Inputs[1:] {
			var d *tensor.Dense
			if v != nil {
				if d, err = v.Const.Dense(); err != nil {
					return nil, err
				}
				if n.OpType != "BatchNormalization" {
					d = d.Reshaped(nil)
				}
			}
			in = append(in, d)
		}
		out, err := op.Run(&ops.RunCtx{Node: n, Opset: opset, In: in, Threads: 1})
		if err != nil {
			return nil, err
		}
		x = out[0]
	}
	return x.Float64s(), nil
}

// layerBias returns the constant bias of a Conv or Gemm layer, or nil.
func layerBias(l prunable) *onnx.Value {
	if l.node.OpType == "MatMul" {
		return nil
	}
	b := l.node.Input(2)
	if b == nil || b.Const == nil {
		return nil
	}
	return b
}

// absorbUnits adds the removed units' constants into e's bias and drops
// their input features from e's weight.
func absorbUnits(g *onnx.Graph, e consumerEdit, units []int, consts []float64, group int) error {
	w, err := e.weight.Const.Dense()
	if err != nil {
		return err
	}
	outAxis := 1 - e.axis
	if e.node.OpType == "Conv" {
		outAxis = 0
	}
	outs := w.Shape[outAxis]
	delta := make([]float64, outs)
	nonzero := false
	for _, u := range units {
		if consts[u] == 0 {
			continue
		}
		nonzero = true
		for f := u * group; f < (u+1)*group; f++ {
			forUnit(w.Shape, e.axis, f, func(i int) {
				delta[outIndex(w.Shape, outAxis, i)] += consts[u] * float64(w.F32[i])
			})
		}
	}
	if nonzero {
		if err := addBias(g, e.node, delta); err != nil {
			return err
		}
	}
	return dropConstEntries(e.weight, e.axis, units, group)
}

// outIndex returns the index along axis of flat element i.
func outIndex(shape []int, axis, i int) int {
	inner := 1
	for _, d := range shape[axis+1:] {
		inner *= d
	}
	return (i / inner) % shape[axis]
}

// addBias adds delta to node n's bias (input 2), creating it if absent.
func addBias(g *onnx.Graph, n *onnx.Node, delta []float64) error {
	b := n.Input(2)
	if b == nil {
		d := tensor.New(tensor.Float32, len(delta))
		for i, x := range delta {
			d.F32[i] = float32(x)
		}
		n.SetInput(2, g.AddConst(n.Name+"_bias", d))
		return nil
	}
	old, err := b.Const.Dense()
	if err != nil {
		return err
	}
	d := old.Clone()
	if d.Len() != len(delta) {
		return fmt.Errorf("%s: bias has %d elements, expected %d", n, d.Len(), len(delta))
	}
	for i := range delta {
		if d.F32 != nil {
			d.F32[i] += float32(delta[i])
		} else {
			d.F64[i] += delta[i]
		}
	}
	b.SetConst(d)
	return nil
}

// dropProducerUnits deletes units from the layer's weight and bias.
func dropProducerUnits(g *onnx.Graph, l prunable, units []int) error {
	if err := dropConstEntries(l.weight, l.unit, units, 1); err != nil {
		return err
	}
	if b := layerBias(l); b != nil && b.Const.NumElems() > 1 {
		axis := len(b.Const.Shape) - 1
		return dropConstEntries(b, axis, units, 1)
	}
	return nil
}

// dropConstEntries removes, along axis of constant v, the entries of each
// unit (group consecutive entries per unit).
func dropConstEntries(v *onnx.Value, axis int, units []int, group int) error {
	if v == nil {
		return nil
	}
	d, err := v.Const.Dense()
	if err != nil {
		return err
	}
	drop := map[int]bool{}
	for _, u := range units {
		for f := u * group; f < (u+1)*group; f++ {
			drop[f] = true
		}
	}
	shape := append([]int{}, d.Shape...)
	n := shape[axis]
	shape[axis] = n - len(drop)
	out := tensor.New(d.DType, shape...)
	outer, inner := 1, 1
	for _, x := range d.Shape[:axis] {
		outer *= x
	}
	for _, x := range d.Shape[axis+1:] {
		inner *= x
	}
	k := 0
	for o := range outer {
		for a := range n {
			if drop[a] {
				continue
			}
			src := (o*n + a) * inner
			switch {
			case d.F32 != nil:
				copy(out.F32[k:k+inner], d.F32[src:src+inner])
			case d.F64 != nil:
				copy(out.F64[k:k+inner], d.F64[src:src+inner])
			default:
				copy(out.I64[k:k+inner], d.I64[src:src+inner])
			}
			k += inner
		}
	}
	v.SetConst(out)
	return nil
}
