package gemm

import (
	"sync"
	"sync/atomic"
	"testing"
)

// TestParallelFor checks that ParallelFor runs every index exactly once
// and returns only when all have run: index counts below, at and above
// the thread count, calls nested inside an index (which must not wait
// for a worker that is busy with the outer call), and many goroutines
// calling at once, which reuse one another's batches (a batch goes back
// to the pool only when its last holder lets go).
func TestParallelFor(t *testing.T) {
	check := func(t *testing.T, threads, n int, body func(i int)) {
		t.Helper()
		counts := make([]atomic.Int32, n)
		ParallelFor(threads, n, func(i int) {
			if body != nil {
				body(i)
			}
			counts[i].Add(1)
		})
		for i := range counts {
			if c := counts[i].Load(); c != 1 {
				// Errorf: check also runs on the workers.
				t.Errorf("threads %d, n %d: index %d ran %d times", threads, n, i, c)
				return
			}
		}
	}
	t.Run("counts", func(t *testing.T) {
		for _, threads := range []int{0, 1, 2, 3, 8} {
			for _, n := range []int{0, 1, 2, 5, 100} {
				check(t, threads, n, nil)
			}
		}
	})
	t.Run("nested", func(t *testing.T) {
		check(t, 3, 6, func(int) {
			check(t, 3, 7, func(int) { check(t, 2, 3, nil) })
		})
	})
	t.Run("concurrent", func(t *testing.T) {
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for n := range 200 {
					check(t, 2+n%3, n%17, nil)
				}
			})
		}
		wg.Wait()
	})
}
