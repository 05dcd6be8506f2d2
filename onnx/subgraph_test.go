package onnx

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ml/graft/tensor"
)

// ifModel builds y = If(cond, then: x + w, else: -x), whose branches read
// the outer graph's input x and initializer w.
func ifModel(t *testing.T) *Model {
	t.Helper()
	g := NewGraph("main")
	x, err := g.AddInput("x", ShapeOf(tensor.Float32, 2))
	if err != nil {
		t.Fatal(err)
	}
	cond, err := g.AddInput("cond", ShapeOf(tensor.Bool))
	if err != nil {
		t.Fatal(err)
	}
	g.AddConst("w", tensor.FromF32([]int{2}, []float32{1, 2}))
	then := NewGraph("then")
	then.Outputs = then.AddNode("Add", "", "add", []*Value{then.Outer("x"), then.Outer("w")}, []string{"t"}).Outputs
	then.Outputs[0].Type = ShapeOf(tensor.Float32, 2)
	els := NewGraph("else")
	els.Outputs = els.AddNode("Neg", "", "neg", []*Value{els.Outer("x")}, []string{"e"}).Outputs
	els.Outputs[0].Type = ShapeOf(tensor.Float32, 2)
	n := g.AddNode("If", "", "if", []*Value{cond}, []string{"y"}, GraphAttr("then_branch", then), GraphAttr("else_branch", els))
	n.SyncImplicit()
	g.Outputs = n.Outputs
	_ = x
	return NewModel(g, 13)
}

func TestSubgraphOuterValues(t *testing.T) {
	m := ifModel(t)
	n := m.Graph.Nodes[0]
	var names []string
	for _, v := range n.ImplicitInputs() {
		names = append(names, v.Name)
	}
	if got := strings.Join(names, ","); got != "x,w" {
		t.Fatalf("implicit inputs %s, want x,w", got)
	}
	if err := m.Graph.Validate(); err != nil {
		t.Fatal(err)
	}
	// Round trip: the subgraphs come back as graphs with their outer reads.
	data, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	m2, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if err := m2.Graph.Validate(); err != nil {
		t.Fatal(err)
	}
	n2 := m2.Graph.Nodes[0]
	then := n2.AttrGraph("then_branch")
	if then == nil || len(then.Nodes) != 1 || then.Nodes[0].OpType != "Add" {
		t.Fatalf("then_branch after round trip: %+v", then)
	}
	if len(n2.ImplicitInputs()) != 2 || len(m2.Graph.Value("w").Uses()) != 1 {
		t.Fatalf("implicit inputs after round trip: %v", n2.ImplicitInputs())
	}
	// An outer name nobody defines is reported, naming the subgraph.
	els := n2.AttrGraph("else_branch")
	neg := els.Nodes[0]
	neg.SetInput(0, els.Outer("missing"))
	n2.SyncImplicit()
	err = m2.Graph.Validate()
	if err == nil || !strings.Contains(err.Error(), `"missing"`) {
		t.Fatalf("validate with an undefined outer name: %v", err)
	}
	// Renaming a value a subgraph reads by name is refused.
	if err := m2.Graph.Rename(m2.Graph.Value("w"), "w2"); err == nil {
		t.Fatal("renamed a value a subgraph reads")
	}
}

// TestSubgraphEdit edits the body of ONNX's Loop conformance model and
// checks that the saved file carries the edit.
func TestSubgraphEdit(t *testing.T) {
	path := filepath.Join(conformanceDir, "node", "test_loop11", "model.onnx")
	m, err := Load(path)
	if err != nil {
		t.Skipf("conformance model: %v", err)
	}
	if err := m.Graph.Validate(); err != nil {
		t.Fatal(err)
	}
	body := m.Graph.Nodes[0].AttrGraph("body")
	if body == nil {
		t.Fatal("Loop has no body graph")
	}
	var add *Node
	for _, n := range body.Nodes {
		if n.Name == "" && n.OpType == "Add" && n.Outputs[0].Name == "y_out" {
			add = n
		}
	}
	if add == nil {
		t.Fatal("no Add producing y_out in the body")
	}
	add.OpType = "Sub"
	data, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	m2, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, n := range m2.Graph.Nodes[0].AttrGraph("body").Nodes {
		if n.OpType == "Sub" && n.Outputs[0].Name == "y_out" {
			found = true
		}
	}
	if !found {
		t.Fatal("the edit of the body did not survive the save")
	}
}
