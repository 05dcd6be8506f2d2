package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/graft-ml/graft/data"
	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
	"github.com/graft-ml/graft/train"
)

// TestFinetuneMatchesPyTorch is the training acceptance test: stitch the
// bundled Fashion-MNIST pair at pool1 with a least-squares 1×1 adapter,
// fine-tune the adapter alone with Adam (lr 1e-3, batch 64, 5 epochs,
// cross-entropy) on the 2000 bundled training images, and compare the
// test top-1 on the 1000 bundled test images with the same recipe run by
// torch.optim (fixtures/finetune_ref.py: the same initial adapter, read
// from the stitched file, and the same sample order, train.Order). The
// two may differ by float32 rounding along 160 steps; 0.5 points is 5 of
// the 1000 test images.
func TestFinetuneMatchesPyTorch(t *testing.T) {
	dir := t.TempDir()
	ab := filepath.Join(dir, "ab.onnx")
	args := append([]string{"stitch", fmnist("a.onnx"), "--at", "pool1", fmnist("b.onnx"), "--from", "pool1",
		"--fit", "linear", "--data", fmnist("train-images-2k-idx3-ubyte.gz"), "-o", ab}, fmnistNorm...)
	if code, _, stderr := graft(args...); code != 0 {
		t.Fatalf("stitch: exit %d: %s", code, stderr)
	}
	out := filepath.Join(dir, "ft.onnx")
	args = append([]string{"finetune", ab, "--train", "adapter", "--data", fmnist("train-images-2k-idx3-ubyte.gz"),
		"--val-data", fmnist("t10k-images-1k-idx3-ubyte.gz"), "--optimizer", "adam", "--lr", "1e-3", "--batch", "64",
		"--epochs", "5", "--seed", "0", "-o", out}, fmnistNorm...)
	code, stdout, stderr := graft(args...)
	if code != 0 {
		t.Fatalf("finetune: exit %d: %s", code, stderr)
	}
	before, after := finetuneAccuracy(t, stdout, "before"), finetuneAccuracy(t, stdout, "after")
	t.Logf("graft: stitched %.1f %% → fine-tuned %.1f %%", before, after)

	// The sample order graft used, for PyTorch to follow.
	order := tensor.New(tensor.Int64, 5, 2000)
	for e := 0; e < 5; e++ {
		for i, j := range train.Order(0, e, 2000) {
			order.I64[e*2000+i] = int64(j)
		}
	}
	orderPath := filepath.Join(dir, "order.npy")
	if err := tensor.SaveNPY(orderPath, order); err != nil {
		t.Fatal(err)
	}
	ref := runTorchReference(t, ab, "--train", "adapter", "--order", orderPath, "--lr", "1e-3", "--batch", "64",
		"--data", fmnist("train-images-2k-idx3-ubyte.gz"), "--labels", fmnist("train-labels-2k-idx1-ubyte.gz"),
		"--test", fmnist("t10k-images-1k-idx3-ubyte.gz"), "--test-labels", fmnist("t10k-labels-1k-idx1-ubyte.gz"),
		"--mean", "0.2860", "--std", "0.3530")
	t.Logf("torch: stitched %.1f %% → fine-tuned %.1f %%; epoch losses %v", 100*ref.Before, 100*ref.After, ref.EpochLoss)
	if math.Abs(before-100*ref.Before) > 0.1+1e-9 {
		t.Errorf("before training: graft %.1f %%, torch %.1f %%: not the same model", before, 100*ref.Before)
	}
	if math.Abs(after-100*ref.After) > 0.5+1e-9 {
		t.Errorf("after training: graft %.1f %%, torch %.1f %%: more than 0.5 points apart", after, 100*ref.After)
	}

	// The written model is valid ONNX that ONNX Runtime runs as graft does.
	x, err := tensor.LoadNPY(fmnist("input8.npy"))
	if err != nil {
		t.Fatal(err)
	}
	if d := ortCheck(t, out, x); d > 1e-4 {
		t.Errorf("fine-tuned model: graft and ONNX Runtime differ by %g", d)
	}
}

// finetuneAccuracy reads finetune's "before:"/"after:" validation top-1.
func finetuneAccuracy(t *testing.T, stdout, which string) float64 {
	t.Helper()
	m := regexp.MustCompile(which + `: +validation loss [0-9.]+ +top-1 ([0-9.]+) %`).FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no %s accuracy in %q", which, stdout)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

type torchResult struct {
	Before    float64   `json:"before"`
	After     float64   `json:"after"`
	EpochLoss []float64 `json:"epoch_loss"`
}

// runTorchReference runs fixtures/finetune_ref.py on model. Outside CI a
// machine without torch skips; CI installs python3-torch, so there it
// fails instead.
func runTorchReference(t *testing.T, model string, args ...string) torchResult {
	t.Helper()
	check := exec.Command(fixtures.Python, "-c", "import torch, onnx")
	if err := check.Run(); err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("PyTorch reference needs %s with torch and onnx: %v", fixtures.Python, err)
		}
		t.Fatalf("PyTorch reference needs %s with torch and onnx: %v", fixtures.Python, err)
	}
	cmd := exec.Command(fixtures.Python, append([]string{filepath.Join(fixtures.Dir(), "finetune_ref.py"), model}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("finetune_ref.py: %v: %s", err, stderr.String())
	}
	var r torchResult
	if err := json.Unmarshal(bytes.TrimSpace(out), &r); err != nil {
		t.Fatalf("finetune_ref.py printed %q: %v", out, err)
	}
	return r
}

func TestFinetuneUsageErrors(t *testing.T) {
	dir := t.TempDir()
	train := fmnist("train-images-2k-idx3-ubyte.gz")
	a := fmnist("a.onnx")
	out := filepath.Join(dir, "out.onnx")
	cases := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"unknown_param", []string{"finetune", a, "--train", "fc9", "--data", train, "-o", out}, 1, `"fc9" matches no float32 initializer`},
		{"unknown_optimizer", []string{"finetune", a, "--train", "fc2", "--data", train, "--optimizer", "lion", "-o", out}, 2, "unknown optimizer"},
		{"unknown_loss", []string{"finetune", a, "--train", "fc2", "--data", train, "--loss", "hinge", "-o", out}, 2, "unknown loss"},
		{"kd_without_teacher", []string{"finetune", a, "--train", "fc2", "--data", train, "--loss", "kd", "-o", out}, 2, "needs a --teacher"},
		{"keep_best_without_val", []string{"finetune", a, "--train", "fc2", "--data", train, "--keep-best", "-o", out}, 2, "need --val-data"},
		{"zero_epochs", []string{"finetune", a, "--train", "fc2", "--data", train, "--epochs", "0", "-o", out}, 2, "--epochs 0"},
		{"momentum_for_adam", []string{"finetune", a, "--train", "fc2", "--data", train, "--momentum", "0.9", "-o", out}, 2, "sgd's settings"},
		{"bad_warmup", []string{"finetune", a, "--train", "fc2", "--data", train, "--limit", "64", "--epochs", "1", "--schedule", "cosine", "--warmup", "5", "-o", out}, 2, "warm-up"},
		{"missing_resume", []string{"finetune", a, "--train", "fc2", "--data", train, "--limit", "64", "--resume", filepath.Join(dir, "nope.onnx"), "-o", out}, 1, "state"},
		{"missing_model", []string{"finetune", filepath.Join(dir, "nope.onnx"), "--train", "fc2", "--data", train, "-o", out}, 1, "nope.onnx"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := graft(c.args...)
			if code != c.code || !strings.Contains(stderr, c.msg) {
				t.Errorf("exit %d, stderr %q; want exit %d mentioning %q", code, stderr, c.code, c.msg)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("a failed run wrote %s", out)
			}
		})
	}
}

// TestFinetuneKDAndResume distils the Fashion-MNIST model B into A's
// last layer from the teacher model and from its saved logits (the same
// numbers, so the same result), then resumes from the checkpoint.
func TestFinetuneKDAndResume(t *testing.T) {
	dir := t.TempDir()
	images := fmnist("train-images-2k-idx3-ubyte.gz")
	kd := func(epochs string, extra ...string) (int, string, string) {
		args := append([]string{"finetune", fmnist("a.onnx"), "--train", "fc2", "--data", images, "--limit", "256",
			"--loss", "kd", "--temperature", "2", "--epochs", epochs, "--threads", "1"}, fmnistNorm...)
		return graft(append(args, extra...)...)
	}
	fromModel := filepath.Join(dir, "kd_model.onnx")
	if code, _, stderr := kd("2", "--teacher", fmnist("b.onnx"), "-o", fromModel); code != 0 {
		t.Fatalf("kd from model: exit %d: %s", code, stderr)
	}
	// The teacher's logits on the same 256 samples, saved by graft run.
	src, err := data.Open(images, data.Options{Mean: []float64{0.2860}, Std: []float64{0.3530}})
	if err != nil {
		t.Fatal(err)
	}
	x, _, err := src.Batch(0, 256)
	if err != nil {
		t.Fatal(err)
	}
	xPath := filepath.Join(dir, "x.npy")
	if err := tensor.SaveNPY(xPath, x); err != nil {
		t.Fatal(err)
	}
	runDir := filepath.Join(dir, "run")
	if code, _, stderr := graft("run", fmnist("b.onnx"), "--input", "input="+xPath, "-o", runDir); code != 0 {
		t.Fatalf("graft run: exit %d: %s", code, stderr)
	}
	fromArray := filepath.Join(dir, "kd_array.onnx")
	if code, _, stderr := kd("2", "--teacher-logits", filepath.Join(runDir, "logits.npy"), "-o", fromArray); code != 0 {
		t.Fatalf("kd from array: exit %d: %s", code, stderr)
	}
	a, b := loadInit(t, fromModel, "fc2.weight"), loadInit(t, fromArray, "fc2.weight")
	for i := range a.F32 {
		if a.F32[i] != b.F32[i] {
			t.Fatalf("fc2.weight[%d]: teacher model %v, saved logits %v", i, a.F32[i], b.F32[i])
		}
	}
	// One more epoch from the checkpoint.
	more := filepath.Join(dir, "kd_more.onnx")
	code, stdout, stderr := kd("3", "--teacher", fmnist("b.onnx"), "--resume", fromModel+".ckpt.onnx", "-o", more)
	if code != 0 || !strings.Contains(stdout, "epoch 3/3") || strings.Contains(stdout, "epoch 1/3") {
		t.Fatalf("resume: exit %d: %s %s", code, stdout, stderr)
	}
}

// loadInit returns initializer name of the model at path.
func loadInit(t *testing.T, path, name string) *tensor.Dense {
	t.Helper()
	m, err := onnx.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	v := m.Graph.Value(name)
	if v == nil || v.Const == nil {
		t.Fatalf("%s has no initializer %q", path, name)
	}
	d, err := v.Const.Dense()
	if err != nil {
		t.Fatal(err)
	}
	return d
}
