package gemm

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestParallelFor checks that ParallelFor runs every index exactly once
// and returns only when all have run: index counts below, at and above
// the thread count, calls nested inside an index (which must not wait
// for a worker that is busy with the outer call), and many goroutines
// calling at once, which reuse one another's batches (a batch goes back
// to the pool only when its last holder lets go), parts that outlast the
// caller's polling (it then blocks until the last part wakes it), and
// parts that end together, racing the caller's last poll against the
// last part's wake-up (a lost wake-up hangs the test).
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
	t.Run("slow_part", func(t *testing.T) {
		for range 5 {
			check(t, 2, 2, func(i int) {
				if i == 1 {
					time.Sleep(2 * spinWait)
				}
			})
		}
	})
	t.Run("ends_together", func(t *testing.T) {
		var sink atomic.Int64
		for n := range 3000 {
			check(t, 2, 2, func(i int) {
				s := int64(0)
				for j := range (n*7+i*3)%50 + 1 {
					s += int64(j * j)
				}
				sink.Add(s)
			})
		}
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

// BenchmarkParallelJoin times ParallelFor over two parts of about 5 µs
// each: the ideal is one part's time plus the hand-over and the join.
func BenchmarkParallelJoin(b *testing.B) {
	var sink [2]float64
	for b.Loop() {
		ParallelFor(2, 2, func(i int) {
			s := 0.0
			for j := range 8000 {
				s += float64(j) * 0.5
			}
			sink[i] = s
		})
	}
}
