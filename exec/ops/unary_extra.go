package ops

import (
	"math"

	"github.com/graft-ml/graft/onnx"
)

// More unary ops (ONNX operator docs): the trigonometric and hyperbolic
// functions Tan, Asin, Acos, Atan, Sinh, Cosh, Asinh, Acosh, Atanh, and
// the activations Softsign, Celu, Shrink and ThresholdedRelu. They are
// rows of the elementwise family's unary table (elemUnary: float64
// definition, float16/bfloat16 through float32), registered here with
// their gradients, each written as dx = dy·f'(x) with default-domain ops.

func init() {
	for i := range unaryExtraOps {
		u := &unaryExtraOps[i].elemUnary
		d := unaryExtraOps[i].grad
		register(&Op{Name: u.name, Since: u.since, Infer: elemUnaryInfer, Run: u.run,
			Grad: func(c *GradCtx) ([]*onnx.Value, error) {
				return []*onnx.Value{d(c, c.In(0), c.Out(0), c.DY[0])}, nil
			}})
	}
}

// unaryExtra is a unary row with its gradient rule.
type unaryExtra struct {
	elemUnary
	grad func(c *GradCtx, x, y, dy *onnx.Value) *onnx.Value
}

// unaryOneMinusSq returns 1 - x².
func unaryOneMinusSq(c *GradCtx, x *onnx.Value) *onnx.Value {
	return c.Op1("Sub", c.Scalar(1), c.Op1("Mul", x, x))
}

var unaryExtraOps = []unaryExtra{
	{elemUnary{name: "Tan", since: 7, f64: func(x float64, _ *elemParams) float64 { return math.Tan(x) }},
		// tan' = 1 + tan².
		func(c *GradCtx, x, y, dy *onnx.Value) *onnx.Value {
			return c.Op1("Mul", dy, c.Op1("Add", c.Scalar(1), c.Op1("Mul", y, y)))
		}},
	{elemUnary{name: "Asin", since: 7, f64: func(x float64, _ *elemParams) float64 { return math.Asin(x) }},
		func(c *GradCtx, x, y, dy *onnx.Value) *onnx.Value {
			return c.Op1("Div", dy, c.Op1("Sqrt", unaryOneMinusSq(c, x)))
		}},
	{elemUnary{name: "Acos", since: 7, f64: func(x float64, _ *elemParams) float64 { return math.Acos(x) }},
		func(c *GradCtx, x, y, dy *onnx.Value) *onnx.Value {
			return c.Op1("Neg", c.Op1("Div", dy, c.Op1("Sqrt", unaryOneMinusSq(c, x))))
		}},
	{elemUnary{name: "Atan", since: 7, f64: func(x float64, _ *elemParams) float64 { return math.Atan(x) }},
		func(c *GradCtx, x, y, dy *onnx.Value) *onnx.Value {
			return c.Op1("Div", dy, c.Op1("Add", c.Scalar(1), c.Op1("Mul", x, x)))
		}},
	{elemUnary{name: "Sinh", since: 9, f64: func(x float64, _ *elemParams) float64 { return math.Sinh(x) }},
		func(c *GradCtx, x, y, dy *onnx.Value) *onnx.Value { return c.Op1("Mul", dy, c.Op1("Cosh", x)) }},
	{elemUnary{name: "Cosh", since: 9, f64: func(x float64, _ *elemParams) float64 { return math.Cosh(x) }},
		func(c *GradCtx, x, y, dy *onnx.Value) *onnx.Value { return c.Op1("Mul", dy, c.Op1("Sinh", x)) }},
	{elemUnary{name: "Asinh", since: 9, f64: func(x float64, _ *elemParams) float64 { return math.Asinh(x) }},
		func(c *GradCtx, x, y, dy *onnx.Value) *onnx.Value {
			return c.Op1("Div", dy, c.Op1("Sqrt", c.Op1("Add", c.Op1("Mul", x, x), c.Scalar(1))))
		}},
	{elemUnary{name: "Acosh", since: 9, f64: func(x float64, _ *elemParams) float64 { return math.Acosh(x) }},
		func(c *GradCtx, x, y, dy *onnx.Value) *onnx.Value {
			return c.Op1("Div", dy, c.Op1("Sqrt", c.Op1("Sub", c.Op1("Mul", x, x), c.Scalar(1))))
		}},
	{elemUnary{name: "Atanh", since: 9, f64: func(x float64, _ *elemParams) float64 { return math.Atanh(x) }},
		func(c *GradCtx, x, y, dy *onnx.Value) *onnx.Value { return c.Op1("Div", dy, unaryOneMinusSq(c, x)) }},
	// Softsign x/(1+|x|); its derivative is 1/(1+|x|)².
	{elemUnary{name: "Softsign", since: 1, f64: func(x float64, _ *elemParams) float64 { return x / (1 + math.Abs(x)) }},
		func(c *GradCtx, x, y, dy *onnx.Value) *onnx.Value {
			d := c.Op1("Add", c.Scalar(1), c.Op1("Abs", x))
			return c.Op1("Div", dy, c.Op1("Mul", d, d))
		}},
	// Celu max(0,x) + min(0, α(exp(x/α)-1)); below 0 its derivative is
	// exp(x/α).
	{elemUnary{name: "Celu", since: 12,
		params: func(n *onnx.Node) (elemParams, error) {
			a := attrFloat(n, "alpha", 1)
			if a == 0 {
				return elemParams{}, onnx.NodeErrorf(n, "attribute \"alpha\": must not be 0")
			}
			return elemParams{alpha: float64(a)}, nil
		},
		f64: func(x float64, p *elemParams) float64 {
			if x > 0 {
				return x
			}
			return p.alpha * math.Expm1(x/p.alpha)
		}},
		func(c *GradCtx, x, y, dy *onnx.Value) *onnx.Value {
			alpha := float64(attrFloat(c.Node, "alpha", 1))
			e := c.Op1("Exp", c.Op1("Mul", x, c.Scalar(1/alpha)))
			return c.Where(c.Op1("Greater", x, c.Scalar(0)), dy, c.Op1("Mul", dy, e))
		}},
	// Shrink: x+bias below -lambd, x-bias above lambd, 0 between.
	{elemUnary{name: "Shrink", since: 9,
		params: func(n *onnx.Node) (elemParams, error) {
			return elemParams{alpha: float64(attrFloat(n, "lambd", 0.5)), beta: float64(attrFloat(n, "bias", 0))}, nil
		},
		f64: func(x float64, p *elemParams) float64 {
			switch {
			case x < -p.alpha:
				return x + p.beta
			case x > p.alpha:
				return x - p.beta
			}
			return 0
		}},
		func(c *GradCtx, x, y, dy *onnx.Value) *onnx.Value {
			lambd := float64(attrFloat(c.Node, "lambd", 0.5))
			return c.Where(c.Op1("Greater", c.Op1("Abs", x), c.Scalar(lambd)), dy, c.Scalar(0))
		}},
	// ThresholdedRelu: x above alpha, else 0.
	{elemUnary{name: "ThresholdedRelu", since: 10, params: elemAlphaBeta(1, 0),
		f64: func(x float64, p *elemParams) float64 {
			if x > p.alpha {
				return x
			}
			return 0
		}},
		func(c *GradCtx, x, y, dy *onnx.Value) *onnx.Value {
			alpha := float64(attrFloat(c.Node, "alpha", 1))
			return c.Where(c.Op1("Greater", x, c.Scalar(alpha)), dy, c.Scalar(0))
		}},
}
