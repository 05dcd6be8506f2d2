// Package train trains chosen parameters of any imported ONNX graph:
// losses, optimizers with PyTorch's update rules, learning-rate
// schedules, gradient clipping, a training loop with validation,
// keep-best, early stopping and exactly resumable checkpoints, and an LR
// range test. It builds on exec.Gradient and sits beside fitting and ntk
// in the import order (cmd → train → exec → exec/ops → onnx → tensor).
//
// # Usage
//
//	tm, err := train.Prepare(model, train.Config{Params: []string{"adapter"}})
//	opt, err := train.NewOptimizer(train.OptimizerConfig{Name: "adam"})
//	res, err := train.Fit(ctx, tm, trainSet, train.Options{
//		Epochs: 5, Batch: 64, Optimizer: opt, Schedule: train.Constant(1e-3), Val: testSet,
//	})
//	trained, err := tm.Export() // the model with the new weights in place
//
// # What is trained
//
// Prepare turns the initializers chosen by name or module-path glob
// (SelectParams) into inputs of two compiled graphs: the forward graph and
// a step graph holding the forward graph, the loss terms as ordinary ONNX
// nodes (LogSoftmax, Mul, ReduceSum, ...) and their gradient. A step
// passes the parameters' current tensors in; frozen initializers stay
// constants of the compiled programs (their packed GEMM forms included)
// and are never copied. BatchNormalization always runs with its stored
// statistics (inference mode) and Dropout is the identity: the graph is
// trained as PyTorch exported it in eval mode, so the exported result
// computes exactly what was trained.
//
// # Determinism and resumption
//
// Epoch e visits the samples in Order(seed, e, n), a fresh permutation
// per epoch that is known without replaying earlier epochs. A checkpoint
// holds the model with its current weights (ONNX) and, beside it
// (StatePath), the parameters, the optimizer's state and the position in
// the data, so a resumed run continues bit for bit; with one thread the
// result is bit-identical to an uninterrupted run.
//
// # Errors
//
// Nothing here prints or exits. Bad configurations, missing labels,
// labels outside the logits, non-finite losses and mismatched checkpoints
// are errors naming what was wrong. Progress is reported through
// Options.Progress.
package train
