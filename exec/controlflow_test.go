package exec

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// closeTo checks |got - want| <= 1e-4 + 1e-3·|want| elementwise, the
// issue's bar against PyTorch, and returns the largest difference.
func closeTo(got, want *tensor.Dense) (float64, error) {
	if got == nil || !tensor.SameShape(got.Shape, want.Shape) {
		return 0, fmt.Errorf("got %v, want shape %v", got, want.Shape)
	}
	g, w := got.Float64s(), want.Float64s()
	worst := 0.0
	for i := range w {
		d := math.Abs(g[i] - w[i])
		if !(d <= 1e-4+1e-3*math.Abs(w[i])) {
			return d, fmt.Errorf("element %d: got %g, want %g", i, g[i], w[i])
		}
		worst = max(worst, d)
	}
	return worst, nil
}

// controlInputs lists a control fixture's input_K.npy files in order.
func controlInputs(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for k := 0; ; k++ {
		p := filepath.Join(dir, fmt.Sprintf("input_%d.npy", k))
		if _, err := os.Stat(p); err != nil {
			break
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		t.Fatalf("%s: no input_0.npy", dir)
	}
	return out
}

// TestControlFixtures runs the torch.jit.script exports of
// fixtures/gen_control.py (a data-dependent if, for and while loops,
// a break), whose If and Loop bodies read the enclosing graph's weights
// and inputs, on inputs that take different paths. Each output must
// match PyTorch's at the tolerance (rtol 1e-3, atol 1e-4: a few
// float32 ulps per layer in a different summation order) and ONNX
// Runtime's as a second opinion; shape inference walks the bodies; and a
// save of the loaded model gives ONNX Runtime bit-identical outputs and
// passes onnx.checker.
func TestControlFixtures(t *testing.T) {
	dirs, _ := filepath.Glob(filepath.Join(fixtures.Dir(), "control", "*", "model.onnx"))
	if len(dirs) == 0 {
		t.Fatal("no fixtures under fixtures/control: run fixtures/gen_control.py")
	}
	for _, path := range dirs {
		dir := filepath.Dir(path)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			m, err := onnx.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Graph.Validate(); err != nil {
				t.Fatal(err)
			}
			inferred, err := onnx.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := InferShapes(inferred); err != nil {
				t.Fatalf("shape inference: %v", err)
			}
			if got := inferred.Graph.Outputs[0].Type; got.DType != tensor.Float32 || got.Rank() < 1 {
				t.Errorf("inferred output type %s, want float32 of known rank", got)
			}
			p, err := Compile(m)
			if err != nil {
				t.Fatal(err)
			}
			ip, err := Compile(inferred)
			if err != nil {
				t.Fatal(err)
			}
			// What graft convert writes: the loaded model as it is, with
			// its weights in a side file, and with the inferred types
			// recorded as value_info (inside the bodies too).
			tmp := t.TempDir()
			saved := filepath.Join(tmp, "model.onnx")
			if err := m.Save(saved); err != nil {
				t.Fatal(err)
			}
			external := filepath.Join(tmp, "external.onnx")
			if err := m.SaveWith(external, onnx.SaveOptions{ExternalData: "weights.bin"}); err != nil {
				t.Fatal(err)
			}
			withTypes := filepath.Join(tmp, "inferred.onnx")
			if err := inferred.Save(withTypes); err != nil {
				t.Fatal(err)
			}
			for k, in := range controlInputs(t, dir) {
				x, err := tensor.LoadNPY(in)
				if err != nil {
					t.Fatal(err)
				}
				want, err := tensor.LoadNPY(filepath.Join(dir, fmt.Sprintf("output_%d.npy", k)))
				if err != nil {
					t.Fatal(err)
				}
				for _, prog := range []*Program{p, ip} {
					res, err := prog.Run(map[string]*tensor.Dense{"x": x}, RunOptions{})
					if err != nil {
						t.Fatalf("input %d: %v", k, err)
					}
					worst, err := closeTo(res["y"], want)
					if err != nil {
						t.Fatalf("input %d vs PyTorch: %v", k, err)
					}
					t.Logf("input %d: max abs error vs PyTorch %.3g", k, worst)
				}
				ort, err := fixtures.RunORT(path, "x", x)
				if errors.Is(err, fixtures.ErrNoORT) {
					fixtures.SkipNoReference(t, "%v", err)
				}
				if err != nil {
					t.Fatal(err)
				}
				if _, err := closeTo(ort, want); err != nil {
					t.Fatalf("input %d: ONNX Runtime vs PyTorch: %v", k, err)
				}
				for _, path := range []string{saved, external, withTypes} {
					ort2, err := fixtures.RunORT(path, "x", x)
					if err != nil {
						t.Fatalf("%s: %v", filepath.Base(path), err)
					}
					if !tensor.Equal(ort, ort2) {
						t.Fatalf("input %d: ONNX Runtime's output changed after a load and save (%s)", k, filepath.Base(path))
					}
				}
			}
		})
	}
}

// TestControlConformance runs ONNX's If, Loop and Scan node tests
// through Compile and Run, so that the subgraphs run as compiled
// programs (the ops package's conformance test interprets them).
func TestControlConformance(t *testing.T) {
	for _, name := range []string{"test_if", "test_loop11", "test_scan9_sum", "test_scan_sum"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("/usr/share/libonnx-testdata/data/node", name)
			m, err := onnx.Load(filepath.Join(dir, "model.onnx"))
			if err != nil {
				fixtures.SkipNoReference(t, "libonnx-testdata: %v", err)
			}
			p, err := Compile(m)
			if err != nil {
				t.Fatal(err)
			}
			inputs := map[string]*tensor.Dense{}
			for i, v := range m.Graph.Inputs {
				d, err := onnx.LoadTensor(filepath.Join(dir, "test_data_set_0", fmt.Sprintf("input_%d.pb", i)))
				if err != nil {
					t.Fatal(err)
				}
				inputs[v.Name] = d
			}
			res, err := p.Run(inputs, RunOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range m.Graph.Outputs {
				want, err := onnx.LoadTensor(filepath.Join(dir, "test_data_set_0", fmt.Sprintf("output_%d.pb", i)))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := closeTo(res[v.Name], want); err != nil {
					t.Fatalf("output %s: %v", v.Name, err)
				}
			}
		})
	}
}

// TestControlGradientRefused: differentiating through a subgraph is not
// implemented, and a gradient that skipped what flows through If and
// Loop bodies would be silently wrong, so Gradient refuses, naming the
// node.
func TestControlGradientRefused(t *testing.T) {
	m, err := onnx.Load(filepath.Join(fixtures.Dir(), "control", "cum_loop", "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Gradient(m, nil, []string{"x"})
	if !errors.Is(err, ErrUnsupported) {
		t.Fatalf("gradient through If and Loop: got %v, want an error wrapping ErrUnsupported", err)
	}
	t.Log(err)
}

// TestControlOuterStorage: a Loop body that takes an Identity of an
// outer constant (which shares its storage) and frees it after use must not hand
// the constant's storage back to the allocator: the next iteration, and
// the next run, read the same weights.
func TestControlOuterStorage(t *testing.T) {
	const n = 1 << 12 // the recycling pool takes float32 storage this large (tensor.poolMinElems)
	body := onnx.NewGraph("body")
	if _, err := body.AddInput("i", onnx.ShapeOf(tensor.Int64)); err != nil {
		t.Fatal(err)
	}
	condIn, _ := body.AddInput("cond_in", onnx.ShapeOf(tensor.Bool))
	c, _ := body.AddInput("c", onnx.ShapeOf(tensor.Float32, n))
	view := body.AddNode("Identity", "", "view", []*onnx.Value{body.Outer("w")}, []string{"view"}).Outputs[0]
	sum := body.AddNode("Add", "", "add", []*onnx.Value{c, view}, []string{"c_out"}).Outputs[0]
	fresh := body.AddNode("Mul", "", "mul", []*onnx.Value{sum, sum}, []string{"sq"}).Outputs[0]
	condOut := body.AddNode("Identity", "", "cond", []*onnx.Value{condIn}, []string{"cond_out"}).Outputs[0]
	body.Outputs = []*onnx.Value{condOut, sum, fresh}
	fresh.Type = onnx.ShapeOf(tensor.Float32, n)

	g := onnx.NewGraph("main")
	wData := make([]float32, n)
	for i := range wData {
		wData[i] = float32(i)
	}
	g.AddConst("w", tensor.FromF32([]int{n}, wData))
	m, _ := g.AddInput("M", onnx.ShapeOf(tensor.Int64))
	c0, _ := g.AddInput("c0", onnx.ShapeOf(tensor.Float32, n))
	loop := g.AddNode("Loop", "", "loop", []*onnx.Value{m, nil, c0}, []string{"c_final", "sqs"}, onnx.GraphAttr("body", body))
	loop.SyncImplicit()
	g.Outputs = loop.Outputs[:1]
	model := onnx.NewModel(g, 13)
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	p, err := Compile(model)
	if err != nil {
		t.Fatal(err)
	}
	const trips = 5
	for run := range 3 {
		res, err := p.Run(map[string]*tensor.Dense{"M": tensor.FromI64(nil, []int64{trips}), "c0": tensor.New(tensor.Float32, n)}, RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range res["c_final"].F32 {
			if v != trips*float32(i) {
				t.Fatalf("run %d: element %d is %g, want %d·%d", run, i, v, trips, i)
			}
		}
	}
}
