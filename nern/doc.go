// Package nern learns a neural representation of a CNN's convolution
// kernels (NeRN: Ashkenazi et al., "NeRN: Learning Neural Representations
// for Neural Networks", ICLR 2023) and rebuilds the network from it. It
// works on any imported ONNX CNN, not one architecture.
//
// # Usage
//
//	r, err := nern.NewRun(model, "model.onnx", trainData, valData, nern.DefaultOptions())
//	err = r.Train(ctx, "checkpoint.npz")
//	pred, best := r.Best()
//	pm, _ := pred.Model(opts.Levels, opts.Base, opts.Perm, hash) // predictor.onnx
//	rebuilt, rmse, _ := r.Rebuilt()                             // the CNN with predicted kernels
//
// # What is represented
//
// FindLayers lists every Conv weight initializer in graph order. 3×3
// layers with group 1 are predicted directly; 1×1 layers take the centre
// (element 4) of a predicted 3×3, as NeRN does for ResNet shortcuts. Any
// other kernel size (5×5, 7×7, 1×3) and grouped or depthwise convolutions
// are copied from the original, with the reason in Layer.Copied, which
// `graft nern train` prints and writes to the summary: the simplest honest
// rule (a larger output head is the alternative). Biases, BatchNorm
// parameters and Gemm/MatMul weights are always copied.
//
// # Coordinates, embeddings, permutations
//
// A represented layer l (counting represented layers only) with F filters
// of C channels has positions i = f·C + c; position i is embedded from the
// raw integers (l, f, c) (Embed: sin and cos of p·b^k·π for levels
// k < L, index-major, then level, then sin/cos; L 40 and b 0.76 give 240
// inputs) and predicts kernel chain[i] of the layer's permutation
// (Permute: crossfilter, infilter or none; CachedPermute keeps the
// chains beside the model, keyed by its SHA-256).
//
// # Losses
//
// Each step (Run.Gradients) predicts all kernels and takes
//
//	L   = L_rec + λ_fm·L_fm + λ_kd·L_kd
//	L_rec = √(Σ mask·(Ŵ − W)² / Σ mask) over KernelBatch sampled positions
//	L_fm  = Σ_blocks mean_b ‖F/(‖F‖+1e-3) − F̂/(‖F̂‖+1e-3)‖²  (‖·‖ per sample over C,H,W)
//	L_kd  = mean_b Σ_c p·(log p − log(q + 1e-4))
//
// where mask covers the 9 values of a 3×3 kernel and the centre of a 1×1,
// F and p are the original network's block outputs and softmax (it runs
// separately, with its own weights), F̂ and q the rebuilt network's. L_kd is
// PyTorch's F.kl_div(log(softmax(ẑ)+1e-4), softmax(z), "batchmean"), as
// NeRN computes it (log p itself is LogSoftmax). The blocks default to the
// outputs of module paths with two components (residual blocks "layer1.0",
// …; DefaultBlocks). With probability UniformProb the kernel sample is
// uniform without replacement, else it is drawn with replacement in
// proportion to each kernel's L2 norm. Each step's data batch and kernel
// sample come from a PCG seeded (Seed, step), so a resumed run is the same
// run, and tests can hand the samples to the PyTorch reference
// (fixtures/gen_nern.py).
//
// Two graphs are compiled with train.NewObjective, sharing the predictor's
// tensors: L_rec alone over the sampled positions only (the warm-up steps,
// and Predict), and the whole objective (the predictor over every
// position, Split into the layers' blocks, Reshape into each Conv's
// weight, the original graph, the losses). exec.Gradient differentiates
// through the rebuilt network into the predictor. In the whole objective
// the permutation is applied once, to the constant embeddings (their rows
// in kernel order), not to the predictions at every step, and L_rec is
// the same sum in dense form, weighted by how often each kernel was
// sampled: Gather's gradient (a scatter into zeros of every prediction,
// once per layer) took much of a step's time.
//
// # Settings
//
// DefaultOptions are NeRN's ResNet20 settings: h 180, 5 Linear layers, L
// 40, b 0.76, crossfilter, batch 256, 4096 kernels, λ_fm = λ_kd = 1e-4,
// Ranger (lr 5e-3, betas 0.5/0.999, ε 1e-5, decoupled weight decay 1e-3,
// Lookahead k 6 α 0.5) with gradient centralisation off as in the
// ResNet20 config (SEEDS §4; NeRN's code default is on, GradCentralization
// turns it on), cosine to 1e-6. Two departures, for short runs: 2,000
// steps (NeRN: ~68,000) and no reconstruction-only warm-up (NeRN: 10,000
// steps; WarmupRecSteps).
//
// # Errors
//
// Nothing here panics on model input or prints; errors name the layer,
// value or setting. Outputs (checkpoints, caches) are written atomically.
// The package sits above exec and train in the import order.
package nern
