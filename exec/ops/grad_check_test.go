package ops_test

// The finite-difference checker for gradient rules. It lives in an
// external test package because it runs graphs through exec, which
// imports ops.

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/graft-ml/graft/exec"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// gradCase is one node whose gradient is checked.
type gradCase struct {
	name   string
	op     string
	domain string
	opset  int // default 17
	attrs  []*onnx.Attr
	// in holds the inputs. Float64 inputs are graph inputs and are
	// checked unless listed in fixed; others (indices, shapes, axes)
	// become initializers. A nil entry is an omitted optional input.
	in    []*tensor.Dense
	fixed []int
	// consts lists float inputs to make initializers (bounds, say): not
	// differentiated, and foldable by shape inference.
	consts []int
	nout   int     // outputs (default 1)
	tol    float64 // relative tolerance (default gradTol)
}

// gradEps is the central-difference step and gradTol the default
// tolerance: in float64 the truncation error of a central difference is
// O(eps²·f”') ≈ 1e-12 and the rounding error ≈ 1e-16·|L|/eps ≈ 1e-10·|L|,
// so 1e-6 of the largest gradient entry (at least 1) leaves four orders of
// margin while catching any wrong rule.
const (
	gradEps = 1e-6
	gradTol = 1e-6
	// f32Tol bounds the float32 gradient graph against the float64 one,
	// relative to the largest entry: float32 rounding is 6e-8 per op and
	// the cases accumulate at most a few hundred terms.
	f32Tol = 1e-4
)

// buildGradModel makes a one-node model; dt converts float inputs.
func buildGradModel(gc gradCase, dt tensor.DType) (*onnx.Model, []string) {
	g := onnx.NewGraph(gc.name)
	var ins []*onnx.Value
	var wrt []string
	isIn := func(list []int, i int) bool {
		for _, j := range list {
			if j == i {
				return true
			}
		}
		return false
	}
	for i, d := range gc.in {
		if d == nil {
			ins = append(ins, nil)
			continue
		}
		name := fmt.Sprintf("x%d", i)
		if d.DType == tensor.Float64 {
			d = convertTo(d, dt)
			if isIn(gc.consts, i) {
				v := g.AddConst(name, d)
				ins = append(ins, v)
				continue
			}
			v, _ := g.AddInput(name, onnx.ShapeOf(dt, d.Shape...))
			ins = append(ins, v)
			if !isIn(gc.fixed, i) {
				wrt = append(wrt, name)
			}
			continue
		}
		ins = append(ins, g.AddConst(name, d))
	}
	nout := max(gc.nout, 1)
	outs := make([]string, nout)
	for i := range outs {
		outs[i] = fmt.Sprintf("y%d", i)
	}
	n := g.AddNode(gc.op, gc.domain, "node", ins, outs, gc.attrs...)
	g.Outputs = append(g.Outputs, n.Outputs...)
	opset := gc.opset
	if opset == 0 {
		opset = 17
	}
	m := onnx.NewModel(g, int64(opset))
	if gc.domain != "" {
		m.Opsets = append(m.Opsets, onnx.OpsetID{Domain: gc.domain, Version: 1})
	}
	return m, wrt
}

func convertTo(d *tensor.Dense, dt tensor.DType) *tensor.Dense {
	if d.DType == dt {
		return d
	}
	out := tensor.New(dt, d.Shape...)
	for i, v := range d.Float64s() {
		if dt == tensor.Float64 {
			out.F64[i] = v
		} else {
			out.F32[i] = float32(v)
		}
	}
	return out
}

// checkGrad checks a node's gradient against central finite differences
// in float64, then the float32 gradient graph against the float64 one.
func checkGrad(t *testing.T, gc gradCase) {
	t.Helper()
	m, wrt := buildGradModel(gc, tensor.Float64)
	grads64, feeds, dys := runGrad(t, m, wrt, gc, nil)
	fwd, err := exec.Compile(m)
	if err != nil {
		t.Fatal(err)
	}
	loss := func(feeds map[string]*tensor.Dense) float64 {
		out, err := fwd.Run(feeds, exec.RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		s := 0.0
		for name, dy := range dys {
			y := out[name]
			for i, v := range y.F64 {
				s += v * dy.F64[i]
			}
		}
		return s
	}
	tol := gc.tol
	if tol == 0 {
		tol = gradTol
	}
	for _, name := range wrt {
		x := feeds[name]
		fd := make([]float64, x.Len())
		scale := 1.0
		for i := range x.F64 {
			orig := x.F64[i]
			x.F64[i] = orig + gradEps
			lp := loss(feeds)
			x.F64[i] = orig - gradEps
			lm := loss(feeds)
			x.F64[i] = orig
			fd[i] = (lp - lm) / (2 * gradEps)
			scale = max(scale, math.Abs(fd[i]))
		}
		got := grads64[name]
		worst, at := 0.0, 0
		for i := range fd {
			if e := math.Abs(got.F64[i] - fd[i]); e > worst {
				worst, at = e, i
			}
		}
		if worst > tol*scale {
			t.Errorf("%s: d/d%s[%d] = %.9g, finite differences %.9g (error %.3g > %.1g·%.3g)", gc.name, name, at, got.F64[at], fd[at], worst, tol, scale)
		}
	}
	// Float32: the same gradient graph with float32 data.
	m32, _ := buildGradModel(gc, tensor.Float32)
	grads32, _, _ := runGrad(t, m32, wrt, gc, func(name string) *tensor.Dense {
		if d := feeds[name]; d != nil {
			return convertTo(d, tensor.Float32)
		}
		return convertTo(dys[strings.TrimPrefix(name, "grad_")], tensor.Float32)
	})
	for _, name := range wrt {
		a, b := grads64[name], grads32[name]
		scale := 1.0
		for _, v := range a.F64 {
			scale = max(scale, math.Abs(v))
		}
		for i, v := range b.F32 {
			if e := math.Abs(float64(v) - a.F64[i]); e > f32Tol*scale {
				t.Errorf("%s: float32 d/d%s[%d] = %.7g, float64 %.9g", gc.name, name, i, v, a.F64[i])
				break
			}
		}
	}
}

// runGrad differentiates m with respect to wrt and runs the gradient graph
// on gc's inputs (or feed's) with random seeds. It returns the gradients
// by wrt name, the feeds and the seeds by output name.
func runGrad(t *testing.T, m *onnx.Model, wrt []string, gc gradCase, feed func(string) *tensor.Dense) (map[string]*tensor.Dense, map[string]*tensor.Dense, map[string]*tensor.Dense) {
	t.Helper()
	gr, err := exec.Gradient(m, nil, wrt)
	if err != nil {
		t.Fatal(err)
	}
	if err := gr.Model.Graph.Validate(); err != nil {
		t.Fatalf("gradient graph: %v", err)
	}
	p, err := exec.Compile(gr.Model)
	if err != nil {
		t.Fatal(err)
	}
	feeds := map[string]*tensor.Dense{}
	for _, v := range m.Graph.Inputs {
		if feed != nil {
			feeds[v.Name] = feed(v.Name)
			continue
		}
		var i int
		fmt.Sscanf(v.Name, "x%d", &i)
		feeds[v.Name] = gc.in[i].Clone()
	}
	// The forward outputs' shapes give the seeds'.
	fwd, err := exec.Compile(m)
	if err != nil {
		t.Fatal(err)
	}
	ys, err := fwd.Run(feeds, exec.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 11))
	dys := map[string]*tensor.Dense{}
	all := map[string]*tensor.Dense{}
	for k, v := range feeds {
		all[k] = v
	}
	for i, of := range gr.Of {
		y := ys[of]
		var dy *tensor.Dense
		if feed != nil {
			dy = convertTo(feed(gr.Seeds[i]), y.DType)
		} else {
			dy = tensor.New(tensor.Float64, y.Shape...)
			for j := range dy.F64 {
				dy.F64[j] = rng.NormFloat64()
			}
		}
		dys[of] = dy
		all[gr.Seeds[i]] = dy
	}
	out, err := p.Run(all, exec.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	grads := map[string]*tensor.Dense{}
	for i, w := range gr.Wrt {
		g := out[gr.Grads[i]]
		if !tensor.SameShape(g.Shape, feeds[w].Shape) {
			t.Fatalf("gradient of %s has shape %v, want %v", w, g.Shape, feeds[w].Shape)
		}
		grads[w] = g
	}
	return grads, feeds, dys
}

// randn returns a float64 tensor of normal values; avoid lists points
// (kinks) that no value may lie within 1e-3 of.
func randn(seed uint64, shape []int, avoid ...float64) *tensor.Dense {
	rng := rand.New(rand.NewPCG(seed, 3))
	d := tensor.New(tensor.Float64, shape...)
	for i := range d.F64 {
	again:
		v := rng.NormFloat64()
		for _, k := range avoid {
			if math.Abs(v-k) < 1e-3 {
				goto again
			}
		}
		d.F64[i] = v
	}
	return d
}

// scaled returns d·s + o.
func scaled(d *tensor.Dense, s, o float64) *tensor.Dense {
	for i := range d.F64 {
		d.F64[i] = d.F64[i]*s + o
	}
	return d
}

func i64s(v ...int64) *tensor.Dense { return tensor.FromI64([]int{len(v)}, v) }

func f64s(v ...float64) *tensor.Dense { return tensor.FromF64(nil, v) }

func runGradCases(t *testing.T, cases []gradCase) {
	for _, gc := range cases {
		t.Run(gc.name, func(t *testing.T) { checkGrad(t, gc) })
	}
}
