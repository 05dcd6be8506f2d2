package ntk

import (
	"fmt"
	"runtime"

	"github.com/graft-ml/graft/exec"
	"github.com/graft-ml/graft/fitting"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// A Gemm layer's parameters contribute through per-sample factors: for
// Y = α·X·op(W) + β·C, the gradient of output a of sample n with respect
// to W is α·g(n,a) ⊗ x(n), with g = ∂f_a/∂Y(n) and x(n) the layer input,
// so ⟨J_W(n,a), J_W(m,b)⟩ = α²·(g(n,a)·g(m,b))·(x(n)·x(m)) without ever
// forming J (the explicit MLP path, bias terms included: β²·g·g). The
// g's of every layer come from one batched backward pass per output a:
// samples do not interact, so the activation gradients of a batch are
// per sample (only parameter gradients sum over the batch).
type gemmLayer struct {
	node        *onnx.Node
	x, y        string // layer input and output value names
	alpha, beta float64
	weight      string // selected weight (empty if not selected)
	bias        string // selected bias (empty if not selected)
}

// A conv layer's per-sample weight gradient has no such factorisation;
// it is computed from the layer alone: a one-node model run on each
// sample's input and output gradient.
type convLayer struct {
	node   *onnx.Node
	x, y   string
	params []string // selected among W, B
	// patches, when the window is one fitting.Unfold reads (square,
	// symmetric padding, no dilation, group 1), lets the per-sample weight
	// gradient be one product G·U of the output gradient and the unfolded
	// input, with no per-sample model runs.
	patches *fitting.Patches
	weight  string // the weight's name, if selected
	bias    string // the bias's name, if selected
	grad    *exec.Program
	seed    string
	xName   string
	grads   []string // grad outputs for params, in order
}

// plan is how Compute will get each parameter's contribution.
type plan struct {
	opt      Options
	input    string
	extra    map[string]*tensor.Dense // per-sample inputs fed beside x, N rows each (loss targets)
	output   string
	k        int
	outShape []int // the output's shape for one sample, without the batch
	threads  int
	params   []string
	paths    map[string]string
	sizes    map[string]int // parameter tensor sizes
	gemms    []*gemmLayer
	convs    []*convLayer
	generic  []string // parameters through whole-model per-sample passes
	grad     *exec.Program
	seed     string
	gradOf   map[string]string // wrt value → grad output name
	// saved are the forward values the backward passes read (see
	// savedValues); convWeight maps a conv weight on the product path to
	// its layer.
	saved      []string
	convWeight map[string]*convLayer
	pool       pool
	fullGrad   *exec.Program // whole-model gradient for generic params (batch 1)
	fullSeed   string
	fullOut    map[string]string
}

func newPlan(m *onnx.Model, x *tensor.Dense, opt Options) (*plan, error) {
	g := m.Graph
	p := &plan{opt: opt, paths: map[string]string{}, sizes: map[string]int{}, gradOf: map[string]string{}, fullOut: map[string]string{}}
	p.threads = opt.Threads
	if p.threads <= 0 {
		p.threads = runtime.GOMAXPROCS(0)
	}
	var inputs []string
	for _, v := range g.Inputs {
		if v.Const == nil {
			inputs = append(inputs, v.Name)
		}
	}
	if len(inputs) != 1 {
		return nil, fmt.Errorf("ntk: the model has %d inputs %v; want one", len(inputs), inputs)
	}
	p.input = inputs[0]
	if len(g.Outputs) == 0 {
		return nil, fmt.Errorf("ntk: the model has no outputs")
	}
	p.output = g.Outputs[0].Name

	// Layer inputs need their ranks (and channels) for the per-layer
	// gradient models; exports declare only the graph's edges.
	if err := exec.InferShapes(m); err != nil {
		return nil, fmt.Errorf("ntk: %w", err)
	}
	// K from one forward pass.
	fwd, err := exec.CompileWith(m, exec.Options{Direct: true})
	if err != nil {
		return nil, fmt.Errorf("ntk: %w", err)
	}
	fwd.Threads = p.threads
	res, err := p.run(fwd, p.feed(x, 0, 1), []string{p.output})
	if err != nil {
		return nil, fmt.Errorf("ntk: forward pass: %w", err)
	}
	out := res[p.output]
	if out.Rank() < 1 || out.Shape[0] != 1 {
		return nil, fmt.Errorf("ntk: output %q has shape %v for one sample; want the batch first", p.output, out.Shape)
	}
	if opt.Loss != nil {
		if m, err = p.withLoss(m, out, x.Shape[0]); err != nil {
			return nil, err
		}
		g = m.Graph
		out = tensor.New(tensor.Float32, 1, 1) // the loss: one output
	}
	p.k = out.Len()
	p.outShape = append([]int(nil), out.Shape[1:]...)
	if opt.Mode.Kind == Output && (opt.Mode.K < 0 || opt.Mode.K >= p.k) {
		return nil, fmt.Errorf("ntk: output %d does not exist: the model has %d outputs", opt.Mode.K, p.k)
	}

	params, err := selectParams(g, opt.Params)
	if err != nil {
		return nil, err
	}
	selected := map[*onnx.Value]bool{}
	for _, v := range params {
		selected[v] = true
		p.params = append(p.params, v.Name)
		p.sizes[v.Name] = v.Const.NumElems()
	}
	p.classify(g, params, selected)

	// One gradient model gives every Gemm and conv layer's output
	// gradient (and the layer inputs, as forward values).
	var wrt []string
	for _, l := range p.gemms {
		wrt = append(wrt, l.y)
	}
	for _, l := range p.convs {
		wrt = append(wrt, l.y)
	}
	if len(wrt) > 0 {
		gr, err := exec.Gradient(m, []string{p.output}, wrt)
		if err != nil {
			return nil, fmt.Errorf("ntk: %w", err)
		}
		if p.grad, err = exec.CompileWith(gr.Model, exec.Options{Direct: true}); err != nil {
			return nil, fmt.Errorf("ntk: %w", err)
		}
		p.grad.Threads = p.threads
		p.seed = gr.Seeds[0]
		for i, w := range gr.Wrt {
			p.gradOf[w] = gr.Grads[i]
		}
		p.convWeight = map[string]*convLayer{}
		for _, l := range p.convs {
			if err := l.prepare(m); err != nil {
				return nil, err
			}
			if l.patches != nil && l.weight != "" {
				p.convWeight[l.weight] = l
			}
		}
		perSample := []string{p.input}
		for name := range p.extra {
			perSample = append(perSample, name)
		}
		var layerInputs []string
		for _, l := range p.gemms {
			layerInputs = append(layerInputs, l.x)
		}
		for _, l := range p.convs {
			layerInputs = append(layerInputs, l.x)
		}
		p.saved = savedValues(g, gr.Model.Graph, perSample, layerInputs)
	}
	if len(p.generic) > 0 {
		gr, err := exec.Gradient(m, []string{p.output}, p.generic)
		if err != nil {
			return nil, fmt.Errorf("ntk: %w", err)
		}
		if p.fullGrad, err = exec.CompileWith(gr.Model, exec.Options{Direct: true}); err != nil {
			return nil, fmt.Errorf("ntk: %w", err)
		}
		p.fullGrad.Threads = p.threads
		p.fullSeed = gr.Seeds[0]
		for i, w := range gr.Wrt {
			p.fullOut[w] = gr.Grads[i]
		}
	}
	return p, nil
}

// forceConvModel makes conv layers use their one-conv gradient models
// even where the product form applies; tests compare the two.
var forceConvModel = false

// forceJacobian sends every parameter through whole-model per-sample
// backward passes; tests hold the faster paths to it.
var forceJacobian = false

// classify sorts the selected parameters into Gemm layers, conv layers
// and the rest.
func (p *plan) classify(g *onnx.Graph, params []*onnx.Value, selected map[*onnx.Value]bool) {
	gemms := map[*onnx.Node]*gemmLayer{}
	convs := map[*onnx.Node]*convLayer{}
	for _, v := range params {
		uses := v.Uses()
		var n *onnx.Node
		idx := -1
		if len(uses) == 1 {
			n, idx = uses[0].Node, uses[0].Index
		}
		switch {
		case forceJacobian:
			p.generic = append(p.generic, v.Name)
			p.paths[v.Name] = "jacobian"
		case n != nil && n.OpType == "Gemm" && n.Domain == "" && gemmFactorable(n, idx):
			l := gemms[n]
			if l == nil {
				l = &gemmLayer{node: n, x: n.Inputs[0].Name, y: n.Outputs[0].Name,
					alpha: float64(n.AttrFloat("alpha", 1)), beta: float64(n.AttrFloat("beta", 1))}
				gemms[n] = l
				p.gemms = append(p.gemms, l)
			}
			if idx == 1 {
				l.weight = v.Name
			} else {
				l.bias = v.Name
			}
			p.paths[v.Name] = "gemm"
		case n != nil && n.OpType == "Conv" && n.Domain == "" && (idx == 1 || idx == 2) && constInputs(n):
			l := convs[n]
			if l == nil {
				l = &convLayer{node: n, x: n.Inputs[0].Name, y: n.Outputs[0].Name}
				convs[n] = l
				p.convs = append(p.convs, l)
			}
			l.params = append(l.params, v.Name)
			if idx == 1 {
				l.weight = v.Name
			} else {
				l.bias = v.Name
			}
			p.paths[v.Name] = "conv"
		default:
			p.generic = append(p.generic, v.Name)
			p.paths[v.Name] = "jacobian"
		}
	}
}

// gemmFactorable reports whether parameter input idx of Gemm n fits the
// outer-product path: the weight with A untransposed, or a bias C that is
// one row broadcast over the batch.
func gemmFactorable(n *onnx.Node, idx int) bool {
	if n.AttrInt("transA", 0) != 0 || len(n.Inputs) < 2 || n.Inputs[0] == nil {
		return false
	}
	switch idx {
	case 1:
		return true
	case 2:
		c := n.Inputs[2].Const
		if c == nil {
			return false
		}
		dims := c.Shape
		return len(dims) == 1 || (len(dims) == 2 && dims[0] == 1)
	}
	return false
}

// constInputs reports whether a conv's weight and bias are constants.
func constInputs(n *onnx.Node) bool {
	for i := 1; i < len(n.Inputs); i++ {
		if v := n.Inputs[i]; v != nil && v.Const == nil {
			return false
		}
	}
	return true
}

// prepare sets up the per-sample gradients: the product form where the
// window allows it, else the one-conv model whose weight gradient, for
// one sample's input and output gradient, is that sample's Jacobian row.
func (l *convLayer) prepare(m *onnx.Model) error {
	if pt, ok := fitting.ConvPatches(l.node); ok && !forceConvModel {
		l.patches = &pt
		return nil
	}
	g := onnx.NewGraph("conv")
	xv := l.node.Inputs[0]
	xt := xv.Type
	if xt.HasShape && len(xt.Dims) > 0 {
		dims := append([]onnx.Dim{{Value: 1}}, xt.Dims[1:]...)
		xt.Dims = dims
	}
	x, err := g.AddInput("x", xt)
	if err != nil {
		return err
	}
	ins := []*onnx.Value{x}
	for _, v := range l.node.Inputs[1:] {
		if v == nil {
			ins = append(ins, nil)
			continue
		}
		d, err := v.Const.Dense()
		if err != nil {
			return err
		}
		ins = append(ins, g.AddConst(v.Name, d))
	}
	n := g.AddNode("Conv", "", "conv", ins, []string{"y"}, l.node.Attrs...)
	g.Outputs = []*onnx.Value{n.Outputs[0]}
	cm := onnx.NewModel(g, m.Opset(""))
	gr, err := exec.Gradient(cm, []string{"y"}, l.params)
	if err != nil {
		return fmt.Errorf("ntk: conv %s: %w", l.node.Name, err)
	}
	if l.grad, err = exec.CompileWith(gr.Model, exec.Options{Direct: true}); err != nil {
		return fmt.Errorf("ntk: conv %s: %w", l.node.Name, err)
	}
	l.grad.Threads = 1
	l.seed, l.xName, l.grads = gr.Seeds[0], "x", gr.Grads
	return nil
}

// sampleSlice returns samples [lo, hi) of x, sharing its storage.
func sampleSlice(x *tensor.Dense, lo, hi int) *tensor.Dense {
	per := x.Len() / x.Shape[0]
	shape := append([]int{hi - lo}, x.Shape[1:]...)
	return tensor.FromF32(shape, x.F32[lo*per:hi*per])
}

// feed returns the inputs for samples [lo, hi): x's and the extra
// per-sample inputs' rows, sharing their storage.
func (p *plan) feed(x *tensor.Dense, lo, hi int) map[string]*tensor.Dense {
	in := map[string]*tensor.Dense{p.input: sampleSlice(x, lo, hi)}
	for name, d := range p.extra {
		in[name] = sampleSlice(d, lo, hi)
	}
	return in
}

// run runs prog on inputs that all hold the same samples (the model
// input, the extra inputs and a seed), in slices of the model's fixed batch size if it has
// one (exec.Program.RunSamples): zero seeds make the padding contribute
// nothing to any gradient.
func (p *plan) run(prog *exec.Program, inputs map[string]*tensor.Dense, outputs []string) (map[string]*tensor.Dense, error) {
	return prog.RunSamples(p.input, inputs, outputs, p.isBatchValue)
}

// isBatchValue reports whether a run output has one row per sample:
// everything the plan asks for except parameter gradients, which sum
// over the batch.
func (p *plan) isBatchValue(name string) bool {
	for _, g := range p.fullOut {
		if g == name {
			return false
		}
	}
	return true
}
