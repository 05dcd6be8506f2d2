package onnx

import (
	"fmt"

	"github.com/graft-ml/graft/onnx/internal/pb"
	"github.com/graft-ml/graft/tensor"
)

// Model is a loaded ONNX model: its graph and the model-level fields graft
// reads. Fields graft does not model travel with it unchanged.
type Model struct {
	IRVersion       int64
	Opsets          []OpsetID
	ProducerName    string
	ProducerVersion string
	Domain          string
	ModelVersion    int64
	DocString       string
	Metadata        []KV
	Graph           *Graph

	raw *pb.ModelProto // as loaded: undeclared fields (functions, training_info, ...) and field presence
}

// OpsetID names an operator set and its version; Domain "" is the default
// ONNX domain ("ai.onnx").
type OpsetID struct {
	Domain  string
	Version int64
}

// KV is a metadata entry.
type KV struct{ Key, Value string }

// Opset returns the version imported for domain ("" or "ai.onnx" for the
// default domain), or 0 if the model does not import it.
func (m *Model) Opset(domain string) int64 {
	if domain == "ai.onnx" {
		domain = ""
	}
	for _, o := range m.Opsets {
		d := o.Domain
		if d == "ai.onnx" {
			d = ""
		}
		if d == domain {
			return o.Version
		}
	}
	return 0
}

// Dim is one dimension of a shape: a known size (Value >= 0), a symbolic
// size (Param != ""), or unknown (Value < 0 and Param == "").
type Dim struct {
	Value int64
	Param string
}

// Known reports whether the dimension has a concrete size.
func (d Dim) Known() bool { return d.Param == "" && d.Value >= 0 }

// String renders the dim as a number, its symbol, or "?".
func (d Dim) String() string {
	switch {
	case d.Param != "":
		return d.Param
	case d.Value >= 0:
		return fmt.Sprint(d.Value)
	}
	return "?"
}

// UnknownDim is a dimension of unknown size.
var UnknownDim = Dim{Value: -1}

// Type is the static type of a value: element type and shape. HasShape is
// false when even the rank is unknown; a scalar has HasShape true and no
// Dims.
type Type struct {
	DType    tensor.DType
	Dims     []Dim
	HasShape bool
	// Seq makes the type a sequence of tensors of DType, each of Dims
	// where HasShape (ONNX's sequence_type).
	Seq bool
	// Optional makes the type an optional value: the tensor or sequence
	// the other fields describe, or nothing (ONNX's optional_type).
	Optional bool
}

// ShapeOf returns a fully known Type for dt and dims.
func ShapeOf(dt tensor.DType, dims ...int) Type {
	t := Type{DType: dt, HasShape: true, Dims: make([]Dim, len(dims))}
	for i, d := range dims {
		t.Dims[i] = Dim{Value: int64(d)}
	}
	return t
}

// Rank returns the number of dims, or -1 if unknown.
func (t Type) Rank() int {
	if !t.HasShape {
		return -1
	}
	return len(t.Dims)
}

// Static returns the shape as ints if every dim is known (never for a
// sequence or an optional value, which have no shape of their own).
func (t Type) Static() ([]int, bool) {
	if !t.HasShape || t.Seq || t.Optional {
		return nil, false
	}
	s := make([]int, len(t.Dims))
	for i, d := range t.Dims {
		if !d.Known() {
			return nil, false
		}
		s[i] = int(d.Value)
	}
	return s, true
}

// ShapeString renders the shape like "[batch,64,56,56]", or "?" if unknown.
func (t Type) ShapeString() string {
	if !t.HasShape {
		return "?"
	}
	s := "["
	for i, d := range t.Dims {
		if i > 0 {
			s += ","
		}
		s += d.String()
	}
	return s + "]"
}

// String renders dtype and shape, such as "float32[batch,10]".
func (t Type) String() string {
	if t.Optional {
		e := t
		e.Optional = false
		return "optional(" + e.String() + ")"
	}
	if t.Seq {
		e := t
		e.Seq = false
		return "seq(" + e.String() + ")"
	}
	if t.DType == tensor.Undefined && !t.HasShape {
		return "?"
	}
	return t.DType.String() + t.ShapeString()
}

// Equal reports whether two types are identical.
func (t Type) Equal(u Type) bool {
	if t.DType != u.DType || t.HasShape != u.HasShape || t.Seq != u.Seq || t.Optional != u.Optional || len(t.Dims) != len(u.Dims) {
		return false
	}
	for i := range t.Dims {
		if t.Dims[i] != u.Dims[i] {
			return false
		}
	}
	return true
}

// Graph is an editable computation graph. It owns its nodes and values;
// every Value knows its producer and its uses, and the edit methods keep
// both sides of each link in step.
type Graph struct {
	Name      string
	DocString string
	// Nodes in execution order after Toposort (file order after loading).
	Nodes []*Node
	// Inputs lists the graph inputs in order. An input with Const set is an
	// initializer that callers may override (IR version < 4 style).
	Inputs  []*Value
	Outputs []*Value
	// Initializers lists constant values in file order.
	Initializers []*Value

	values    map[string]*Value
	infoOrder []*Value // values that had value_info entries, in file order
	raw       *pb.GraphProto
}

// Value is a tensor flowing through the graph: a graph input, an
// initializer (Const != nil) or a node output.
type Value struct {
	Name  string
	Type  Type
	Const *Tensor

	producer *Node
	uses     []Use
	graph    *Graph
	info     *valueInfo // original value_info encoding, reused while Type is unchanged
}

// Use is one consumption of a value: input Index of Node. Index -1 marks an
// implicit use by a subgraph of Node (If, Loop, Scan bodies).
type Use struct {
	Node  *Node
	Index int
}

// Producer returns the node that computes v, or nil for inputs and
// constants.
func (v *Value) Producer() *Node { return v.producer }

// Uses returns the nodes that read v. The slice must not be modified.
func (v *Value) Uses() []Use { return v.uses }

// IsGraphOutput reports whether v is one of its graph's outputs.
func (v *Value) IsGraphOutput() bool {
	if v.graph == nil {
		return false
	}
	for _, o := range v.graph.Outputs {
		if o == v {
			return true
		}
	}
	return false
}

func (v *Value) String() string { return fmt.Sprintf("%q", v.Name) }

// Node is one operator application.
type Node struct {
	Name    string
	OpType  string
	Domain  string
	Inputs  []*Value // nil entries are omitted optional inputs
	Outputs []*Value // nil entries are omitted optional outputs
	Attrs   []*Attr
	// Overload and DocString are carried through unchanged.
	Overload  string
	DocString string

	implicit []*Value // outer-scope values read by subgraph attributes
	graph    *Graph
	raw      *pb.NodeProto
}

// Attr returns the attribute called name, or nil.
func (n *Node) Attr(name string) *Attr {
	for _, a := range n.Attrs {
		if a.Name == name {
			return a
		}
	}
	return nil
}

// AttrInt returns the int attribute called name, or def if absent.
func (n *Node) AttrInt(name string, def int64) int64 {
	if a := n.Attr(name); a != nil {
		return a.I
	}
	return def
}

// AttrFloat returns the float attribute called name, or def if absent.
func (n *Node) AttrFloat(name string, def float32) float32 {
	if a := n.Attr(name); a != nil {
		return a.F
	}
	return def
}

// AttrString returns the string attribute called name, or def if absent.
func (n *Node) AttrString(name, def string) string {
	if a := n.Attr(name); a != nil {
		return a.S
	}
	return def
}

// AttrInts returns the ints attribute called name, or nil if absent.
func (n *Node) AttrInts(name string) []int64 {
	if a := n.Attr(name); a != nil {
		return a.Ints
	}
	return nil
}

// Input returns input i, or nil if it is absent.
func (n *Node) Input(i int) *Value {
	if i < len(n.Inputs) {
		return n.Inputs[i]
	}
	return nil
}

// ImplicitInputs returns the outer-scope values that n's subgraphs read.
func (n *Node) ImplicitInputs() []*Value { return n.implicit }

// Subgraphs returns the graphs held by n's attributes, in attribute order.
func (n *Node) Subgraphs() []*Graph {
	var out []*Graph
	for _, a := range n.Attrs {
		if a.G != nil {
			out = append(out, a.G)
		}
		out = append(out, a.Graphs...)
	}
	return out
}

// AttrGraph returns the graph attribute called name, or nil.
func (n *Node) AttrGraph(name string) *Graph {
	if a := n.Attr(name); a != nil {
		return a.G
	}
	return nil
}

// OuterValues returns the values g reads but does not define (no
// producer, not an input, not an initializer), in order of first use:
// in a subgraph these are the enclosing scopes' values, referred to by
// name; in a main graph they are dangling, which Validate reports.
// Values read by g's own subgraphs from beyond g count too.
func (g *Graph) OuterValues() []*Value {
	defined := map[*Value]bool{}
	for _, v := range g.Inputs {
		defined[v] = true
	}
	for _, v := range g.Initializers {
		defined[v] = true
	}
	seen := map[*Value]bool{}
	var out []*Value
	add := func(v *Value) {
		if v != nil && v.producer == nil && !defined[v] && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	for _, n := range g.Nodes {
		for _, v := range n.Inputs {
			add(v)
		}
		for _, v := range n.implicit {
			add(v)
		}
	}
	for _, v := range g.Outputs {
		add(v)
	}
	return out
}

func (n *Node) String() string { return fmt.Sprintf("node %q (%s)", n.Name, n.OpType) }

// AttrType is an attribute's kind; values follow onnx.proto.
type AttrType int32

// Attribute kinds.
const (
	AttrUndefined AttrType = 0
	AttrFloat     AttrType = 1
	AttrInt       AttrType = 2
	AttrString    AttrType = 3
	AttrTensor    AttrType = 4
	AttrGraph     AttrType = 5
	AttrFloats    AttrType = 6
	AttrInts      AttrType = 7
	AttrStrings   AttrType = 8
	AttrTensors   AttrType = 9
	AttrGraphs    AttrType = 10
	AttrTypeProto AttrType = 13
)

// Attr is a node attribute. Kinds graft does not model keep their
// original encoding and are written back unchanged. Subgraph attributes
// (If's branches, Loop's and Scan's body) are loaded into G or Graphs as
// graphs of their own, edited like the main graph and encoded from the IR
// when saved; a value such a graph reads but does not define is a
// reference to the enclosing scope, by name (see Graph.OuterValues).
type Attr struct {
	Name    string
	Type    AttrType
	F       float32
	I       int64
	S       string
	T       *Tensor
	Floats  []float32
	Ints    []int64
	Strings []string
	Tensors []*Tensor
	G       *Graph   // AttrGraph
	Graphs  []*Graph // AttrGraphs
	TP      *Type    // AttrTypeProto (as far as Type can say it)
	// RefAttrName is set inside function bodies; carried through.
	RefAttrName string

	raw *rawAttr // original encoding, written back if non-nil
}

// Tensor is constant data: an initializer or a tensor attribute. Data is
// decoded on first use.
type Tensor struct {
	Name  string
	DType tensor.DType
	Shape []int

	dense *tensor.Dense
	raw   *rawTensor // original encoding, written back if non-nil
}

// NewTensor wraps d as constant data.
func NewTensor(name string, d *tensor.Dense) *Tensor {
	return &Tensor{Name: name, DType: d.DType, Shape: append([]int{}, d.Shape...), dense: d}
}

// Dense returns the decoded data. The result is shared: callers must not
// modify it; build a new Tensor to change constant data.
func (t *Tensor) Dense() (*tensor.Dense, error) {
	if t.dense != nil {
		return t.dense, nil
	}
	d, err := decodeTensor(t.raw)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	if t.raw.mapped {
		// The decoded copy is what is used from now on: let the
		// mapped pages go until a save reads them again, so that
		// the data is not resident twice.
		dropPages(t.raw.p.RawData)
	}
	t.dense = d
	return d, nil
}

// StoredSparse reports whether t was read from a graph's
// sparse_initializer list (and so is written back sparse by Save unless
// SaveOptions.Initializers says otherwise).
func (t *Tensor) StoredSparse() bool { return t.raw != nil && t.raw.sparse != nil }

// NumElems returns the element count.
func (t *Tensor) NumElems() int {
	n, _ := tensor.NumElems(t.Shape)
	return n
}

// Graph returns the graph n belongs to, or nil once it has been removed.
func (n *Node) Graph() *Graph { return n.graph }
