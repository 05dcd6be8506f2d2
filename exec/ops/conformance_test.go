package ops

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

const nodeTestDir = "/usr/share/libonnx-testdata/data/node"

// nodeCase is one of ONNX's node conformance tests: a tiny model (usually
// one node) with input and expected output tensors.
type nodeCase struct {
	dir     string
	model   *onnx.Model
	inputs  []*tensor.Dense
	outputs []*tensor.Dense
}

func loadNodeCase(dir string) (*nodeCase, error) {
	m, err := onnx.Load(filepath.Join(dir, "model.onnx"))
	if err != nil {
		return nil, err
	}
	c := &nodeCase{dir: dir, model: m}
	set := filepath.Join(dir, "test_data_set_0")
	for i := range m.Graph.Inputs {
		t, err := onnx.LoadTensor(filepath.Join(set, fmt.Sprintf("input_%d.pb", i)))
		if err != nil {
			return nil, err
		}
		c.inputs = append(c.inputs, fixtures.AsDeclared(t, m.Graph.Inputs[i].Type.DType))
	}
	for i := range m.Graph.Outputs {
		t, err := onnx.LoadTensor(filepath.Join(set, fmt.Sprintf("output_%d.pb", i)))
		if err != nil {
			return nil, err
		}
		c.outputs = append(c.outputs, fixtures.AsDeclared(t, m.Graph.Outputs[i].Type.DType))
	}
	return c, nil
}

// covered reports whether every node of the case has a table entry.
func (c *nodeCase) covered() bool {
	for _, n := range c.model.Graph.Nodes {
		if Lookup(n.OpType) == nil || (n.Domain != "" && n.Domain != "ai.onnx") {
			return false
		}
	}
	return true
}

// run executes the case node by node with the table's Infer and Run, and
// checks that inference predicted each output's dtype and shape.
func (c *nodeCase) run() ([]*tensor.Dense, error) {
	g := c.model.Graph
	opset := int(c.model.Opset(""))
	vals := map[*onnx.Value]*tensor.Dense{}
	for i, v := range g.Inputs {
		if i < len(c.inputs) && c.inputs[i] != nil {
			vals[v] = c.inputs[i]
		}
	}
	for _, v := range g.Initializers {
		if vals[v] == nil {
			d, err := v.Const.Dense()
			if err != nil {
				return nil, err
			}
			vals[v] = d
		}
	}
	if err := g.Toposort(); err != nil {
		return nil, err
	}
	for _, n := range g.Nodes {
		op, err := Resolve(n, opset)
		if err != nil {
			return nil, err
		}
		in := make([]*tensor.Dense, len(n.Inputs))
		ic := &InferCtx{Node: n, Opset: opset, In: make([]onnx.Type, len(n.Inputs)), Const: make([]*tensor.Dense, len(n.Inputs))}
		for i, v := range n.Inputs {
			if v == nil {
				continue
			}
			in[i] = vals[v]
			if in[i] == nil {
				return nil, fmt.Errorf("%s: input %q not computed", n, v.Name)
			}
			ic.In[i] = valueType(in[i])
			if v.Const != nil {
				ic.Const[i] = in[i]
			}
		}
		types, err := op.Infer(ic)
		if err != nil {
			return nil, fmt.Errorf("infer: %w", err)
		}
		var outer map[string]*tensor.Dense // what n's subgraphs read from this graph
		for _, v := range n.ImplicitInputs() {
			if outer == nil {
				outer = map[string]*tensor.Dense{}
			}
			outer[v.Name] = vals[v]
		}
		out, err := op.Run(&RunCtx{Node: n, Opset: opset, In: in, Threads: 2, Outer: outer})
		if err != nil {
			return nil, err
		}
		for i, v := range n.Outputs {
			if v == nil || i >= len(out) {
				continue
			}
			vals[v] = out[i]
			if i < len(types) && !typeMatches(types[i], out[i]) {
				return nil, fmt.Errorf("%s: inferred output %d as %s, kernel produced %s%v", n, i, types[i], out[i].DType, out[i].Shape)
			}
		}
	}
	res := make([]*tensor.Dense, len(g.Outputs))
	for i, v := range g.Outputs {
		res[i] = vals[v]
	}
	return res, nil
}

// valueType returns the type of a computed value: a sequence's element
// dims are those all its tensors share.
func valueType(d *tensor.Dense) onnx.Type {
	if d.None {
		return onnx.Type{DType: d.DType, Optional: true}
	}
	if d.Seq == nil {
		return onnx.ShapeOf(d.DType, d.Shape...)
	}
	t := onnx.Type{DType: d.DType, Seq: true}
	for i, item := range d.Seq.Items {
		if i == 0 {
			t.HasShape, t.Dims = true, onnx.ShapeOf(d.DType, item.Shape...).Dims
		} else if !slices.Equal(item.Shape, d.Seq.Items[0].Shape) {
			t.HasShape, t.Dims = false, nil
			break
		}
	}
	return t
}

// typeMatches reports whether an inferred type agrees with a computed
// tensor; unknown dims and an unknown rank agree with anything.
func typeMatches(t onnx.Type, d *tensor.Dense) bool {
	if d.None {
		return t.Optional
	}
	t.Optional = false // a present optional is its value
	if t.DType != tensor.Undefined && t.DType != d.DType {
		return false
	}
	if t.Seq != (d.Seq != nil) {
		return false
	}
	if d.Seq != nil {
		t.Seq = false
		for _, item := range d.Seq.Items {
			if !typeMatches(t, item) {
				return false
			}
		}
		return true
	}
	if !t.HasShape {
		return true
	}
	if len(t.Dims) != len(d.Shape) {
		return false
	}
	for i, dim := range t.Dims {
		if dim.Known() && int(dim.Value) != d.Shape[i] {
			return false
		}
	}
	return true
}

// closeEnough compares with ONNX's backend-test tolerances (rtol 1e-3,
// atol 1e-7), loosened to atol 1e-5 because float32 kernels that reorder
// sums differ from numpy's float64-accumulated references by a few ulps.
func closeEnough(got, want *tensor.Dense) error {
	if got == nil {
		return errors.New("output missing")
	}
	if !tensor.SameShape(got.Shape, want.Shape) {
		return fmt.Errorf("shape %v, want %v", got.Shape, want.Shape)
	}
	if got.DType != want.DType {
		return fmt.Errorf("dtype %s, want %s", got.DType, want.DType)
	}
	if want.DType == tensor.String {
		if !slices.Equal(got.Str, want.Str) {
			return fmt.Errorf("strings %q, want %q", got.Str, want.Str)
		}
		return nil
	}
	g, w := got.Float64s(), want.Float64s()
	for i := range g {
		if math.IsNaN(w[i]) && math.IsNaN(g[i]) {
			continue
		}
		if math.IsInf(w[i], 0) && g[i] == w[i] {
			continue
		}
		if d := math.Abs(g[i] - w[i]); !(d <= 1e-5+1e-3*math.Abs(w[i])) {
			return fmt.Errorf("element %d: got %g, want %g", i, g[i], w[i])
		}
	}
	return nil
}

// referenceDiffers lists tests whose expected outputs this version of
// ONNX's test data computed differently from PyTorch and ONNX Runtime,
// which graft follows.
var referenceDiffers = map[string]string{
	"test_cast_FLOAT_to_BFLOAT16":              bf16Truncates,
	"test_castlike_FLOAT_to_BFLOAT16":          bf16Truncates,
	"test_castlike_FLOAT_to_BFLOAT16_expanded": bf16Truncates,
}

const bf16Truncates = "reference truncates float32 to bfloat16; graft rounds to nearest even like PyTorch and ONNX Runtime"

// TestNodeConformance runs every ONNX node test whose ops are all in the
// table. A wrong result fails; an explicit ErrUnsupported (an attribute
// value or dtype graft does not implement) is counted and listed.
func TestNodeConformance(t *testing.T) {
	dirs, _ := filepath.Glob(filepath.Join(nodeTestDir, "test_*"))
	if len(dirs) == 0 {
		if os.Getenv("CI") != "" {
			t.Fatalf("no tests under %s: install libonnx-testdata", nodeTestDir)
		}
		t.Skipf("no tests under %s", nodeTestDir)
	}
	pass, total, differs := 0, 0, 0
	var unsupported []string
	for _, dir := range dirs {
		c, err := loadNodeCase(dir)
		if err != nil || !c.covered() {
			continue
		}
		total++
		name := filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			if why, ok := referenceDiffers[name]; ok {
				differs++
				t.Skip(why)
			}
			got, err := c.run()
			if errors.Is(err, ErrUnsupported) {
				unsupported = append(unsupported, name)
				t.Skip(err)
			}
			if err != nil {
				t.Fatal(err)
			}
			for i, want := range c.outputs {
				if err := closeEnough(got[i], want); err != nil {
					t.Fatalf("output %d: %v", i, err)
				}
			}
			pass++
		})
	}
	sort.Strings(unsupported)
	t.Logf("node conformance: %d/%d passed; %d skipped as the reference differs from PyTorch; %d unsupported: %s", pass, total, differs, len(unsupported), strings.Join(unsupported, " "))
}

// modelTestRoot holds libonnx-testdata's model-level suites beside the node
// suite: whole exported models, each with one or more data sets.
const modelTestRoot = "/usr/share/libonnx-testdata/data"

// modelSuites are the model-level suites TestModelConformance runs.
var modelSuites = []string{"pytorch-converted", "pytorch-operator", "simple"}

// loadModelCases reads a model-level test: model.onnx and every
// test_data_set_N, one case per data set sharing the model. input_K binds
// to the K-th graph input that is not an initializer (ONNX's backend-test
// convention for models that list their initializers as inputs).
func loadModelCases(dir string) ([]*nodeCase, error) {
	m, err := onnx.Load(filepath.Join(dir, "model.onnx"))
	if err != nil {
		return nil, err
	}
	var feedable []int // indices into m.Graph.Inputs
	for i, v := range m.Graph.Inputs {
		if v.Const == nil {
			feedable = append(feedable, i)
		}
	}
	sets, _ := filepath.Glob(filepath.Join(dir, "test_data_set_*"))
	if len(sets) == 0 {
		return nil, fmt.Errorf("%s: no test_data_set_N", dir)
	}
	sort.Strings(sets)
	var cases []*nodeCase
	for _, set := range sets {
		c := &nodeCase{dir: dir, model: m, inputs: make([]*tensor.Dense, len(m.Graph.Inputs))}
		files, _ := filepath.Glob(filepath.Join(set, "input_*.pb"))
		if len(files) > len(feedable) {
			return nil, fmt.Errorf("%s: %d input files for %d graph inputs", set, len(files), len(feedable))
		}
		for k := range files {
			t, err := onnx.LoadTensor(filepath.Join(set, fmt.Sprintf("input_%d.pb", k)))
			if err != nil {
				return nil, err
			}
			v := m.Graph.Inputs[feedable[k]]
			c.inputs[feedable[k]] = fixtures.AsDeclared(t, v.Type.DType)
		}
		for i := range m.Graph.Outputs {
			t, err := onnx.LoadTensor(filepath.Join(set, fmt.Sprintf("output_%d.pb", i)))
			if err != nil {
				return nil, err
			}
			c.outputs = append(c.outputs, fixtures.AsDeclared(t, m.Graph.Outputs[i].Type.DType))
		}
		cases = append(cases, c)
	}
	return cases, nil
}

// missingOps names the ops of the case's graph that have no table entry.
func (c *nodeCase) missingOps() []string {
	seen := map[string]bool{}
	var missing []string
	for _, n := range c.model.Graph.Nodes {
		if Lookup(n.OpType) == nil || (n.Domain != "" && n.Domain != "ai.onnx") {
			name := n.OpType
			if n.Domain != "" && n.Domain != "ai.onnx" {
				name = n.Domain + "." + name
			}
			if !seen[name] {
				seen[name] = true
				missing = append(missing, name)
			}
		}
	}
	return missing
}

// check runs the case and compares every output; the error says why it
// failed.
func (c *nodeCase) check() error {
	if missing := c.missingOps(); len(missing) > 0 {
		return fmt.Errorf("no table entry for %s", strings.Join(missing, ", "))
	}
	got, err := c.run()
	if err != nil {
		return err
	}
	for i, want := range c.outputs {
		if err := closeEnough(got[i], want); err != nil {
			return fmt.Errorf("output %d: %w", i, err)
		}
	}
	return nil
}

// modelKnownFailures lists the model-level tests graft does not pass yet,
// with the reason; every other test must pass. ONNX Runtime 1.30 fails
// them too, and four of the StringNormalizer models graft passes (no
// locale; tools/ort/conformance.js).
var modelKnownFailures = map[string]string{
	"test_gradient_of_add":         "ai.onnx.preview.training Gradient op",
	"test_gradient_of_add_and_mul": "ai.onnx.preview.training Gradient op",
}

// TestModelConformance runs libonnx-testdata's model-level suites
// (pytorch-converted, pytorch-operator, simple) through the table, every
// data set of every test, with the node suite's tolerances, and logs each
// suite's pass count and its failing tests with the reason. A failure not
// in modelKnownFailures fails the test. ONNX Runtime's counts on the same
// suites come from tools/ort/conformance.js.
func TestModelConformance(t *testing.T) {
	for _, suite := range modelSuites {
		dirs, _ := filepath.Glob(filepath.Join(modelTestRoot, suite, "test_*"))
		if len(dirs) == 0 {
			if os.Getenv("CI") != "" {
				t.Fatalf("no tests under %s: install libonnx-testdata", filepath.Join(modelTestRoot, suite))
			}
			t.Skipf("no tests under %s", filepath.Join(modelTestRoot, suite))
		}
		pass := 0
		var failed []string
		t.Run(suite, func(t *testing.T) {
			for _, dir := range dirs {
				name := filepath.Base(dir)
				cases, err := loadModelCases(dir)
				if err != nil {
					err = fmt.Errorf("load: %w", err)
				}
				for _, c := range cases {
					if err == nil {
						err = c.check()
					}
				}
				if err == nil {
					pass++
				} else {
					failed = append(failed, fmt.Sprintf("%s (%v)", name, err))
				}
				t.Run(name, func(t *testing.T) {
					if err == nil {
						return
					}
					if why, ok := modelKnownFailures[name]; ok {
						t.Skipf("known failure (%s): %v", why, err)
					}
					t.Fatal(err)
				})
			}
		})
		t.Logf("%s: graft %d/%d passed", suite, pass, len(dirs))
		for _, f := range failed {
			t.Logf("%s: failed: %s", suite, f)
		}
	}
}
