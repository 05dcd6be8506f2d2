package onnx

// Subgraphs: If's then_branch and else_branch, Loop's and Scan's body.
// Each is a Graph of its own, held by an attribute of its node (Attr.G,
// Attr.Graphs). A name a subgraph reads without defining it refers to a
// value of an enclosing graph (ONNX's lexical scoping); inside the
// subgraph it is a Value without producer, input or initializer entry
// (Graph.OuterValues), and the node lists the enclosing graph's value as
// an implicit input (Node.ImplicitInputs, a Use with Index -1), so that
// Toposort, Cleanup and the executor see the dependency.

// SyncImplicit recomputes n's implicit inputs from what its subgraphs
// read from outside, after an edit of a subgraph. A name n's graph does
// not define either becomes an outer value of that graph in turn (whose
// own node must then be synced too).
func (n *Node) SyncImplicit() {
	for _, v := range n.implicit {
		v.removeUse(n, -1)
	}
	n.implicit = nil
	n.linkImplicit()
}

// linkImplicit records the outer values of n's subgraphs as implicit
// inputs of n, each name once.
func (n *Node) linkImplicit() {
	g := n.graph
	if g == nil {
		return
	}
	seen := map[string]bool{}
	for _, sg := range n.Subgraphs() {
		for _, o := range sg.OuterValues() {
			if seen[o.Name] {
				continue
			}
			seen[o.Name] = true
			v := g.values[o.Name]
			if v == nil {
				v = g.newValue(o.Name)
			}
			n.implicit = append(n.implicit, v)
			v.uses = append(v.uses, Use{n, -1})
		}
	}
}

// Outer returns g's value called name, creating it as a reference to an
// enclosing scope's value if g has none: how a subgraph built by hand
// reads the outer graph. The node holding g must then be synced
// (SyncImplicit), and Validate checks that the name resolves.
func (g *Graph) Outer(name string) *Value {
	if v := g.values[name]; v != nil {
		return v
	}
	return g.newValue(name)
}

// GraphAttr builds a graph attribute.
func GraphAttr(name string, g *Graph) *Attr { return &Attr{Name: name, Type: AttrGraph, G: g} }
