package onnx

import (
	"fmt"
	"sort"
	"strings"
)

// ModulePath returns the PyTorch module path of a node exported by
// torch.onnx (1.13+), which names nodes by module scope: node
// "/layer1/layer1.0/conv1/Conv" belongs to module "layer1.0.conv1". A scope
// component is either an attribute name ("conv1") or, for a child of a
// container, the container's component plus the child's key ("layer1.0"
// under "layer1", "downsample.0" under "downsample"). Nodes without a scope
// return "".
func ModulePath(nodeName string) string {
	if !strings.HasPrefix(nodeName, "/") {
		return ""
	}
	parts := strings.Split(strings.TrimPrefix(nodeName, "/"), "/")
	path, last := "", ""
	for _, c := range parts[:len(parts)-1] {
		switch {
		case c == "":
			continue
		case path == "":
			path = c
		case last != "" && strings.HasPrefix(c, last+"."):
			path += c[len(last):]
		default:
			path += "." + c
		}
		last = c
	}
	return path
}

// Resolve finds the value a user means by name, trying in turn: a value
// name, a node name (its first output), and a PyTorch module path (the
// output of the last node, in graph order, inside that module's scope).
// On a miss the error wraps ErrNotFound and lists the closest names.
func (g *Graph) Resolve(name string) (*Value, error) {
	if v := g.values[name]; v != nil {
		return v, nil
	}
	for _, n := range g.Nodes {
		if n.Name == name && len(n.Outputs) > 0 && n.Outputs[0] != nil {
			return n.Outputs[0], nil
		}
	}
	if v := g.moduleOutput(name); v != nil {
		return v, nil
	}
	return nil, fmt.Errorf("layer %q: %w%s", name, ErrNotFound, suggest(name, g.layerNames()))
}

func (g *Graph) moduleOutput(path string) *Value {
	var last *Node
	for _, n := range g.Nodes {
		mp := ModulePath(n.Name)
		if mp == path || strings.HasPrefix(mp, path+".") {
			last = n
		}
	}
	if last == nil || len(last.Outputs) == 0 {
		return nil
	}
	return last.Outputs[0]
}

// ModulePaths returns every module path in the graph and its ancestors
// ("layer1", "layer1.0", "layer1.0.conv1"), sorted.
func (g *Graph) ModulePaths() []string {
	seen := map[string]bool{}
	for _, n := range g.Nodes {
		mp := ModulePath(n.Name)
		for mp != "" && !seen[mp] {
			seen[mp] = true
			i := strings.LastIndexByte(mp, '.')
			if i < 0 {
				break
			}
			mp = mp[:i]
		}
	}
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

func (g *Graph) layerNames() []string {
	names := g.ModulePaths()
	for _, n := range g.Nodes {
		if n.Name != "" {
			names = append(names, n.Name)
		}
	}
	for name, v := range g.values {
		if v.Const == nil {
			names = append(names, name)
		}
	}
	return names
}

// suggest formats up to five candidates closest to name by edit distance.
func suggest(name string, candidates []string) string {
	if len(candidates) == 0 {
		return ""
	}
	type scored struct {
		s string
		d int
	}
	seen := map[string]bool{}
	var all []scored
	for _, c := range candidates {
		if seen[c] {
			continue
		}
		seen[c] = true
		d := editDistance(strings.ToLower(name), strings.ToLower(c))
		if strings.Contains(c, name) {
			d = min(d, len(c)-len(name)) // a substring match is close
		}
		all = append(all, scored{c, d})
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].d != all[j].d {
			return all[i].d < all[j].d
		}
		return all[i].s < all[j].s
	})
	var top []string
	for i := 0; i < len(all) && i < 5; i++ {
		top = append(top, fmt.Sprintf("%q", all[i].s))
	}
	return "; closest: " + strings.Join(top, ", ")
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
