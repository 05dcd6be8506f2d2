// Package exec runs ONNX graphs from package onnx on a backend, and infers
// the static types of every value.
//
// # Running
//
// Compile a graph once into a Program, then Run it with any set of values
// supplied and any set requested. Supplying a hidden value injects an
// activation: the nodes that would have computed it, and everything only
// they needed, do not run. Each intermediate is released after its last
// consumer unless it was requested.
//
// Compile folds constant subgraphs (nodes whose inputs are all constants
// run once and become program constants), and runs reuse the outputs of
// shape computations (Shape, Size and what is computed from them) while
// the shapes stay the same (fold.go). Supplying a value that a folded or
// reused one depends on recomputes it in that run. A Program holds its
// constants as they were at Compile: changing an initializer afterwards
// does not reach the values folded from it.
//
// # Sparse execution
//
// Gemm, MatMul and Conv nodes whose weight (input 1) is an initializer
// with few nonzeros run as sparse products on the CPU (exec/ops
// sparse.go, kernels in exec/internal/sparse): the weight is held in
// compressed sparse row form with a row per output unit or channel, and
// each output sums only its nonzero weights. Options.Sparse decides per
// layer at Compile: SparseAuto (the default) by the weight's measured
// density against a crossover found by benchmark (SparseCrossoverGemm,
// SparseCrossoverConv), SparseOn for every such layer, SparseOff for
// none. Results agree with the dense products to float32 rounding. A run
// that supplies its own value for such a weight gets the dense product.
// Program.SparseLayers lists the sparse layers and a Profile marks them.
//
// # Control flow
//
// If, Loop and Scan hold subgraphs (onnx.Attr.G), which Compile compiles
// into programs of their own, recursively; the node's kernel (exec/ops
// controlflow.go) runs them through Program.RunGraph, once per branch
// taken or iteration, binding the body's inputs in order and the values
// it reads from enclosing graphs (onnx.Node.ImplicitInputs) by name. A
// run keeps such an outer value alive until the last node whose
// subgraphs read it has run. Graphs without subgraphs compile and run
// exactly as before. Gradient refuses (ErrUnsupported) when a value it
// differentiates flows into a subgraph, rather than leave that path out.
//
// # Shape inference
//
// InferShapes fills in the type of every value from the op table's Infer
// rules, carrying symbolic dims (a "batch" dim stays "batch") and the
// contents of small shape tensors, so that Shape→Gather→Concat→Reshape
// chains resolve. Subgraphs are inferred before their node, their
// outer values taking the enclosing graphs' types.
//
// exec imports exec/ops, onnx and tensor; it never prints or exits.
package exec
