package ops

import (
	"math"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Gradient rules of the elementwise family. Each is written in terms of x,
// y and dy with default-domain ops, so the gradient graph runs wherever
// the forward does; broadcasting ops un-broadcast their results.

func init() {
	setGrad("Add", func(c *GradCtx) ([]*onnx.Value, error) { return binaryGrad(c, c.DY[0], c.DY[0]) })
	setGrad("Sub", func(c *GradCtx) ([]*onnx.Value, error) {
		var neg *onnx.Value
		if c.Needs(1) {
			neg = c.Op1("Neg", c.DY[0])
		}
		return binaryGrad(c, c.DY[0], neg)
	})
	setGrad("Mul", func(c *GradCtx) ([]*onnx.Value, error) {
		var da, db *onnx.Value
		if c.Needs(0) {
			da = c.Op1("Mul", c.DY[0], c.In(1))
		}
		if c.Needs(1) {
			db = c.Op1("Mul", c.DY[0], c.In(0))
		}
		return binaryGrad(c, da, db)
	})
	setGrad("Div", func(c *GradCtx) ([]*onnx.Value, error) {
		// y = a/b: da = dy/b, db = -dy*y/b.
		var da, db *onnx.Value
		if c.Needs(0) {
			da = c.Op1("Div", c.DY[0], c.In(1))
		}
		if c.Needs(1) {
			db = c.Op1("Neg", c.Op1("Div", c.Op1("Mul", c.DY[0], c.Out(0)), c.In(1)))
		}
		return binaryGrad(c, da, db)
	})
	setGrad("Pow", powGrad)
	setGrad("Sum", variadicGrad(false))
	setGrad("Mean", variadicGrad(true))
	setGrad("Max", extremumGrad)
	setGrad("Min", extremumGrad)
	setGrad("Where", whereGrad)
	setGrad("Clip", clipGrad)
	setGrad("PRelu", preluGrad)

	// Unary ops: dx = dy * f'(x, y).
	unary := map[string]func(c *GradCtx, x, y, dy *onnx.Value) *onnx.Value{
		"Relu": func(c *GradCtx, x, y, dy *onnx.Value) *onnx.Value {
			// One pass instead of Greater then Where (training a CNN
			// spends a tenth of its step on these).
			return c.Private("ReluGrad", []*onnx.Value{y, dy})
		},
		"LeakyRelu": func(c *GradCtx, x, y, dy *onnx.Value) *onnx.Value {
			alpha := float64(attrFloat(c.Node, "alpha", 0.01))
			return c.Where(c.Op1("Greater", x, c.Scalar(0)), dy, c.Op1("Mul", dy, c.Scalar(alpha)))
		},
		"Sigmoid": func(c *GradCtx, x, y, dy *onnx.Value) *onnx.Value {
			return c.Op1("Mul", dy, c.Op1("Mul", y, c.Op1("Sub", c.Scalar(1), y)))
		},
		"Tanh": func(c *GradCtx, x, y, dy *onnx.Value) *onnx.Value {
			return c.Op1("Mul", dy, c.Op1("Sub", c.Scalar(1), c.Op1("Mul", y, y)))
		},
		"Exp": func(c *GradCtx, x, y, dy *onnx.Value) *onnx.Value { return c.Op1("Mul", dy, y) },
		"Log": func(c *GradCtx, x, y, dy *onnx.Value) *onnx.Value { return c.Op1("Div", dy, x) },
		"Sqrt": func(c *GradCtx, x, y, dy *onnx.Value) *onnx.Value {
			return c.Op1("Div", c.Op1("Mul", dy, c.Scalar(0.5)), y)
		},
		"Neg": func(c *GradCtx, x, y, dy *onnx.Value) *onnx.Value { return c.Op1("Neg", dy) },
		"Abs": func(c *GradCtx, x, y, dy *onnx.Value) *onnx.Value { return c.Op1("Mul", dy, c.Op1("Sign", x)) },
		"Reciprocal": func(c *GradCtx, x, y, dy *onnx.Value) *onnx.Value {
			return c.Op1("Neg", c.Op1("Mul", dy, c.Op1("Mul", y, y)))
		},
		"Sin": func(c *GradCtx, x, y, dy *onnx.Value) *onnx.Value { return c.Op1("Mul", dy, c.Op1("Cos", x)) },
		"Cos": func(c *GradCtx, x, y, dy *onnx.Value) *onnx.Value {
			return c.Op1("Neg", c.Op1("Mul", dy, c.Op1("Sin", x)))
		},
		// erf'(x) = 2/√π · exp(-x²).
		"Erf": func(c *GradCtx, x, y, dy *onnx.Value) *onnx.Value {
			e := c.Op1("Exp", c.Op1("Neg", c.Op1("Mul", x, x)))
			return c.Op1("Mul", dy, c.Op1("Mul", e, c.Scalar(2/math.Sqrt(math.Pi))))
		},
		// Gelu: Φ(x) + x·φ(x) for the exact form; for approximate="tanh",
		// y = x(1+t)/2 with t = tanh(k(x + 0.044715x³)), k = √(2/π), so
		// y' = (1+t)/2 + x(1−t²)·k(1 + 3·0.044715x²)/2.
		"Gelu": func(c *GradCtx, x, y, dy *onnx.Value) *onnx.Value {
			var d *onnx.Value
			if attrString(c.Node, "approximate", "none") == "tanh" {
				k := math.Sqrt(2 / math.Pi)
				x2 := c.Op1("Mul", x, x)
				u := c.Op1("Mul", c.Op1("Add", x, c.Op1("Mul", c.Op1("Mul", x2, x), c.Scalar(0.044715))), c.Scalar(k))
				t := c.Op1("Tanh", u)
				du := c.Op1("Mul", c.Op1("Add", c.Op1("Mul", x2, c.Scalar(3*0.044715)), c.Scalar(1)), c.Scalar(k))
				left := c.Op1("Mul", c.Op1("Add", t, c.Scalar(1)), c.Scalar(0.5))
				right := c.Op1("Mul", c.Op1("Mul", c.Op1("Mul", x, c.Op1("Sub", c.Scalar(1), c.Op1("Mul", t, t))), du), c.Scalar(0.5))
				d = c.Op1("Add", left, right)
			} else {
				cdf := c.Op1("Mul", c.Op1("Add", c.Op1("Erf", c.Op1("Mul", x, c.Scalar(1/math.Sqrt2))), c.Scalar(1)), c.Scalar(0.5))
				pdf := c.Op1("Mul", c.Op1("Exp", c.Op1("Mul", c.Op1("Mul", x, x), c.Scalar(-0.5))), c.Scalar(1/math.Sqrt(2*math.Pi)))
				d = c.Op1("Add", cdf, c.Op1("Mul", x, pdf))
			}
			return c.Op1("Mul", dy, d)
		},
		// softplus'(x) = sigmoid(x).
		"Softplus": func(c *GradCtx, x, y, dy *onnx.Value) *onnx.Value { return c.Op1("Mul", dy, c.Op1("Sigmoid", x)) },
		// Elu: x > 0: 1; else y + alpha.
		"Elu": func(c *GradCtx, x, y, dy *onnx.Value) *onnx.Value {
			alpha := float64(attrFloat(c.Node, "alpha", 1))
			return c.Where(c.Op1("Greater", x, c.Scalar(0)), dy, c.Op1("Mul", dy, c.Op1("Add", y, c.Scalar(alpha))))
		},
		// HardSigmoid: alpha inside 0 < alpha*x+beta < 1, else 0.
		"HardSigmoid": func(c *GradCtx, x, y, dy *onnx.Value) *onnx.Value {
			alpha := float64(attrFloat(c.Node, "alpha", 0.2))
			inside := c.Op1("And", c.Op1("Greater", y, c.Scalar(0)), c.Op1("Less", y, c.Scalar(1)))
			return c.Where(inside, c.Op1("Mul", dy, c.Scalar(alpha)), c.Scalar(0))
		},
		// HardSwish x·clamp(x/6+1/2, 0, 1), as PyTorch differentiates it:
		// 0 below -3, x/3+1/2 up to 3, 1 above.
		"HardSwish": func(c *GradCtx, x, y, dy *onnx.Value) *onnx.Value {
			mid := c.Op1("Add", c.Op1("Mul", x, c.Scalar(1.0/3)), c.Scalar(0.5))
			d := c.Where(c.Op1("Less", x, c.Scalar(-3)), c.Scalar(0), c.Where(c.Op1("Greater", x, c.Scalar(3)), c.Scalar(1), mid))
			return c.Op1("Mul", dy, d)
		},
	}
	for name, f := range unary {
		setGrad(name, func(c *GradCtx) ([]*onnx.Value, error) {
			return []*onnx.Value{f(c, c.In(0), c.Out(0), c.DY[0])}, nil
		})
	}
	setNoGrad("comparison and logic results are not differentiable", "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "Not", "IsNaN", "IsInf")
	setNoGrad("piecewise constant: the gradient is zero almost everywhere", "Floor", "Ceil", "Round", "Sign")
}

// binaryGrad un-broadcasts the gradients of a two-input op.
func binaryGrad(c *GradCtx, da, db *onnx.Value) ([]*onnx.Value, error) {
	out := c.Out(0).Type
	res := make([]*onnx.Value, 2)
	for i, d := range []*onnx.Value{da, db} {
		if !c.Needs(i) || d == nil {
			continue
		}
		u, err := c.Unbroadcast(d, out, c.In(i))
		if err != nil {
			return nil, err
		}
		res[i] = u
	}
	return res, nil
}

// gradCast returns v converted to dt unless it already is dt.
func gradCast(c *GradCtx, v *onnx.Value, dt tensor.DType) *onnx.Value {
	if v.Type.DType == dt {
		return v
	}
	return c.Emit("Cast", []*onnx.Value{v}, onnx.IntAttr("to", int64(dt)))
}

// powGrad: y = a^b; da = dy·b·a^(b-1), db = dy·y·ln a.
func powGrad(c *GradCtx) ([]*onnx.Value, error) {
	a, b, y, dy := c.In(0), c.In(1), c.Out(0), c.DY[0]
	var da, db *onnx.Value
	if c.Needs(0) {
		bf := gradCast(c, b, c.DType())
		da = c.Op1("Mul", dy, c.Op1("Mul", bf, c.Op1("Pow", a, c.Op1("Sub", bf, c.Scalar(1)))))
	}
	if c.Needs(1) {
		db = c.Op1("Mul", dy, c.Op1("Mul", y, c.Op1("Log", a)))
	}
	return binaryGrad(c, da, db)
}

// variadicGrad: Sum passes dy to each input, Mean dy/n.
func variadicGrad(mean bool) GradRule {
	return func(c *GradCtx) ([]*onnx.Value, error) {
		dy := c.DY[0]
		if mean {
			dy = c.Op1("Mul", dy, c.Scalar(1/float64(len(c.Node.Inputs))))
		}
		res := make([]*onnx.Value, len(c.Node.Inputs))
		for i := range res {
			if !c.Needs(i) {
				continue
			}
			u, err := c.Unbroadcast(dy, c.Out(0).Type, c.In(i))
			if err != nil {
				return nil, err
			}
			res[i] = u
		}
		return res, nil
	}
}

// extremumGrad (Max, Min) sends dy to every input equal to the result;
// at ties each tied input receives it in full.
func extremumGrad(c *GradCtx) ([]*onnx.Value, error) {
	res := make([]*onnx.Value, len(c.Node.Inputs))
	for i := range res {
		if !c.Needs(i) {
			continue
		}
		d := c.Where(c.Op1("Equal", c.In(i), c.Out(0)), c.DY[0], c.Scalar(0))
		u, err := c.Unbroadcast(d, c.Out(0).Type, c.In(i))
		if err != nil {
			return nil, err
		}
		res[i] = u
	}
	return res, nil
}

// whereGrad sends dy through the branch each element was taken from.
func whereGrad(c *GradCtx) ([]*onnx.Value, error) {
	cond, dy := c.In(0), c.DY[0]
	res := make([]*onnx.Value, 3)
	for i := 1; i <= 2; i++ {
		if !c.Needs(i) {
			continue
		}
		var d *onnx.Value
		if i == 1 {
			d = c.Where(cond, dy, c.Scalar(0))
		} else {
			d = c.Where(cond, c.Scalar(0), dy)
		}
		u, err := c.Unbroadcast(d, c.Out(0).Type, c.In(i))
		if err != nil {
			return nil, err
		}
		res[i] = u
	}
	return res, nil
}

// clipGrad passes dy where min <= x <= max (PyTorch's clamp backward);
// the bounds get the gradient of the elements they clipped.
func clipGrad(c *GradCtx) ([]*onnx.Value, error) {
	x, dy := c.In(0), c.DY[0]
	res := make([]*onnx.Value, len(c.Node.Inputs))
	var below, above *onnx.Value
	if lo := c.In(1); lo != nil {
		below = c.Op1("Less", x, lo)
	}
	if hi := c.In(2); hi != nil {
		above = c.Op1("Greater", x, hi)
	}
	if c.Needs(0) {
		switch {
		case below != nil && above != nil:
			res[0] = c.Where(c.Op1("Or", below, above), c.Scalar(0), dy)
		case below != nil:
			res[0] = c.Where(below, c.Scalar(0), dy)
		case above != nil:
			res[0] = c.Where(above, c.Scalar(0), dy)
		default:
			res[0] = dy
		}
	}
	for i, m := range []*onnx.Value{below, above} {
		if c.Needs(1+i) && m != nil {
			// Without axes ReduceSum reduces every axis, in every opset.
			s := c.Emit("ReduceSum", []*onnx.Value{c.Where(m, dy, c.Scalar(0))}, onnx.IntAttr("keepdims", 0))
			res[1+i] = c.ReshapeLike(s, c.In(1+i))
		}
	}
	return res, nil
}

// preluGrad: y = x>0 ? x : slope·x.
func preluGrad(c *GradCtx) ([]*onnx.Value, error) {
	x, slope, dy := c.In(0), c.In(1), c.DY[0]
	pos := c.Op1("Greater", x, c.Scalar(0))
	var dx, ds *onnx.Value
	if c.Needs(0) {
		dx = c.Where(pos, dy, c.Op1("Mul", dy, slope))
	}
	if c.Needs(1) {
		ds = c.Where(pos, c.Scalar(0), c.Op1("Mul", dy, x))
	}
	res, err := binaryGrad(c, nil, ds)
	if err != nil {
		return nil, err
	}
	if dx != nil {
		if dx, err = c.Unbroadcast(dx, c.Out(0).Type, x); err != nil {
			return nil, err
		}
	}
	res[0] = dx
	return res, nil
}

func init() {
	register(&Op{Name: "ReluGrad", Domain: GraftDomain, Since: 1, Infer: reluGradInfer, Run: reluGradRun})
}

// reluGradInfer: ReluGrad(Y, dY) has dY's type.
func reluGradInfer(c *InferCtx) ([]onnx.Type, error) {
	dy, _ := c.Input(1)
	return []onnx.Type{dy}, nil
}

// reluGradRun is the kernel of ReluGrad(Y, dY) = Y > 0 ? dY : 0, Relu's
// gradient read from its output (so the input need not be kept).
func reluGradRun(c *RunCtx) ([]*tensor.Dense, error) {
	y, dy := c.Input(0), c.Input(1)
	if y == nil || dy == nil || !tensor.SameShape(y.Shape, dy.Shape) || y.DType != dy.DType {
		return nil, shapeError(c.Node, "want Y and dY of one shape and dtype, got %v and %v", shapeOrNil(y), shapeOrNil(dy))
	}
	dx := tensor.NewUninit(dy.DType, dy.Shape...)
	switch dy.DType {
	case tensor.Float32:
		reluGrad(dx.F32, y.F32, dy.F32, c.Threads)
	case tensor.Float64:
		reluGrad(dx.F64, y.F64, dy.F64, c.Threads)
	default:
		return nil, unsupportedf(c.Node, "dtype %s", dy.DType)
	}
	return []*tensor.Dense{dx}, nil
}

func reluGrad[T float32 | float64](dx, y, dy []T, threads int) {
	parallelFor(threads, len(dx), 1<<15, func(lo, hi int) {
		d, yy := dy[lo:hi], y[lo:hi]
		out := dx[lo:hi]
		for i, v := range d {
			if !(yy[i] > 0) {
				v = 0
			}
			out[i] = v
		}
	})
}

func shapeOrNil(d *tensor.Dense) any {
	if d == nil {
		return "none"
	}
	return d.Shape
}
