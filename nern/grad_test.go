package nern

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/graft-ml/graft/exec"
	"github.com/graft-ml/graft/tensor"
)

func f64(d *tensor.Dense) *tensor.Dense {
	if d.DType != tensor.Float32 {
		return d
	}
	return tensor.FromF64(d.Shape, d.Float64s())
}

// TestGradientFiniteDifferences checks the gradient of the whole loss
// with respect to the predictor's weights against central differences,
// on a float64 copy of the training graph (exec.Float64). λ_fm = λ_kd = 1
// so that all three terms weigh in.
// ε = 1e-8: at 1e-6 some of the CNN's thousands of ReLUs cross their kink
// when a last-layer bias (which moves every kernel) changes, and the
// difference is off by 0.3%. The tolerance is 1e-5 relative plus 1e-6
// absolute: the loss (~20) is exact to ~1e-15 relative, so the
// difference quotient carries ~20·1e-15/1e-8 = 2e-6… 2e-7 of rounding.
func TestGradientFiniteDifferences(t *testing.T) {
	o := DefaultOptions()
	o.Hidden, o.Batch, o.KernelBatch, o.LambdaFM, o.LambdaKD, o.Levels = 6, 2, 256, 1, 1, 8
	r, err := NewRun(loadFixture(t), "", fmnist(t, "train-images-2k-idx3-ubyte.gz"), nil, o)
	if err != nil {
		t.Fatal(err)
	}
	last := len(r.Pred.Weights) - 1
	for _, d := range []*tensor.Dense{r.Pred.Weights[last], r.Pred.Biases[last]} {
		for i := range d.F32 {
			d.F32[i] *= 0.05 // as in TestReferenceStep
		}
	}
	full, err := fullModel(r.Orig, r.Layers, r.Perms, r.Pred, r.emb, r.Blocks, o.LambdaFM, o.LambdaKD)
	if err != nil {
		t.Fatal(err)
	}
	m64, err := exec.Float64(full)
	if err != nil {
		t.Fatal(err)
	}
	names := r.Pred.paramNames()
	for _, n := range names {
		m64.Graph.PromoteToInput(m64.Graph.Value(n)) // an overridable initializer
	}
	gr, err := exec.Gradient(m64, []string{outLoss}, names)
	if err != nil {
		t.Fatal(err)
	}
	gp, err := exec.Compile(gr.Model)
	if err != nil {
		t.Fatal(err)
	}
	fp, err := exec.Compile(m64)
	if err != nil {
		t.Fatal(err)
	}

	sample := r.Sample(1)
	x, feeds, err := r.inputs(sample)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.compile(); err != nil {
		t.Fatal(err)
	}
	want := append([]string{r.Orig.Graph.Outputs[0].Name}, r.Blocks...)
	orig, err := r.origProg.Run(map[string]*tensor.Dense{"input": x}, exec.RunOptions{Outputs: want})
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]*tensor.Dense{"input": f64(x), inLogits: f64(orig[want[0]])}
	for k, v := range feeds {
		in[k] = f64(v)
	}
	for i, b := range r.Blocks {
		in[inFM+strconv.Itoa(i)] = f64(orig[b])
	}
	params := map[string]*tensor.Dense{}
	for n, d := range r.Pred.tensors() {
		params[n] = f64(d)
		in[n] = params[n]
	}
	loss := func() float64 {
		out, err := fp.Run(in, exec.RunOptions{Outputs: []string{outLoss}})
		if err != nil {
			t.Fatal(err)
		}
		return out[outLoss].F64[0]
	}
	gin := map[string]*tensor.Dense{gr.Seeds[0]: tensor.FromF64(nil, []float64{1})}
	for k, v := range in {
		gin[k] = v
	}
	gout, err := gp.Run(gin, exec.RunOptions{Outputs: gr.Grads})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const eps = 1e-8
	for i, n := range names {
		g := gout[gr.Grads[i]].F64
		p := params[n].F64
		for range 2 {
			j := rng.IntN(len(p))
			x0 := p[j]
			p[j] = x0 + eps
			up := loss()
			p[j] = x0 - eps
			down := loss()
			p[j] = x0
			fd := (up - down) / (2 * eps)
			if math.Abs(fd-g[j]) > 1e-6+1e-5*math.Abs(fd) {
				t.Errorf("d loss / d %s[%d]: graph %.10g, central difference %.10g", n, j, g[j], fd)
			}
		}
	}
}
