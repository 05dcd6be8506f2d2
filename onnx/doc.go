// Package onnx is graft's editable intermediate representation of ONNX
// models: a Graph of Nodes and Values, with the model-level fields beside
// it, read by Load and written by Save. load.go and save.go are the only
// files that touch protobuf; the rest of graft edits the IR.
//
// onnx sits above tensor and below exec in graft's import order.
//
// # Constant data
//
// An initializer or tensor attribute is a Tensor whose data stays in its
// stored encoding until first use: Tensor.Dense decodes it once, into
// memory of its own, and caches the result. Callers must not modify that
// result; to change constant data, set a new tensor (Value.SetConst),
// as every surgery pass and the trainer do. Save writes a tensor's stored
// bytes while it has them, so an edit made in place is not saved.
//
// # External data
//
// Tensors whose data lies in side files (ONNX external data) keep it
// there: on Linux, Load maps each side file once, read-only and private
// (mmap with PROT_READ and MAP_PRIVATE), and a tensor's stored bytes are a
// slice of that mapping, so loading a model with gigabytes of external
// weights costs address space, not memory, and pages are read from disk
// only when the data is used. Elsewhere, or where a file cannot be
// mapped, the bytes are read into memory instead. The loader checks each
// location as before: a relative path that stays inside the model's
// folder, and an offset and length within the file.
//
// Nothing writes into a mapping: Tensor.Dense decodes into memory of its
// own, the rest of graft only ever reads the stored bytes, and edits
// (fold, prune, mix, training) set new tensors; so edits never reach the
// side file, and a write through a stray slice would fault rather than
// change it. The choice of a read-only mapping over a writable private one
// is deliberate: Linux charges a writable private mapping against the
// memory commit limit, which would refuse side files larger than memory.
// A mapping is released when no tensor of the load refers to it any more
// (a runtime cleanup).
//
// Mapped pages need not stay resident: once Tensor.Dense has decoded a
// tensor, and once Save has written its bytes, its whole pages are given
// back to the kernel (madvise MADV_DONTNEED; being private and unwritten,
// they are read from the file again if needed). So a model whose weights
// are decoded to run costs about their size in memory, not twice it.
//
// Save writes a side file from the tensors' bytes as they are, without
// gathering them into one buffer first, so loading, editing and saving a
// model with external data needs little memory beyond the tensors that
// were decoded or created. The side file is written to a temporary file and renamed
// (tensor.WriteFileAtomic), never over another file's bytes in place
// (SaveOptions.ExternalData), so a model's mapped side file does not
// change under it, even when the result is saved beside it. Another
// program that truncates a mapped side file in place makes a later read
// of the missing pages fail with SIGBUS; graft itself never does.
//
// # Errors
//
// Malformed files give a *FormatError naming the file and what is wrong;
// edits of a node give a *NodeError; a name not found wraps ErrNotFound.
// Nothing here panics on input.
package onnx
