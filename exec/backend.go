package exec

import (
	"github.com/graft-ml/graft/exec/ops"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// ErrUnsupported is wrapped by errors about ops, opsets, attributes or
// dtypes that the chosen backend cannot run.
var ErrUnsupported = ops.ErrUnsupported

// Backend computes ops on one kind of device. Tensors live where the
// backend puts them: Upload moves host data to the device and Download
// brings a result back. Abilities beyond these few methods are optional
// interfaces, found by type assertion.
type Backend interface {
	Name() string
	// Supports reports whether the backend has a kernel for op on dtype.
	Supports(op string, dt tensor.DType) bool
	// Run computes one node's outputs from device-resident inputs.
	Run(c *ops.RunCtx, op *ops.Op) ([]*tensor.Dense, error)
	Upload(t *tensor.Dense) (*tensor.Dense, error)
	Download(t *tensor.Dense) (*tensor.Dense, error)
	// Free tells the backend that nothing refers to t any more, so that
	// its memory can be reused at once.
	Free(t *tensor.Dense)
}

// CPU is the host backend: tensors are tensor.Dense in main memory and
// kernels come from the op table.
type CPU struct{}

// Name returns "cpu".
func (CPU) Name() string { return "cpu" }

// Supports reports whether the op table has op; CPU kernels handle every
// dtype they accept and reject the rest with ErrUnsupported at run time.
func (CPU) Supports(op string, dt tensor.DType) bool { return ops.Lookup(op) != nil }

// Run calls the op's CPU kernel, or its float64 reference (Op.Ref) when
// an input is float64 and the op has one.
func (CPU) Run(c *ops.RunCtx, op *ops.Op) ([]*tensor.Dense, error) {
	float64In := false
	for i, t := range c.In {
		if t == nil {
			continue
		}
		// A sequence reaches an op of tensors only where shape inference
		// could not see it coming (a graph too dynamic to type).
		if (t.Seq != nil || t.None) && !op.Containers {
			return nil, onnx.NodeErrorf(c.Node, "input %d is a %s; %s takes tensors", i, t, c.Node.OpType)
		}
		if t.DType == tensor.String && !op.Strings {
			return nil, onnx.NodeErrorf(c.Node, "input %d is a string tensor; %s takes numbers: %w", i, c.Node.OpType, ErrUnsupported)
		}
		float64In = float64In || t.DType == tensor.Float64
	}
	if op.Ref != nil && float64In {
		return op.Ref(c)
	}
	return op.Run(c)
}

// Upload returns t itself: host memory is the CPU's memory.
func (CPU) Upload(t *tensor.Dense) (*tensor.Dense, error) { return t, nil }

// Download returns t itself.
func (CPU) Download(t *tensor.Dense) (*tensor.Dense, error) { return t, nil }

// Free recycles t's storage for the next tensor of the same size.
func (CPU) Free(t *tensor.Dense) { tensor.Recycle(t) }
