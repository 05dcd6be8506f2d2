// Package data reads datasets to feed models: the samples behind graft's
// --data flag (stitch --fit, eval, similarity, prune, ntk) and the labels
// behind --labels.
//
// # Formats
//
// Open chooses the format from the path (see Open):
//
//   - .npy: a float32, float64, float16, integer or bool array whose first
//     axis is samples
//   - .npz: one array of an archive (Options.Key), labels from "y" beside it
//   - IDX (MNIST, Fashion-MNIST), gzipped or not; magic 0x0803 images,
//     0x0801 labels, and the other IDX types
//   - CIFAR-10 and CIFAR-100 binary batches: a file, or a folder of them
//   - a folder of PNG and JPEG images with one subfolder per class
//
// OpenLabels reads a separate label file, and WithLabels pairs it with a
// source after checking that the counts agree.
//
// # Streaming
//
// A Source reads only the samples a Batch asks for. .npy files, stored
// (np.savez) .npz members, uncompressed IDX files and CIFAR batches are read
// at the samples' offsets; image folders decode each batch's images. Two
// formats cannot be read at an offset and are inflated into memory once, by
// Open: gzipped IDX files (47 MB for Fashion-MNIST's training images) and
// compressed (np.savez_compressed) .npz members. Labels are always read
// whole at Open; they are small.
//
// Every Batch opens its files and closes them before it returns, so a
// Source holds no file descriptors, needs no Close, and may be read by
// several goroutines at once.
//
// # Values
//
// Batch returns float32 tensors of shape [n, SampleShape()...], row-major,
// images channel first ([C H W]). Rank-2 IDX images gain a channel axis
// ([1 28 28]). 8-bit data (uint8 arrays, IDX, CIFAR, images) is divided by
// 255 into [0, 1], as torchvision's ToTensor does, unless Options.Raw is
// set; other types keep their values. Options.Mean and Options.Std then
// normalise each channel as torchvision's Normalize does, and
// Options.SampleShape reshapes each sample; normalize.go holds all three.
// Labels are int64.
//
// # Errors
//
// Malformed input — a missing or truncated file, a bad magic number, an
// unknown format, a label count that disagrees with the samples — is an
// error naming the file and what is wrong, never a panic. Malformed bytes
// give a *FormatError; an unrecognised path wraps ErrUnknownFormat; a
// missing file wraps fs.ErrNotExist. Nothing here prints: Batches reports
// progress through a callback.
//
// data imports only tensor from graft, so any package may use it.
package data
