package surgery

import (
	"fmt"

	"github.com/graft-ml/graft/exec"
	"github.com/graft-ml/graft/onnx"
)

// resolveAll resolves layer names to values.
func resolveAll(g *onnx.Graph, names []string) ([]*onnx.Value, error) {
	if len(names) == 0 {
		return nil, fmt.Errorf("no layer given")
	}
	var out []*onnx.Value
	for _, name := range names {
		v, err := g.Resolve(name)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// finish types every value and checks the edited graph.
func finish(m *onnx.Model) error {
	if err := exec.InferShapes(m); err != nil {
		return err
	}
	return m.Graph.Validate()
}

// Truncate makes the named layers the model's outputs, in order, and
// removes everything they do not depend on. Each new output is renamed to
// the name asked for (`layer1` rather than `/layer1/layer1.1/relu_1/Relu_output_0`)
// where that name is free; the ONNX value name it had is kept in the
// model's metadata under "graft.output.NAME".
func Truncate(m *onnx.Model, at ...string) error {
	g := m.Graph
	outs, err := resolveAll(g, at)
	if err != nil {
		return fmt.Errorf("truncate: %w", err)
	}
	g.Outputs = outs
	g.Cleanup()
	g.RemoveUnusedInputs()
	nameOutputs(m, outs, at)
	if err := finish(m); err != nil {
		return fmt.Errorf("truncate: %w", err)
	}
	return nil
}

// nameOutputs renames each output value to the layer name that selected
// it, unless the name is taken, the value is also an input or another
// output, or a subgraph reads it by name: then the ONNX name stays.
func nameOutputs(m *onnx.Model, outs []*onnx.Value, asked []string) {
	g := m.Graph
	seen := map[*onnx.Value]int{}
	for _, v := range outs {
		seen[v]++
	}
	for i, v := range outs {
		name := asked[i]
		if v.Name == name || seen[v] > 1 || isInput(g, v) || g.Value(name) != nil {
			continue
		}
		old := v.Name
		if g.Rename(v, name) == nil {
			m.Metadata = append(m.Metadata, onnx.KV{Key: "graft.output." + name, Value: old})
		}
	}
}

// Extract keeps the part of the model between the from layers and the to
// layers: the from values become the graph inputs (with their inferred
// types) and the to values the outputs. If the to layers also depend on an
// original input that no from layer cuts off, that input stays and the
// returned list names it, since the caller must then still feed it.
func Extract(m *onnx.Model, from, to []string) (extraInputs []string, err error) {
	g := m.Graph
	if err := exec.InferShapes(m); err != nil {
		return nil, fmt.Errorf("extract: %w", err)
	}
	ins, err := resolveAll(g, from)
	if err != nil {
		return nil, fmt.Errorf("extract --from: %w", err)
	}
	outs, err := resolveAll(g, to)
	if err != nil {
		return nil, fmt.Errorf("extract --to: %w", err)
	}
	for _, v := range ins {
		if v.Const != nil {
			return nil, fmt.Errorf("extract --from: %q is a constant, not a layer", v.Name)
		}
	}
	original := append([]*onnx.Value{}, g.Inputs...)
	g.Inputs = nil
	for _, v := range ins {
		g.PromoteToInput(v)
	}
	g.Outputs = outs
	g.Cleanup()
	// Original inputs the remaining graph still reads must stay inputs.
	for _, v := range original {
		if len(v.Uses()) > 0 && v.Const == nil {
			g.Inputs = append(g.Inputs, v)
			extraInputs = append(extraInputs, v.Name)
		} else if v.Const != nil {
			g.Inputs = append(g.Inputs, v) // overridable initializers keep their role
		}
	}
	for _, v := range outs {
		if v.Producer() == nil && !isInput(g, v) {
			return nil, fmt.Errorf("extract: output %q does not depend on the given inputs", v.Name)
		}
	}
	g.Cleanup()
	if err := finish(m); err != nil {
		return nil, fmt.Errorf("extract: %w", err)
	}
	return extraInputs, nil
}

func isInput(g *onnx.Graph, v *onnx.Value) bool {
	for _, in := range g.Inputs {
		if in == v {
			return true
		}
	}
	return false
}
