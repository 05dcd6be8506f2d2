// Package fitting holds the mathematics of regressable layers and of
// representation similarity: streaming second-moment statistics of paired
// activations, least-squares, reduced-rank and Procrustes fits of affine
// maps between them, linear CKA and Procrustes distance, helpers that
// turn conv activations into samples, and emission of a fitted map as
// ONNX Gemm or Conv nodes; and, built on those, the workflows that run
// models over a dataset (package feed) and fit or compare their layers:
//
//   - Stitch and FitAdapter: A up to a layer, an adapter fitted from A's
//     activation to B's (Method: linear, low rank, Procrustes with or
//     without its scale), B from a layer on
//   - Similarity: CKA, Procrustes distance and R² between every pair of
//     layers of two models, in one pass over the data
//   - LayerStats: each layer's inputs against its outputs, for refitting
//     layers (LowRank) to real data
//
// Each takes models, a data.Source and an options struct with a feed.Options
// (batches, sample limit, threads, a progress callback), and returns a
// result struct. The lower layer needs no executor: callers may run models
// themselves, feed activations to a Stats, fit, and emit.
//
// # Usage
//
//	s, _ := fitting.NewStats(p, q)
//	for each batch of activations (rows×p from A, rows×q from B) {
//		if err := s.Add(xBatch, yBatch); err != nil { … } // or AddConv for NCHW
//	}
//	fit, err := fitting.Linear(s, fitting.LinearOptions{Ridge: 1e-4})
//	// fit.EffectiveRank < p: collinear or constant inputs; fit.R2: quality
//	y, err := fitting.EmitConv(g, x, &fit.Affine, fitting.Patches{K: 1}, "adapter")
//
// or, for the whole pipeline (see ExampleStitch):
//
//	m, _ := fitting.ParseMethod("procrustes:unscaled")
//	r, err := fitting.Stitch(a, "layer2", b, "layer2", src, fitting.StitchOptions{Method: m})
//	// a is now the stitched model; r.Adapter, r.Fit.R2, r.Samples
//
// # Layout
//
// Samples are rows: x is m×p and y m×q, row-major float32 as activations
// come from the executor; all statistics and solutions are float64. A
// fitted map y = W·x + B stores W Out×In row-major, the layout of an ONNX
// Gemm weight with transB=1 and of a Conv weight (Out, C, K, K) when In =
// C·K·K. Conv activations are NCHW; a conv sample is the C·K·K patch of A
// at one output position (channel-major, then kernel row, then kernel
// column) and the target is B's pixel there.
//
// # Numerics
//
// Stats keeps centred sums merged with the pairwise update of Chan, Golub
// and LeVeque, so a large mean costs no precision. The least-squares
// solvers work on the normal equations through an eigendecomposition of
// the symmetric input covariance, with a pseudo-inverse cut-off RankTol
// (1e-6 of the largest eigenvalue): conditioning up to 1e6 is solved to
// about 1e-10 relative, and anything worse is reported as a lower
// EffectiveRank instead of being amplified. Ridge is relative to the mean
// eigenvalue of the covariance.
//
// # Errors
//
// Bad input — NaN or Inf activations, mismatched widths, no samples, fewer
// samples than unknowns, rank below 1 — returns an error saying what was
// wrong; nothing panics on user input, prints or exits. A similarity score
// that does not exist (a constant activation, a fit from more features
// than samples) is a Score with the reason, never NaN.
//
// fitting sits beside ntk above surgery: it imports data, feed, exec,
// surgery, onnx and tensor (and gonum for the dense algebra), and is
// imported by ntk and cmd/graft.
package fitting
