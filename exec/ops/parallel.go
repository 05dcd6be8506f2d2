package ops

import "github.com/graft-ml/graft/exec/internal/gemm"

// parallelFor splits [0, n) into at most threads contiguous chunks and runs
// body on each concurrently, returning when all are done. Work smaller than
// minChunk per goroutine runs serially to avoid scheduling overhead.
//
// The chunks run on the GEMM's persistent workers and the calling
// goroutine (gemm.ParallelFor), each taken by whichever is free first. A
// goroutine started per call (the first version) took 15-20 µs to get a
// core on a virtual machine, as long as a whole small convolution, and
// could not get one at all while a GEMM worker polled for its next job;
// the workers are usually polling already, and a chunk nobody has begun
// is never waited for.
func parallelFor(threads, n, minChunk int, body func(lo, hi int)) {
	chunks := min(threads, n/max(minChunk, 1))
	if chunks <= 1 {
		body(0, n)
		return
	}
	gemm.ParallelFor(chunks, chunks, func(i int) { body(n*i/chunks, n*(i+1)/chunks) })
}
