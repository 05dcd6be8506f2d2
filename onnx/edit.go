package onnx

import (
	"fmt"
	"strconv"

	"github.com/graft-ml/graft/tensor"
)

// NewGraph returns an empty graph.
func NewGraph(name string) *Graph {
	return &Graph{Name: name, values: map[string]*Value{}}
}

// NewModel returns a model around g importing the given default-domain
// opset, with graft as producer.
func NewModel(g *Graph, opset int64) *Model {
	return &Model{IRVersion: 8, Opsets: []OpsetID{{"", opset}}, ProducerName: "graft", Graph: g}
}

func (g *Graph) newValue(name string) *Value {
	v := &Value{Name: name, graph: g}
	g.values[name] = v
	return v
}

// Value returns the value called name, or nil.
func (g *Graph) Value(name string) *Value { return g.values[name] }

// Values returns every value of the graph (inputs, initializers, node
// outputs) in no particular order.
func (g *Graph) Values() []*Value {
	out := make([]*Value, 0, len(g.values))
	for _, v := range g.values {
		out = append(out, v)
	}
	return out
}

// UniqueName returns base, or base with a numeric suffix, unused in g.
func (g *Graph) UniqueName(base string) string {
	if g.values[base] == nil {
		return base
	}
	for i := 1; ; i++ {
		n := base + "_" + strconv.Itoa(i)
		if g.values[n] == nil {
			return n
		}
	}
}

// AddInput appends a graph input of the given type.
func (g *Graph) AddInput(name string, typ Type) (*Value, error) {
	if g.values[name] != nil {
		return nil, fmt.Errorf("add input: name %q already in use", name)
	}
	v := g.newValue(name)
	v.Type = typ
	g.Inputs = append(g.Inputs, v)
	return v, nil
}

// AddConst adds an initializer holding d under a unique name derived from
// name.
func (g *Graph) AddConst(name string, d *tensor.Dense) *Value {
	v := g.newValue(g.UniqueName(name))
	v.Const = NewTensor(v.Name, d)
	v.Type = Type{DType: d.DType, HasShape: true, Dims: intDims(d.Shape)}
	g.Initializers = append(g.Initializers, v)
	return v
}

// SetConst replaces an initializer's data, keeping its name and uses.
func (v *Value) SetConst(d *tensor.Dense) {
	v.Const = NewTensor(v.Name, d)
	v.Type = Type{DType: d.DType, HasShape: true, Dims: intDims(d.Shape)}
}

// AddNode appends a node reading inputs (nil for an omitted optional input)
// and producing fresh values named after outputs (made unique; "" for an
// omitted optional output). The node name is made unique too.
func (g *Graph) AddNode(op, domain, name string, inputs []*Value, outputs []string, attrs ...*Attr) *Node {
	n := &Node{Name: g.uniqueNodeName(name, op), OpType: op, Domain: domain, Attrs: attrs, graph: g}
	for i, v := range inputs {
		n.Inputs = append(n.Inputs, v)
		if v != nil {
			v.uses = append(v.uses, Use{n, i})
		}
	}
	for _, o := range outputs {
		if o == "" {
			n.Outputs = append(n.Outputs, nil)
			continue
		}
		v := g.newValue(g.UniqueName(o))
		v.producer = n
		n.Outputs = append(n.Outputs, v)
	}
	g.Nodes = append(g.Nodes, n)
	return n
}

func (g *Graph) uniqueNodeName(name, op string) string {
	if name == "" {
		name = op
	}
	taken := map[string]bool{}
	for _, n := range g.Nodes {
		taken[n.Name] = true
	}
	if !taken[name] {
		return name
	}
	for i := 1; ; i++ {
		c := name + "_" + strconv.Itoa(i)
		if !taken[c] {
			return c
		}
	}
}

// SetInput makes input i of n read v (nil to omit it), updating uses.
func (n *Node) SetInput(i int, v *Value) {
	for len(n.Inputs) <= i {
		n.Inputs = append(n.Inputs, nil)
	}
	if old := n.Inputs[i]; old != nil {
		old.removeUse(n, i)
	}
	n.Inputs[i] = v
	if v != nil {
		v.uses = append(v.uses, Use{n, i})
	}
}

func (v *Value) removeUse(n *Node, i int) {
	for k, u := range v.uses {
		if u.Node == n && u.Index == i {
			v.uses = append(v.uses[:k:k], v.uses[k+1:]...)
			return
		}
	}
}

// ReplaceUses makes every node that reads v read w instead. With
// includeOutputs, graph outputs that are v become w too. Implicit reads by
// subgraphs refer to v by name and cannot be redirected; they are left.
func (v *Value) ReplaceUses(w *Value, includeOutputs bool) {
	uses := append([]Use{}, v.uses...)
	for _, u := range uses {
		if u.Index >= 0 {
			u.Node.SetInput(u.Index, w)
		}
	}
	if includeOutputs && v.graph != nil {
		for i, o := range v.graph.Outputs {
			if o == v {
				v.graph.Outputs[i] = w
			}
		}
	}
}

// Remove deletes n from the graph, unlinking its inputs. Its outputs lose
// their producer and become dangling if anything still reads them, which
// Validate reports.
func (g *Graph) Remove(n *Node) {
	for i, v := range n.Inputs {
		if v != nil {
			v.removeUse(n, i)
		}
	}
	for _, v := range n.implicit {
		v.removeUse(n, -1)
	}
	n.implicit = nil
	for _, v := range n.Outputs {
		if v != nil && v.producer == n {
			v.producer = nil
			if len(v.uses) == 0 && !v.IsGraphOutput() {
				delete(g.values, v.Name)
			}
		}
	}
	for i, m := range g.Nodes {
		if m == n {
			g.Nodes = append(g.Nodes[:i:i], g.Nodes[i+1:]...)
			break
		}
	}
	n.graph = nil
}

// Rename changes a value's name, failing if the new name is taken. Subgraphs
// that read v by name are not updated, so values with implicit uses cannot
// be renamed.
func (g *Graph) Rename(v *Value, name string) error {
	if v.Name == name {
		return nil
	}
	if g.values[name] != nil {
		return fmt.Errorf("rename %q: name %q already in use", v.Name, name)
	}
	for _, u := range v.uses {
		if u.Index < 0 {
			return fmt.Errorf("rename %q: a subgraph of %s reads it by name", v.Name, u.Node)
		}
	}
	delete(g.values, v.Name)
	v.Name = name
	if v.Const != nil {
		c := *v.Const
		c.Name = name
		v.Const = &c
	}
	g.values[name] = v
	return nil
}

// SetAttr sets or replaces the attribute a.Name of n.
func (n *Node) SetAttr(a *Attr) {
	for i, b := range n.Attrs {
		if b.Name == a.Name {
			n.Attrs[i] = a
			return
		}
	}
	n.Attrs = append(n.Attrs, a)
}

// IntAttr, IntsAttr, FloatAttr, StringAttr and TensorAttr build attributes.
func IntAttr(name string, v int64) *Attr { return &Attr{Name: name, Type: AttrInt, I: v} }

// IntsAttr builds an ints attribute.
func IntsAttr(name string, v ...int64) *Attr { return &Attr{Name: name, Type: AttrInts, Ints: v} }

// FloatAttr builds a float attribute.
func FloatAttr(name string, v float32) *Attr { return &Attr{Name: name, Type: AttrFloat, F: v} }

// FloatsAttr builds a floats attribute.
func FloatsAttr(name string, v ...float32) *Attr {
	return &Attr{Name: name, Type: AttrFloats, Floats: v}
}

// StringAttr builds a string attribute.
func StringAttr(name, v string) *Attr { return &Attr{Name: name, Type: AttrString, S: v} }

// TensorAttr builds a tensor attribute.
func TensorAttr(name string, d *tensor.Dense) *Attr {
	return &Attr{Name: name, Type: AttrTensor, T: NewTensor("", d)}
}

// PromoteToInput turns v into a graph input: its producer keeps running but
// writes a fresh, unused value instead, so that Cleanup can drop whatever
// only fed v. Cutting a graph at a hidden value uses this.
func (g *Graph) PromoteToInput(v *Value) {
	if p := v.producer; p != nil {
		for i, o := range p.Outputs {
			if o == v {
				w := g.newValue(g.UniqueName(v.Name + "_detached"))
				w.producer = p
				w.Type = v.Type
				p.Outputs[i] = w
			}
		}
		v.producer = nil
	}
	for _, in := range g.Inputs {
		if in == v {
			return
		}
	}
	g.Inputs = append(g.Inputs, v)
}

// RemoveUnusedInputs drops graph inputs that nothing reads and that are not
// outputs, reporting how many it removed.
func (g *Graph) RemoveUnusedInputs() int {
	kept := g.Inputs[:0]
	removed := 0
	for _, v := range g.Inputs {
		if len(v.uses) == 0 && !v.IsGraphOutput() && v.Const == nil {
			delete(g.values, v.Name)
			removed++
			continue
		}
		kept = append(kept, v)
	}
	g.Inputs = kept
	return removed
}
