// Package serve answers graft requests over a byte stream: the protocol
// that `graft serve --stdio` speaks to the Python bridge (python/graft),
// so that a notebook keeps one long-lived graft process, with its models
// compiled once, instead of starting one per call.
//
// # Usage
//
//	s := serve.New(serve.Options{})
//	err := s.Serve(os.Stdin, os.Stdout) // until stdin ends (nil) or the stream breaks
//
// A Go program that wants graft in-process calls the library directly;
// Serve exists for other languages. Handle answers one decoded request,
// which is what Serve does per frame, without the framing.
//
// # Frames
//
// Requests and responses are frames of the same shape. All integers are
// little-endian:
//
//	magic    4 bytes  "GRF1" (the 1 is the protocol version)
//	hlen     uint32   length of the JSON header, at most MaxHeader (1 MiB)
//	nblobs   uint32   number of blobs, at most MaxBlobs (4096)
//	blens    nblobs × uint64, each blob's length in bytes
//	header   hlen bytes of JSON (a Request or a Response)
//	blobs    the blobs, back to back, in order
//
// Lengths come before the header, so a header that is not valid JSON, or
// names an unknown op, still leaves the stream in step: the server answers
// it with an error and reads the next frame. Only a broken frame (bad
// magic, a length over its limit, a stream that ends inside a frame) ends
// Serve, after a last error response. A stream that ends between frames is
// the normal way to stop.
//
// A request header is {"op": OP, "id": N, "args": {...}, "blobs": [NAME,
// ...]}, where blobs names the frame's blobs in order. The response echoes
// id and is {"id": N, "ok": true, "result": {...}, "blobs": [NAME, ...]}
// or {"id": N, "ok": false, "error": MESSAGE, "kind": KIND}; KIND is
// "not_found" (a value, layer or session name that does not resolve),
// "unsupported" (an op graft cannot run), "bad_request" (a malformed or
// inconsistent request), "internal" (a bug: a recovered panic) or "error".
// A tensor blob is a complete .npy file (format 1.0 to 3.0, C order,
// little-endian, as numpy.save writes); a model blob is ONNX protobuf
// bytes.
//
// # Ops
//
//	hello     → result {protocol, version, ops}
//	load      args {path} or blob "model"; optional {threads} → result
//	          {session, inputs, outputs}, each value {name, dtype, shape}
//	          (a dim is a number, a symbol's name, or null when unknown).
//	          The model is compiled once; runs reuse the program.
//	run       args {session, outputs}; one blob per fed value, named by
//	          value name or module path (hidden values may be fed) →
//	          one blob per requested output, named as requested (default:
//	          the graph outputs). Outputs may be hidden values, named by
//	          ONNX value name, node name or module path (onnx.Graph.Resolve).
//	close     args {session} → frees the compiled program
//	truncate  model (args {path} or blob "model"), args {at: [LAYER...]}
//	          → blob "model": surgery.Truncate
//	stitch    models a, b (args {a, b} paths or blobs "a", "b"), args
//	          {at, from}; optional adapter (args {adapter} or blob
//	          "adapter") → blob "model" and result {opset, shared_initializers,
//	          a_type, b_type}: surgery.Stitch
//	fit       models a, b as for stitch; blob "x" (float32 samples); args
//	          {at, from, method ("linear", "lowrank:R", "procrustes",
//	          "procrustes:unscaled"), kernel, ridge, no_bias, batch, threads,
//	          adapter_only} → blob "model", the stitched model (or with
//	          adapter_only the fitted adapter), and result {method, samples,
//	          rows, in, out, effective_rank, r2 (null when B's activation is
//	          constant), rel_residual, resized_from, resized_to}:
//	          fitting.Stitch (fitting.FitAdapter)
//	ntk       model; blob "x"; args {mode ("trace", "full" or "output"), k,
//	          params, components, rows [lo, hi], cols [lo, hi], chunk,
//	          threads}; with args {loss: "ce"} blob "labels" and optional
//	          {label_smoothing} → blob "kernel" (float64) and, with
//	          components, one blob per parameter tensor; result {params,
//	          components, paths, outputs}: ntk.Compute
//	eval      model; blob "x" (float32 samples), optional blob "labels";
//	          optional compare model (args {compare} or blob "compare");
//	          args {output, batch, threads} → result {samples, top1, top5,
//	          agreement, compare_top1} (each absent when it does not
//	          apply): eval.Accuracy
//
// # Errors
//
// Nothing a peer sends makes the server panic: a panic inside a handler
// (a bug) is recovered and answered as an "internal" error, and the
// server goes on. Blobs are read incrementally, so a length that lies
// about a short stream costs no large allocation. Serve returns a
// *FrameError for a broken stream and the writer's error if responses
// cannot be written. The package prints nothing and never exits.
//
// serve sits beside cmd/graft at the top of the import order: it imports
// exec, surgery, fitting, ntk, eval, feed, onnx and tensor, and is imported only by
// cmd/graft (serve.go).
package serve
