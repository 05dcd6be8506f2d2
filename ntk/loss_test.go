package ntk

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ml/graft/exec"
	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// testLabels returns n labels spread over k classes.
func testLabels(n, k int) []int64 {
	y := make([]int64, n)
	for i := range y {
		y[i] = int64((3*i + 1) % k)
	}
	return y
}

// logits runs m on x (any number of samples, whatever batch m fixes) and
// returns its first output in float64, (N, K).
func logits(t *testing.T, m *onnx.Model, x *tensor.Dense) *tensor.Dense {
	t.Helper()
	prog, err := exec.Compile(m)
	if err != nil {
		t.Fatal(err)
	}
	var in string
	for _, v := range m.Graph.Inputs {
		if v.Const == nil {
			in = v.Name
		}
	}
	out := m.Graph.Outputs[0].Name
	res, err := prog.RunSamples(in, map[string]*tensor.Dense{in: x}, []string{out}, exec.AllSamples)
	if err != nil {
		t.Fatal(err)
	}
	z := res[out]
	return tensor.FromF64([]int{z.Shape[0], z.Len() / z.Shape[0]}, z.Float64s())
}

// contractLoss is the task kernel by the chain rule, from the full output
// kernel (N, N, K, K) and the logits (N, K): Σ_ab g_i[a]·Θ[i,j,a,b]·g_j[b]
// with g = softmax(z) − t, t = (1−S)·onehot(y) + S/K.
func contractLoss(full, z *tensor.Dense, labels []int64, smoothing float64) *tensor.Dense {
	n, k := z.Shape[0], z.Shape[1]
	g := make([]float64, n*k)
	for i := range n {
		row := z.F64[i*k : (i+1)*k]
		hi := math.Inf(-1)
		for _, v := range row {
			hi = math.Max(hi, v)
		}
		sum := 0.0
		for _, v := range row {
			sum += math.Exp(v - hi)
		}
		for a, v := range row {
			target := smoothing / float64(k)
			if int64(a) == labels[i] {
				target += 1 - smoothing
			}
			g[i*k+a] = math.Exp(v-hi)/sum - target
		}
	}
	want := tensor.New(tensor.Float64, n, n)
	th := full.Float64s()
	for i := range n {
		for j := range n {
			var s float64
			for a := range k {
				for b := range k {
					s += g[i*k+a] * th[((i*n+j)*k+a)*k+b] * g[j*k+b]
				}
			}
			want.F64[i*n+j] = s
		}
	}
	return want
}

// TestCrossEntropyAgainstFunctorch checks the task kernel, computed by
// differentiating the appended loss, against the chain rule applied to
// functorch's full output kernel (gen_ntk.py) with graft's logits, on
// the MLP, CNN and residual CNN fixtures, with and without label
// smoothing, through every path (layerwise factors, one-conv models,
// whole-model per-sample passes). The bar is ntkTol relative to the
// largest entry, as for the output kernels: the contraction with g, whose
// entries are at most 1 in size, adds only K² float64 products. Mode
// Full is passed on purpose: with Loss it does not apply, and the kernel
// must still be (N, N).
func TestCrossEntropyAgainstFunctorch(t *testing.T) {
	paths := []struct {
		name string
		flag *bool
	}{{"layerwise", nil}, {"conv_model", &forceConvModel}, {"jacobian", &forceJacobian}}
	for _, name := range []string{"mlp", "cnn", "rescnn"} {
		for _, smoothing := range []float64{0, 0.1} {
			for _, path := range paths {
				if path.flag == &forceConvModel && name == "mlp" {
					continue // no convs
				}
				t.Run(fmt.Sprintf("%s/%s/smoothing%g", name, path.name, smoothing), func(t *testing.T) {
					if path.flag != nil {
						*path.flag = true
						defer func() { *path.flag = false }()
					}
					m, x, dir := loadNTKFixture(t, name)
					full, err := tensor.LoadNPY(filepath.Join(dir, "full.npy"))
					if err != nil {
						t.Fatal(err)
					}
					z := logits(t, m, x)
					labels := testLabels(x.Shape[0], z.Shape[1])
					want := contractLoss(full, z, labels, smoothing)
					r, err := Compute(m, x, Options{Mode: Mode{Kind: Full}, Loss: &CrossEntropy{Labels: labels, Smoothing: smoothing}, Components: true, Chunk: 4})
					if err != nil {
						t.Fatal(err)
					}
					if r.Outputs != 1 {
						t.Errorf("Outputs = %d, want 1 (the loss)", r.Outputs)
					}
					e := relErr(t, r.Kernel, want)
					if e > ntkTol {
						t.Errorf("task kernel: relative error %.2g", e)
					}
					t.Logf("task kernel within %.2g of the chain rule on functorch's kernel; paths %v", e, r.Paths)
					checkComponentsSum(t, r)
				})
			}
		}
	}
}

// checkComponentsSum checks that the per-parameter kernels sum to the
// kernel. Both are float64 sums of the same float32 Gram entries, in
// another order, so they agree to float64 rounding: 1e-12 relative.
func checkComponentsSum(t *testing.T, r *Result) {
	t.Helper()
	if len(r.Components) != len(r.Params) {
		t.Fatalf("%d components for %d parameters", len(r.Components), len(r.Params))
	}
	sum := tensor.New(tensor.Float64, r.Kernel.Shape...)
	for _, c := range r.Components {
		for i, v := range c.F64 {
			sum.F64[i] += v
		}
	}
	if e := relErr(t, sum, r.Kernel); e > 1e-12 {
		t.Errorf("components sum to the kernel within %.2g relative, want 1e-12", e)
	}
}

// TestCrossEntropyBlocks checks that task-kernel blocks computed apart,
// with small chunks and a parameter subset, assemble to the kernel
// computed at once: each block must pair its samples with their own
// labels. The two computations hold the same float32 factors, so they
// agree to the accumulation order, as in TestBlocksAssemble.
func TestCrossEntropyBlocks(t *testing.T) {
	m, x, _ := loadNTKFixture(t, "rescnn")
	n := x.Shape[0]
	loss := &CrossEntropy{Labels: testLabels(n, 4), Smoothing: 0.05}
	params := []string{"fc", "conv1"}
	checkBlocks(t, m, x, Options{Loss: loss, Params: params})
}

// TestCrossEntropyFixedBatch runs cnn_bn, exported with a fixed batch of
// 2, on 3 samples, so that runs are padded: the targets must be padded
// with the samples. The reference is the chain rule on graft's own full
// output kernel, which TestFixedBatchModel holds to per-sample passes;
// both sides come from the same float32 gradients, so 1e-5 relative.
func TestCrossEntropyFixedBatch(t *testing.T) {
	_, m, x := fixedBatchModel(t, 5, 6)
	full, err := Compute(m, x, Options{Mode: Mode{Kind: Full}})
	if err != nil {
		t.Fatal(err)
	}
	z := logits(t, m, x)
	labels := []int64{2, 0, int64(z.Shape[1] - 1)}
	want := contractLoss(full.Kernel, z, labels, 0)
	for _, jac := range []bool{false, true} {
		forceJacobian = jac
		got, err := Compute(m, x, Options{Loss: &CrossEntropy{Labels: labels}})
		forceJacobian = false
		if err != nil {
			t.Fatal(err)
		}
		if e := relErr(t, got.Kernel, want); e > 1e-5 {
			t.Errorf("padded task kernel (per-sample passes: %v): relative error %.2g", jac, e)
		}
	}
}

// TestCrossEntropyErrors checks the errors for labels that do not fit
// the samples or the logits, bad smoothing, and outputs that are not
// logits (N, K).
func TestCrossEntropyErrors(t *testing.T) {
	m, x, _ := loadNTKFixture(t, "mlp") // 6 samples, 5 outputs
	fx, err := fixtures.Load("transformer")
	if err != nil {
		t.Fatal(err)
	}
	tm, err := onnx.Load(fx.Model())
	if err != nil {
		t.Fatal(err)
	}
	tx, err := tensor.LoadNPY(fx.Path(fx.Inputs[0].File))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		m    *onnx.Model
		x    *tensor.Dense
		loss CrossEntropy
		want string
	}{
		{"few_labels", m, x, CrossEntropy{Labels: []int64{0, 1}}, "2 labels for 6 samples"},
		{"label_too_big", m, x, CrossEntropy{Labels: []int64{0, 1, 2, 3, 4, 5}}, "label 5 of sample 5 is outside the 5 classes"},
		{"negative_label", m, x, CrossEntropy{Labels: []int64{0, -1, 2, 3, 4, 0}}, "label -1 of sample 1"},
		{"smoothing", m, x, CrossEntropy{Labels: testLabels(6, 5), Smoothing: 1.5}, "label smoothing 1.5"},
		{"smoothing_nan", m, x, CrossEntropy{Labels: testLabels(6, 5), Smoothing: math.NaN()}, "label smoothing NaN"},
		{"not_logits", tm, tx, CrossEntropy{Labels: testLabels(tx.Shape[0], 2)}, "needs logits (N, K)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Compute(c.m, c.x, Options{Loss: &c.loss})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one mentioning %q", err, c.want)
			}
		})
	}
}
