package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/graft-ml/graft/eval"
	"github.com/graft-ml/graft/exec"
	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// fmnist returns the path of a bundled Fashion-MNIST fixture file.
func fmnist(name string) string { return filepath.Join(fixtures.Dir(), "fmnist", name) }

var fmnistNorm = []string{"--mean", "0.2860", "--std", "0.3530"}

// ortCheck runs the model at path in graft and in ONNX Runtime (after
// onnx.checker) on x and returns the largest difference.
func ortCheck(t *testing.T, path string, x *tensor.Dense) float64 {
	t.Helper()
	m, err := onnx.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := exec.Compile(m)
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Run(map[string]*tensor.Dense{"input": x}, exec.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return maxDiff(res[m.Graph.Outputs[0].Name], fixtures.ORTOutput(t, m, "input", x))
}

func maxDiff(a, b *tensor.Dense) float64 {
	worst := 0.0
	av, bv := a.Float64s(), b.Float64s()
	if len(av) != len(bv) {
		return math.Inf(1)
	}
	for i := range av {
		worst = math.Max(worst, math.Abs(av[i]-bv[i]))
	}
	return worst
}

func testAccuracy(t *testing.T, out, model string) float64 {
	t.Helper()
	m := regexp.MustCompile(`test top-1 on \d+ samples: ` + model + ` +([0-9.]+) %`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no test accuracy for %s in %q", model, out)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v / 100
}

// TestStitchFitFashionMNIST is the README's main command: stitch the two
// bundled CNNs at pool2 with a fitted 1x1 adapter. The linear fit must
// reproduce PyTorch's (gen_fmnist.py solves the same normal equations in
// float64): the stitched model's logits on the reference images within
// 1e-2 (activations differ by float32 rounding between the runtimes, and
// the 64×64 system amplifies that by its condition number, ~1e3) and the
// same accuracy; every kind's model passes onnx.checker and runs in ONNX
// Runtime as in graft.
func TestStitchFitFashionMNIST(t *testing.T) {
	x8, err := tensor.LoadNPY(fmnist("input8.npy"))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := tensor.LoadNPY(fmnist("logits_stitch.npy"))
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"linear", "lowrank:16", "procrustes", "procrustes:unscaled"} {
		t.Run(kind, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "ab.onnx")
			args := append([]string{"stitch", fmnist("a.onnx"), "--at", "pool2", fmnist("b.onnx"), "--from", "pool2",
				"--fit", kind, "--data", fmnist("train-images-2k-idx3-ubyte.gz"), "--test", fmnist("t10k-images-1k-idx3-ubyte.gz"), "-o", out}, fmnistNorm...)
			code, stdout, stderr := graft(args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			acc := testAccuracy(t, stdout, "stitched")
			t.Logf("%s: stitched top-1 %.3f (A %.3f, B %.3f)", kind, acc, testAccuracy(t, stdout, "A"), testAccuracy(t, stdout, "B"))
			if d := ortCheck(t, out, x8); d > 1e-4 {
				t.Errorf("ONNX Runtime and graft differ by %.3g on the stitched model", d)
			}
			if kind != "linear" {
				if acc < 0.5 {
					t.Errorf("stitched accuracy %.3f: the adapter does not work", acc)
				}
				return
			}
			if acc != 0.903 {
				t.Errorf("stitched top-1 %.3f, PyTorch's stitch with its own least-squares adapter scores 0.903", acc)
			}
			m, err := onnx.Load(out)
			if err != nil {
				t.Fatal(err)
			}
			p, err := exec.Compile(m)
			if err != nil {
				t.Fatal(err)
			}
			res, err := p.Run(map[string]*tensor.Dense{"input": x8}, exec.RunOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if d := maxDiff(res["logits"], ref); d > 1e-2 {
				t.Errorf("stitched logits differ from PyTorch's stitch by %.3g", d)
			}
		})
	}
}

// TestStitchFitResize joins A's pool1 (32×14×14) to B's pool2 (64×7×7):
// the adapter resizes bilinearly and fits a 3×3 conv; the result runs in
// ONNX Runtime as in graft and keeps its accuracy.
func TestStitchFitResize(t *testing.T) {
	x8, err := tensor.LoadNPY(fmnist("input8.npy"))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "ab.onnx")
	args := append([]string{"stitch", fmnist("a.onnx"), "--at", "pool1", fmnist("b.onnx"), "--from", "pool2", "--fit", "linear", "--kernel", "3",
		"--data", fmnist("train-images-2k-idx3-ubyte.gz"), "--limit", "1000", "--test", fmnist("t10k-images-1k-idx3-ubyte.gz"), "-o", out}, fmnistNorm...)
	code, stdout, stderr := graft(args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "resized bilinearly 14x14 → 7x7") || !strings.Contains(stdout, "288 → 64") {
		t.Errorf("report %q does not say it resized and fitted 3×3 patches", stdout)
	}
	if acc := testAccuracy(t, stdout, "stitched"); acc < 0.8 {
		t.Errorf("stitched accuracy %.3f", acc)
	}
	if d := ortCheck(t, out, x8); d > 1e-4 {
		t.Errorf("ONNX Runtime and graft differ by %.3g", d)
	}
}

func TestStitchFitErrors(t *testing.T) {
	base := []string{"stitch", fmnist("a.onnx"), "--at", "pool2", fmnist("b.onnx"), "--from", "pool2", "-o", filepath.Join(t.TempDir(), "x.onnx")}
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--fit", "cubic", "--data", fmnist("input8.npy")}, 2, "want linear, lowrank:R, procrustes or procrustes:unscaled"},
		{[]string{"--fit", "linear"}, 2, "needs --data"},
		{[]string{"--fit", "lowrank:0", "--data", fmnist("input8.npy")}, 2, "positive rank"},
		{[]string{"--fit", "linear", "--data", "/nonexistent.npy"}, 1, "no such file"},
		// 8 samples × 49 pixels = 392 rows: enough for 64 inputs, but a
		// 3×3 kernel has 576 inputs per row.
		{[]string{"--fit", "linear", "--kernel", "3", "--data", fmnist("input8.npy")}, 1, "samples"},
	}
	for _, c := range cases {
		code, _, stderr := graft(append(append([]string{}, base...), c.args...)...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", c.args, code, stderr, c.code, c.want)
		}
	}
}

// TestEvalMatchesPyTorch checks eval's accuracy against what PyTorch
// measured on the same 1000 images (gen_fmnist.py), exactly, and that
// agreement and labels errors work.
func TestEvalMatchesPyTorch(t *testing.T) {
	var man struct {
		Models map[string]struct {
			Acc float64 `json:"test_acc_1k"`
		} `json:"models"`
	}
	data, err := os.ReadFile(fmnist("fmnist.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &man); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]float64{"a": man.Models["a"].Acc, "b": man.Models["b"].Acc} {
		args := append([]string{"eval", fmnist(name + ".onnx"), "--data", fmnist("t10k-images-1k-idx3-ubyte.gz"), "--compare", fmnist("a.onnx"), "--json"}, fmnistNorm...)
		code, stdout, stderr := graft(args...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		var r eval.Result
		if err := json.Unmarshal([]byte(stdout), &r); err != nil {
			t.Fatalf("%v: %q", err, stdout)
		}
		if r.Top1 == nil || *r.Top1 != want {
			t.Errorf("%s: top-1 %v, PyTorch %v", name, r.Top1, want)
		}
		if name == "a" && (r.Agreement == nil || *r.Agreement != 1) {
			t.Errorf("a against itself: agreement %v, want 1", r.Agreement)
		}
	}
	code, _, stderr := graft("eval", fmnist("a.onnx"), "--data", fmnist("t10k-images-1k-idx3-ubyte.gz"), "--labels", fmnist("train-labels-2k-idx1-ubyte.gz"))
	if code != 1 || !strings.Contains(stderr, "2000 labels") {
		t.Errorf("mismatched labels: exit %d, %q", code, stderr)
	}
}

// TestSimilaritySelf checks closed-form values: a layer against itself
// has CKA 1, Procrustes distance 0 and R² 1.
func TestSimilaritySelf(t *testing.T) {
	js := filepath.Join(t.TempDir(), "s.json")
	png := filepath.Join(t.TempDir(), "s.png")
	args := append([]string{"similarity", fmnist("a.onnx"), "--a", "pool2,relu3", "--data", fmnist("t10k-images-1k-idx3-ubyte.gz"), "--limit", "300", "-o", js, "--heatmap", png}, fmnistNorm...)
	code, _, stderr := graft(args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var r struct {
		CKA, Procrustes, R2 [][]float64
	}
	data, _ := os.ReadFile(js)
	if err := json.Unmarshal(data, &struct {
		CKA        *[][]float64 `json:"cka"`
		Procrustes *[][]float64 `json:"procrustes_distance"`
		R2         *[][]float64 `json:"r2"`
	}{&r.CKA, &r.Procrustes, &r.R2}); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if math.Abs(r.CKA[i][i]-1) > 1e-9 || math.Abs(r.Procrustes[i][i]) > 1e-6 || math.Abs(r.R2[i][i]-1) > 1e-6 {
			t.Errorf("layer %d with itself: CKA %g, distance %g, R² %g", i, r.CKA[i][i], r.Procrustes[i][i], r.R2[i][i])
		}
	}
	if r.CKA[0][1] >= 1 || r.CKA[0][1] <= 0 {
		t.Errorf("pool2 vs relu3 CKA %g, want strictly between 0 and 1", r.CKA[0][1])
	}
	if st, err := os.Stat(png); err != nil || st.Size() == 0 {
		t.Errorf("no heatmap: %v", err)
	}
}

// TestLowRank factorises a Gemm from its SVD and a Conv fitted to data;
// the results pass onnx.checker, run in ONNX Runtime as in graft, and
// keep most of the accuracy.
func TestLowRank(t *testing.T) {
	x8, err := tensor.LoadNPY(fmnist("input8.npy"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range [][]string{
		{"--layer", "fc1", "--rank", "16"},
		append([]string{"--layer", "conv3", "--rank", "16", "--data", fmnist("train-images-2k-idx3-ubyte.gz"), "--limit", "500"}, fmnistNorm...),
		{"--ratio", "0.5"},
	} {
		out := filepath.Join(t.TempDir(), "lr.onnx")
		code, stdout, stderr := graft(append([]string{"lowrank", fmnist("a.onnx"), "-o", out}, c...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", c, code, stderr)
		}
		if !strings.Contains(stdout, "factorised") {
			t.Errorf("%v: no report in %q", c, stdout)
		}
		if d := ortCheck(t, out, x8); d > 1e-4 {
			t.Errorf("%v: ONNX Runtime and graft differ by %.3g", c, d)
		}
		code, stdout, _ = graft(append([]string{"eval", out, "--data", fmnist("t10k-images-1k-idx3-ubyte.gz"), "--json"}, fmnistNorm...)...)
		var r eval.Result
		if code != 0 || json.Unmarshal([]byte(stdout), &r) != nil || r.Top1 == nil || *r.Top1 < 0.7 {
			t.Errorf("%v: accuracy after factorising %v (exit %d)", c, r.Top1, code)
		}
	}
	code, _, stderr := graft("lowrank", fmnist("a.onnx"), "--layer", "fc2", "--rank", "10", "-o", filepath.Join(t.TempDir(), "x.onnx"))
	if code != 1 || !strings.Contains(stderr, "does not reduce") {
		t.Errorf("rank at full size: exit %d, %q", code, stderr)
	}
}

// TestNTKCommand checks the command's kernel against functorch's and its
// spectrum outputs.
func TestNTKCommand(t *testing.T) {
	dir := filepath.Join(fixtures.Dir(), "ntk", "mlp")
	out := filepath.Join(t.TempDir(), "k.npy")
	metrics := filepath.Join(t.TempDir(), "m.json")
	code, stdout, stderr := graft("ntk", filepath.Join(dir, "model.onnx"), "--data", filepath.Join(dir, "x.npy"), "-o", out, "--metrics", metrics, "--plot", filepath.Join(t.TempDir(), "s.png"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	got, err := tensor.LoadNPY(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := tensor.LoadNPY(filepath.Join(dir, "trace.npy"))
	if err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(got, want); d > 1e-4*maxAbs(want) {
		t.Errorf("kernel differs from functorch's by %.3g", d)
	}
	if !strings.Contains(stdout, "paths: gemm for 6") || !strings.Contains(stdout, "condition") {
		t.Errorf("report %q", stdout)
	}
	var m map[string]any
	data, _ := os.ReadFile(metrics)
	if err := json.Unmarshal(data, &m); err != nil || m["eigenvalues"] == nil {
		t.Errorf("metrics %q: %v", data, err)
	}
}

func maxAbs(d *tensor.Dense) float64 {
	m := 0.0
	for _, v := range d.Float64s() {
		m = math.Max(m, math.Abs(v))
	}
	return m
}

// TestSimilarityUndefined compares fc1 (64 features) of the two models on
// 20 samples: CKA and the distance exist, but the fit from 64 features
// needs 65 samples, so R² is undefined, and the table, the CSV and the
// JSON all say so and why, without a NaN.
func TestSimilarityUndefined(t *testing.T) {
	dir := t.TempDir()
	js, csvPath := filepath.Join(dir, "s.json"), filepath.Join(dir, "s.csv")
	args := append([]string{"similarity", fmnist("a.onnx"), "--a", "fc1", fmnist("b.onnx"), "--data", fmnist("t10k-images-1k-idx3-ubyte.gz"),
		"--limit", "20"}, fmnistNorm...)
	code, stdout, stderr := graft(append(args, "-o", csvPath)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	const why = "20 sample rows for the 64 features of A's fc1: the fit needs at least 65"
	if !strings.Contains(stdout, "undefined") || !strings.Contains(stdout, why) || strings.Contains(stdout, "NaN") {
		t.Errorf("table does not say R² is undefined and why:\n%s", stdout)
	}
	rows, err := os.ReadFile(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(string(rows)), "\n"); len(lines) != 2 || !strings.HasSuffix(lines[1], ",r2: "+why) || strings.Contains(lines[1], "NaN") {
		t.Errorf("CSV %q: want one row with an empty R² and the reason", rows)
	}
	var r struct {
		CKA       [][]*float64 `json:"cka"`
		R2        [][]*float64 `json:"r2"`
		Features  [][]string   `json:"features"`
		Undefined []struct {
			Measure, Reason string
		} `json:"undefined"`
	}
	// --json prints what -o writes to a .json file.
	code, stdout, stderr = graft(append(args, "--json", "-o", js)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	raw, err := os.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	if stdout != string(raw) {
		t.Errorf("--json printed\n%s\nbut -o wrote\n%s", stdout, raw)
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	if r.CKA[0][0] == nil || r.R2[0][0] != nil || r.Features[0][0] != "flatten" || len(r.Undefined) != 1 || r.Undefined[0].Measure != "r2" || r.Undefined[0].Reason != why {
		t.Errorf("JSON %s", raw)
	}
}
