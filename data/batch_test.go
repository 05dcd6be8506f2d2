package data

import (
	"slices"
	"strings"
	"testing"

	"github.com/graft-ml/graft/tensor"
)

// tenRows is an .npy of 10 samples of 2 values, sample i holding i and
// -i, with labels 100+i in an .npz beside it.
func tenRows(t *testing.T) Source {
	t.Helper()
	x := make([]float32, 20)
	y := make([]int64, 10)
	for i := range 10 {
		x[2*i], x[2*i+1], y[i] = float32(i), -float32(i), int64(100+i)
	}
	dir := t.TempDir()
	p := saveNPY(t, dir, "x.npy", tensor.FromF32([]int{10, 2}, x))
	lp := saveNPY(t, dir, "y.npy", tensor.FromI64([]int{10}, y))
	src, err := Open(p, Options{Labels: lp})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// sampleIDs returns the sample numbers in a batch of tenRows.
func sampleIDs(t *testing.T, x *tensor.Dense, y []int64) []int {
	t.Helper()
	var ids []int
	for i := range x.Shape[0] {
		id := int(x.F32[2*i])
		if x.F32[2*i+1] != -float32(id) || y[i] != int64(100+id) {
			t.Fatalf("sample %d: values %v %v label %d do not belong together", i, x.F32[2*i], x.F32[2*i+1], y[i])
		}
		ids = append(ids, id)
	}
	return ids
}

func TestBatches(t *testing.T) {
	src := tenRows(t)
	cases := []struct {
		name          string
		size, limit   int
		stopAfter     int // leave the loop after this many batches; 0 never
		starts, sizes []int
		progress      []int // done counts reported, total being the last one
	}{
		{"even", 5, 0, 0, []int{0, 5}, []int{5, 5}, []int{0, 5, 10}},
		{"short_last", 4, 0, 0, []int{0, 4, 8}, []int{4, 4, 2}, []int{0, 4, 8, 10}},
		{"limit", 4, 6, 0, []int{0, 4}, []int{4, 2}, []int{0, 4, 6}},
		{"limit_above_len", 3, 99, 0, []int{0, 3, 6, 9}, []int{3, 3, 3, 1}, []int{0, 3, 6, 9, 10}},
		{"one_big_batch", 64, 0, 0, []int{0}, []int{10}, []int{0, 10}},
		{"break", 3, 0, 2, []int{0, 3}, []int{3, 3}, []int{0, 3}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var starts, sizes, done []int
			total := min(src.Len(), c.limit)
			if c.limit <= 0 {
				total = src.Len()
			}
			progress := func(d, tot int) {
				if tot != total {
					t.Errorf("progress total %d, want %d", tot, total)
				}
				done = append(done, d)
			}
			for b, err := range Batches(src, c.size, c.limit, progress) {
				if err != nil {
					t.Fatal(err)
				}
				ids := sampleIDs(t, b.X, b.Labels)
				if ids[0] != b.Start {
					t.Errorf("batch at %d starts with sample %d", b.Start, ids[0])
				}
				starts, sizes = append(starts, b.Start), append(sizes, b.X.Shape[0])
				if len(starts) == c.stopAfter {
					break
				}
			}
			if !slices.Equal(starts, c.starts) || !slices.Equal(sizes, c.sizes) || !slices.Equal(done, c.progress) {
				t.Errorf("starts %v sizes %v progress %v; want %v %v %v", starts, sizes, done, c.starts, c.sizes, c.progress)
			}
		})
	}
	for b, err := range Batches(src, 0, 0, nil) {
		if err == nil || !strings.Contains(err.Error(), "batch size 0") {
			t.Errorf("batch size 0: got %v, %v; want an error", b, err)
		}
	}
}

// opaque hides a source's gather method, so that Subset falls back to
// Batch calls.
type opaque struct{ Source }

func TestSubsetShuffle(t *testing.T) {
	src := tenRows(t)
	for _, s := range []struct {
		name string
		src  Source
	}{{"gather", src}, {"batch_fallback", opaque{src}}} {
		t.Run(s.name, func(t *testing.T) {
			idx := []int{7, 8, 9, 0, 0, 3}
			sub, err := Subset(s.src, idx)
			if err != nil {
				t.Fatal(err)
			}
			x, y := readAll(t, sub)
			if got := sampleIDs(t, x, y); !slices.Equal(got, idx) {
				t.Errorf("subset samples %v, want %v", got, idx)
			}
			x, y, err = sub.Batch(2, 3)
			if err != nil {
				t.Fatal(err)
			}
			if got := sampleIDs(t, x, y); !slices.Equal(got, idx[2:5]) {
				t.Errorf("subset Batch(2, 3) samples %v, want %v", got, idx[2:5])
			}

			// A shuffle is a permutation, fixed by its seed.
			a, b, c := Shuffle(s.src, 1), Shuffle(s.src, 1), Shuffle(s.src, 2)
			ids := func(src Source) []int {
				x, y := readAll(t, src)
				return sampleIDs(t, x, y)
			}
			pa, pb, pc := ids(a), ids(b), ids(c)
			sorted := slices.Sorted(slices.Values(pa))
			if !slices.Equal(sorted, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) {
				t.Errorf("shuffle %v is not a permutation", pa)
			}
			if !slices.Equal(pa, pb) || slices.Equal(pa, pc) {
				t.Errorf("seed 1 gave %v and %v, seed 2 %v: want equal, then different", pa, pb, pc)
			}
			// A subset of a shuffle composes.
			sub2, err := Subset(a, []int{9, 0})
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(sub2); !slices.Equal(got, []int{pa[9], pa[0]}) {
				t.Errorf("subset of shuffle %v, want %v", got, []int{pa[9], pa[0]})
			}
		})
	}
	if _, err := Subset(src, []int{3, 10}); err == nil || !strings.Contains(err.Error(), "subset index 1 is 10, outside the 10 samples") {
		t.Errorf("Subset out of range: error %v", err)
	}
}
