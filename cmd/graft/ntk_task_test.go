package main

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ml/graft/data"
	"github.com/graft-ml/graft/exec"
	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// fmnistFile returns the path of a bundled Fashion-MNIST fixture file.
func fmnistFile(name string) string { return filepath.Join(fixtures.Dir(), "fmnist", name) }

// fmnistLabels8 writes the labels of input8.npy (the first 8 test images)
// to an .npy file and returns its path and the labels.
func fmnistLabels8(t *testing.T) (string, []int64) {
	t.Helper()
	all, err := data.OpenLabels(fmnistFile("t10k-labels-1k-idx1-ubyte.gz"))
	if err != nil {
		t.Fatal(err)
	}
	y := all[:8]
	path := filepath.Join(t.TempDir(), "y8.npy")
	if err := tensor.SaveNPY(path, tensor.FromI64([]int{8}, y)); err != nil {
		t.Fatal(err)
	}
	return path, y
}

// TestNTKTaskLossCommand checks `graft ntk --loss ce --params fc2` on the
// Fashion-MNIST model against a direct computation. fc2 is the last
// layer, logits z = W·h + b, so the per-sample gradient of the
// cross-entropy is (g ⊗ h, g) with g = softmax(z) − t, and the task
// kernel is (g_i·g_j)·(h_i·h_j + 1): no backward pass, only PyTorch's
// logits (logits_a.npy) and the fc2 input h from a forward run. graft
// computes in float32; 1e-4 of the largest entry leaves room for the
// float32 forward pass (h and the logits graft's kernel sees differ from
// PyTorch's in the sixth digit).
func TestNTKTaskLossCommand(t *testing.T) {
	labelPath, labels := fmnistLabels8(t)
	x, err := tensor.LoadNPY(fmnistFile("input8.npy"))
	if err != nil {
		t.Fatal(err)
	}
	z, err := tensor.LoadNPY(fmnistFile("logits_a.npy"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := onnx.Load(fmnistFile("a.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	prog, err := exec.Compile(m)
	if err != nil {
		t.Fatal(err)
	}
	const hidden = "/relu4/Relu_output_0" // fc2's input
	res, err := prog.Run(map[string]*tensor.Dense{"input": x}, exec.RunOptions{Outputs: []string{hidden}})
	if err != nil {
		t.Fatal(err)
	}
	h := res[hidden].Float64s()
	n, k, dh := 8, z.Shape[1], res[hidden].Shape[1]
	zs := z.Float64s()

	for _, smoothing := range []float64{0, 0.2} {
		g := make([]float64, n*k)
		for i := range n {
			row := zs[i*k : (i+1)*k]
			hi, sum := math.Inf(-1), 0.0
			for _, v := range row {
				hi = math.Max(hi, v)
			}
			for _, v := range row {
				sum += math.Exp(v - hi)
			}
			for a, v := range row {
				g[i*k+a] = math.Exp(v-hi)/sum - smoothing/float64(k)
				if int64(a) == labels[i] {
					g[i*k+a] -= 1 - smoothing
				}
			}
		}
		want := tensor.New(tensor.Float64, n, n)
		for i := range n {
			for j := range n {
				gg, hh := 0.0, 1.0
				for a := range k {
					gg += g[i*k+a] * g[j*k+a]
				}
				for d := range dh {
					hh += h[i*dh+d] * h[j*dh+d]
				}
				want.F64[i*n+j] = gg * hh
			}
		}
		out := filepath.Join(t.TempDir(), "task.npy")
		args := []string{"ntk", fmnistFile("a.onnx"), "--data", fmnistFile("input8.npy"), "--labels", labelPath,
			"--loss", "ce", "--params", "fc2", "--components", "-o", out}
		if smoothing != 0 {
			args = append(args, "--label-smoothing", "0.2")
		}
		code, stdout, stderr := graft(args...)
		if code != 0 {
			t.Fatalf("graft %v: exit %d: %s", args, code, stderr)
		}
		got, err := tensor.LoadNPY(out)
		if err != nil {
			t.Fatal(err)
		}
		if e := taskRelDiff(got, want); e > 1e-4 {
			t.Errorf("smoothing %g: task kernel differs from the direct computation by %.2g of its largest entry", smoothing, e)
		}
		if !strings.Contains(stdout, "task kernel of the cross-entropy loss") || !strings.Contains(stdout, "gemm for 2") {
			t.Errorf("report %q", stdout)
		}
		comps, err := tensor.LoadNPZ(strings.TrimSuffix(out, ".npy") + ".components.npz")
		if err != nil {
			t.Fatal(err)
		}
		sum := tensor.New(tensor.Float64, n, n)
		for _, c := range comps {
			for i, v := range c.F64 {
				sum.F64[i] += v
			}
		}
		// Both are float64 sums of the same float32 terms.
		if len(comps) != 2 || taskRelDiff(sum, got) > 1e-12 {
			t.Errorf("%d components sum to the kernel within %.2g", len(comps), taskRelDiff(sum, got))
		}
	}
}

// TestNTKTaskLossBlocks checks that a block of the task kernel holds the
// same entries as the whole kernel, each row and column sample paired
// with its own label.
func TestNTKTaskLossBlocks(t *testing.T) {
	labelPath, _ := fmnistLabels8(t)
	dir := t.TempDir()
	whole, block := filepath.Join(dir, "k.npy"), filepath.Join(dir, "b.npy")
	common := []string{"ntk", fmnistFile("a.onnx"), "--data", fmnistFile("input8.npy"), "--labels", labelPath, "--loss", "ce", "--params", "fc2"}
	for _, args := range [][]string{
		append(common[:len(common):len(common)], "-o", whole),
		append(common[:len(common):len(common)], "--rows", "2:5", "--cols", "4:8", "-o", block),
	} {
		if code, _, stderr := graft(args...); code != 0 {
			t.Fatalf("graft %v: exit %d: %s", args, code, stderr)
		}
	}
	k := taskLoadNPY(t, whole)
	b := taskLoadNPY(t, block)
	if !tensor.SameShape(k.Shape, []int{8, 8}) || !tensor.SameShape(b.Shape, []int{3, 4}) {
		t.Fatalf("kernel %v, block %v; want [8 8] and [3 4]", k.Shape, b.Shape)
	}
	for i := range 3 {
		for j := range 4 {
			got, want := b.F64[i*4+j], k.F64[(i+2)*8+j+4]
			if math.Abs(got-want) > 1e-5*math.Abs(want)+1e-9 {
				t.Errorf("block [%d,%d] = %g, whole kernel has %g", i, j, got, want)
			}
		}
	}
}

// TestNTKTaskLossIDX checks that IDX images take their labels from the
// label file beside them: the kernel equals the one computed with that
// file given as --labels. The images are raw pixels, which the model
// (trained on normalised ones) classifies with near-certainty, so most
// per-sample gradients vanish in float32; a label out of step would
// still change the kernel, since a confidently wrong sample's gradient
// does not vanish.
func TestNTKTaskLossIDX(t *testing.T) {
	dir := t.TempDir()
	images := fmnistFile("t10k-images-1k-idx3-ubyte.gz")
	auto, given := filepath.Join(dir, "auto.npy"), filepath.Join(dir, "given.npy")
	common := []string{"ntk", fmnistFile("a.onnx"), "--data", images, "--limit", "8", "--loss", "ce", "--params", "fc2"}
	for _, args := range [][]string{
		append(common[:len(common):len(common)], "-o", auto),
		append(common[:len(common):len(common)], "--labels", fmnistFile("t10k-labels-1k-idx1-ubyte.gz"), "-o", given),
	} {
		if code, _, stderr := graft(args...); code != 0 {
			t.Fatalf("graft %v: exit %d: %s", args, code, stderr)
		}
	}
	a, g := taskLoadNPY(t, auto), taskLoadNPY(t, given)
	if !tensor.SameShape(a.Shape, []int{8, 8}) {
		t.Fatalf("kernel %v, want [8 8]", a.Shape)
	}
	if e := taskRelDiff(a, g); !(e <= 1e-12) {
		t.Errorf("kernels with the sibling labels and with --labels differ by %.2g", e)
	}
}

func taskLoadNPY(t *testing.T, path string) *tensor.Dense {
	t.Helper()
	d, err := tensor.LoadNPY(path)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestNTKTaskLossErrors checks the command's errors for --loss: usage
// errors (exit 2) for flag combinations and missing labels, errors (exit
// 1) for labels the logits cannot take.
func TestNTKTaskLossErrors(t *testing.T) {
	labelPath, _ := fmnistLabels8(t)
	bad := filepath.Join(t.TempDir(), "bad.npy")
	if err := tensor.SaveNPY(bad, tensor.FromI64([]int{8}, []int64{0, 1, 2, 3, 4, 5, 6, 10})); err != nil {
		t.Fatal(err)
	}
	model, x8 := fmnistFile("a.onnx"), fmnistFile("input8.npy")
	out := filepath.Join(t.TempDir(), "k.npy")
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no_labels", []string{"--data", x8, "--loss", "ce"}, 2, "--loss ce needs labels"},
		{"unknown_loss", []string{"--data", x8, "--loss", "mse"}, 2, "want ce"},
		{"labels_without_loss", []string{"--data", x8, "--labels", labelPath}, 2, "need --loss ce"},
		{"mode_with_loss", []string{"--data", x8, "--labels", labelPath, "--loss", "ce", "--mode", "full"}, 2, "--mode does not apply"},
		{"label_out_of_range", []string{"--data", x8, "--labels", bad, "--loss", "ce"}, 1, "label 10 of sample 7 is outside the 10 classes"},
		{"smoothing", []string{"--data", x8, "--labels", labelPath, "--loss", "ce", "--label-smoothing", "2"}, 1, "label smoothing 2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"ntk", model, "--params", "fc2", "-o", out}, c.args...)
			code, _, stderr := graft(args...)
			if code != c.code || !strings.Contains(stderr, c.want) {
				t.Errorf("graft %v: exit %d, stderr %q; want exit %d mentioning %q", args, code, stderr, c.code, c.want)
			}
		})
	}
}

// taskRelDiff is the largest difference between got and want relative
// to want's largest entry.
func taskRelDiff(got, want *tensor.Dense) float64 {
	g, w := got.Float64s(), want.Float64s()
	if len(g) != len(w) {
		return math.Inf(1)
	}
	scale, worst := 0.0, 0.0
	for i := range w {
		scale = math.Max(scale, math.Abs(w[i]))
		worst = math.Max(worst, math.Abs(g[i]-w[i]))
	}
	return worst / scale
}
