package tensor

import (
	"slices"
	"sort"
	"sync"
)

// Storage recycling. An executor that knows a tensor is dead (its last
// reader has run and nothing else shares its storage) hands it to Recycle;
// New then reuses a recycled float32 slice instead of allocating. A run of
// a network thus reuses the memory of the activations it has finished
// with at once, rather than leaving it to the garbage collector, which
// would let the heap grow to several times the live set.
//
// A request takes the smallest free slice that holds it (best fit), not
// only one of the same length: networks shrink their activations as they
// go deeper, and an exact-size pool kept every early, large buffer idle
// for the rest of the run, doubling the memory a run held.
var pool = struct {
	sync.Mutex
	free  [][]float32 // sorted by capacity
	bytes int
}{}

const (
	// poolMaxBytes bounds what the pool holds; beyond it, storage is left
	// to the garbage collector.
	poolMaxBytes = 1 << 30
	// poolMinElems keeps small tensors, cheap to allocate, out of the pool.
	poolMinElems = 1 << 12
	// poolMaxWaste is how many times larger than a request a reused slice
	// may be: a much larger one is better kept for a larger tensor. On
	// ResNet-18 at batch 8, 2, 3, 8 and 16 gave peak heaps of 120, 118,
	// 108 and 107 MB: an early, large buffer left idle costs more than one
	// lent to a small tensor.
	poolMaxWaste = 8
)

// Recycle hands d's float32 storage back for reuse by New. The caller
// guarantees that nothing refers to d's storage any more; d is emptied so
// that a stray use fails loudly instead of reading reused memory.
func Recycle(d *Dense) {
	s := d.F32
	if cap(s) < poolMinElems {
		return
	}
	d.F32 = nil
	s = s[:cap(s)]
	pool.Lock()
	defer pool.Unlock()
	if pool.bytes+4*len(s) > poolMaxBytes {
		return
	}
	i := sort.Search(len(pool.free), func(i int) bool { return len(pool.free[i]) >= len(s) })
	pool.free = slices.Insert(pool.free, i, s)
	pool.bytes += 4 * len(s)
}

// takeF32 returns a recycled slice of length n, zeroed if asked, or nil.
func takeF32(n int, zero bool) []float32 {
	if n < poolMinElems {
		return nil
	}
	pool.Lock()
	i := sort.Search(len(pool.free), func(i int) bool { return len(pool.free[i]) >= n })
	if i == len(pool.free) || len(pool.free[i]) > poolMaxWaste*n {
		pool.Unlock()
		return nil
	}
	s := pool.free[i]
	pool.free = slices.Delete(pool.free, i, i+1)
	pool.bytes -= 4 * len(s)
	pool.Unlock()
	s = s[:n]
	if zero {
		clear(s)
	}
	return s
}
