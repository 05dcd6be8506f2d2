package onnx

import (
	"errors"
	"fmt"
	"strings"
)

// Toposort orders g.Nodes so that every node comes after the producers of
// its inputs, keeping the current order wherever it is already valid. It
// fails, naming nodes on the cycle, if the graph has one.
func (g *Graph) Toposort() error {
	index := make(map[*Node]int, len(g.Nodes))
	for i, n := range g.Nodes {
		index[n] = i
	}
	pending := make([]int, len(g.Nodes)) // unfinished in-graph producers per node
	for i, n := range g.Nodes {
		for _, v := range n.deps() {
			if p := v.producer; p != nil {
				if _, ok := index[p]; ok {
					pending[i]++
				}
			}
		}
	}
	// Kahn's algorithm, always taking the earliest ready node so that the
	// original order survives where possible.
	order := make([]*Node, 0, len(g.Nodes))
	ready := &minHeap{}
	for i := range g.Nodes {
		if pending[i] == 0 {
			ready.push(i)
		}
	}
	for ready.len() > 0 {
		i := ready.pop()
		n := g.Nodes[i]
		order = append(order, n)
		for _, o := range n.Outputs {
			if o == nil {
				continue
			}
			for _, u := range o.uses {
				if j, ok := index[u.Node]; ok {
					pending[j]--
					if pending[j] == 0 {
						ready.push(j)
					}
				}
			}
		}
	}
	if len(order) != len(g.Nodes) {
		var stuck []string
		for i, n := range g.Nodes {
			if pending[i] > 0 && len(stuck) < 5 {
				stuck = append(stuck, fmt.Sprintf("%q", n.Name))
			}
		}
		return fmt.Errorf("graph has a cycle through nodes %s", strings.Join(stuck, ", "))
	}
	g.Nodes = order
	return nil
}

// deps returns every value n reads, explicit and implicit, with repeats.
func (n *Node) deps() []*Value {
	var out []*Value
	for _, v := range n.Inputs {
		if v != nil {
			out = append(out, v)
		}
	}
	return append(out, n.implicit...)
}

type minHeap struct{ a []int }

func (h *minHeap) len() int { return len(h.a) }

func (h *minHeap) push(x int) {
	h.a = append(h.a, x)
	for i := len(h.a) - 1; i > 0; {
		p := (i - 1) / 2
		if h.a[p] <= h.a[i] {
			break
		}
		h.a[p], h.a[i] = h.a[i], h.a[p]
		i = p
	}
}

func (h *minHeap) pop() int {
	top := h.a[0]
	last := len(h.a) - 1
	h.a[0] = h.a[last]
	h.a = h.a[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(h.a) && h.a[l] < h.a[m] {
			m = l
		}
		if r < len(h.a) && h.a[r] < h.a[m] {
			m = r
		}
		if m == i {
			break
		}
		h.a[i], h.a[m] = h.a[m], h.a[i]
		i = m
	}
	return top
}

// Cleanup removes every node that no graph output depends on, then every
// initializer nothing reads. Graph inputs stay, since callers feed them.
// It reports how many nodes and initializers it removed.
func (g *Graph) Cleanup() (nodes, inits int) {
	live := map[*Node]bool{}
	stack := []*Value{}
	for _, o := range g.Outputs {
		stack = append(stack, o)
	}
	for len(stack) > 0 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		p := v.producer
		if p == nil || live[p] {
			continue
		}
		live[p] = true
		stack = append(stack, p.deps()...)
	}
	for i := len(g.Nodes) - 1; i >= 0; i-- {
		if n := g.Nodes[i]; !live[n] {
			g.Remove(n)
			nodes++
		}
	}
	inputs := map[*Value]bool{}
	for _, v := range g.Inputs {
		inputs[v] = true
	}
	kept := g.Initializers[:0]
	for _, v := range g.Initializers {
		if len(v.uses) == 0 && !v.IsGraphOutput() && !inputs[v] {
			delete(g.values, v.Name)
			inits++
			continue
		}
		kept = append(kept, v)
	}
	g.Initializers = kept
	// Forget values nothing refers to any more.
	for name, v := range g.values {
		if v.producer == nil && v.Const == nil && len(v.uses) == 0 && !inputs[v] && !v.IsGraphOutput() {
			delete(g.values, name)
		}
	}
	return nodes, inits
}

// Validate checks the graph's invariants: unique names, links that agree in
// both directions, every input defined, outputs defined, no cycle. It
// checks the subgraphs of If, Loop and Scan nodes in the same way, where
// a value defined in an enclosing graph counts as defined, and each
// node's implicit inputs must name what its subgraphs read from outside.
// It returns all problems found, joined.
func (g *Graph) Validate() error { return g.validate(nil) }

// validate is Validate for a graph whose enclosing graphs define the
// names in outer.
func (g *Graph) validate(outer map[string]bool) error {
	var errs []error
	add := func(format string, args ...any) {
		if len(errs) < 20 {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	inGraph := map[*Node]bool{}
	nodeNames := map[string]bool{}
	for _, n := range g.Nodes {
		if inGraph[n] {
			add("%s appears twice in the node list", n)
		}
		inGraph[n] = true
		if n.Name != "" && nodeNames[n.Name] {
			add("node name %q is used by more than one node", n.Name)
		}
		nodeNames[n.Name] = true
	}
	defined := map[*Value]bool{}
	for _, v := range g.Inputs {
		defined[v] = true
		if g.values[v.Name] != v {
			add("graph input %q is not registered under its name", v.Name)
		}
	}
	for _, v := range g.Initializers {
		defined[v] = true
		if v.Const == nil {
			add("initializer %q has no data", v.Name)
		}
		if v.producer != nil {
			add("initializer %q is also produced by %s", v.Name, v.producer)
		}
		if g.values[v.Name] != v {
			add("initializer %q is not registered under its name", v.Name)
		}
	}
	for _, n := range g.Nodes {
		if n.graph != g {
			add("%s belongs to another graph", n)
		}
		for i, v := range n.Inputs {
			if v == nil {
				continue
			}
			if !v.hasUse(n, i) {
				add("%s reads %q at input %d, but the value does not list that use", n, v.Name, i)
			}
			if g.values[v.Name] != v {
				add("%s reads %q, which is not registered in the graph", n, v.Name)
			}
			if v.producer == nil && !defined[v] && !outer[v.Name] {
				add("%s reads %q, which no node produces and is neither an input nor an initializer", n, v.Name)
			}
			if v.producer != nil && !inGraph[v.producer] {
				add("%s reads %q, whose producer %s was removed", n, v.Name, v.producer)
			}
		}
		for _, v := range n.implicit {
			if v.producer == nil && !defined[v] && !outer[v.Name] {
				add("a subgraph of %s reads %q, which is not defined", n, v.Name)
			}
		}
		for _, v := range n.Outputs {
			if v == nil {
				continue
			}
			if v.producer != n {
				add("%s lists output %q, which names another producer", n, v.Name)
			}
			if g.values[v.Name] != v {
				add("%s output %q is not registered under its name", n, v.Name)
			}
		}
	}
	for name, v := range g.values {
		if v.Name != name {
			add("value %q is registered as %q", v.Name, name)
		}
		for _, u := range v.uses {
			if !inGraph[u.Node] {
				add("value %q lists a use by %s, which is not in the graph", v.Name, u.Node)
			} else if u.Index >= 0 && (u.Index >= len(u.Node.Inputs) || u.Node.Inputs[u.Index] != v) {
				add("value %q lists a use by %s input %d, which reads something else", v.Name, u.Node, u.Index)
			}
		}
	}
	for _, v := range g.Outputs {
		if v.producer == nil && !defined[v] && !outer[v.Name] {
			add("graph output %q is not produced by any node", v.Name)
		}
	}
	var scope map[string]bool // names visible to g's subgraphs
	for _, n := range g.Nodes {
		subs := n.Subgraphs()
		if len(subs) == 0 {
			continue
		}
		if scope == nil {
			scope = make(map[string]bool, len(outer)+len(g.values))
			for name := range outer {
				scope[name] = true
			}
			for name, v := range g.values {
				if v.producer != nil || defined[v] {
					scope[name] = true
				}
			}
		}
		listed := map[string]bool{}
		for _, v := range n.implicit {
			listed[v.Name] = true
		}
		for _, sub := range subs {
			for _, v := range sub.OuterValues() {
				if !listed[v.Name] {
					add("subgraph %q of %s reads %q, which the node does not list as an implicit input", sub.Name, n, v.Name)
				}
			}
			if err := sub.validate(scope); err != nil {
				add("subgraph %q of %s: %w", sub.Name, n, err)
			}
		}
	}
	if len(errs) == 0 {
		c := *g
		c.Nodes = append([]*Node{}, g.Nodes...)
		if err := c.Toposort(); err != nil {
			add("%v", err)
		}
	}
	return errors.Join(errs...)
}

func (v *Value) hasUse(n *Node, i int) bool {
	for _, u := range v.uses {
		if u.Node == n && u.Index == i {
			return true
		}
	}
	return false
}
