package gemm

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Goroutines are run by a small pool of persistent workers rather than by a
// fresh `go` statement per call. Waking a parked goroutine on an idle core
// can take ~100 µs on a virtual machine (measured on the development VM),
// longer than a whole 256³ product, so a worker that has just finished a
// job keeps polling for the next one for spinWait (yielding the processor
// on every round, so that other runnable goroutines are not held up) before
// it blocks. The caller likewise polls for its helpers for up to spinWait.
// Back-to-back GEMMs, as in a network's forward pass, then never pay the
// wake-up.
const spinWait = 200 * time.Microsecond

// job is one part of a batch, run by a worker.
type job struct {
	b *batch
	i int
	// fn, when set instead of b, is a job nobody waits for (Go).
	fn func()
}

// batch is one parallel product: part i of t of call, or of fn when it
// is set (Parallel).
type batch struct {
	call    gemmCall
	fn      func(i int)
	pending atomic.Int32
	done    chan struct{} // receives once pending reaches zero
}

var (
	jobs      = make(chan job, 64)
	workersMu sync.Mutex
	nWorkers  int
	batches   = sync.Pool{New: func() any { return &batch{done: make(chan struct{}, 1)} }}
)

// ensureWorkers starts workers until there are at least n.
func ensureWorkers(n int) {
	workersMu.Lock()
	for ; nWorkers < n; nWorkers++ {
		go worker()
	}
	workersMu.Unlock()
}

func worker() {
	for {
		var j job
		select {
		case j = <-jobs:
		default:
			j = waitJob()
		}
		if j.fn != nil {
			j.fn()
			continue
		}
		j.b.part(j.i)
		if j.b.pending.Add(-1) == 0 {
			j.b.done <- struct{}{}
		}
	}
}

// waitJob polls for a job for spinWait, then blocks.
func waitJob() job {
	start := time.Now()
	for time.Since(start) < spinWait {
		runtime.Gosched()
		select {
		case j := <-jobs:
			return j
		default:
		}
	}
	return <-jobs
}

// runBatch runs b.part(0), ..., b.part(b.call.t-1) concurrently,
// part t-1 on the calling goroutine, and returns b to the pool when all
// are done.
func runBatch(b *batch) {
	t := b.call.t
	ensureWorkers(t - 1)
	b.pending.Store(int32(t - 1))
	for i := range t - 1 {
		jobs <- job{b: b, i: i}
	}
	b.part(t - 1)
	if b.pending.Load() != 0 {
		start := time.Now()
		for b.pending.Load() != 0 && time.Since(start) < spinWait {
			runtime.Gosched()
		}
	}
	<-b.done // immediate if pending is already zero
	b.call, b.fn = gemmCall{}, nil
	batches.Put(b)
}

// part runs part i of b.
func (b *batch) part(i int) {
	if b.fn != nil {
		b.fn(i)
		return
	}
	b.call.part(i)
}

// Go runs fn on one of the GEMM's workers (started if there are fewer
// than n) and returns at once. The caller synchronises with fn itself: a
// kernel that splits its work into chunks taken from a shared counter
// can do all of them on the caller's goroutine when no worker gets a
// core in time, and wait only for chunks a worker has begun.
func Go(n int, fn func()) {
	ensureWorkers(n)
	jobs <- job{fn: fn}
}

// Parallel runs fn(0), ..., fn(t-1) concurrently on the GEMM's workers,
// fn(t-1) on the calling goroutine, and returns when all are done. Other
// kernels (the sparse products) share the workers this way, and with them
// the spinning that spares back-to-back calls the wake-up latency.
func Parallel(t int, fn func(i int)) {
	if t <= 1 {
		fn(0)
		return
	}
	b := batches.Get().(*batch)
	b.fn = fn
	b.call.t = t
	runBatch(b)
}
