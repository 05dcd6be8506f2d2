package ops

import (
	"math"
	"strings"

	"github.com/graft-ml/graft/exec/internal/gemm"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// RNN, GRU and LSTM (ONNX operator docs, opsets 7 and 14), as nn.RNN,
// nn.GRU and nn.LSTM export them. Inputs: X [seq, batch, input] (layout 0)
// or [batch, seq, input] (layout 1); W [dirs, G·hidden, input];
// R [dirs, G·hidden, hidden]; B [dirs, 2·G·hidden] (input then recurrent
// biases); sequence_lens [batch]; initial_h (and LSTM's initial_c)
// [dirs, batch, hidden] ([batch, dirs, hidden] in layout 1); LSTM's
// peepholes P [dirs, 3·hidden]. Outputs Y [seq, dirs, batch, hidden]
// ([batch, seq, dirs, hidden]), Y_h and LSTM's Y_c shaped like initial_h.
// G is 1, 3 (gates z, r, h) or 4 (gates i, o, f, c). direction is forward,
// reverse or bidirectional (direction 0 forward, 1 reverse).
//
//	RNN:  H = f(X·Wᵀ + H₋·Rᵀ + Wb + Rb)
//	GRU:  z = f(X·Wzᵀ + H₋·Rzᵀ + Wbz + Rbz), r likewise,
//	      h = g(X·Whᵀ + (r⊙H₋)·Rhᵀ + Rbh + Wbh)       (linear_before_reset 0)
//	      h = g(X·Whᵀ + r⊙(H₋·Rhᵀ + Rbh) + Wbh)        (linear_before_reset 1)
//	      H = (1-z)⊙h + z⊙H₋
//	LSTM: i = f(X·Wiᵀ + H₋·Riᵀ + Pi⊙C₋ + Wbi + Rbi), f likewise with Pf
//	      (or f = 1-i with input_forget), c = g(X·Wcᵀ + H₋·Rcᵀ + Wbc + Rbc),
//	      C = f⊙C₋ + i⊙c, o = f(X·Woᵀ + H₋·Roᵀ + Po⊙C + Wbo + Rbo),
//	      H = o⊙h(C)
//
// f, g, h default to Sigmoid, Tanh, Tanh (RNN: Tanh); the activations
// attribute may name others per direction, with activation_alpha and
// activation_beta consumed in order by those that take them. clip bounds
// every gate's pre-activation. Batch entries past their sequence length
// give zeros in Y and keep their state, so Y_h is the state at the last
// valid step (for reverse, the step at time 0).
//
// The input projections of all steps are one GEMM per direction, and
// each step's recurrent projection another (gemm.SgemmParallel in
// float32, plain loops in float64). There is no gradient rule yet.

func init() {
	register(
		&Op{Name: "RNN", Since: 7, Infer: rnnInfer, Run: rnnRun},
		&Op{Name: "GRU", Since: 7, Infer: rnnInfer, Run: rnnRun},
		&Op{Name: "LSTM", Since: 7, Infer: rnnInfer, Run: rnnRun},
	)
}

// rnnGates returns G and the default activations (per direction) of op.
func rnnGates(op string) (int, []string) {
	switch op {
	case "GRU":
		return 3, []string{"Sigmoid", "Tanh"}
	case "LSTM":
		return 4, []string{"Sigmoid", "Tanh", "Tanh"}
	}
	return 1, []string{"Tanh"}
}

// rnnAct is an activation with its alpha and beta bound.
type rnnAct func(float64) float64

// rnnActivation returns the named activation; alphas and betas are popped
// from the front of the lists where it takes them.
func rnnActivation(n *onnx.Node, name string, alphas, betas *[]float32) (rnnAct, error) {
	pop := func(l *[]float32, def float64) float64 {
		if len(*l) == 0 {
			return def
		}
		v := (*l)[0]
		*l = (*l)[1:]
		return float64(v)
	}
	switch strings.ToLower(name) {
	case "relu":
		return func(x float64) float64 { return max(x, 0) }, nil
	case "tanh":
		return math.Tanh, nil
	case "sigmoid":
		return func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }, nil
	case "affine":
		a, b := pop(alphas, 1), pop(betas, 0)
		return func(x float64) float64 { return a*x + b }, nil
	case "leakyrelu":
		a := pop(alphas, 0.01)
		return func(x float64) float64 {
			if x < 0 {
				return a * x
			}
			return x
		}, nil
	case "thresholdedrelu":
		a := pop(alphas, 1)
		return func(x float64) float64 {
			if x > a {
				return x
			}
			return 0
		}, nil
	case "scaledtanh":
		a, b := pop(alphas, 1), pop(betas, 1)
		return func(x float64) float64 { return a * math.Tanh(b*x) }, nil
	case "hardsigmoid":
		a, b := pop(alphas, 0.2), pop(betas, 0.5)
		return func(x float64) float64 { return max(0, min(1, a*x+b)) }, nil
	case "elu":
		a := pop(alphas, 1)
		return func(x float64) float64 {
			if x < 0 {
				return a * (math.Exp(x) - 1)
			}
			return x
		}, nil
	case "softsign":
		return func(x float64) float64 { return x / (1 + math.Abs(x)) }, nil
	case "softplus":
		return func(x float64) float64 { return math.Log1p(math.Exp(x)) }, nil
	}
	return nil, onnx.NodeErrorf(n, "attribute \"activations\": unknown activation %q", name)
}

// rnnConfig is a node's decoded attributes.
type rnnConfig struct {
	op          string
	gates       int
	hidden      int
	dirs        int
	reverse     []bool     // per direction
	acts        [][]rnnAct // per direction: f (g, h)
	clip        float64    // 0: none
	layout      int
	lbr         bool // GRU's linear_before_reset
	inputForget bool // LSTM's input_forget
}

func rnnConfigOf(n *onnx.Node) (*rnnConfig, error) {
	g, defaults := rnnGates(n.OpType)
	cfg := &rnnConfig{op: n.OpType, gates: g, hidden: int(attrInt(n, "hidden_size", 0))}
	if h := attrInt(n, "hidden_size", 0); h < 1 || h > 1<<24 {
		return nil, onnx.NodeErrorf(n, "attribute \"hidden_size\": want a positive size, got %d", h)
	}
	switch d := attrString(n, "direction", "forward"); d {
	case "forward":
		cfg.dirs, cfg.reverse = 1, []bool{false}
	case "reverse":
		cfg.dirs, cfg.reverse = 1, []bool{true}
	case "bidirectional":
		cfg.dirs, cfg.reverse = 2, []bool{false, true}
	default:
		return nil, onnx.NodeErrorf(n, "attribute \"direction\": want forward, reverse or bidirectional, got %q", d)
	}
	names := defaults
	if a := n.Attr("activations"); a != nil {
		names = nil
		for _, s := range a.Strings {
			names = append(names, s)
		}
		if len(names) != len(defaults)*cfg.dirs {
			return nil, onnx.NodeErrorf(n, "attribute \"activations\": want %d names, got %d", len(defaults)*cfg.dirs, len(names))
		}
	} else if cfg.dirs == 2 {
		names = append(append([]string{}, defaults...), defaults...)
	}
	alphas := append([]float32{}, attrFloats(n, "activation_alpha")...)
	betas := append([]float32{}, attrFloats(n, "activation_beta")...)
	for d := range cfg.dirs {
		var acts []rnnAct
		for _, name := range names[d*len(defaults) : (d+1)*len(defaults)] {
			f, err := rnnActivation(n, name, &alphas, &betas)
			if err != nil {
				return nil, err
			}
			acts = append(acts, f)
		}
		cfg.acts = append(cfg.acts, acts)
	}
	if a := n.Attr("clip"); a != nil {
		if !(a.F > 0) {
			return nil, onnx.NodeErrorf(n, "attribute \"clip\": want a positive threshold, got %v", a.F)
		}
		cfg.clip = float64(a.F)
	}
	switch l := attrInt(n, "layout", 0); l {
	case 0, 1:
		cfg.layout = int(l)
	default:
		return nil, onnx.NodeErrorf(n, "attribute \"layout\": want 0 or 1, got %d", l)
	}
	cfg.lbr = attrInt(n, "linear_before_reset", 0) != 0
	cfg.inputForget = attrInt(n, "input_forget", 0) != 0
	return cfg, nil
}

// attrFloats returns a floats attribute, or nil.
func attrFloats(n *onnx.Node, name string) []float32 {
	if a := n.Attr(name); a != nil {
		return a.Floats
	}
	return nil
}

func rnnInfer(c *InferCtx) ([]onnx.Type, error) {
	n := c.Node
	cfg, err := rnnConfigOf(n)
	if err != nil {
		return nil, err
	}
	x, ok := c.Input(0)
	if !ok || len(n.Inputs) < 3 {
		return nil, shapeError(n, "want inputs X, W and R")
	}
	seq, batch := onnx.UnknownDim, onnx.UnknownDim
	if x.HasShape {
		if len(x.Dims) != 3 {
			return nil, shapeError(n, "X of rank %d, want 3", len(x.Dims))
		}
		seq, batch = x.Dims[0], x.Dims[1]
		if cfg.layout == 1 {
			seq, batch = batch, seq
		}
	}
	hid := onnx.Dim{Value: int64(cfg.hidden)}
	dirs := onnx.Dim{Value: int64(cfg.dirs)}
	y := onnx.Type{DType: x.DType, HasShape: true, Dims: []onnx.Dim{seq, dirs, batch, hid}}
	h := onnx.Type{DType: x.DType, HasShape: true, Dims: []onnx.Dim{dirs, batch, hid}}
	if cfg.layout == 1 {
		y.Dims = []onnx.Dim{batch, seq, dirs, hid}
		h.Dims = []onnx.Dim{batch, dirs, hid}
	}
	out := []onnx.Type{y, h}
	if cfg.op == "LSTM" {
		out = append(out, h)
	}
	return out[:min(len(out), max(len(n.Outputs), 1))], nil
}

// rnnData is the kernel's view of the inputs, in layout 0.
type rnnData[T scatterNumber] struct {
	seq, batch, input int
	x, w, r, b        []T // b nil: zero
	h0, c0, p         []T // nil: zero
	lens              []int
}

func rnnRun(c *RunCtx) ([]*tensor.Dense, error) {
	n := c.Node
	cfg, err := rnnConfigOf(n)
	if err != nil {
		return nil, err
	}
	x, err := shapeInput(c, 0)
	if err != nil {
		return nil, err
	}
	if x.DType != tensor.Float32 && x.DType != tensor.Float64 {
		return nil, unsupportedf(n, "X of dtype %s", x.DType)
	}
	if x.Rank() != 3 {
		return nil, shapeError(n, "X %v, want rank 3", x.Shape)
	}
	seq, batch, input := x.Shape[0], x.Shape[1], x.Shape[2]
	if cfg.layout == 1 {
		seq, batch = batch, seq
	}
	G, H, D := cfg.gates, cfg.hidden, cfg.dirs
	want := func(i int, name string, shape ...int) (*tensor.Dense, error) {
		t := c.Input(i)
		if t == nil {
			return nil, nil
		}
		if t.DType != x.DType {
			return nil, shapeError(n, "%s of dtype %s for X of dtype %s", name, t.DType, x.DType)
		}
		if !tensor.SameShape(t.Shape, shape) {
			return nil, shapeError(n, "%s %v, want %v", name, t.Shape, shape)
		}
		return t, nil
	}
	state := []int{D, batch, H}
	if cfg.layout == 1 {
		state = []int{batch, D, H}
	}
	ins := make([]*tensor.Dense, 8)
	specs := []struct {
		i     int
		name  string
		shape []int
	}{
		{1, "W", []int{D, G * H, input}}, {2, "R", []int{D, G * H, H}}, {3, "B", []int{D, 2 * G * H}},
		{5, "initial_h", state}, {6, "initial_c", state}, {7, "P", []int{D, 3 * H}},
	}
	for _, s := range specs {
		if ins[s.i], err = want(s.i, s.name, s.shape...); err != nil {
			return nil, err
		}
	}
	if ins[1] == nil || ins[2] == nil {
		return nil, shapeError(n, "inputs W and R are required")
	}
	lens := make([]int, batch)
	for i := range lens {
		lens[i] = seq
	}
	if sl := c.Input(4); sl != nil {
		if sl.I64 == nil || sl.Len() != batch {
			return nil, shapeError(n, "sequence_lens %s%v, want %d integers", sl.DType, sl.Shape, batch)
		}
		for i, v := range sl.I64 {
			if v < 0 || v > int64(seq) {
				return nil, shapeError(n, "sequence_lens[%d] = %d out of range [0, %d]", i, v, seq)
			}
			lens[i] = int(v)
		}
	}
	if x.DType == tensor.Float32 {
		get := func(t *tensor.Dense) []float32 {
			if t == nil {
				return nil
			}
			return t.F32
		}
		d := rnnData[float32]{seq: seq, batch: batch, input: input, x: x.F32, w: get(ins[1]), r: get(ins[2]), b: get(ins[3]), h0: get(ins[5]), c0: get(ins[6]), p: get(ins[7]), lens: lens}
		y, yh, yc := rnnCompute(cfg, d, func(m, nn, k int, a, b, dst []float32) {
			gemm.SgemmParallel(c.Threads, false, true, m, nn, k, 1, a, k, b, k, 0, dst, nn)
		})
		return rnnOutputs(cfg, seq, batch, y, yh, yc), nil
	}
	get := func(t *tensor.Dense) []float64 {
		if t == nil {
			return nil
		}
		return t.F64
	}
	d := rnnData[float64]{seq: seq, batch: batch, input: input, x: x.F64, w: get(ins[1]), r: get(ins[2]), b: get(ins[3]), h0: get(ins[5]), c0: get(ins[6]), p: get(ins[7]), lens: lens}
	y, yh, yc := rnnCompute(cfg, d, rnnMatMulT[float64])
	return rnnOutputs(cfg, seq, batch, y, yh, yc), nil
}

// rnnOutputs wraps the layout-0 results as the node's outputs.
func rnnOutputs[T scatterNumber](cfg *rnnConfig, seq, batch int, y, yh, yc []T) []*tensor.Dense {
	D, H := cfg.dirs, cfg.hidden
	yShape, hShape := []int{seq, D, batch, H}, []int{D, batch, H}
	if cfg.layout == 1 {
		y = einsumStrided(y, []int{batch, seq, D, H}, []int{H, D * batch * H, batch * H, 1})
		yh = einsumStrided(yh, []int{batch, D, H}, []int{H, batch * H, 1})
		if yc != nil {
			yc = einsumStrided(yc, []int{batch, D, H}, []int{H, batch * H, 1})
		}
		yShape, hShape = []int{batch, seq, D, H}, []int{batch, D, H}
	}
	wrap := func(v []T, shape []int) *tensor.Dense {
		if s, ok := any(v).([]float32); ok {
			return tensor.FromF32(shape, s)
		}
		return tensor.FromF64(shape, any(v).([]float64))
	}
	out := []*tensor.Dense{wrap(y, yShape), wrap(yh, hShape)}
	if cfg.op == "LSTM" {
		out = append(out, wrap(yc, hShape))
	}
	return out
}

// rnnMatMulT is dst = a·bᵀ for row-major a (m×k) and b (n×k).
func rnnMatMulT[T scatterNumber](m, n, k int, a, b, dst []T) {
	for i := range m {
		for j := range n {
			var s T
			for p := range k {
				s += a[i*k+p] * b[j*k+p]
			}
			dst[i*n+j] = s
		}
	}
}

// rnnCompute runs every direction; mm(m, n, k, a, b, dst) is dst = a·bᵀ.
// It returns Y [seq, dirs, batch, hidden], Y_h and Y_c [dirs, batch,
// hidden] (Y_c nil except for LSTM).
func rnnCompute[T scatterNumber](cfg *rnnConfig, d rnnData[T], mm func(m, n, k int, a, b, dst []T)) (y, yh, yc []T) {
	G, H, D := cfg.gates, cfg.hidden, cfg.dirs
	S, B, I := d.seq, d.batch, d.input
	GH := G * H
	y = make([]T, S*D*B*H)
	yh = make([]T, D*B*H)
	if cfg.op == "LSTM" {
		yc = make([]T, D*B*H)
	}
	if cfg.layout == 1 { // to [seq, batch, ...]
		d.x = einsumStrided(d.x, []int{S, B, I}, []int{I, S * I, 1})
		if d.h0 != nil {
			d.h0 = einsumStrided(d.h0, []int{D, B, H}, []int{H, D * H, 1})
		}
		if d.c0 != nil {
			d.c0 = einsumStrided(d.c0, []int{D, B, H}, []int{H, D * H, 1})
		}
	}
	clip := func(v float64) float64 {
		if cfg.clip > 0 {
			return max(-cfg.clip, min(cfg.clip, v))
		}
		return v
	}
	xw := make([]T, S*B*GH)
	hr := make([]T, B*GH)
	rh := make([]T, B*H) // GRU: r⊙H₋
	hh := make([]T, B*H) // GRU: (r⊙H₋)·Rhᵀ
	for dir := range D {
		w := d.w[dir*GH*I : (dir+1)*GH*I]
		r := d.r[dir*GH*H : (dir+1)*GH*H]
		var wb, rb []T
		if d.b != nil {
			wb = d.b[dir*2*GH : dir*2*GH+GH]
			rb = d.b[dir*2*GH+GH : (dir+1)*2*GH]
		}
		bias := func(b []T, j int) float64 {
			if b == nil {
				return 0
			}
			return float64(b[j])
		}
		var pi, po, pf []T
		if d.p != nil {
			pi, po, pf = d.p[dir*3*H:dir*3*H+H], d.p[dir*3*H+H:dir*3*H+2*H], d.p[dir*3*H+2*H:(dir+1)*3*H]
		}
		peep := func(p []T, j int) float64 {
			if p == nil {
				return 0
			}
			return float64(p[j])
		}
		h := make([]T, B*H)
		cs := make([]T, B*H)
		if d.h0 != nil {
			copy(h, d.h0[dir*B*H:(dir+1)*B*H])
		}
		if d.c0 != nil {
			copy(cs, d.c0[dir*B*H:(dir+1)*B*H])
		}
		if S*B > 0 {
			mm(S*B, GH, I, d.x, w, xw)
		}
		acts := cfg.acts[dir]
		for s := range S {
			if cfg.op == "GRU" && !cfg.lbr {
				mm(B, 2*H, H, h, r[:2*H*H], hr) // z and r only; h below
			} else {
				mm(B, GH, H, h, r, hr)
			}
			if cfg.op == "GRU" && !cfg.lbr {
				// hr holds B rows of 2H here: spread to rows of GH
				for b := B - 1; b >= 0; b-- {
					copy(hr[b*GH:b*GH+2*H], hr[b*2*H:(b+1)*2*H])
				}
				for b := range B {
					for j := range H {
						t := rnnTime(s, d.lens[b], cfg.reverse[dir])
						if t < 0 {
							continue
						}
						xr := xw[(t*B+b)*GH:]
						rg := acts[0](clip(float64(xr[H+j]) + bias(wb, H+j) + float64(hr[b*GH+H+j]) + bias(rb, H+j)))
						rh[b*H+j] = T(rg) * h[b*H+j]
					}
				}
				mm(B, H, H, rh, r[2*H*H:], hh)
			}
			for b := range B {
				t := rnnTime(s, d.lens[b], cfg.reverse[dir])
				if t < 0 {
					continue // past this entry's length: state kept, Y stays 0
				}
				xr := xw[(t*B+b)*GH : (t*B+b+1)*GH]
				hrow := hr[b*GH : (b+1)*GH]
				pre := func(j int) float64 { // gate pre-activation, biases included
					return float64(xr[j]) + bias(wb, j) + float64(hrow[j]) + bias(rb, j)
				}
				for j := range H {
					hp := float64(h[b*H+j])
					var nh float64
					switch cfg.op {
					case "RNN":
						nh = acts[0](clip(pre(j)))
					case "GRU":
						z := acts[0](clip(pre(j)))
						rg := acts[0](clip(pre(H + j)))
						var hc float64
						if cfg.lbr {
							hc = acts[1](clip(float64(xr[2*H+j]) + bias(wb, 2*H+j) + rg*(float64(hrow[2*H+j])+bias(rb, 2*H+j))))
						} else {
							hc = acts[1](clip(float64(xr[2*H+j]) + bias(wb, 2*H+j) + float64(hh[b*H+j]) + bias(rb, 2*H+j)))
						}
						nh = (1-z)*hc + z*hp
					case "LSTM":
						cp := float64(cs[b*H+j])
						ig := acts[0](clip(pre(j) + peep(pi, j)*cp))
						var fg float64
						if cfg.inputForget {
							fg = 1 - ig
						} else {
							fg = acts[0](clip(pre(2*H+j) + peep(pf, j)*cp))
						}
						cc := acts[1](clip(pre(3*H + j)))
						cn := fg*cp + ig*cc
						og := acts[0](clip(pre(H+j) + peep(po, j)*cn))
						nh = og * acts[2](cn)
						cs[b*H+j] = T(cn)
					}
					h[b*H+j] = T(nh)
					y[((t*D+dir)*B+b)*H+j] = T(nh)
				}
			}
		}
		copy(yh[dir*B*H:], h)
		if yc != nil {
			copy(yc[dir*B*H:], cs)
		}
	}
	return y, yh, yc
}

// rnnTime is the time index of step s for an entry of length n, or -1
// once the entry has ended.
func rnnTime(s, n int, reverse bool) int {
	if s >= n {
		return -1
	}
	if reverse {
		return n - 1 - s
	}
	return s
}
