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
