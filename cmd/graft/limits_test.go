package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// hugeModel writes a one-input model whose node name asks for a tensor
// far beyond memory: op reads x and the int64 constant c.
func hugeModel(t *testing.T, dir, name, op string, c []int64) string {
	t.Helper()
	g := onnx.NewGraph(name)
	x, err := g.AddInput("x", onnx.ShapeOf(tensor.Float32, 1))
	if err != nil {
		t.Fatal(err)
	}
	k := g.AddConst("c", tensor.FromI64([]int{len(c)}, c))
	var y *onnx.Value
	if op == "ConstantOfShape" {
		z := g.AddNode(op, "", "huge_node", []*onnx.Value{k}, []string{"z"}).Outputs[0]
		y = g.AddNode("Add", "", "add", []*onnx.Value{z, x}, []string{"y"}).Outputs[0]
	} else {
		y = g.AddNode(op, "", "huge_node", []*onnx.Value{x, k}, []string{"y"}).Outputs[0]
	}
	y.Type = onnx.Type{DType: tensor.Float32}
	g.Outputs = []*onnx.Value{y}
	path := filepath.Join(dir, name+".onnx")
	if err := onnx.NewModel(g, 13).Save(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestHugeTensorsFailCleanly: graphs asking for tensors beyond the memory
// budget end with exit 4 and a message naming the node, in run, fold and
// bench, instead of Go's fatal out-of-memory abort.
func TestHugeTensorsFailCleanly(t *testing.T) {
	t.Setenv("GRAFT_MAX_MEMORY", "1G") // read at start-up; set the budget here too
	old := tensor.MemoryBudget()
	tensor.SetMemoryBudget(1 << 30)
	defer tensor.SetMemoryBudget(old)
	dir := t.TempDir()
	x := filepath.Join(dir, "x.npy")
	if err := tensor.SaveNPY(x, tensor.FromF32([]int{1}, []float32{1})); err != nil {
		t.Fatal(err)
	}
	models := map[string]string{
		"constantofshape_2^40": hugeModel(t, dir, "cos", "ConstantOfShape", []int64{1 << 40}),
		"constantofshape_2^31": hugeModel(t, dir, "cos31", "ConstantOfShape", []int64{1 << 31}),
		"expand_2^18x2^18":     hugeModel(t, dir, "expand", "Expand", []int64{1 << 18, 1 << 18}),
		"pad_2^36":             hugeModel(t, dir, "pad", "Pad", []int64{0, 1 << 36}),
	}
	for name, path := range models {
		for _, args := range [][]string{
			{"run", path, "--input", "x=" + x, "-o", filepath.Join(dir, "out")},
			{"bench", path, "--iters", "1", "--warmup", "0"},
		} {
			t.Run(name+"/"+args[0], func(t *testing.T) {
				code, _, stderr := graft(args...)
				if code != exitResource || !strings.Contains(stderr, "huge_node") || !strings.Contains(stderr, "memory budget") {
					t.Errorf("exit %d, stderr %q", code, stderr)
				}
			})
		}
	}
	t.Run("fold", func(t *testing.T) {
		code, _, stderr := graft("fold", models["constantofshape_2^40"], "-o", filepath.Join(dir, "f.onnx"))
		if code != exitResource || !strings.Contains(stderr, "huge_node") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})
	for _, batch := range []string{"1099511627776", "8589934592"} {
		t.Run("bench_batch_"+batch, func(t *testing.T) {
			code, _, stderr := graft("bench", fmnist("a.onnx"), "--batch", batch)
			if code != exitResource || strings.Contains(stderr, "goroutine") {
				t.Errorf("exit %d, stderr %q", code, stderr)
			}
		})
	}
}

// TestInspectEndlessFile: /dev/zero is refused at once, not read until
// memory runs out.
func TestInspectEndlessFile(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip(err)
	}
	code, _, stderr := graft("inspect", "/dev/zero")
	if code != exitError || !strings.Contains(stderr, "not a protobuf") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// TestNegativeSizesAreUsageErrors: --batch and --limit below their range
// are usage errors in every command that reads data.
func TestNegativeSizesAreUsageErrors(t *testing.T) {
	images := fmnist("t10k-images-1k-idx3-ubyte.gz")
	for _, args := range [][]string{
		{"eval", fmnist("a.onnx"), "--data", images, "--batch", "-5"},
		{"eval", fmnist("a.onnx"), "--data", images, "--limit", "-1"},
		{"finetune", fmnist("a.onnx"), "--train", "fc2", "--data", images, "--batch", "0", "-o", filepath.Join(t.TempDir(), "o.onnx")},
	} {
		if code, _, stderr := graft(args...); code != exitUsage {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
	}
}

// TestHostileNamesEscaped: names read from a file that carry terminal
// control sequences are printed escaped by inspect and in errors.
func TestHostileNamesEscaped(t *testing.T) {
	g := onnx.NewGraph("g")
	x, err := g.AddInput("x", onnx.ShapeOf(tensor.Float32, 2))
	if err != nil {
		t.Fatal(err)
	}
	y := g.AddNode("Re\alu\x1b[2J", "", "n\x1b[0m", []*onnx.Value{x}, []string{"y\x1b[31m"}).Outputs[0]
	y.Type = onnx.ShapeOf(tensor.Float32, 2)
	g.Outputs = []*onnx.Value{y}
	path := filepath.Join(t.TempDir(), "names.onnx")
	if err := onnx.NewModel(g, 13).Save(path); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"inspect", path},
		{"check", path},
		{"run", path, "-o", t.TempDir()},
	} {
		_, stdout, stderr := graft(args...)
		if out := stdout + stderr; strings.ContainsAny(out, "\x1b\a") {
			t.Errorf("graft %s printed a raw control character:\n%q", args[0], out)
		}
	}
}

func TestEscapeControls(t *testing.T) {
	cases := []struct{ in, want string }{
		{"plain name", "plain name"},
		{"two\nlines\tkept", "two\nlines\tkept"},
		{"op Re\alu\x1b[2J", `op Re\alu\x1b[2J`},
		{"bad utf8 \xff", `bad utf8 \xff`},
	}
	for _, c := range cases {
		if got := escapeControls(c.in); got != c.want {
			t.Errorf("escapeControls(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if got := printable("layer1.0/conv"); got != "layer1.0/conv" {
		t.Errorf("printable changed a plain name: %q", got)
	}
	if got := printable("a\x1bb"); got != `"a\x1bb"` {
		t.Errorf("printable(a ESC b) = %s", got)
	}
}
