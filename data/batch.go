package data

import (
	"fmt"
	"iter"
	"math/rand/v2"

	"github.com/graft-ml/graft/tensor"
)

// Batch is one batch of samples yielded by Batches.
type Batch struct {
	Start  int           // index of the first sample in the source
	X      *tensor.Dense // float32 [n, SampleShape()...]
	Labels []int64       // one per sample, or nil when the source has none
}

// Batches returns an iterator over consecutive batches of batchSize samples
// of src, the last one shorter when batchSize does not divide the count. A
// positive limit uses only the first limit samples (all of them when there
// are fewer). progress, if not nil, is called with (0, total) before the
// first batch is read and with (done, total) after each batch, once the
// loop body has used it.
//
// A read error is yielded once, with a zero Batch, and ends the iteration:
//
//	for b, err := range data.Batches(src, 64, 0, nil) {
//		if err != nil {
//			return err
//		}
//		use(b.X, b.Labels)
//	}
func Batches(src Source, batchSize, limit int, progress func(done, total int)) iter.Seq2[Batch, error] {
	return func(yield func(Batch, error) bool) {
		if batchSize <= 0 {
			yield(Batch{}, fmt.Errorf("data: batch size %d: want at least 1", batchSize))
			return
		}
		total := src.Len()
		if limit > 0 && limit < total {
			total = limit
		}
		if progress != nil {
			progress(0, total)
		}
		for start := 0; start < total; start += batchSize {
			n := min(batchSize, total-start)
			x, y, err := src.Batch(start, n)
			if err != nil {
				yield(Batch{}, err)
				return
			}
			if !yield(Batch{Start: start, X: x, Labels: y}, nil) {
				return
			}
			if progress != nil {
				progress(start+n, total)
			}
		}
	}
}

// gatherer is implemented by sources that read any list of samples in one
// call, opening their files once rather than once per sample.
type gatherer interface {
	gather(idx []int) (*tensor.Dense, []int64, error)
}

// gather reads samples idx of src, in that order.
func gather(src Source, idx []int) (*tensor.Dense, []int64, error) {
	if g, ok := src.(gatherer); ok {
		return g.gather(idx)
	}
	shape := src.SampleShape()
	x := tensor.NewUninit(tensor.Float32, append([]int{len(idx)}, shape...)...)
	var y []int64
	size := 1
	for _, d := range shape {
		size *= d
	}
	for i := 0; i < len(idx); {
		j := i + 1
		for j < len(idx) && idx[j] == idx[j-1]+1 {
			j++
		}
		bx, by, err := src.Batch(idx[i], j-i)
		if err != nil {
			return nil, nil, err
		}
		copy(x.F32[i*size:j*size], bx.F32)
		if by != nil {
			if y == nil {
				y = make([]int64, len(idx))
			}
			copy(y[i:j], by)
		}
		i = j
	}
	return x, y, nil
}

// Subset returns the samples of src at indices, in that order (repeats
// allowed); sample i of the result is sample indices[i] of src.
func Subset(src Source, indices []int) (Source, error) {
	for i, j := range indices {
		if j < 0 || j >= src.Len() {
			return nil, fmt.Errorf("data: %s: subset index %d is %d, outside the %d samples", pathOf(src), i, j, src.Len())
		}
	}
	return &subset{src: src, idx: append([]int(nil), indices...)}, nil
}

// Shuffle returns the samples of src in a random order that depends only on
// seed. Reading it costs one read per sample rather than per batch.
func Shuffle(src Source, seed uint64) Source {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)) // the second word is any fixed constant
	return &subset{src: src, idx: r.Perm(src.Len())}
}

type subset struct {
	src Source
	idx []int
}

func (s *subset) Len() int           { return len(s.idx) }
func (s *subset) SampleShape() []int { return s.src.SampleShape() }
func (s *subset) Path() string       { return pathOf(s.src) }

func (s *subset) Batch(start, n int) (*tensor.Dense, []int64, error) {
	if err := checkRange(s.Path(), start, n, len(s.idx)); err != nil {
		return nil, nil, err
	}
	return gather(s.src, s.idx[start:start+n])
}

func (s *subset) gather(idx []int) (*tensor.Dense, []int64, error) {
	m := make([]int, len(idx))
	for i, j := range idx {
		m[i] = s.idx[j]
	}
	return gather(s.src, m)
}
