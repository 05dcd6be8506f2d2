package surgery

import (
	"fmt"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// LinearLayer is a Conv or Gemm node seen as the affine map y = W·x + B,
// where x is the node's input (for a Conv, one kh×kw patch of it,
// channel-major, which is the Conv weight's layout).
type LinearLayer struct {
	Node    *onnx.Node
	In, Out int
	W, B    []float64 // Out×In and Out; alpha and beta folded in
	Conv    bool
}

// Params is the number of weights and biases of the layer.
func (l *LinearLayer) Params() int { return l.In*l.Out + l.Out }

// LinearLayerOf returns the Conv or Gemm layer that computes name (a
// value, node or module path).
func LinearLayerOf(m *onnx.Model, name string) (*LinearLayer, error) {
	v, err := m.Graph.Resolve(name)
	if err != nil {
		return nil, err
	}
	n := v.Producer()
	if n == nil {
		return nil, fmt.Errorf("%q is not computed by a node", name)
	}
	return linearLayer(n)
}

// LinearLayers returns every layer of m that linearLayer accepts.
func LinearLayers(m *onnx.Model) []*LinearLayer {
	var out []*LinearLayer
	for _, n := range m.Graph.Nodes {
		if l, err := linearLayer(n); err == nil {
			out = append(out, l)
		}
	}
	return out
}

// linearLayer reads n as a LinearLayer: a 2-D Conv with group 1 or a Gemm
// without transA, with constant weight and bias.
func linearLayer(n *onnx.Node) (*LinearLayer, error) {
	weight := func(i int) (*tensor.Dense, error) {
		if i >= len(n.Inputs) || n.Inputs[i] == nil {
			return nil, nil
		}
		v := n.Inputs[i]
		if v.Const == nil {
			return nil, fmt.Errorf("%s: input %d (%s) is not a constant", n, i, v.Name)
		}
		return v.Const.Dense()
	}
	w, err := weight(1)
	if err != nil {
		return nil, err
	}
	if w == nil {
		return nil, fmt.Errorf("%s has no weight", n)
	}
	b, err := weight(2)
	if err != nil {
		return nil, err
	}
	wf := w.Float64s()
	switch {
	case n.OpType == "Conv" && n.Domain == "":
		if n.AttrInt("group", 1) != 1 || w.Rank() != 4 {
			return nil, fmt.Errorf("%s: only 2-D convolutions with group 1 factorise", n)
		}
		l := &LinearLayer{Node: n, Conv: true, Out: w.Shape[0], In: w.Shape[1] * w.Shape[2] * w.Shape[3], W: wf}
		l.B = make([]float64, l.Out)
		if b != nil {
			copy(l.B, b.Float64s())
		}
		return l, nil
	case n.OpType == "Gemm" && n.Domain == "":
		if n.AttrInt("transA", 0) != 0 || w.Rank() != 2 {
			return nil, fmt.Errorf("%s: only Gemm without transA factorises", n)
		}
		alpha, beta := float64(n.AttrFloat("alpha", 1)), float64(n.AttrFloat("beta", 1))
		l := &LinearLayer{Node: n}
		if n.AttrInt("transB", 0) != 0 {
			l.Out, l.In = w.Shape[0], w.Shape[1]
			l.W = wf
		} else {
			l.In, l.Out = w.Shape[0], w.Shape[1]
			l.W = make([]float64, l.In*l.Out)
			for i := range l.In {
				for o := range l.Out {
					l.W[o*l.In+i] = wf[i*l.Out+o]
				}
			}
		}
		for i := range l.W {
			l.W[i] *= alpha
		}
		l.B = make([]float64, l.Out)
		if b != nil {
			bf := b.Float64s()
			switch len(bf) {
			case 1:
				for i := range l.B {
					l.B[i] = beta * bf[0]
				}
			case l.Out:
				for i := range l.B {
					l.B[i] = beta * bf[i]
				}
			default:
				return nil, fmt.Errorf("%s: bias of shape %v is not one row", n, b.Shape)
			}
		}
		return l, nil
	}
	return nil, fmt.Errorf("%s is a %s, not a Conv or Gemm", n, n.OpType)
}

// Factorize replaces layer l by two layers through rank channels: Down
// (rank×In: a Conv with l's window, or a Gemm) and then Up (Out×rank: a
// 1x1 Conv or a Gemm) with the bias. The output keeps its name.
func Factorize(m *onnx.Model, l *LinearLayer, rank int, down, up, bias []float64) error {
	if rank < 1 || len(down) != rank*l.In || len(up) != l.Out*rank || len(bias) != l.Out {
		return fmt.Errorf("lowrank: factors of %d, %d and %d values do not fit rank %d of a %d→%d layer", len(down), len(up), len(bias), rank, l.In, l.Out)
	}
	g := m.Graph
	n := l.Node
	out := n.Outputs[0]
	prefix := n.Name
	if prefix == "" {
		prefix = out.Name
	}
	f32 := func(v []float64) []float32 {
		s := make([]float32, len(v))
		for i, x := range v {
			s[i] = float32(x)
		}
		return s
	}
	var y *onnx.Value
	if l.Conv {
		w := n.Inputs[1].Const.Shape
		dw := g.AddConst(g.UniqueName(prefix+".down.weight"), tensor.FromF32([]int{rank, w[1], w[2], w[3]}, f32(down)))
		var attrs []*onnx.Attr
		for _, a := range n.Attrs {
			attrs = append(attrs, a)
		}
		h := g.AddNode("Conv", "", prefix+"/down", []*onnx.Value{n.Inputs[0], dw}, []string{g.UniqueName(prefix + "/down_output")}, attrs...).Outputs[0]
		uw := g.AddConst(g.UniqueName(prefix+".up.weight"), tensor.FromF32([]int{l.Out, rank, 1, 1}, f32(up)))
		ub := g.AddConst(g.UniqueName(prefix+".up.bias"), tensor.FromF32([]int{l.Out}, f32(bias)))
		y = g.AddNode("Conv", "", prefix+"/up", []*onnx.Value{h, uw, ub}, []string{g.UniqueName(prefix + "/up_output")},
			&onnx.Attr{Name: "kernel_shape", Type: onnx.AttrInts, Ints: []int64{1, 1}}).Outputs[0]
	} else {
		transB := &onnx.Attr{Name: "transB", Type: onnx.AttrInt, I: 1}
		dw := g.AddConst(g.UniqueName(prefix+".down.weight"), tensor.FromF32([]int{rank, l.In}, f32(down)))
		db := g.AddConst(g.UniqueName(prefix+".down.bias"), tensor.FromF32([]int{rank}, make([]float32, rank)))
		h := g.AddNode("Gemm", "", prefix+"/down", []*onnx.Value{n.Inputs[0], dw, db}, []string{g.UniqueName(prefix + "/down_output")}, transB).Outputs[0]
		uw := g.AddConst(g.UniqueName(prefix+".up.weight"), tensor.FromF32([]int{l.Out, rank}, f32(up)))
		ub := g.AddConst(g.UniqueName(prefix+".up.bias"), tensor.FromF32([]int{l.Out}, f32(bias)))
		y = g.AddNode("Gemm", "", prefix+"/up", []*onnx.Value{h, uw, ub}, []string{g.UniqueName(prefix + "/up_output")}, transB).Outputs[0]
	}
	name := out.Name
	out.ReplaceUses(y, true)
	g.Remove(n)
	if err := g.Rename(y, name); err != nil {
		return fmt.Errorf("lowrank: %w", err)
	}
	y.Type = out.Type
	g.Cleanup()
	if err := g.Toposort(); err != nil {
		return fmt.Errorf("lowrank: %w", err)
	}
	return finish(m)
}
