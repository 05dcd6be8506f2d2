// Package ntk computes empirical neural tangent kernels of exported
// models, Θ(x, x') = J(x)·J(x')ᵀ with J the Jacobian of the outputs with
// respect to the parameters (the float initializers), and the spectra
// that NTK studies read from them. With Options.Loss the kernel is the
// task NTK, ⟨∇θ ℓ(x, y), ∇θ ℓ(x', y')⟩ of a per-sample loss (CrossEntropy),
// computed by appending the loss to the model and taking the kernel of
// that one output.
//
// # Chunks and symmetry
//
// Samples are taken a chunk at a time (Options.Chunk, or as many as
// Options.MaxBytes allows): the factors of a chunk (per-sample gradients,
// or a Gemm layer's inputs and output gradients) are computed in one
// batched pass and contracted with another chunk's. A kernel over the same
// samples is symmetric, so only the chunk pairs on and above the diagonal
// are computed and the others mirrored. Each kernel element receives its
// terms in a fixed order (output groups, then parameters in graph order),
// so a kernel is the same to the bit whether computed whole or in shards
// with the same chunk.
//
// # Convolutions
//
// A conv layer's per-sample weight gradient is G·U, G the sample's output
// gradient (Cout × positions) and U its unfolded input (positions ×
// Cin·k·k). A chunk keeps every conv layer's G and U, not the gradients,
// which are formed when the layer's term is contracted: one layer, and
// for the trace and one-output kernels one block of outputs (about 16 MB),
// at a time, each sample's block in one product of its stacked output
// gradients with U, the samples in parallel, into buffers reused from
// layer to layer and chunk to chunk. The forward pass runs once per
// chunk; each output's backward pass starts from its saved values. On the
// VGG-style CNN fixture (six convs and a Gemm, 298k parameters) the trace
// kernel of 32 samples holds 194 MB where the gradients alone would be
// 381 MB.
//
// # Array jobs
//
// Options.Shard computes one part of the whole kernel (see Shard for the
// tiling): the result's Tiles, written with WriteBlock as a block file (an
// .npz with a header.json naming each tile's rows and columns) and
// assembled by ReadBlock and MergeBlocks into the kernel one run gives.
// ShardFromEnv reads a Slurm array task's or a Kubernetes Indexed Job
// pod's shard from the environment.
//
// ntk imports exec, fitting, onnx and tensor; it never prints or exits.
package ntk
