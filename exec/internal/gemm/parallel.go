package gemm

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Goroutines are run by a small pool of persistent workers rather than by a
// fresh `go` statement per call. Waking a parked goroutine on an idle core
// takes 15-20 µs on a virtual machine (measured on the development VM),
// as long as a whole ResNet-20 convolution's share of a core, so a worker
// that has just finished a job keeps polling for the next one for
// spinWait before it blocks. Back-to-back products, as in a network's
// forward pass, then never pay the wake-up.
//
// The polling reads the job queue's length in a tight loop and does not
// yield: a worker that called runtime.Gosched on every round (the first
// version) went through the scheduler's global queue each time, and was
// often found there by the caller's processor rather than its own, which
// left the other core idle until a fresh wake-up, 15-20 µs later, even
// between back-to-back calls. So that polling never holds every
// processor, at most GOMAXPROCS-1 workers poll at once; the others block.
//
// A batch's parts are claimed from a counter by whoever gets there first,
// the caller included: the caller never waits for a part nobody has
// begun, so a worker that starts late (or not at all, on a busy machine)
// costs its share of the parallelism, never a wake-up on top.
const spinWait = 200 * time.Microsecond

// callerSpin is how long a caller whose parts are all claimed polls for
// the workers' last parts before it yields its processor between polls
// (where a worker it waits for may be queued) and finally blocks.
const callerSpin = 50 * time.Microsecond

// job is one helper's ticket to a batch, run by a worker.
type job struct {
	b *batch
	// fn, when set instead of b, is a job nobody waits for (Go).
	fn func()
}

// batch is one parallel run: parts 0..t-1 of call, or of fn when it is
// set (Parallel).
type batch struct {
	call    gemmCall
	fn      func(i int)
	t       int32
	next    atomic.Int32 // the next part to claim
	pending atomic.Int32 // parts not yet finished
	refs    atomic.Int32 // holders: the caller and its unreceived or running jobs
	// wait is the caller's state (waitSpinning, waitBlocking, waitWoken):
	// the part that brings pending to zero sends on done only when it
	// finds the caller blocking.
	wait atomic.Int32
	done chan struct{} // receives the last part's wake-up
}

// The states of batch.wait.
const (
	waitSpinning = iota // the caller polls pending: nobody sends on done
	waitBlocking        // the caller is about to block, or blocks, on done
	waitWoken           // the last part committed to sending on done
)

var (
	jobs      = make(chan job, 64)
	workersMu sync.Mutex
	nWorkers  int
	spinners  atomic.Int32 // workers polling for a job
	batches   = sync.Pool{New: func() any { return &batch{done: make(chan struct{}, 1)} }}
)

// ensureWorkers starts workers until there are at least n, but no more
// than GOMAXPROCS-1 (at least one): more could not run beside the
// caller, and a job sent while a worker is blocked goes to that worker,
// to wait for a wake-up, rather than to one that is polling.
func ensureWorkers(n int) {
	n = min(n, max(1, runtime.GOMAXPROCS(0)-1))
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
		j.b.work()
		j.b.release()
	}
}

// waitJob polls for a job for spinWait, then blocks. It blocks at once
// when GOMAXPROCS-1 workers are polling already.
func waitJob() job {
	if int(spinners.Add(1)) >= runtime.GOMAXPROCS(0) {
		spinners.Add(-1)
		return <-jobs
	}
	start := time.Now()
	for time.Since(start) < spinWait {
		if len(jobs) == 0 {
			continue
		}
		select {
		case j := <-jobs:
			spinners.Add(-1)
			return j
		default:
		}
	}
	spinners.Add(-1)
	return <-jobs
}

// runBatch runs parts 0..t-1 of b concurrently, on the calling goroutine
// and on up to helpers workers, and returns b to the pool when nobody
// holds it any more.
func runBatch(b *batch, t, helpers int) {
	ensureWorkers(helpers)
	b.t = int32(t)
	b.next.Store(0)
	b.pending.Store(int32(t))
	b.refs.Store(int32(helpers + 1))
	b.wait.Store(waitSpinning)
	for range helpers {
		select {
		case jobs <- job{b: b}:
		default:
			// The queue is full (deeply nested calls): the parts go to
			// whoever claims them, the caller at the latest.
			b.release()
		}
	}
	b.work()
	if b.pending.Load() != 0 {
		start := time.Now()
		for b.pending.Load() != 0 {
			if d := time.Since(start); d > spinWait {
				b.block()
				break
			} else if d > callerSpin {
				runtime.Gosched()
			}
		}
	}
	b.release()
}

// block waits on done for the parts still running. The caller receives
// from done only where the last part commits to sending (waitWoken):
// a caller that received after every poll had seen pending at zero used
// to park whenever the last part had counted down but not yet sent, and
// was then woken onto the finishing worker's processor, which went on
// polling for jobs: 4-5 µs lost per parallel call (BenchmarkParallelJoin: 11 -> 7 µs).
func (b *batch) block() {
	b.wait.Store(waitBlocking)
	if b.pending.Load() == 0 && b.wait.CompareAndSwap(waitBlocking, waitSpinning) {
		return // finished in between, and nobody will send
	}
	<-b.done
}

// work claims and runs parts of b until none is left.
func (b *batch) work() {
	for {
		i := b.next.Add(1) - 1
		if i >= b.t {
			return
		}
		if b.fn != nil {
			b.fn(int(i))
		} else {
			b.call.part(int(i))
		}
		if b.pending.Add(-1) == 0 && b.wait.CompareAndSwap(waitBlocking, waitWoken) {
			b.done <- struct{}{}
		}
	}
}

// release drops one holder of b, the last returning it to the pool.
func (b *batch) release() {
	if b.refs.Add(-1) == 0 {
		b.call, b.fn = gemmCall{}, nil
		batches.Put(b)
	}
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

// Parallel runs fn(0), ..., fn(t-1) concurrently on the calling
// goroutine and the GEMM's workers, and returns when all are done: it is
// ParallelFor(t, t, fn).
func Parallel(t int, fn func(i int)) { ParallelFor(t, t, fn) }

// ParallelFor runs fn(0), ..., fn(n-1) on up to threads goroutines, the
// caller and the GEMM's workers, and returns when all are done. Each
// index goes to whichever goroutine is free first, so fn must not assume
// that different indices run on different goroutines, and a worker that
// starts late takes fewer. Other kernels (convolutions, the sparse
// products) share the workers this way, and with them the polling that
// spares back-to-back calls the wake-up latency. Calls may nest: a
// caller never waits for an index nobody has begun.
func ParallelFor(threads, n int, fn func(i int)) {
	threads = min(threads, n, runtime.GOMAXPROCS(0))
	if threads <= 1 {
		for i := range n {
			fn(i)
		}
		return
	}
	b := batches.Get().(*batch)
	b.fn = fn
	runBatch(b, n, threads-1)
}
