package onnx

import (
	"errors"
	"strings"
	"testing"

	"github.com/graft-ml/graft/tensor"
)

// chain builds x → Relu → a → Relu → b → Relu → c, with c the output and a
// dead branch a → Sigmoid → dead reading an unused initializer too.
func chain(t *testing.T) (*Graph, map[string]*Value) {
	t.Helper()
	g := NewGraph("chain")
	x, err := g.AddInput("x", ShapeOf(tensor.Float32, 2, 3))
	if err != nil {
		t.Fatal(err)
	}
	w := g.AddConst("w", tensor.FromF32([]int{3}, []float32{1, 2, 3}))
	unused := g.AddConst("unused", tensor.FromF32([]int{1}, []float32{0}))
	_ = unused
	a := g.AddNode("Relu", "", "/l1/Relu", []*Value{x}, []string{"a"}).Outputs[0]
	b := g.AddNode("Relu", "", "/l2/Relu", []*Value{a}, []string{"b"}).Outputs[0]
	c := g.AddNode("Add", "", "/l3/Add", []*Value{b, w}, []string{"c"}).Outputs[0]
	dead := g.AddNode("Sigmoid", "", "/dead/Sigmoid", []*Value{a}, []string{"dead"}).Outputs[0]
	g.Outputs = []*Value{c}
	return g, map[string]*Value{"x": x, "w": w, "a": a, "b": b, "c": c, "dead": dead}
}

func TestCleanup(t *testing.T) {
	g, v := chain(t)
	nodes, inits := g.Cleanup()
	if nodes != 1 || inits != 1 {
		t.Fatalf("removed %d nodes and %d initializers, want 1 and 1", nodes, inits)
	}
	if g.Value("dead") != nil || g.Value("unused") != nil {
		t.Error("dead value or unused initializer still registered")
	}
	if len(v["a"].Uses()) != 1 {
		t.Errorf("a has %d uses after cleanup, want 1", len(v["a"].Uses()))
	}
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestTruncateBySettingOutputs(t *testing.T) {
	g, v := chain(t)
	g.Outputs = []*Value{v["a"]}
	g.Cleanup()
	if len(g.Nodes) != 1 || g.Nodes[0].Name != "/l1/Relu" {
		t.Fatalf("nodes after truncation: %v", g.Nodes)
	}
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestToposortRestoresOrder(t *testing.T) {
	g, _ := chain(t)
	g.Nodes[0], g.Nodes[2] = g.Nodes[2], g.Nodes[0]
	if err := g.Toposort(); err != nil {
		t.Fatal(err)
	}
	pos := map[string]int{}
	for i, n := range g.Nodes {
		pos[n.Name] = i
	}
	if !(pos["/l1/Relu"] < pos["/l2/Relu"] && pos["/l2/Relu"] < pos["/l3/Add"]) {
		t.Fatalf("order after toposort: %v", g.Nodes)
	}
}

func TestValidateFindsProblems(t *testing.T) {
	cases := []struct {
		name string
		edit func(g *Graph, v map[string]*Value)
		want string
	}{
		{"cycle", func(g *Graph, v map[string]*Value) { g.Nodes[0].SetInput(0, v["b"]) }, "cycle"},
		{"removed producer", func(g *Graph, v map[string]*Value) { g.Remove(g.Nodes[1]) }, "no node produces"},
		{"undefined output", func(g *Graph, v map[string]*Value) {
			g.Outputs = append(g.Outputs, &Value{Name: "ghost"})
		}, `graph output "ghost" is not produced`},
		{"duplicate node name", func(g *Graph, v map[string]*Value) { g.Nodes[1].Name = g.Nodes[0].Name }, "used by more than one node"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g, v := chain(t)
			c.edit(g, v)
			err := g.Validate()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func TestReplaceUses(t *testing.T) {
	g, v := chain(t)
	v["b"].ReplaceUses(v["a"], true)
	if len(v["b"].Uses()) != 0 {
		t.Fatal("b still used")
	}
	g.Cleanup()
	if g.Value("b") != nil {
		t.Error("b survived cleanup")
	}
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestModulePath(t *testing.T) {
	cases := map[string]string{
		"/layer1/layer1.0/conv1/Conv":                   "layer1.0.conv1",
		"/layer2/layer2.0/downsample/downsample.0/Conv": "layer2.0.downsample.0",
		"/features/features.3/conv/conv.0/Conv":         "features.3.conv.0",
		"/fc/Gemm":                                      "fc",
		"/Flatten":                                      "",
		"Conv_12":                                       "",
		"/attn/q_proj/MatMul":                           "attn.q_proj",
	}
	for name, want := range cases {
		if got := ModulePath(name); got != want {
			t.Errorf("ModulePath(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestResolve(t *testing.T) {
	g, _ := chain(t)
	for _, name := range []string{"b", "/l2/Relu", "l2"} {
		v, err := g.Resolve(name)
		if err != nil || v.Name != "b" {
			t.Errorf("Resolve(%q) = %v, %v; want b", name, v, err)
		}
	}
	_, err := g.Resolve("l22")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `"l2"`) {
		t.Errorf("Resolve(l22) = %v, want ErrNotFound suggesting l2", err)
	}
}

func TestSaveLoadBuiltGraph(t *testing.T) {
	g, _ := chain(t)
	g.Cleanup()
	m := NewModel(g, 17)
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	m2, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := m2.Graph.Validate(); err != nil {
		t.Fatal(err)
	}
	w, err := m2.Graph.Value("w").Const.Dense()
	if err != nil || w.F32[2] != 3 {
		t.Fatalf("initializer after round trip: %v %v", w, err)
	}
	if got := m2.Graph.Value("x").Type.String(); got != "float32[2,3]" {
		t.Errorf("input type %s", got)
	}
}

// TestInPlaceDimEditSaved checks that editing a loaded value's dims in
// place (v.Type.Dims[0] = ...) is saved: the loader keeps its own copy of
// the type it read to tell whether the value changed.
func TestInPlaceDimEditSaved(t *testing.T) {
	g, _ := chain(t)
	data, err := NewModel(g, 17).Encode()
	if err != nil {
		t.Fatal(err)
	}
	m, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	x := m.Graph.Inputs[0]
	x.Type.Dims[0] = Dim{Param: "batch"}
	data, err = m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if d := back.Graph.Inputs[0].Type.Dims[0]; d.Param != "batch" {
		t.Errorf("input dim 0 after a round trip: %+v, want the symbolic batch", d)
	}
}
