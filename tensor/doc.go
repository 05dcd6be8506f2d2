// Package tensor holds graft's n-dimensional arrays: a DType, a shape and
// row-major (C order) storage, plus .npy and .npz encoding.
//
// # Storage
//
// A Dense keeps its elements in one of three slices chosen by dtype, which is
// all an interpreter of float32 networks with int64 shape arithmetic needs:
//
//   - F32 for Float32, Float16 and BFloat16 (16-bit floats are widened)
//   - F64 for Float64
//   - I64 for every integer type and Bool (0 or 1)
//
// The DType remembers what the values are, so that writing a tensor back to
// ONNX or .npy restores its original element type. String tensors are not
// supported.
//
// # Errors
//
// Functions that take sizes from files (NumElems, ReadNPY) check them for
// overflow and against the bytes present before allocating, and return
// errors; nothing here panics on malformed input. Methods called with
// inconsistent arguments by graft's own code panic with constant messages.
//
// tensor sits at the bottom of graft's import graph and imports no other
// graft package.
package tensor
