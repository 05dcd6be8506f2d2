// Package surgery edits models: truncate a model at hidden layers, extract
// the part between layers, and (in later passes) stitch, replace, fold,
// prune and mix. Each edit works on an onnx.Model in place and leaves a
// graph that validates, with every value typed by exec.InferShapes so that
// the result can be saved and checked.
//
// Layers are named as onnx.Graph.Resolve accepts: value names, node names
// or PyTorch module paths.
//
// surgery imports exec, onnx and tensor; it never prints or exits.
package surgery
