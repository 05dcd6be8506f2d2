package ops

import (
	"math"
	"strings"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Gradients of RNN, GRU and LSTM: back-propagation through time in one
// private op, RNNGrad. Its inputs are the forward node's eight (X, W, R,
// B, sequence_lens, initial_h, initial_c, P; absent ones empty) followed
// by dY, dY_h and dY_c (absent where no gradient reaches the output); its
// attributes are the forward node's plus "op" (RNN, GRU or LSTM). Its
// outputs are dX, dW, dR, dB, d initial_h, d initial_c and dP, each
// shaped like its input (zeros where that input is absent, and unused).
//
// The kernel replays the forward pass in float64 with plain loops,
// keeping every step's gate values (rnnTape), then walks the steps
// backwards. It follows the equations in rnn.go's comment term by term;
// the finite-difference tests check it against the forward kernel. Every
// dtype is computed in float64 and the results are cast back. A clipped
// pre-activation passes no gradient.

func init() {
	register(&Op{Name: "RNNGrad", Domain: GraftDomain, Since: 1, Infer: rnnGradInfer, Run: rnnGradRun})
	for _, op := range []string{"RNN", "GRU", "LSTM"} {
		setGrad(op, rnnGrad)
	}
}

// rnnGradOutputs maps RNNGrad's outputs to the forward inputs.
var rnnGradOutputs = []int{0, 1, 2, 3, 5, 6, 7}

func rnnGrad(c *GradCtx) ([]*onnx.Value, error) {
	n := c.Node
	in := make([]*onnx.Value, 11)
	copy(in, n.Inputs)
	for k := range 3 {
		if k < len(c.DY) {
			in[8+k] = c.DY[k]
		}
	}
	for in[len(in)-1] == nil {
		in = in[:len(in)-1]
	}
	attrs := append([]*onnx.Attr{onnx.StringAttr("op", n.OpType)}, n.Attrs...)
	outs := c.EmitN("RNNGrad", GraftDomain, len(rnnGradOutputs), in, attrs...)
	res := make([]*onnx.Value, len(n.Inputs))
	for k, i := range rnnGradOutputs {
		if i < len(res) && n.Inputs[i] != nil && c.Needs(i) {
			res[i] = outs[k]
		}
	}
	return res, nil
}

func rnnGradInfer(c *InferCtx) ([]onnx.Type, error) {
	x, ok := c.Input(0)
	if !ok {
		return nil, shapeError(c.Node, "want the forward inputs")
	}
	out := make([]onnx.Type, len(rnnGradOutputs))
	for k, i := range rnnGradOutputs {
		t, ok := c.Input(i)
		if !ok {
			t = onnx.Type{DType: x.DType}
		}
		out[k] = t
	}
	return out, nil
}

// rnnStep is what the backward pass needs of one step of one batch entry.
type rnnStep struct {
	t       int       // time index (-1: the entry had ended)
	hPrev   []float64 // H₋
	cPrev   []float64 // LSTM: C₋
	pre     []float64 // gate pre-activations before clipping, G·hidden
	gate    []float64 // gate values, G·hidden (GRU/LSTM: the candidate last)
	c       []float64 // LSTM: C
	q       []float64 // GRU: H₋·Rhᵀ + Rbh (linear_before_reset) or r⊙H₋
	hPreAct []float64 // GRU: pre-activation of the candidate
}

// rnnF64 is a forward input in float64 (nil if absent).
func rnnF64(t *tensor.Dense) []float64 {
	if t == nil {
		return nil
	}
	return t.Float64s()
}

// rnnActDeriv returns the derivative of the named activation, with the
// same alpha and beta handling as rnnActivation.
func rnnActDeriv(name string, alphas, betas *[]float32) func(float64) float64 {
	pop := func(l *[]float32, def float64) float64 {
		if len(*l) == 0 {
			return def
		}
		v := (*l)[0]
		*l = (*l)[1:]
		return float64(v)
	}
	sig := func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
	switch strings.ToLower(name) {
	case "relu":
		return func(x float64) float64 { return step(x > 0) }
	case "tanh":
		return func(x float64) float64 { t := math.Tanh(x); return 1 - t*t }
	case "sigmoid":
		return func(x float64) float64 { s := sig(x); return s * (1 - s) }
	case "affine":
		a, _ := pop(alphas, 1), pop(betas, 0)
		return func(float64) float64 { return a }
	case "leakyrelu":
		a := pop(alphas, 0.01)
		return func(x float64) float64 {
			if x < 0 {
				return a
			}
			return 1
		}
	case "thresholdedrelu":
		a := pop(alphas, 1)
		return func(x float64) float64 { return step(x > a) }
	case "scaledtanh":
		a, b := pop(alphas, 1), pop(betas, 1)
		return func(x float64) float64 { t := math.Tanh(b * x); return a * b * (1 - t*t) }
	case "hardsigmoid":
		a, b := pop(alphas, 0.2), pop(betas, 0.5)
		return func(x float64) float64 { return a * step(a*x+b > 0 && a*x+b < 1) }
	case "elu":
		a := pop(alphas, 1)
		return func(x float64) float64 {
			if x < 0 {
				return a * math.Exp(x)
			}
			return 1
		}
	case "softsign":
		return func(x float64) float64 { d := 1 + math.Abs(x); return 1 / (d * d) }
	case "softplus":
		return sig
	}
	return nil
}

func step(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// rnnDerivs returns each direction's activation derivatives, in the order
// of cfg.acts.
func rnnDerivs(n *onnx.Node, cfg *rnnConfig) [][]func(float64) float64 {
	_, defaults := rnnGates(cfg.op)
	names := defaults
	if a := n.Attr("activations"); a != nil {
		names = a.Strings
	} else if cfg.dirs == 2 {
		names = append(append([]string{}, defaults...), defaults...)
	}
	alphas := append([]float32{}, attrFloats(n, "activation_alpha")...)
	betas := append([]float32{}, attrFloats(n, "activation_beta")...)
	out := make([][]func(float64) float64, cfg.dirs)
	for d := range cfg.dirs {
		for _, name := range names[d*len(defaults) : (d+1)*len(defaults)] {
			out[d] = append(out[d], rnnActDeriv(name, &alphas, &betas))
		}
	}
	return out
}

func rnnGradRun(c *RunCtx) ([]*tensor.Dense, error) {
	n := c.Node
	op := attrString(n, "op", "")
	switch op {
	case "RNN", "GRU", "LSTM":
	default:
		return nil, onnx.NodeErrorf(n, "attribute \"op\": want RNN, GRU or LSTM, got %q", op)
	}
	// Check the forward inputs with the forward kernel's own rules.
	fwd := *n
	fwd.OpType = op
	fc := &RunCtx{Node: &fwd, Opset: c.Opset, In: c.In[:min(8, len(c.In))], Threads: c.Threads}
	if _, err := rnnRun(fc); err != nil {
		return nil, err
	}
	cfg, _ := rnnConfigOf(&fwd)
	x := c.In[0]
	S, B, I := x.Shape[0], x.Shape[1], x.Shape[2]
	if cfg.layout == 1 {
		S, B = B, S
	}
	G, H, D := cfg.gates, cfg.hidden, cfg.dirs
	GH := G * H
	toL0 := func(v []float64, shape []int, strides []int) []float64 {
		if v == nil || cfg.layout == 0 {
			return v
		}
		return einsumStrided(v, shape, strides)
	}
	xs := toL0(x.Float64s(), []int{S, B, I}, []int{I, S * I, 1})
	w, r, bias, p := rnnF64(fc.Input(1)), rnnF64(fc.Input(2)), rnnF64(fc.Input(3)), rnnF64(fc.Input(7))
	h0 := toL0(rnnF64(fc.Input(5)), []int{D, B, H}, []int{H, D * H, 1})
	c0 := toL0(rnnF64(fc.Input(6)), []int{D, B, H}, []int{H, D * H, 1})
	lens := make([]int, B)
	for b := range lens {
		lens[b] = S
		if sl := fc.Input(4); sl != nil {
			lens[b] = int(sl.I64[b])
		}
	}
	dyOf := func(i int, shape []int) ([]float64, error) {
		t := c.Input(i)
		if t == nil {
			return nil, nil
		}
		if shapeProd(shape) != t.Len() {
			return nil, shapeError(n, "input %d has %d elements, want %d", i, t.Len(), shapeProd(shape))
		}
		return t.Float64s(), nil
	}
	dY, err := dyOf(8, []int{S, D, B, H})
	if err != nil {
		return nil, err
	}
	dYh, err := dyOf(9, []int{D, B, H})
	if err != nil {
		return nil, err
	}
	dYc, err := dyOf(10, []int{D, B, H})
	if err != nil {
		return nil, err
	}
	if cfg.layout == 1 {
		if dY != nil {
			dY = einsumStrided(dY, []int{S, D, B, H}, []int{D * H, H, S * D * H, 1})
		}
		dYh = toL0(dYh, []int{D, B, H}, []int{H, D * H, 1})
		dYc = toL0(dYc, []int{D, B, H}, []int{H, D * H, 1})
	}
	derivs := rnnDerivs(&fwd, cfg)

	dX := make([]float64, S*B*I)
	dW := make([]float64, D*GH*I)
	dR := make([]float64, D*GH*H)
	dB := make([]float64, D*2*GH)
	dH0 := make([]float64, D*B*H)
	dC0 := make([]float64, D*B*H)
	dP := make([]float64, D*3*H)
	clip := func(v float64) (float64, float64) {
		if cfg.clip > 0 && (v > cfg.clip || v < -cfg.clip) {
			return max(-cfg.clip, min(cfg.clip, v)), 0
		}
		return v, 1
	}
	for dir := range D {
		wd := w[dir*GH*I : (dir+1)*GH*I]
		rd := r[dir*GH*H : (dir+1)*GH*H]
		get := func(v []float64, off, k int) float64 {
			if v == nil {
				return 0
			}
			return v[off+k]
		}
		acts, dacts := cfg.acts[dir], derivs[dir]
		tape := rnnTape(cfg, dir, xs, wd, rd, bias, p, h0, c0, lens, S, B, I, clip)
		for b := range B {
			dh := make([]float64, H)
			dc := make([]float64, H)
			if dYh != nil {
				copy(dh, dYh[(dir*B+b)*H:])
			}
			if dYc != nil {
				copy(dc, dYc[(dir*B+b)*H:])
			}
			for s := S - 1; s >= 0; s-- {
				st := tape[s*B+b]
				if st.t < 0 {
					continue
				}
				if dY != nil {
					for j := range H {
						dh[j] += dY[((st.t*D+dir)*B+b)*H+j]
					}
				}
				dpre := make([]float64, GH) // d pre-activation per gate
				dhp := make([]float64, H)   // d H₋
				switch cfg.op {
				case "RNN":
					for j := range H {
						a, m := clip(st.pre[j])
						dpre[j] = dh[j] * dacts[0](a) * m
					}
				case "GRU":
					for j := range H {
						z, hc := st.gate[j], st.gate[2*H+j]
						a, m := clip(st.hPreAct[j])
						dhpre := dh[j] * (1 - z) * dacts[1](a) * m
						dpre[2*H+j] = dhpre
						az, mz := clip(st.pre[j])
						dpre[j] = dh[j] * (st.hPrev[j] - hc) * dacts[0](az) * mz
						dhp[j] += dh[j] * z
					}
					// the candidate's recurrent term
					dr := make([]float64, H)
					if cfg.lbr {
						for j := range H {
							dq := dpre[2*H+j] * st.gate[H+j]
							dr[j] = dpre[2*H+j] * st.q[j]
							dB[dir*2*GH+GH+2*H+j] += dq
							for k := range H {
								dR[dir*GH*H+(2*H+j)*H+k] += dq * st.hPrev[k]
								dhp[k] += dq * rd[(2*H+j)*H+k]
							}
						}
					} else {
						drh := make([]float64, H)
						for j := range H {
							dB[dir*2*GH+GH+2*H+j] += dpre[2*H+j]
							for k := range H {
								dR[dir*GH*H+(2*H+j)*H+k] += dpre[2*H+j] * st.q[k]
								drh[k] += dpre[2*H+j] * rd[(2*H+j)*H+k]
							}
						}
						for k := range H {
							dr[k] = drh[k] * st.hPrev[k]
							dhp[k] += drh[k] * st.gate[H+k]
						}
					}
					for j := range H {
						a, m := clip(st.pre[H+j])
						dpre[H+j] = dr[j] * dacts[0](a) * m
					}
				case "LSTM":
					pi, po, pf := dir*3*H, dir*3*H+H, dir*3*H+2*H
					for j := range H {
						ig, og, fg, cc := st.gate[j], st.gate[H+j], st.gate[2*H+j], st.gate[3*H+j]
						cn, cp := st.c[j], st.cPrev[j]
						hc := acts[2](cn)
						ao, mo := clip(st.pre[H+j] + get(p, po, j)*cn)
						dopre := dh[j] * hc * dacts[0](ao) * mo
						dC := dc[j] + dh[j]*og*dacts[2](cn) + dopre*get(p, po, j)
						dP[po+j] += dopre * cn
						di := dC * cc
						ai, mi := clip(st.pre[j] + get(p, pi, j)*cp)
						ac, mc := clip(st.pre[3*H+j])
						dcpre := dC * ig * dacts[1](ac) * mc
						dcp := dC * fg
						var dfpre float64
						if cfg.inputForget {
							di -= dC * cp
						} else {
							af, mf := clip(st.pre[2*H+j] + get(p, pf, j)*cp)
							dfpre = dC * cp * dacts[0](af) * mf
							dcp += dfpre * get(p, pf, j)
							dP[pf+j] += dfpre * cp
						}
						dipre := di * dacts[0](ai) * mi
						dcp += dipre * get(p, pi, j)
						dP[pi+j] += dipre * cp
						dpre[j], dpre[H+j], dpre[2*H+j], dpre[3*H+j] = dipre, dopre, dfpre, dcpre
						dc[j] = dcp
					}
				}
				// Recurrent weights (all gates but GRU's candidate,
				// handled above) and H₋.
				rg := GH
				if cfg.op == "GRU" {
					rg = 2 * H
				}
				for g := range rg {
					dB[dir*2*GH+GH+g] += dpre[g]
					for k := range H {
						dR[dir*GH*H+g*H+k] += dpre[g] * st.hPrev[k]
						dhp[k] += dpre[g] * rd[g*H+k]
					}
				}
				// Input weights, biases and X, for every gate.
				xt := xs[(st.t*B+b)*I : (st.t*B+b+1)*I]
				dxt := dX[(st.t*B+b)*I : (st.t*B+b+1)*I]
				for g := range GH {
					dB[dir*2*GH+g] += dpre[g]
					for k := range I {
						dW[dir*GH*I+g*I+k] += dpre[g] * xt[k]
						dxt[k] += dpre[g] * wd[g*I+k]
					}
				}
				dh = dhp
			}
			copy(dH0[(dir*B+b)*H:], dh)
			copy(dC0[(dir*B+b)*H:], dc)
		}
	}
	if cfg.layout == 1 {
		dX = einsumStrided(dX, []int{B, S, I}, []int{I, B * I, 1})
		dH0 = einsumStrided(dH0, []int{B, D, H}, []int{H, B * H, 1})
		dC0 = einsumStrided(dC0, []int{B, D, H}, []int{H, B * H, 1})
	}
	shapeOf := func(i int, def []int) []int {
		if t := fc.Input(i); t != nil {
			return t.Shape
		}
		return def
	}
	state := []int{D, B, H}
	if cfg.layout == 1 {
		state = []int{B, D, H}
	}
	res := []*tensor.Dense{
		tensor.FromF64(x.Shape, dX),
		tensor.FromF64(shapeOf(1, nil), dW),
		tensor.FromF64(shapeOf(2, nil), dR),
		tensor.FromF64([]int{D, 2 * GH}, dB),
		tensor.FromF64(state, dH0),
		tensor.FromF64(state, dC0),
		tensor.FromF64([]int{D, 3 * H}, dP),
	}
	for k, t := range res {
		res[k] = castTo(t, x.DType)
	}
	return res, nil
}

// rnnTape replays direction dir of the forward pass in float64 and
// returns each step's values, indexed [s·batch + b].
func rnnTape(cfg *rnnConfig, dir int, xs, w, r, bias, p, h0, c0 []float64, lens []int, S, B, I int, clip func(float64) (float64, float64)) []rnnStep {
	G, H := cfg.gates, cfg.hidden
	GH := G * H
	acts := cfg.acts[dir]
	get := func(v []float64, off, k int) float64 {
		if v == nil {
			return 0
		}
		return v[off+k]
	}
	wb, rb := dir*2*GH, dir*2*GH+GH
	pi, po, pf := dir*3*H, dir*3*H+H, dir*3*H+2*H
	tape := make([]rnnStep, S*B)
	for b := range B {
		h := make([]float64, H)
		cs := make([]float64, H)
		if h0 != nil {
			copy(h, h0[(dir*B+b)*H:])
		}
		if c0 != nil {
			copy(cs, c0[(dir*B+b)*H:])
		}
		for s := range S {
			t := rnnTime(s, lens[b], cfg.reverse[dir])
			st := rnnStep{t: t}
			if t < 0 {
				tape[s*B+b] = st
				continue
			}
			xt := xs[(t*B+b)*I : (t*B+b+1)*I]
			st.hPrev = append([]float64{}, h...)
			st.cPrev = append([]float64{}, cs...)
			st.pre = make([]float64, GH)
			st.gate = make([]float64, GH)
			// pre[g] = x·W[g] + Wb[g] + (H₋·R[g] + Rb[g] unless GRU's candidate)
			for g := range GH {
				v := get(bias, wb, g)
				for k := range I {
					v += xt[k] * w[g*I+k]
				}
				if !(cfg.op == "GRU" && g >= 2*H) {
					v += get(bias, rb, g)
					for k := range H {
						v += h[k] * r[g*H+k]
					}
				}
				st.pre[g] = v
			}
			nh := make([]float64, H)
			switch cfg.op {
			case "RNN":
				for j := range H {
					a, _ := clip(st.pre[j])
					nh[j] = acts[0](a)
					st.gate[j] = nh[j]
				}
			case "GRU":
				for j := range 2 * H {
					a, _ := clip(st.pre[j])
					st.gate[j] = acts[0](a)
				}
				st.q = make([]float64, H)
				st.hPreAct = make([]float64, H)
				for j := range H {
					if cfg.lbr {
						q := get(bias, rb, 2*H+j)
						for k := range H {
							q += h[k] * r[(2*H+j)*H+k]
						}
						st.q[j] = q
					} else {
						st.q[j] = st.gate[H+j] * h[j]
					}
				}
				for j := range H {
					v := st.pre[2*H+j]
					if cfg.lbr {
						v += st.gate[H+j] * st.q[j]
					} else {
						v += get(bias, rb, 2*H+j)
						for k := range H {
							v += st.q[k] * r[(2*H+j)*H+k]
						}
					}
					st.hPreAct[j] = v
					a, _ := clip(v)
					hc := acts[1](a)
					st.gate[2*H+j] = hc
					z := st.gate[j]
					nh[j] = (1-z)*hc + z*h[j]
				}
			case "LSTM":
				st.c = make([]float64, H)
				for j := range H {
					cp := cs[j]
					a, _ := clip(st.pre[j] + get(p, pi, j)*cp)
					ig := acts[0](a)
					var fg float64
					if cfg.inputForget {
						fg = 1 - ig
					} else {
						a, _ := clip(st.pre[2*H+j] + get(p, pf, j)*cp)
						fg = acts[0](a)
					}
					a, _ = clip(st.pre[3*H+j])
					cc := acts[1](a)
					cn := fg*cp + ig*cc
					a, _ = clip(st.pre[H+j] + get(p, po, j)*cn)
					og := acts[0](a)
					st.gate[j], st.gate[H+j], st.gate[2*H+j], st.gate[3*H+j] = ig, og, fg, cc
					st.c[j] = cn
					nh[j] = og * acts[2](cn)
					cs[j] = cn
				}
			}
			h = nh
			tape[s*B+b] = st
		}
	}
	return tape
}
