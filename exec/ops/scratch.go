package ops

import "sync"

// keyedPool recycles scratch objects by the geometry they were built for,
// across nodes and runs: a kernel's padded buffers keep the zero (or
// fill) borders written when they were made, since every use overwrites
// the same interior, and a run allocates nothing once each geometry has
// been seen. Allocating them per call (hundreds of kilobytes per
// MobileNetV2 run, zeroed, half of them large objects) cost the zeroing,
// the heap lock between the two threads, and a collection every few
// dozen runs.
type keyedPool[K comparable, T any] struct {
	pools sync.Map // K → *sync.Pool
}

// get returns a recycled object for key, or build's.
func (p *keyedPool[K, T]) get(key K, build func() T) T {
	if pl, ok := p.pools.Load(key); ok {
		if v := pl.(*sync.Pool).Get(); v != nil {
			return v.(T)
		}
	}
	return build()
}

// put hands v, built for key, back for reuse.
func (p *keyedPool[K, T]) put(key K, v T) {
	pl, _ := p.pools.LoadOrStore(key, new(sync.Pool))
	pl.(*sync.Pool).Put(v)
}

// windowGeom is the geometry a planeWindows or tapPlan is built for.
type windowGeom struct {
	kind         tapKind
	fill         float32
	h, w, ho, wo int
	k, s, d, pad [2]int
}

var (
	planeWindowsPool keyedPool[windowGeom, *planeWindows]
	tapPlanPool      keyedPool[windowGeom, *tapPlan]
)

// getPlaneWindows returns a planeWindows for g (newPlaneWindows), to be
// handed back with planeWindowsPool.put.
func getPlaneWindows(g windowGeom) *planeWindows {
	return planeWindowsPool.get(g, func() *planeWindows {
		return newPlaneWindows(g.h, g.w, g.ho, g.wo, g.k, g.s, g.d, g.pad)
	})
}

// getTapPlan returns a tapPlan for g (newTapPlan), to be handed back with
// tapPlanPool.put.
func getTapPlan(g windowGeom) *tapPlan {
	return tapPlanPool.get(g, func() *tapPlan {
		return newTapPlan(g.kind, g.fill, g.h, g.w, g.ho, g.wo, g.k, g.s, g.d, g.pad)
	})
}
