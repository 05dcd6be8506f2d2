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
// # Shape inference
//
// InferShapes fills in the type of every value from the op table's Infer
// rules, carrying symbolic dims (a "batch" dim stays "batch") and the
// contents of small shape tensors, so that Shape→Gather→Concat→Reshape
// chains resolve.
//
// exec imports exec/ops, onnx and tensor; it never prints or exits.
package exec
