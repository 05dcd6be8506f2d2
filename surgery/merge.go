package surgery

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"strings"

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
			return w, nil
		}
	}
	w := im.dst.AddConst(im.prefix+v.Name, d)
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
				outs[i] = im.prefix + v.Name
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
