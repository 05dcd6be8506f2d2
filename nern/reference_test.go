package nern

import (
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/graft-ml/graft/data"
	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

const fixtureModel = "../fixtures/nern/resnet20.onnx"

// fmnist opens a Fashion-MNIST subset of fixtures/fmnist, normalised as
// the fixture model was trained (fixtures/nern/nern.json).
func fmnist(t testing.TB, name string) data.Source {
	t.Helper()
	src, err := data.Open(filepath.Join("..", "fixtures", "fmnist", name), data.Options{Mean: []float64{0.2860}, Std: []float64{0.3530}})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func loadFixture(t testing.TB) *onnx.Model {
	t.Helper()
	m, err := onnx.Load(fixtureModel)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// runPython runs fixtures/gen_nern.py with args, skipping the test
// outside CI when torch is missing (CI installs it).
func runPython(t *testing.T, args ...string) {
	t.Helper()
	if err := exec.Command(fixtures.Python, "-c", "import torch, onnx").Run(); err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("the PyTorch reference needs %s with torch and onnx: %v", fixtures.Python, err)
		}
		t.Fatalf("the PyTorch reference needs %s with torch and onnx: %v", fixtures.Python, err)
	}
	cmd := exec.Command(fixtures.Python, append([]string{filepath.Join("..", "fixtures", "gen_nern.py")}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gen_nern.py %v: %v\n%s", args, err, out)
	}
}

// referenceInputs are the settings and tensors gen_nern.py's step and
// train modes read.
func referenceInputs(t *testing.T, r *Run, absModel string) map[string]*tensor.Dense {
	o := r.Opts
	f := func(v float64) *tensor.Dense { return tensor.FromF64(nil, []float64{v}) }
	in := map[string]*tensor.Dense{
		"model": bytesU8(absModel), "perm": bytesU8(o.Perm),
		"levels": f(float64(o.Levels)), "base": f(o.Base),
		"lambda_fm": f(o.LambdaFM), "lambda_kd": f(o.LambdaKD),
		"lr": f(o.LR), "min_lr": f(o.MinLR), "beta1": f(o.Beta1), "beta2": f(o.Beta2), "eps": f(o.Eps),
		"weight_decay": f(o.WeightDecay), "k": f(6), "alpha": f(0.5),
		"layers": f(float64(len(r.Pred.Weights))),
	}
	for i := range r.Pred.Weights {
		in["w"+strconv.Itoa(i)] = r.Pred.Weights[i].Clone()
		in["b"+strconv.Itoa(i)] = r.Pred.Biases[i].Clone()
	}
	return in
}

func bytesU8(s string) *tensor.Dense {
	return bytesTensor([]byte(s)) // gen_nern.py decodes it with .astype(np.uint8)
}

// maxRelDiff returns max|a−b| / max|b| (b the reference).
func maxRelDiff(a, b []float64) float64 {
	var d, s float64
	for i := range a {
		d = math.Max(d, math.Abs(a[i]-b[i]))
		s = math.Max(s, math.Abs(b[i]))
	}
	return d / math.Max(s, 1e-30)
}

// TestReferenceStep compares one step with fixtures/gen_nern.py's own
// implementation from the same predictor, batch and kernel sample: the
// coordinates and permutations exactly, the embeddings within 1e-5, the
// loss terms within 1e-5 relative and the updated weights within 1e-5
// (relative to each tensor's largest value).
func TestReferenceStep(t *testing.T) {
	abs, err := filepath.Abs(fixtureModel)
	if err != nil {
		t.Fatal(err)
	}
	o := DefaultOptions()
	// A small predictor and batch keep the test under a few seconds; the
	// loss weights are 1 so that L_fm and L_kd move the weights visibly.
	o.Hidden, o.Batch, o.KernelBatch, o.LambdaFM, o.LambdaKD = 24, 8, 1024, 1, 1
	r, err := NewRun(loadFixture(t), "", fmnist(t, "train-images-2k-idx3-ubyte.gz"), nil, o)
	if err != nil {
		t.Fatal(err)
	}
	// The default initialisation predicts kernels ~10× larger than the
	// model's, whose rebuilt network's activations grow ~10× per layer, to
	// ~1e19 at the last block, where PyTorch's float32 norm overflows.
	// Scaling the last layer by 0.05 keeps both implementations in range.
	last := len(r.Pred.Weights) - 1
	for _, d := range []*tensor.Dense{r.Pred.Weights[last], r.Pred.Biases[last]} {
		for i := range d.F32 {
			d.F32[i] *= 0.05
		}
	}
	sample := r.Sample(0)
	x, _, err := r.inputs(sample)
	if err != nil {
		t.Fatal(err)
	}
	in := referenceInputs(t, r, abs)
	in["x"] = x
	in["pos"] = tensor.FromI64([]int{len(sample.Positions)}, sample.Positions)
	dir := t.TempDir()
	if d := os.Getenv("NERN_KEEP"); d != "" {
		dir = d
	}
	if err := tensor.SaveNPZ(filepath.Join(dir, "in.npz"), in); err != nil {
		t.Fatal(err)
	}
	runPython(t, "step", filepath.Join(dir, "in.npz"), filepath.Join(dir, "out.npz"))
	ref, err := tensor.LoadNPZ(filepath.Join(dir, "out.npz"))
	if err != nil {
		t.Fatal(err)
	}

	coords := Coords(r.Layers)
	for i, c := range coords {
		for j := range c {
			if int64(c[j]) != ref["coords"].I64[i*3+j] {
				t.Fatalf("coordinate %d: got %v, reference %v", i, c, ref["coords"].I64[i*3:i*3+3])
			}
		}
	}
	if d := maxAbs(r.emb.Float64s(), ref["embedding"].Float64s()); d > 1e-5 {
		t.Errorf("embedding: max |diff| %.3g, want <= 1e-5", d)
	}
	for _, kind := range []string{PermCrossfilter, PermInfilter} {
		perms, err := Permute(r.Layers, kind)
		if err != nil {
			t.Fatal(err)
		}
		for l, p := range perms {
			want := ref[kind+strconv.Itoa(l)].I64
			for i := range p {
				if int64(p[i]) != want[i] {
					t.Errorf("%s permutation of layer %d differs from the reference at position %d: %d, want %d", kind, l, i, p[i], want[i])
					break
				}
			}
		}
	}

	losses, params, err := r.Gradients(sample, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"l_rec", losses.Rec, ref["l_rec"].F64[0]},
		{"l_fm", losses.FM, ref["l_fm"].F64[0]},
		{"l_kd", losses.KD, ref["l_kd"].F64[0]},
		{"loss", losses.Loss, ref["loss"].F64[0]},
	} {
		if rel := math.Abs(c.got-c.want) / math.Abs(c.want); rel > 1e-5 {
			t.Errorf("%s: %.8g, reference %.8g (relative difference %.3g > 1e-5)", c.name, c.got, c.want, rel)
		}
	}
	for i, p := range params {
		if d := maxRelDiff(p.Grad.Float64s(), ref["g"+strconv.Itoa(i)].Float64s()); d > 1e-4 {
			t.Errorf("gradient of %s: max |diff| / max |ref| = %.3g > 1e-4", p.Name, d)
		}
	}
	if err := r.opt.Step(params, r.sched.LR(0)); err != nil {
		t.Fatal(err)
	}
	for i, p := range params {
		if d := maxAbs(p.Value.Float64s(), ref["p"+strconv.Itoa(i)].Float64s()); d > 1e-5 {
			t.Errorf("%s after one step: max |diff| %.3g > 1e-5", p.Name, d)
		}
	}
}

func maxAbs(a, b []float64) float64 {
	var d float64
	for i := range a {
		d = math.Max(d, math.Abs(a[i]-b[i]))
	}
	return d
}
