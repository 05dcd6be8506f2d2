package ops

import (
	"errors"
	"fmt"
	"sort"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// ErrUnsupported is wrapped by errors about ops, opsets, attributes or
// dtypes that graft does not implement.
var ErrUnsupported = errors.New("unsupported")

// Op is one operator's entry in the table: everything graft knows about it.
type Op struct {
	Name string
	// Since is the earliest default-domain opset version whose semantics
	// the entry implements. Older models fail with ErrUnsupported.
	Since int
	// Infer returns the output types from the input types, and from the
	// input contents where they are known (see InferCtx).
	Infer func(c *InferCtx) ([]onnx.Type, error)
	// Run computes the outputs on the CPU. Kernels never modify their
	// inputs, and allocate their outputs, except that Identity and the
	// Reshape family return their input's storage (callers must not
	// write into an output whose storage they did not allocate).
	Run func(c *RunCtx) ([]*tensor.Dense, error)
	// Symbolic, set only for shape-arithmetic ops, returns the contents of
	// output 0 as dims when they can be derived from symbolic inputs
	// (Shape of a tensor with a symbolic batch dim, say); nil if not.
	Symbolic func(c *InferCtx) []onnx.Dim
	// Fuses says the float32 kernel honours RunCtx.Clamp, so that a Relu
	// or Clip reading its output can run inside it.
	Fuses bool
	// Domain is "" for ONNX's default domain, or GraftDomain for graft's
	// private ops (the gradient kernels of grad.go).
	Domain string
	// Ref, if set, computes the outputs in plain float64 loops; the CPU
	// backend calls it instead of Run when an input is float64, for the
	// ops whose fast kernels are float32 only.
	Ref func(c *RunCtx) ([]*tensor.Dense, error)
	// Grad emits the nodes computing the gradients of the node's inputs
	// from those of its outputs (see GradCtx). When it is nil, NoGrad says
	// why no gradient flows through the op; both empty means graft has no
	// rule yet.
	Grad   func(c *GradCtx) ([]*onnx.Value, error)
	NoGrad string
	// Containers says the op takes or makes sequence or optional values
	// (sequence.go, optional.go); shape inference and the backend refuse
	// them as inputs to any other op.
	Containers bool
	// Strings says the op takes string tensors (text.go); shape inference
	// and the backend refuse them as inputs to any other op.
	Strings bool
}

// InferCtx is what shape inference knows about a node's inputs.
type InferCtx struct {
	Node  *onnx.Node
	Opset int
	// In holds each input's type; absent optional inputs have a zero Type.
	In []onnx.Type
	// Const holds an input's data where it is a constant or was computed
	// from constants; nil elsewhere.
	Const []*tensor.Dense
	// Sym holds the contents of small integer inputs as dims where known,
	// symbolic entries included (the output of Shape, for instance).
	Sym [][]onnx.Dim
}

// RunCtx is a kernel's view of one node execution.
type RunCtx struct {
	Node    *onnx.Node
	Opset   int
	In      []*tensor.Dense // nil entries are absent optional inputs
	Threads int             // goroutines the kernel may use (at least 1)
	// Clamp, if not nil, is an activation fused into this node (see
	// Op.Fuses): the kernel applies it to output 0.
	Clamp *Clamp
	// Residual, if not nil, is the other addend of an Add fused after
	// this node (a residual block's skip connection, see FusedResidual):
	// the kernel adds it to output 0 after the bias and before Clamp.
	// Only Conv takes one.
	Residual *tensor.Dense
	// resLo and resHi are the clamp a kernel applies after adding
	// Residual itself (Clamp being nil then), and resDone records that
	// it did (see convResidualRun).
	resLo, resHi float32
	resDone      bool
	// ConstIn has bit i set where input i is one of the program's
	// constants this run: an initializer, or a value folded from them at
	// Compile (a weight behind an Identity or a Transpose), whose data
	// stays the same from run to run while the tensor does. Kernels keep
	// such inputs' repackings (see convPacked).
	ConstIn uint64
	// Depthwise, if not nil, is a depthwise Conv that reads only this
	// Conv's output (after Clamp): the kernel returns its output, having
	// computed the two, where it can, band of rows by band of rows
	// without storing this node's output whole (see DepthwiseStage).
	// Only Conv takes one.
	Depthwise *DepthwiseStage
	// NCHWc, if not nil, says which of this Conv's tensors are in the
	// blocked channel layout and whether to return the output so (see
	// NCHWcStage). Only Conv takes one.
	NCHWc *NCHWcStage
	// Sparse, if not nil, is input 1 (a constant weight) in sparse form,
	// chosen at Compile: the Gemm, MatMul and Conv kernels then multiply
	// by it (see sparse.go) and set RanSparse.
	Sparse    *SparseWeight
	RanSparse bool
	// Direct asks for convolutions by their definition (im2col or flat
	// GEMM), not Winograd, whose rounding (about 1e-6 of a layer's largest
	// output) can move a value near a ReLU's or max pool's decision: for
	// gradients and kernels compared with a reference (exec.Options.Direct).
	Direct bool
	// Outer holds the values of the node's implicit inputs by name (what
	// its subgraphs read from enclosing graphs), and Graphs runs those
	// subgraphs (nil: the reference interpreter); see controlflow.go.
	Outer  map[string]*tensor.Dense
	Graphs GraphRunner
}

// Input returns input i, or nil if it is absent.
func (c *RunCtx) Input(i int) *tensor.Dense {
	if i < len(c.In) {
		return c.In[i]
	}
	return nil
}

// Input returns the type of input i and whether the input is present.
func (c *InferCtx) Input(i int) (onnx.Type, bool) {
	if i < len(c.In) && (c.In[i].DType != tensor.Undefined || c.In[i].HasShape) {
		return c.In[i], true
	}
	if i < len(c.Node.Inputs) && c.Node.Inputs[i] != nil {
		return onnx.Type{}, true
	}
	return onnx.Type{}, false
}

// ConstInput returns input i's data if known.
func (c *InferCtx) ConstInput(i int) *tensor.Dense {
	if i < len(c.Const) {
		return c.Const[i]
	}
	return nil
}

var table = map[string]*Op{}

// register adds ops to the table; each family file calls it from init.
func register(ops ...*Op) {
	for _, op := range ops {
		key := op.Name
		if op.Domain != "" {
			key = op.Domain + ":" + op.Name
		}
		if table[key] != nil {
			panic("ops: " + key + " registered twice")
		}
		table[key] = op
	}
}

// Lookup returns the entry for a default-domain op, or nil.
func Lookup(name string) *Op { return table[name] }

// Names returns every op in the table, sorted.
func Names() []string {
	out := make([]string, 0, len(table))
	for n := range table {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Resolve finds n's entry for the model's opset, or returns an error
// wrapping ErrUnsupported that names the op, node and opset.
func Resolve(n *onnx.Node, opset int) (*Op, error) {
	if n.Domain == GraftDomain {
		if op := table[GraftDomain+":"+n.OpType]; op != nil {
			return op, nil
		}
		return nil, onnx.NodeErrorf(n, "op %s.%s: %w", n.Domain, n.OpType, ErrUnsupported)
	}
	if n.Domain != "" && n.Domain != "ai.onnx" {
		return nil, onnx.NodeErrorf(n, "domain %q: %w", n.Domain, ErrUnsupported)
	}
	op := table[n.OpType]
	if op == nil {
		return nil, onnx.NodeErrorf(n, "op %s (opset %d): %w", n.OpType, opset, ErrUnsupported)
	}
	if opset < op.Since {
		return nil, onnx.NodeErrorf(n, "op %s at opset %d: %w (graft implements opset %d and later)", n.OpType, opset, ErrUnsupported, op.Since)
	}
	return op, nil
}

// unsupportedf formats an ErrUnsupported error about a node.
func unsupportedf(n *onnx.Node, format string, args ...any) error {
	return onnx.NodeErrorf(n, "%s: %w", fmt.Sprintf(format, args...), ErrUnsupported)
}
