package tensor

import "sync"

// Storage recycling. An executor that knows a tensor is dead (its last
// reader has run and nothing else shares its storage) hands it to Recycle;
// New then reuses a float32 slice of the same length instead of
// allocating. A run of a network thus reuses the memory of the activations
// it has finished with at once, rather than leaving it to the garbage
// collector, which would let the heap grow to several times the live set.
var pool = struct {
	sync.Mutex
	f32   map[int][][]float32
	bytes int
}{f32: map[int][][]float32{}}

const (
	// poolMaxBytes bounds what the pool holds; beyond it, storage is left
	// to the garbage collector.
	poolMaxBytes = 1 << 30
	// poolMinElems keeps small tensors, cheap to allocate, out of the pool.
	poolMinElems = 1 << 12
)

// Recycle hands d's float32 storage back for reuse by New. The caller
// guarantees that nothing refers to d's storage any more; d is emptied so
// that a stray use fails loudly instead of reading reused memory.
func Recycle(d *Dense) {
	s := d.F32
	if len(s) < poolMinElems {
		return
	}
	d.F32 = nil
	pool.Lock()
	defer pool.Unlock()
	if pool.bytes+4*cap(s) > poolMaxBytes {
		return
	}
	s = s[:cap(s)]
	pool.f32[len(s)] = append(pool.f32[len(s)], s)
	pool.bytes += 4 * len(s)
}

// takeF32 returns a zeroed recycled slice of length n, or nil.
func takeF32(n int) []float32 {
	if n < poolMinElems {
		return nil
	}
	pool.Lock()
	free := pool.f32[n]
	if len(free) == 0 {
		pool.Unlock()
		return nil
	}
	s := free[len(free)-1]
	free[len(free)-1] = nil
	pool.f32[n] = free[:len(free)-1]
	pool.bytes -= 4 * n
	pool.Unlock()
	clear(s)
	return s
}
