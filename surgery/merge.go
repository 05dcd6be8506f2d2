package surgery

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"strings"

	"github.com/graft-ml/graft/exec"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// importer copies the nodes of one graph into another, renaming what it
// copies with a prefix so that the two graphs' names stay apart, and
// reusing the destination's initializers where the data is identical.
type importer struct {
	dst    *onnx.Graph
	prefix string // for value names: "B/"
	scope  string // for node names, as a module scope: "B"
	bound  map[*onnx.Value]*onnx.Value
	consts map[uint64][]*onnx.Value // destination initializers by content hash
	added  map[*onnx.Node]bool      // the copies this importer made
	shared int                      // initializers reused instead of copied
	// sharedBytes is the data size of the reused initializers.
	sharedBytes int64
	// scoped names values the way nodes are named: torch.onnx's
	// "/layer1/Relu_output_0" becomes "/B/layer1/Relu_output_0" rather
	// than "B//layer1/Relu_output_0".
	scoped bool
}

func newImporter(dst *onnx.Graph, scope string) *importer {
	im := &importer{dst: dst, prefix: scope + "/", scope: scope, bound: map[*onnx.Value]*onnx.Value{}, consts: map[uint64][]*onnx.Value{}, added: map[*onnx.Node]bool{}}
	for _, v := range dst.Initializers {
		if d, err := v.Const.Dense(); err == nil && !isInput(dst, v) {
			h := contentHash(d)
			im.consts[h] = append(im.consts[h], v)
		}
	}
	return im
}

// bind makes src value v read w in the destination.
func (im *importer) bind(v, w *onnx.Value) { im.bound[v] = w }

// value returns the destination value for src value v, copying (or
// sharing) initializers on first use.
func (im *importer) value(v *onnx.Value) (*onnx.Value, error) {
	if v == nil {
		return nil, nil
	}
	if w, ok := im.bound[v]; ok {
		return w, nil
	}
	if v.Const == nil {
		return nil, fmt.Errorf("value %q has no producer and is not bound", v.Name)
	}
	d, err := v.Const.Dense()
	if err != nil {
		return nil, err
	}
	h := contentHash(d)
	for _, w := range im.consts[h] {
		if wd, err := w.Const.Dense(); err == nil && tensor.Equal(wd, d) {
			im.bound[v] = w
			im.shared++
			im.sharedBytes += int64(d.Len() * d.DType.Size())
			return w, nil
		}
	}
	w := im.dst.AddConst(im.valueName(v.Name), d)
	im.consts[h] = append(im.consts[h], w)
	im.bound[v] = w
	return w, nil
}

// nodes copies src's nodes, in topological order, into the destination.
func (im *importer) nodes(src *onnx.Graph) error {
	if err := src.Toposort(); err != nil {
		return err
	}
	for _, n := range src.Nodes {
		if len(n.ImplicitInputs()) > 0 {
			return fmt.Errorf("%s: nodes with subgraphs cannot be copied yet", n)
		}
		ins := make([]*onnx.Value, len(n.Inputs))
		for i, v := range n.Inputs {
			w, err := im.value(v)
			if err != nil {
				return fmt.Errorf("%s: %w", n, err)
			}
			ins[i] = w
		}
		outs := make([]string, len(n.Outputs))
		for i, v := range n.Outputs {
			if v != nil {
				outs[i] = im.valueName(v.Name)
			}
		}
		c := im.dst.AddNode(n.OpType, n.Domain, im.nodeName(n.Name), ins, outs, n.Attrs...)
		c.DocString, c.Overload = n.DocString, n.Overload
		im.added[c] = true
		for i, v := range n.Outputs {
			if v != nil {
				c.Outputs[i].Type = v.Type
				im.bound[v] = c.Outputs[i]
			}
		}
	}
	return nil
}

// nodeName puts a node under the importer's scope the way torch.onnx
// writes scopes ("/layer1/conv1/Conv" becomes "/B/layer1/conv1/Conv"), so
// that module paths such as B.layer1.conv1 resolve in the result.
func (im *importer) nodeName(name string) string {
	if strings.HasPrefix(name, "/") {
		return "/" + im.scope + name
	}
	if name == "" {
		return ""
	}
	return im.prefix + name
}

// valueName is the destination name of source value name.
func (im *importer) valueName(name string) string {
	if im.scoped && strings.HasPrefix(name, "/") {
		return "/" + im.scope + name
	}
	return im.prefix + name
}

// contentHash hashes a tensor's dtype, shape and a sample of up to 256
// evenly spaced elements: cheap on large weights, and collisions are
// settled by comparing the data in full.
func contentHash(d *tensor.Dense) uint64 {
	h := fnv.New64a()
	var b [8]byte
	put := func(u uint64) {
		binary.LittleEndian.PutUint64(b[:], u)
		h.Write(b[:])
	}
	put(uint64(d.DType))
	for _, s := range d.Shape {
		put(uint64(s))
	}
	n := d.Len()
	step := max(n/256, 1)
	for i := 0; i < n; i += step {
		switch {
		case d.F32 != nil:
			put(uint64(math.Float32bits(d.F32[i])))
		case d.F64 != nil:
			put(math.Float64bits(d.F64[i]))
		default:
			put(uint64(d.I64[i]))
		}
	}
	return h.Sum64()
}

// produced reports whether w is the output of a node the importer added.
func (im *importer) produced(w *onnx.Value) bool { return im.added[w.Producer()] }

// MergeOptions say how Merge puts models side by side.
type MergeOptions struct {
	// Names are the models' scopes, one per model, made of letters,
	// digits, '_' and '-' (default a, b, c, ...). Model i's values, nodes
	// and initializers are renamed under Names[i]: weight "fc.weight"
	// becomes "a/fc.weight", node "/layer1/layer1.0/conv1/Conv" becomes
	// "/a/layer1/layer1.0/conv1/Conv" (module path a.layer1.0.conv1) and
	// output "logits" becomes "a/logits".
	Names []string
	// SharedInput feeds every model from one set of graph inputs, named
	// as the first model names them. The models must take the same number
	// of inputs with the same element types and shapes (a symbolic dim
	// matches a known one, which the shared input then takes). Without it
	// each model keeps its own inputs, renamed under its scope.
	SharedInput bool
	// MeanOutput adds, ahead of the models' own outputs, the elementwise
	// mean of the models' outputs (an ensemble): one Mean per output
	// position, named as the models name that output when they all agree
	// (else "mean", "mean_1", ...). The outputs must have the same float
	// element type and shape.
	MeanOutput bool
}

// MergeReport says what Merge did.
type MergeReport struct {
	// Opset is the default-domain opset of the result: the highest of the
	// models', to which the others were upgraded (see Upgrade).
	Opset int64
	// Models describes each model as it went in, in order.
	Models []MergedModel
	// Initializers is the number of initializers in the result, and
	// SharedInitializers the number of the models' initializers that were
	// not stored again because an identical one (same dtype, shape and
	// bits) already was; SharedBytes is their data size.
	Initializers       int
	SharedInitializers int
	SharedBytes        int64
	// Inputs and Outputs are the result's graph input and output names.
	Inputs, Outputs []string
}

// MergedModel is one model of a merge.
type MergedModel struct {
	Name  string // its scope
	Opset int64  // its default-domain opset before the merge
	Nodes int
	// Shared is how many of its initializers were shared with the
	// models before it (or duplicates within it).
	Shared int
}

// Merge puts models side by side in one graph that runs them all, built
// in place in models[0]; every model is consumed. Names are scoped per
// model (see MergeOptions.Names), so module paths read a.layer1.0.conv1,
// b.layer1.0.conv1. Identical initializers are stored once (found by a
// content hash and settled by an exact comparison), so a model merged with
// itself is about the size of one. Older opsets are upgraded to the newest
// (see Upgrade); a model that cannot be is an error naming it, and an op
// graft cannot type at the new opset is an error naming the node. The
// result's outputs are the means (with MeanOutput) and then each model's
// outputs in model order.
func Merge(models []*onnx.Model, opt MergeOptions) (MergeReport, error) {
	var r MergeReport
	if len(models) < 2 {
		return r, fmt.Errorf("merge: %d model(s) given; merging needs at least two", len(models))
	}
	names, err := mergeNames(len(models), opt.Names)
	if err != nil {
		return r, fmt.Errorf("merge: %w", err)
	}
	seen := map[*onnx.Model]string{}
	for i, m := range models {
		if m == nil || m.Graph == nil {
			return r, fmt.Errorf("merge: model %s is empty", names[i])
		}
		if prev, ok := seen[m]; ok {
			return r, fmt.Errorf("merge: models %s and %s are the same in-memory model; load it twice to merge a model with itself", prev, names[i])
		}
		seen[m] = names[i]
	}

	// One opset for all: the newest, the older models upgraded to it and
	// typed there, so that an op that does not exist at the target fails
	// here, naming the model and the node.
	for _, m := range models {
		r.Opset = max(r.Opset, m.Opset(""))
	}
	for i, m := range models {
		r.Models = append(r.Models, MergedModel{Name: names[i], Opset: m.Opset(""), Nodes: len(m.Graph.Nodes)})
		if m.Opset("") != r.Opset {
			// Some upgrades need ranks the file does not declare (what
			// an old Softmax's axis means depends on its input's rank).
			if err := exec.InferShapes(m); err != nil {
				return r, fmt.Errorf("merge: model %s: %w", names[i], err)
			}
		}
		if err := Upgrade(m, r.Opset); err != nil {
			return r, fmt.Errorf("merge: model %s: %w", names[i], err)
		}
		if err := exec.InferShapes(m); err != nil {
			if from := r.Models[i].Opset; from != r.Opset {
				return r, fmt.Errorf("merge: model %s, upgraded from opset %d to %d: %w", names[i], from, r.Opset, err)
			}
			return r, fmt.Errorf("merge: model %s: %w", names[i], err)
		}
	}

	g := onnx.NewGraph("merged")
	ins := make([][]*onnx.Value, len(models)) // each model's inputs in g
	if opt.SharedInput {
		shared, err := sharedInputs(g, models, names)
		if err != nil {
			return r, fmt.Errorf("merge: --shared-input: %w", err)
		}
		for i := range models {
			ins[i] = shared
		}
	} else {
		for i, m := range models {
			for _, v := range nonConstInputs(m.Graph) {
				w, err := g.AddInput(names[i]+"/"+v.Name, v.Type)
				if err != nil {
					return r, fmt.Errorf("merge: model %s: %w", names[i], err)
				}
				ins[i] = append(ins[i], w)
			}
		}
	}
	if opt.MeanOutput {
		if err := meanable(models, names); err != nil {
			return r, fmt.Errorf("merge: --mean-output: %w", err)
		}
	}

	outs := make([][]*onnx.Value, len(models)) // each model's outputs in g
	used := map[*onnx.Value]bool{}             // values already taken by an output
	for _, v := range g.Inputs {
		used[v] = true
	}
	for i, m := range models {
		im := newImporter(g, names[i])
		im.scoped = true
		for j, v := range nonConstInputs(m.Graph) {
			im.bind(v, ins[i][j])
		}
		if err := im.nodes(m.Graph); err != nil {
			return r, fmt.Errorf("merge: model %s: %w", names[i], err)
		}
		for _, v := range m.Graph.Outputs {
			w, err := im.value(v)
			if err != nil {
				return r, fmt.Errorf("merge: model %s: %w", names[i], err)
			}
			if used[w] || w.Const != nil {
				// An input or constant passed straight through, or an
				// output listed twice: give this output its own value.
				w = g.AddNode("Identity", "", "/"+names[i]+"/output/Identity", []*onnx.Value{w}, []string{names[i] + "/" + v.Name}).Outputs[0]
			}
			used[w] = true
			outs[i] = append(outs[i], w)
		}
		r.Models[i].Shared = im.shared
		r.SharedInitializers += im.shared
		r.SharedBytes += im.sharedBytes
	}

	var graphOuts []*onnx.Value
	if opt.MeanOutput {
		for j := range outs[0] {
			parts := make([]*onnx.Value, len(models))
			for i := range models {
				parts[i] = outs[i][j]
			}
			n := g.AddNode("Mean", "", "/mean/Mean", parts, []string{meanName(g, models, j)})
			graphOuts = append(graphOuts, n.Outputs[0])
		}
	}
	for i := range models {
		graphOuts = append(graphOuts, outs[i]...)
	}
	g.Outputs = graphOuts
	g.Cleanup()

	merged := onnx.NewModel(g, r.Opset)
	merged.IRVersion = 0
	merged.DocString = "graft merge of " + strings.Join(names, ", ")
	for i, m := range models {
		merged.IRVersion = max(merged.IRVersion, m.IRVersion)
		for _, kv := range m.Metadata {
			merged.Metadata = append(merged.Metadata, onnx.KV{Key: names[i] + "/" + kv.Key, Value: kv.Value})
		}
	}
	mergeOpsets(merged, models...)
	*models[0] = *merged
	if err := finish(models[0]); err != nil {
		return r, fmt.Errorf("merge: %w", err)
	}
	r.Initializers = len(g.Initializers)
	for _, v := range g.Inputs {
		r.Inputs = append(r.Inputs, v.Name)
	}
	for _, v := range g.Outputs {
		r.Outputs = append(r.Outputs, v.Name)
	}
	return r, nil
}

// mergeNames checks the given scope names, or makes the default ones:
// a, b, ..., z, then m26, m27, ...
func mergeNames(n int, given []string) ([]string, error) {
	if len(given) == 0 {
		names := make([]string, n)
		for i := range names {
			if i < 26 {
				names[i] = string(rune('a' + i))
			} else {
				names[i] = fmt.Sprintf("m%d", i)
			}
		}
		return names, nil
	}
	if len(given) != n {
		return nil, fmt.Errorf("%d names (%s) for %d models", len(given), strings.Join(given, ","), n)
	}
	seen := map[string]bool{}
	for _, s := range given {
		if s == "" {
			return nil, fmt.Errorf("an empty model name in %q", strings.Join(given, ","))
		}
		for _, c := range s {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
				return nil, fmt.Errorf("model name %q: use letters, digits, '_' and '-' (a '.' or '/' would split module paths)", s)
			}
		}
		if seen[s] {
			return nil, fmt.Errorf("model name %q given twice", s)
		}
		seen[s] = true
	}
	return given, nil
}

// sharedInputs adds the graph inputs every model reads: the first model's
// names, each with the most specific of the models' types.
func sharedInputs(g *onnx.Graph, models []*onnx.Model, names []string) ([]*onnx.Value, error) {
	first := nonConstInputs(models[0].Graph)
	var out []*onnx.Value
	for i, m := range models[1:] {
		if got := nonConstInputs(m.Graph); len(got) != len(first) {
			return nil, fmt.Errorf("model %s takes %d input(s) (%s), model %s %d (%s)",
				names[0], len(first), quotedNames(first), names[i+1], len(got), quotedNames(got))
		}
	}
	for j, v := range first {
		typ := v.Type
		for i, m := range models[1:] {
			w := nonConstInputs(m.Graph)[j]
			t, err := unifyTypes(typ, w.Type)
			if err != nil {
				return nil, fmt.Errorf("input %d of model %s (%q, %s) and of model %s (%q, %s) differ: %w",
					j, names[0], v.Name, v.Type, names[i+1], w.Name, w.Type, err)
			}
			typ = t
		}
		w, err := g.AddInput(v.Name, typ)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, nil
}

// unifyTypes returns the type a value of both types has: a known dim
// where one is known, an error where element types, ranks or known dims
// differ.
func unifyTypes(a, b onnx.Type) (onnx.Type, error) {
	if a.DType != b.DType && a.DType != tensor.Undefined && b.DType != tensor.Undefined {
		return a, fmt.Errorf("element types %s and %s", a.DType, b.DType)
	}
	if a.DType == tensor.Undefined {
		a.DType = b.DType
	}
	if !b.HasShape {
		return a, nil
	}
	if !a.HasShape {
		a.HasShape, a.Dims = true, b.Dims
		return a, nil
	}
	if len(a.Dims) != len(b.Dims) {
		return a, fmt.Errorf("ranks %d and %d", len(a.Dims), len(b.Dims))
	}
	dims := append([]onnx.Dim{}, a.Dims...)
	for i, d := range b.Dims {
		switch {
		case d.Known() && dims[i].Known() && d.Value != dims[i].Value:
			return a, fmt.Errorf("dim %d is %d in one and %d in the other", i, dims[i].Value, d.Value)
		case d.Known():
			dims[i] = d
		case !dims[i].Known() && dims[i].Param == "":
			dims[i] = d
		}
	}
	a.Dims = dims
	return a, nil
}

// meanable checks that the models' outputs can be averaged: the same
// count, float element types, and shapes that agree.
func meanable(models []*onnx.Model, names []string) error {
	first := models[0].Graph.Outputs
	for i, m := range models[1:] {
		outs := m.Graph.Outputs
		if len(outs) != len(first) {
			return fmt.Errorf("model %s has %d output(s) (%s), model %s %d (%s)",
				names[0], len(first), quotedNames(first), names[i+1], len(outs), quotedNames(outs))
		}
		for j, w := range outs {
			v := first[j]
			if !v.Type.DType.IsFloat() {
				return fmt.Errorf("output %q of model %s is %s; only float outputs can be averaged", v.Name, names[0], v.Type)
			}
			if _, err := unifyTypes(v.Type, w.Type); err != nil {
				return fmt.Errorf("output %d of model %s (%q, %s) and of model %s (%q, %s) differ: %w",
					j, names[0], v.Name, v.Type, names[i+1], w.Name, w.Type, err)
			}
		}
	}
	return nil
}

// meanName names the mean of output j: the models' own name for it when
// they all agree and it is free, else "mean" ("mean_j" past the first).
func meanName(g *onnx.Graph, models []*onnx.Model, j int) string {
	name := models[0].Graph.Outputs[j].Name
	for _, m := range models[1:] {
		if m.Graph.Outputs[j].Name != name {
			name = ""
		}
	}
	if name == "" || g.Value(name) != nil {
		name = "mean"
		if j > 0 {
			name = fmt.Sprintf("mean_%d", j)
		}
	}
	return name
}

// quotedNames lists the values' names, quoted.
func quotedNames(vs []*onnx.Value) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = fmt.Sprintf("%q", v.Name)
	}
	return strings.Join(s, ", ")
}
