// Package ops is graft's op table: for each ONNX operator, one entry holding
// its shape inference and its CPU kernel, found together by op name
// (Lookup). Families live in one file each: elementwise, matmul, conv,
// pool, norm, softmax, reduce, shape, misc, gather_elements, scatter,
// trilu, cumsum, onehot, topk, space (DepthToSpace, SpaceToDepth), einsum,
// loss (NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss) and rnn (RNN,
// GRU, LSTM), with each family's gradient rules in <family>_grad.go or
// beside its kernels.
//
// # Conventions
//
// Tensors are row-major; images are NCHW. Float inputs compute in float32
// (float64 tensors compute in float64 where a kernel supports it); shape
// arithmetic is int64. Kernels check the shapes they are given and return
// errors naming the node; they panic only on broken internal invariants.
// An op, attribute value or dtype that is not implemented returns an error
// wrapping ErrUnsupported, never a silent approximation.
//
// ops imports onnx and tensor, and is imported by exec.
package ops
