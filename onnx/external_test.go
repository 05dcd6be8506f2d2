package onnx_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// requireTool fails in CI (which installs everything) and skips elsewhere.
func requireTool(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatal(err)
	}
	t.Skip(err)
}

// checkModels runs onnx.checker on paths and returns the verdict per path.
func checkModels(t *testing.T, paths []string) map[string]string {
	t.Helper()
	_, err := os.Stat(fixtures.Python)
	requireTool(t, err)
	cmd := exec.Command(fixtures.Python, filepath.Join(fixtures.Dir(), "..", "tools", "checker.py"))
	cmd.Stdin = strings.NewReader(strings.Join(paths, "\n"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		requireTool(t, fmt.Errorf("checker.py: %v: %s", err, stderr.String()))
	}
	verdict := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		status, rest, _ := strings.Cut(sc.Text(), " ")
		path, reason, _ := strings.Cut(rest, ": ")
		path = strings.TrimSuffix(path, ":")
		if status == "ok" {
			verdict[path] = "ok"
		} else {
			verdict[path] = reason
		}
	}
	return verdict
}

// TestRoundTripChecker saves every conformance model and fixture with
// graft, inline and with external data, and asks onnx.checker about each:
// a written file must pass whenever its original did.
func TestRoundTripChecker(t *testing.T) {
	origs, _ := filepath.Glob("/usr/share/libonnx-testdata/data/*/*/model.onnx")
	for _, name := range fixtures.Names() {
		m, err := fixtures.Load(name)
		if err != nil {
			t.Fatal(err)
		}
		origs = append(origs, m.Model())
	}
	tmp := t.TempDir()
	var all []string
	written := map[string]string{} // written path -> original
	for i, path := range origs {
		m, err := onnx.Load(path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		dir := filepath.Join(tmp, fmt.Sprint(i))
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		inline := filepath.Join(dir, "inline.onnx")
		if err := m.Save(inline); err != nil {
			t.Fatalf("%s: save: %v", path, err)
		}
		ext := filepath.Join(dir, "external.onnx")
		if err := m.SaveWith(ext, onnx.SaveOptions{ExternalData: "external.data", ExternalThreshold: 16}); err != nil {
			t.Fatalf("%s: save external: %v", path, err)
		}
		// External data must load back to the same model.
		m2, err := onnx.Load(ext)
		if err != nil {
			t.Fatalf("%s: re-load external: %v", path, err)
		}
		a, _ := m.Encode()
		b, _ := m2.Encode()
		if !bytes.Equal(a, b) {
			t.Errorf("%s: external-data round trip changed the model", path)
		}
		written[inline], written[ext] = path, path
		all = append(all, path, inline, ext)
	}
	verdict := checkModels(t, all)
	bad := 0
	for w, orig := range written {
		if verdict[orig] == "ok" && verdict[w] != "ok" {
			bad++
			if bad < 10 {
				t.Errorf("%s passes onnx.checker but graft's copy %s does not: %s", orig, filepath.Base(w), verdict[w])
			}
		}
	}
	okOrig := 0
	for _, p := range origs {
		if verdict[p] == "ok" {
			okOrig++
		}
	}
	t.Logf("%d models (%d accepted by onnx.checker), %d written copies, %d rejected where the original passed", len(origs), okOrig, len(written), bad)
}

// TestRoundTripORT runs ONNX Runtime on every fixture before and after a
// graft round trip: the outputs must be bit-identical.
func TestRoundTripORT(t *testing.T) {
	runner, err := fixtures.ORTRunner()
	requireTool(t, err)
	for _, name := range fixtures.Names() {
		t.Run(name, func(t *testing.T) {
			fx, err := fixtures.Load(name)
			if err != nil {
				t.Fatal(err)
			}
			m, err := onnx.Load(fx.Model())
			if err != nil {
				t.Fatal(err)
			}
			copyPath := filepath.Join(t.TempDir(), "model.onnx")
			if err := m.Save(copyPath); err != nil {
				t.Fatal(err)
			}
			var args []string
			for _, in := range fx.Inputs {
				args = append(args, in.Name+"="+fx.Path(in.File))
			}
			a := runORT(t, runner, fx.Model(), args)
			b := runORT(t, runner, copyPath, args)
			for _, out := range fx.Outputs {
				if !tensor.Equal(a[out.Name], b[out.Name]) {
					t.Errorf("output %q differs after the round trip", out.Name)
				}
			}
		})
	}
}

func runORT(t *testing.T, runner []string, model string, inputs []string) map[string]*tensor.Dense {
	t.Helper()
	out := t.TempDir()
	args := append(append(runner[1:], "--model", model, "--out", out), inputs...)
	cmd := exec.Command(runner[0], args...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("onnxruntime: %v\n%s", err, b)
	}
	return readORTOutputs(t, out)
}

func readORTOutputs(t *testing.T, dir string) map[string]*tensor.Dense {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "outputs.json"))
	if err != nil {
		t.Fatal(err)
	}
	var index map[string]struct {
		File string `json:"file"`
	}
	if err := json.Unmarshal(data, &index); err != nil {
		t.Fatal(err)
	}
	res := map[string]*tensor.Dense{}
	for name, e := range index {
		d, err := tensor.LoadNPY(filepath.Join(dir, e.File))
		if err != nil {
			t.Fatal(err)
		}
		res[name] = d
	}
	return res
}

// TestExternalDataNeverShared saves two models with the same side-file
// name into one folder, then saves the first again with other weights:
// every model must still read exactly the weights it was saved with, and
// no side file may be rewritten under a model that reads it.
func TestExternalDataNeverShared(t *testing.T) {
	dir := t.TempDir()
	load := func(name string) *onnx.Model {
		m, err := onnx.Load(filepath.Join("..", "fixtures", "fmnist", name))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	weights := func(m *onnx.Model) map[string]*tensor.Dense {
		w := map[string]*tensor.Dense{}
		for _, v := range m.Graph.Initializers {
			d, err := v.Const.Dense()
			if err != nil {
				t.Fatal(err)
			}
			w[v.Name] = d
		}
		return w
	}
	same := func(path string, want map[string]*tensor.Dense) {
		t.Helper()
		m, err := onnx.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		for name, d := range weights(m) {
			if !tensor.Equal(d, want[name]) {
				t.Fatalf("%s: initializer %s is not what was saved", path, name)
			}
		}
	}
	opts := onnx.SaveOptions{ExternalData: "w.bin", ExternalThreshold: 64}
	a, b := load("a.onnx"), load("b.onnx")
	wa, wb := weights(a), weights(b)
	pa, pb := filepath.Join(dir, "A.onnx"), filepath.Join(dir, "B.onnx")
	if err := a.SaveWith(pa, opts); err != nil {
		t.Fatal(err)
	}
	if err := b.SaveWith(pb, opts); err != nil {
		t.Fatal(err)
	}
	same(pa, wa)
	same(pb, wb)
	// Saving A again with the same weights reuses its side file.
	if err := a.SaveWith(pa, opts); err != nil {
		t.Fatal(err)
	}
	same(pa, wa)
	same(pb, wb)
	files, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 4 { // A.onnx, B.onnx, w.bin and B's w-<hash>.bin
		var names []string
		for _, f := range files {
			names = append(names, f.Name())
		}
		t.Errorf("folder holds %v; want the two models and two side files", names)
	}
}
