package train

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// SelectParams returns the names of g's float32 initializers that match
// any of patterns, in file order. A pattern matches an initializer when,
// as a path.Match glob, it matches
//
//   - the initializer's name ("fc.weight", "layer4.*", "adapter.*"),
//   - the name's module prefix ("adapter" matches "adapter.weight" and
//     "adapter.bias"; "layer4" matches everything under layer4), or
//   - the module path of a node that reads it ("layer1.0.conv1" for a
//     weight PyTorch exported as "onnx::Conv_193").
//
// BatchNormalization's running mean and variance are statistics, not
// parameters (PyTorch keeps them as buffers), and are never selected. A
// pattern that matches nothing is an error naming the closest
// initializers, so a typo never trains nothing.
func SelectParams(g *onnx.Graph, patterns []string) ([]string, error) {
	if len(patterns) == 0 {
		return nil, fmt.Errorf("no parameters chosen to train")
	}
	var names []string
	seen := map[string]bool{}
	for _, p := range patterns {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("parameter pattern %q: %w", p, err)
		}
		found := false
		stats := 0
		for _, v := range g.Initializers {
			if v.Type.DType != tensor.Float32 || !matchesParam(p, v) {
				continue
			}
			if runningStat(v) {
				stats++
				continue
			}
			found = true
			if !seen[v.Name] {
				seen[v.Name] = true
				names = append(names, v.Name)
			}
		}
		if !found && stats > 0 {
			return nil, fmt.Errorf("parameter pattern %q matches only BatchNormalization running statistics, which are not trained", p)
		}
		if !found {
			return nil, fmt.Errorf("parameter pattern %q matches no float32 initializer%s", p, closestParams(g, p))
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no parameters chosen to train")
	}
	return names, nil
}

func matchesParam(p string, v *onnx.Value) bool {
	match := func(name string) bool {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
		// A module path matches everything under it.
		return strings.HasPrefix(name, p+".") || strings.HasPrefix(name, p+"/")
	}
	if match(v.Name) {
		return true
	}
	if i := strings.LastIndexByte(v.Name, '.'); i > 0 && match(v.Name[:i]) {
		return true
	}
	for _, u := range v.Uses() {
		if m := onnx.ModulePath(u.Node.Name); m != "" && match(m) {
			return true
		}
	}
	return false
}

// closestParams lists a few initializer names near p for an error.
func closestParams(g *onnx.Graph, p string) string {
	var all []string
	for _, v := range g.Initializers {
		if v.Type.DType == tensor.Float32 {
			all = append(all, v.Name)
		}
	}
	if len(all) == 0 {
		return " (the model has none)"
	}
	key := strings.Trim(p, "*.")
	sort.SliceStable(all, func(i, j int) bool {
		return strings.Contains(all[i], key) && !strings.Contains(all[j], key)
	})
	if len(all) > 8 {
		all = append(all[:8], "...")
	}
	return "; initializers include " + strings.Join(all, ", ")
}

// runningStat reports whether v is read only as the running mean or
// variance of BatchNormalization nodes.
func runningStat(v *onnx.Value) bool {
	uses := v.Uses()
	for _, u := range uses {
		if u.Node.OpType != "BatchNormalization" || (u.Index != 3 && u.Index != 4) {
			return false
		}
	}
	return len(uses) > 0
}
