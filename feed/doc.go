// Package feed runs models over datasets: it reads a data.Source in
// batches, feeds each batch to compiled models and hands the values asked
// for to the caller. It is the loop under graft's dataset workflows
// (eval.Accuracy, fitting.Stitch, fitting.Similarity, fitting.LayerStats).
//
// # Usage
//
//	m, err := feed.Compile(model, 0) // the model's one data input, all cores
//	v, err := model.Graph.Resolve("layer1") // a module path's value
//	err = feed.Each(src, feed.Options{Batch: 100}, func(b data.Batch) error {
//		act, err := m.Value(b.X, v.Name)
//		…
//	})
//
// # Progress and errors
//
// Nothing here prints: Options.Progress is called with (0, total) before
// the first batch and (done, total) after each one. An error from a batch
// is returned wrapped with the samples it covers ("samples 100–199: …").
//
// feed sits between data and exec and the packages that run workflows
// over datasets (eval, fitting): it imports data, exec, onnx and tensor.
package feed
