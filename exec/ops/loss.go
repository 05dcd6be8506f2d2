package ops

import (
	"math"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (ONNX operator
// docs, opset 12/13): for input [N, C, d1..dk] and integer targets
// [N, d1..dk], element i's loss is -w[t]·x[n, t, d] with t its target and
// w the optional class weights (1 by default); a target equal to
// ignore_index contributes nothing and weighs 0. reduction "none" returns
// the losses, "sum" their sum and "mean" (the default) their sum divided
// by the sum of the weights of the targets not ignored, as PyTorch's
// nll_loss and cross_entropy do. SoftmaxCrossEntropyLoss takes scores and
// applies LogSoftmax over C first; its optional second output is that
// log-probability.
//
// Both compute in float64 whatever the input dtype: the work is one pass
// over the input. Their gradients are private ops (NLLLossGrad and
// SoftmaxCrossEntropyLossGrad), one pass each; the class weights are
// treated as constants.

func init() {
	register(
		&Op{Name: "NegativeLogLikelihoodLoss", Since: 12, Infer: lossInfer, Run: nllRun, Grad: nllGrad},
		&Op{Name: "SoftmaxCrossEntropyLoss", Since: 12, Infer: lossInfer, Run: sceRun, Grad: sceGrad},
		&Op{Name: "NLLLossGrad", Domain: GraftDomain, Since: 1, Infer: lossGradInfer, Run: nllGradRun},
		&Op{Name: "SoftmaxCrossEntropyLossGrad", Domain: GraftDomain, Since: 1, Infer: lossGradInfer, Run: sceGradRun},
	)
}

// lossAttrs are the two ops' attributes.
type lossAttrs struct {
	reduction string
	ignore    int64
	hasIgnore bool
}

func lossAttrsOf(n *onnx.Node) (lossAttrs, error) {
	a := lossAttrs{reduction: attrString(n, "reduction", "mean")}
	switch a.reduction {
	case "none", "sum", "mean":
	default:
		return a, onnx.NodeErrorf(n, "attribute \"reduction\": want none, sum or mean, got %q", a.reduction)
	}
	if n.Attr("ignore_index") != nil {
		a.ignore, a.hasIgnore = attrInt(n, "ignore_index", 0), true
	}
	return a, nil
}

func lossInfer(c *InferCtx) ([]onnx.Type, error) {
	n := c.Node
	a, err := lossAttrsOf(n)
	if err != nil {
		return nil, err
	}
	x, _ := c.Input(0)
	tg, ok := c.Input(1)
	if !ok {
		return nil, shapeError(n, "want inputs input and target")
	}
	if x.HasShape && len(x.Dims) < 2 {
		return nil, shapeError(n, "input of rank %d, want at least 2 (N, C, ...)", len(x.Dims))
	}
	if x.HasShape && tg.HasShape && len(tg.Dims) != len(x.Dims)-1 {
		return nil, shapeError(n, "target of rank %d for input of rank %d", len(tg.Dims), len(x.Dims))
	}
	out := onnx.Type{DType: x.DType, HasShape: true}
	if a.reduction == "none" {
		out.HasShape, out.Dims = tg.HasShape, tg.Dims
	}
	types := []onnx.Type{out}
	if len(n.Outputs) > 1 {
		types = append(types, x)
	}
	return types, nil
}

// lossProblem is one evaluation's shapes and data: x is [N, C, D] flat
// (log-probabilities for the NLL part), target [N, D].
type lossProblem struct {
	n, c, d int
	target  []int64
	weight  []float64 // nil: all 1
	attrs   lossAttrs
}

// lossSetup checks the inputs and returns the problem.
func lossSetup(c *RunCtx) (*lossProblem, *tensor.Dense, error) {
	n := c.Node
	a, err := lossAttrsOf(n)
	if err != nil {
		return nil, nil, err
	}
	x, err := shapeInput(c, 0)
	if err != nil {
		return nil, nil, err
	}
	if !x.DType.IsFloat() {
		return nil, nil, onnx.NodeErrorf(n, "input: want a float tensor, got %s", x.DType)
	}
	tg, err := indexInput(c, 1, "target")
	if err != nil {
		return nil, nil, err
	}
	if x.Rank() < 2 || tg.Rank() != x.Rank()-1 || tg.Shape[0] != x.Shape[0] || !tensor.SameShape(tg.Shape[1:], x.Shape[2:]) {
		return nil, nil, shapeError(n, "target %v for input %v, want input's shape without axis 1", tg.Shape, x.Shape)
	}
	p := &lossProblem{n: x.Shape[0], c: x.Shape[1], d: shapeProd(x.Shape[2:]), target: tg.I64, attrs: a}
	if w := c.Input(2); w != nil {
		if w.Rank() != 1 || w.Shape[0] != p.c {
			return nil, nil, shapeError(n, "weight %v for %d classes", w.Shape, p.c)
		}
		p.weight = w.Float64s()
	}
	for _, t := range p.target {
		if (t < 0 || t >= int64(p.c)) && !(a.hasIgnore && t == a.ignore) {
			return nil, nil, shapeError(n, "target %d out of range for %d classes", t, p.c)
		}
	}
	return p, x, nil
}

// weights returns each target's weight: 0 where ignored.
func (p *lossProblem) weights() []float64 {
	w := make([]float64, len(p.target))
	for i, t := range p.target {
		switch {
		case p.attrs.hasIgnore && t == p.attrs.ignore:
		case p.weight != nil:
			w[i] = p.weight[t]
		default:
			w[i] = 1
		}
	}
	return w
}

// nll returns the reduced losses for log-probabilities logp.
func (p *lossProblem) nll(logp []float64, dt tensor.DType, shape []int) *tensor.Dense {
	w := p.weights()
	loss := make([]float64, len(p.target))
	sum, wsum := 0.0, 0.0
	for i, t := range p.target {
		if w[i] != 0 {
			n, d := i/p.d, i%p.d
			loss[i] = -w[i] * logp[(n*p.c+int(t))*p.d+d]
		}
		sum += loss[i]
		wsum += w[i]
	}
	switch p.attrs.reduction {
	case "none":
		return castTo(tensor.FromF64(shape, loss), dt)
	case "sum":
		return castTo(tensor.FromF64(nil, []float64{sum}), dt)
	}
	return castTo(tensor.FromF64(nil, []float64{sum / wsum}), dt)
}

// coeff returns, per target, d loss / d logp[n, t, d] scaled by dy.
func (p *lossProblem) coeff(dy *tensor.Dense) []float64 {
	w := p.weights()
	g := make([]float64, len(p.target))
	dys := dy.Float64s()
	wsum := 0.0
	for _, v := range w {
		wsum += v
	}
	for i := range g {
		switch p.attrs.reduction {
		case "none":
			g[i] = -w[i] * dys[i]
		case "sum":
			g[i] = -w[i] * dys[0]
		default:
			g[i] = -w[i] * dys[0] / wsum
		}
	}
	return g
}

// logSoftmax returns log-softmax over axis 1 of x [N, C, D].
func (p *lossProblem) logSoftmax(x []float64) []float64 {
	out := make([]float64, len(x))
	for n := range p.n {
		for d := range p.d {
			at := func(c int) int { return (n*p.c+c)*p.d + d }
			m := math.Inf(-1)
			for c := range p.c {
				m = max(m, x[at(c)])
			}
			s := 0.0
			for c := range p.c {
				s += math.Exp(x[at(c)] - m)
			}
			lse := m + math.Log(s)
			for c := range p.c {
				out[at(c)] = x[at(c)] - lse
			}
		}
	}
	return out
}

func nllRun(c *RunCtx) ([]*tensor.Dense, error) {
	p, x, err := lossSetup(c)
	if err != nil {
		return nil, err
	}
	return []*tensor.Dense{p.nll(x.Float64s(), x.DType, c.In[1].Shape)}, nil
}

func sceRun(c *RunCtx) ([]*tensor.Dense, error) {
	p, x, err := lossSetup(c)
	if err != nil {
		return nil, err
	}
	logp := p.logSoftmax(x.Float64s())
	out := []*tensor.Dense{p.nll(logp, x.DType, c.In[1].Shape)}
	if len(c.Node.Outputs) > 1 {
		out = append(out, castTo(tensor.FromF64(x.Shape, logp), x.DType))
	}
	return out, nil
}

// lossGrad emits op(dy, input, target, weight, extra...) with the forward
// attributes; its output is d input.
func lossGrad(c *GradCtx, op string, extra ...*onnx.Value) []*onnx.Value {
	n := c.Node
	dy := c.DY[0]
	if dy == nil {
		dy = c.Zeros(c.Out(0))
	}
	in := append([]*onnx.Value{dy, c.In(0), c.In(1), c.In(2)}, extra...)
	for in[len(in)-1] == nil {
		in = in[:len(in)-1]
	}
	res := make([]*onnx.Value, len(n.Inputs))
	res[0] = c.EmitN(op, GraftDomain, 1, in, n.Attrs...)[0]
	return res
}

func nllGrad(c *GradCtx) ([]*onnx.Value, error) {
	return lossGrad(c, "NLLLossGrad"), nil
}

func sceGrad(c *GradCtx) ([]*onnx.Value, error) {
	if len(c.DY) > 1 && c.DY[1] != nil {
		return lossGrad(c, "SoftmaxCrossEntropyLossGrad", c.DY[1]), nil
	}
	return lossGrad(c, "SoftmaxCrossEntropyLossGrad"), nil
}

// lossGradInfer: the gradient has input's (input 1's) type.
func lossGradInfer(c *InferCtx) ([]onnx.Type, error) {
	x, ok := c.Input(1)
	if !ok {
		return nil, shapeError(c.Node, "want inputs dY, input and target")
	}
	return []onnx.Type{x}, nil
}

// lossGradSetup shifts the inputs so that lossSetup sees the forward ones.
func lossGradSetup(c *RunCtx) (*lossProblem, *tensor.Dense, *tensor.Dense, error) {
	dy := c.Input(0)
	if dy == nil {
		return nil, nil, nil, shapeError(c.Node, "dY input missing")
	}
	fc := *c
	fc.In = c.In[1:]
	p, x, err := lossSetup(&fc)
	if err != nil {
		return nil, nil, nil, err
	}
	want := 1
	if p.attrs.reduction == "none" {
		want = len(p.target)
	}
	if dy.Len() != want {
		return nil, nil, nil, shapeError(c.Node, "dY %v for reduction %q", dy.Shape, p.attrs.reduction)
	}
	return p, x, dy, nil
}

// nllGradRun: d input[n, t, d] = -w[t]·g, zero elsewhere.
func nllGradRun(c *RunCtx) ([]*tensor.Dense, error) {
	p, x, dy, err := lossGradSetup(c)
	if err != nil {
		return nil, err
	}
	dx := make([]float64, x.Len())
	for i, g := range p.coeff(dy) {
		if g != 0 {
			n, d := i/p.d, i%p.d
			dx[(n*p.c+int(p.target[i]))*p.d+d] = g
		}
	}
	return []*tensor.Dense{castTo(tensor.FromF64(x.Shape, dx), x.DType)}, nil
}

// sceGradRun back-propagates through LogSoftmax the sum of the loss's
// gradient of the log-probabilities and dLogProb (optional input 4):
// d scores = g - softmax·Σ_c g.
func sceGradRun(c *RunCtx) ([]*tensor.Dense, error) {
	p, x, dy, err := lossGradSetup(c)
	if err != nil {
		return nil, err
	}
	g := make([]float64, x.Len())
	if dl := c.Input(4); dl != nil {
		if !tensor.SameShape(dl.Shape, x.Shape) {
			return nil, shapeError(c.Node, "dLogProb %v for scores %v", dl.Shape, x.Shape)
		}
		copy(g, dl.Float64s())
	}
	for i, v := range p.coeff(dy) {
		if v != 0 {
			n, d := i/p.d, i%p.d
			g[(n*p.c+int(p.target[i]))*p.d+d] += v
		}
	}
	logp := p.logSoftmax(x.Float64s())
	dx := make([]float64, len(g))
	for n := range p.n {
		for d := range p.d {
			s := 0.0
			for c := range p.c {
				s += g[(n*p.c+c)*p.d+d]
			}
			for c := range p.c {
				k := (n*p.c+c)*p.d + d
				dx[k] = g[k] - math.Exp(logp[k])*s
			}
		}
	}
	return []*tensor.Dense{castTo(tensor.FromF64(x.Shape, dx), x.DType)}, nil
}
