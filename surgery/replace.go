package surgery

import (
	"fmt"
	"strings"

	"github.com/graft-ml/graft/exec"
	"github.com/graft-ml/graft/onnx"
)

// ReplaceReport says what Replace swapped.
type ReplaceReport struct {
	Removed, Added int      // node counts
	Inputs         []string // the interface's inputs, in the order sub's inputs bind to them
	Outputs        []string // the interface's outputs, in the order sub's outputs replace them
}

// Replace swaps a node, or every node of a module (a PyTorch module path
// such as layer2.1), for the graph of sub. The replaced part's interface is
// the non-constant values it reads from outside, in graph order, and the
// values it produces that are read outside or are graph outputs; sub must
// have as many (non-initializer) inputs and outputs, with fitting shapes.
// The replaced outputs keep their names. A part that is not contiguous
// (some outside node both depends on it and feeds it) cannot be replaced
// without a cycle, and is an error.
func Replace(m *onnx.Model, target string, sub *onnx.Model) (ReplaceReport, error) {
	var r ReplaceReport
	g := m.Graph
	if err := exec.InferShapes(m); err != nil {
		return r, fmt.Errorf("replace: %w", err)
	}
	if err := exec.InferShapes(sub); err != nil {
		return r, fmt.Errorf("replace: replacement: %w", err)
	}
	part, err := selectPart(g, target)
	if err != nil {
		return r, fmt.Errorf("replace: %w", err)
	}
	ins, outs := partInterface(g, part)
	if err := partIsConvex(g, part); err != nil {
		return r, fmt.Errorf("replace %s: %w", target, err)
	}
	if sub.Opset("") > m.Opset("") {
		if err := Upgrade(m, sub.Opset("")); err != nil {
			return r, fmt.Errorf("replace: %w", err)
		}
	} else if err := Upgrade(sub, m.Opset("")); err != nil {
		return r, fmt.Errorf("replace: replacement: %w", err)
	}
	subIns := nonConstInputs(sub.Graph)
	if len(subIns) != len(ins) || len(sub.Graph.Outputs) != len(outs) {
		return r, fmt.Errorf("replace %s: it reads %d value(s) (%s) and produces %d (%s), but the replacement has %d input(s) and %d output(s)",
			target, len(ins), valueNames(ins), len(outs), valueNames(outs), len(subIns), len(sub.Graph.Outputs))
	}
	for i, v := range ins {
		if err := joinable(v.Type, subIns[i].Type); err != nil {
			return r, fmt.Errorf("replace %s: input %d (%q) does not fit the replacement's input %q: %w", target, i, v.Name, subIns[i].Name, err)
		}
	}
	for i, v := range outs {
		if err := joinable(sub.Graph.Outputs[i].Type, v.Type); err != nil {
			return r, fmt.Errorf("replace %s: the replacement's output %d does not fit %q: %w", target, i, v.Name, err)
		}
	}

	im := newImporter(g, strings.ReplaceAll(target, "/", "_"))
	for i, v := range subIns {
		im.bind(v, ins[i])
	}
	before := len(g.Nodes)
	if err := im.nodes(sub.Graph); err != nil {
		return r, fmt.Errorf("replace: replacement: %w", err)
	}
	r.Added = len(g.Nodes) - before
	for _, v := range ins {
		r.Inputs = append(r.Inputs, v.Name)
	}
	news := make([]*onnx.Value, len(outs))
	for i, v := range outs {
		w, err := im.value(sub.Graph.Outputs[i])
		if err != nil {
			return r, fmt.Errorf("replace: replacement: %w", err)
		}
		if !im.produced(w) {
			// The replacement passes an input or constant straight through:
			// give the output a node of its own so it can keep its name.
			w = g.AddNode("Identity", "", v.Name+"_passthrough", []*onnx.Value{w}, []string{v.Name + "_new"}).Outputs[0]
		}
		v.ReplaceUses(w, true)
		news[i] = w
		r.Outputs = append(r.Outputs, v.Name)
	}
	for _, n := range part {
		g.Remove(n)
	}
	r.Removed = len(part)
	g.Cleanup()
	for i, name := range r.Outputs {
		if g.Value(name) == nil {
			if err := g.Rename(news[i], name); err != nil {
				return r, fmt.Errorf("replace: %w", err)
			}
		}
	}
	if err := g.Toposort(); err != nil {
		return r, fmt.Errorf("replace: %w", err)
	}
	if err := finish(m); err != nil {
		return r, fmt.Errorf("replace: %w", err)
	}
	return r, nil
}

// selectPart returns the node called target, or the nodes inside module
// target, in graph order.
func selectPart(g *onnx.Graph, target string) ([]*onnx.Node, error) {
	var part []*onnx.Node
	for _, n := range g.Nodes {
		if n.Name == target {
			return []*onnx.Node{n}, nil
		}
	}
	for _, n := range g.Nodes {
		p := onnx.ModulePath(n.Name)
		if p == target || strings.HasPrefix(p, target+".") {
			part = append(part, n)
		}
	}
	if len(part) == 0 {
		_, err := g.Resolve(target) // for its suggestions
		if err == nil {
			err = fmt.Errorf("%q is a value, not a node or module; name the node or module that computes it", target)
		}
		return nil, err
	}
	return part, nil
}

// partInterface returns the non-constant values part reads from outside
// and the values it produces that are used outside, each in graph order.
func partInterface(g *onnx.Graph, part []*onnx.Node) (ins, outs []*onnx.Value) {
	inPart := map[*onnx.Node]bool{}
	for _, n := range part {
		inPart[n] = true
	}
	seen := map[*onnx.Value]bool{}
	for _, n := range part {
		for _, v := range n.Inputs {
			if v == nil || seen[v] || (v.Producer() != nil && inPart[v.Producer()]) {
				continue
			}
			seen[v] = true
			if v.Const == nil || isInput(g, v) {
				ins = append(ins, v)
			}
		}
	}
	for _, n := range part {
		for _, v := range n.Outputs {
			if v == nil {
				continue
			}
			used := v.IsGraphOutput()
			for _, u := range v.Uses() {
				if !inPart[u.Node] {
					used = true
				}
			}
			if used {
				outs = append(outs, v)
			}
		}
	}
	return ins, outs
}

// partIsConvex checks that no path leaves part and comes back into it,
// which replacing it by one block would turn into a cycle.
func partIsConvex(g *onnx.Graph, part []*onnx.Node) error {
	inPart := map[*onnx.Node]bool{}
	for _, n := range part {
		inPart[n] = true
	}
	// Nodes are in topological order, so one forward sweep finds every
	// outside node downstream of part.
	downstream := map[*onnx.Node]bool{}
	for _, n := range g.Nodes {
		for _, v := range n.Inputs {
			if v == nil || v.Producer() == nil {
				continue
			}
			p := v.Producer()
			if inPart[p] || downstream[p] {
				if inPart[n] && downstream[p] {
					return fmt.Errorf("the part is not contiguous: %s depends on it and feeds %s; replacing it would create a cycle", p, n)
				}
				if !inPart[n] {
					downstream[n] = true
				}
			}
		}
	}
	return nil
}

func valueNames(vs []*onnx.Value) string {
	names := make([]string, len(vs))
	for i, v := range vs {
		names[i] = v.Name
	}
	return strings.Join(names, ", ")
}
