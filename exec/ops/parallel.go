package ops

import "sync"

// parallelFor splits [0, n) into at most threads contiguous chunks and runs
// body on each concurrently, returning when all are done. Work smaller than
// minChunk per goroutine runs serially to avoid scheduling overhead.
func parallelFor(threads, n, minChunk int, body func(lo, hi int)) {
	if minChunk < 1 {
		minChunk = 1
	}
	if threads > n/minChunk {
		threads = n / minChunk
	}
	if threads <= 1 {
		body(0, n)
		return
	}
	var wg sync.WaitGroup
	chunk := (n + threads - 1) / threads
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			body(lo, hi)
		}()
	}
	wg.Wait()
}
