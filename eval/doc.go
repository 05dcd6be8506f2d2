// Package eval measures classifiers on datasets: top-1 and top-5
// accuracy against the labels a data.Source carries, and top-1
// agreement between two models, which needs no labels.
//
// # Usage
//
//	res, err := eval.Accuracy(model, src, eval.Options{Compare: other})
//	if res.Top1 != nil { … } // nil when src has no labels
//	fmt.Println(*res.Agreement)
//
// # Conventions
//
// The logits are the model's first graph output (or Options.Output), of
// shape (N, K) or (N, K, 1, …): the class of a sample is the index of its
// largest logit, the first one among equal logits. A NaN logit and a label
// outside 0…K-1 are errors naming the sample. Nothing here prints;
// progress goes through Options.Feed.Progress.
//
// eval sits beside fitting above feed: it imports data, feed, onnx and
// tensor, and is imported by cmd/graft.
package eval
