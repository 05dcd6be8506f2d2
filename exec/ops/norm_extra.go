package ops

import (
	"math"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// LRN and MeanVarianceNormalization (ONNX operator docs), computed in
// float64. Their gradients are the private ops LRNGrad(X, dY) and
// MeanVarianceNormalizationGrad(X, dY), whose derivations follow.
//
// LRN: y_c = x_c·d_c^(-β), d_c = bias + α/size·Σ_{c'∈W(c)} x_c'², where
// W(c) = [c - ⌊(size-1)/2⌋, c + ⌈(size-1)/2⌉] ∩ [0, C). Then
// dx_j = dy_j·d_j^(-β) - 2αβ/size·x_j·Σ_{c: j∈W(c)} dy_c·x_c·d_c^(-β-1).
//
// MeanVarianceNormalization (ONNX's function body): y = (x - μ)/(σ + ε)
// over axes (default 0, 2, 3), σ² = E[x²] - μ², ε = 1e-9. With s = σ + ε
// and n the group's size, dx = (dy - mean(dy))/s - (x - μ)·mean(dy·(x -
// μ))/(s²·σ).

func init() {
	register(
		&Op{Name: "LRN", Since: 1, Infer: lrnInfer, Run: lrnRun, Grad: lrnGrad},
		&Op{Name: "LRNGrad", Domain: GraftDomain, Since: 1, Infer: lrnInfer, Run: lrnGradRun},
		&Op{Name: "MeanVarianceNormalization", Since: 9, Infer: lrnInfer, Run: mvnRun, Grad: mvnGrad},
		&Op{Name: "MeanVarianceNormalizationGrad", Domain: GraftDomain, Since: 1, Infer: lrnInfer, Run: mvnGradRun},
	)
}

// mvnEps is the ε of ONNX's MeanVarianceNormalization function body.
const mvnEps = 1e-9

func lrnInfer(c *InferCtx) ([]onnx.Type, error) {
	x, _ := c.Input(0)
	return []onnx.Type{x}, nil
}

// lrnParams reads LRN's attributes.
type lrnParams struct {
	alpha, beta, bias float64
	size, lo, hi      int // window [c-lo, c+hi]
}

func lrnRead(c *RunCtx) (*lrnParams, *tensor.Dense, error) {
	n := c.Node
	x := c.Input(0)
	if x == nil || !x.DType.IsFloat() || x.Rank() < 2 {
		return nil, nil, onnx.NodeErrorf(n, "X: want a float tensor (N, C, ...)")
	}
	size := int(attrInt(n, "size", 0))
	if size < 1 {
		return nil, nil, onnx.NodeErrorf(n, "attribute \"size\": want a positive int, got %d", size)
	}
	p := &lrnParams{alpha: float64(attrFloat(n, "alpha", 1e-4)), beta: float64(attrFloat(n, "beta", 0.75)),
		bias: float64(attrFloat(n, "bias", 1)), size: size, lo: (size - 1) / 2, hi: size / 2}
	return p, x, nil
}

// lrnDenoms returns d for every element.
func (p *lrnParams) denoms(x []float64, shape []int) []float64 {
	ch, inner := shape[1], 1
	for _, d := range shape[2:] {
		inner *= d
	}
	d := make([]float64, len(x))
	for b := range shape[0] {
		for c := range ch {
			for i := range inner {
				s := 0.0
				for k := max(0, c-p.lo); k <= min(ch-1, c+p.hi); k++ {
					v := x[(b*ch+k)*inner+i]
					s += v * v
				}
				d[(b*ch+c)*inner+i] = p.bias + p.alpha/float64(p.size)*s
			}
		}
	}
	return d
}

func lrnRun(c *RunCtx) ([]*tensor.Dense, error) {
	p, x, err := lrnRead(c)
	if err != nil {
		return nil, err
	}
	xv := x.Float64s()
	d := p.denoms(xv, x.Shape)
	out := make([]float64, len(xv))
	for i, v := range xv {
		out[i] = v * math.Pow(d[i], -p.beta)
	}
	y := tensor.New(x.DType, x.Shape...)
	gridStore(y, out)
	return []*tensor.Dense{y}, nil
}

func lrnGrad(c *GradCtx) ([]*onnx.Value, error) {
	return []*onnx.Value{c.Private("LRNGrad", []*onnx.Value{c.In(0), c.DY[0]}, c.Node.Attrs...)}, nil
}

func lrnGradRun(c *RunCtx) ([]*tensor.Dense, error) {
	p, x, err := lrnRead(c)
	if err != nil {
		return nil, err
	}
	dy := c.Input(1)
	if dy == nil || !tensor.SameShape(dy.Shape, x.Shape) {
		return nil, shapeError(c.Node, "dY: want shape %v", x.Shape)
	}
	xv, dv := x.Float64s(), dy.Float64s()
	d := p.denoms(xv, x.Shape)
	// t_c = dy_c·x_c·d_c^(-β-1), summed over the windows holding j.
	t := make([]float64, len(xv))
	for i := range t {
		t[i] = dv[i] * xv[i] * math.Pow(d[i], -p.beta-1)
	}
	ch, inner := x.Shape[1], 1
	for _, s := range x.Shape[2:] {
		inner *= s
	}
	k := 2 * p.alpha * p.beta / float64(p.size)
	out := make([]float64, len(xv))
	for b := range x.Shape[0] {
		for j := range ch {
			for i := range inner {
				s := 0.0
				for c := max(0, j-p.hi); c <= min(ch-1, j+p.lo); c++ {
					s += t[(b*ch+c)*inner+i]
				}
				e := (b*ch+j)*inner + i
				out[e] = dv[e]*math.Pow(d[e], -p.beta) - k*xv[e]*s
			}
		}
	}
	y := tensor.New(x.DType, x.Shape...)
	gridStore(y, out)
	return []*tensor.Dense{y}, nil
}

// mvnGroups maps each element of x to its group (the index over the axes
// not reduced) and returns the number of groups.
func mvnGroups(c *RunCtx, x *tensor.Dense) ([]int, int, error) {
	axes := attrInts(c.Node, "axes")
	if c.Node.Attr("axes") == nil {
		axes = []int64{0, 2, 3}
	}
	red := make([]bool, x.Rank())
	for _, a := range axes {
		ax, err := normAxis(c.Node, a, x.Rank())
		if err != nil {
			return nil, 0, err
		}
		red[ax] = true
	}
	strides := tensor.Strides(x.Shape)
	groups := 1
	gs := make([]int, x.Rank())
	for d := x.Rank() - 1; d >= 0; d-- {
		if !red[d] {
			gs[d] = groups
			groups *= x.Shape[d]
		}
	}
	g := make([]int, x.Len())
	for i := range g {
		k := 0
		for d := range strides {
			k += (i / strides[d]) % x.Shape[d] * gs[d]
		}
		g[i] = k
	}
	return g, groups, nil
}

// mvnStats returns each group's mean, σ and size.
func mvnStats(x []float64, g []int, groups int) (mean, sigma, n []float64) {
	mean, sigma, n = make([]float64, groups), make([]float64, groups), make([]float64, groups)
	for i, v := range x {
		mean[g[i]] += v
		n[g[i]]++
	}
	for k := range mean {
		mean[k] /= max(n[k], 1)
	}
	for i, v := range x {
		d := v - mean[g[i]]
		sigma[g[i]] += d * d
	}
	for k := range sigma {
		sigma[k] = math.Sqrt(sigma[k] / max(n[k], 1))
	}
	return mean, sigma, n
}

func mvnInput(c *RunCtx) (*tensor.Dense, error) {
	x := c.Input(0)
	if x == nil || !x.DType.IsFloat() {
		return nil, onnx.NodeErrorf(c.Node, "X: want a float tensor")
	}
	return x, nil
}

func mvnRun(c *RunCtx) ([]*tensor.Dense, error) {
	x, err := mvnInput(c)
	if err != nil {
		return nil, err
	}
	g, groups, err := mvnGroups(c, x)
	if err != nil {
		return nil, err
	}
	xv := x.Float64s()
	mean, sigma, _ := mvnStats(xv, g, groups)
	out := make([]float64, len(xv))
	for i, v := range xv {
		out[i] = (v - mean[g[i]]) / (sigma[g[i]] + mvnEps)
	}
	y := tensor.New(x.DType, x.Shape...)
	gridStore(y, out)
	return []*tensor.Dense{y}, nil
}

func mvnGrad(c *GradCtx) ([]*onnx.Value, error) {
	return []*onnx.Value{c.Private("MeanVarianceNormalizationGrad", []*onnx.Value{c.In(0), c.DY[0]}, c.Node.Attrs...)}, nil
}

func mvnGradRun(c *RunCtx) ([]*tensor.Dense, error) {
	x, err := mvnInput(c)
	if err != nil {
		return nil, err
	}
	dy := c.Input(1)
	if dy == nil || !tensor.SameShape(dy.Shape, x.Shape) {
		return nil, shapeError(c.Node, "dY: want shape %v", x.Shape)
	}
	g, groups, err := mvnGroups(c, x)
	if err != nil {
		return nil, err
	}
	xv, dv := x.Float64s(), dy.Float64s()
	mean, sigma, n := mvnStats(xv, g, groups)
	mdy, mdyx := make([]float64, groups), make([]float64, groups)
	for i, d := range dv {
		mdy[g[i]] += d / n[g[i]]
		mdyx[g[i]] += d * (xv[i] - mean[g[i]]) / n[g[i]]
	}
	out := make([]float64, len(xv))
	for i, d := range dv {
		k := g[i]
		s := sigma[k] + mvnEps
		out[i] = (d - mdy[k]) / s
		if sigma[k] > 0 {
			out[i] -= (xv[i] - mean[k]) * mdyx[k] / (s * s * sigma[k])
		}
	}
	y := tensor.New(x.DType, x.Shape...)
	gridStore(y, out)
	return []*tensor.Dense{y}, nil
}
