package tensor

import (
	"math"
	"path/filepath"
	"testing"
)

func TestRecycleReusesZeroedStorage(t *testing.T) {
	n := poolMinElems * 3
	a := New(Float32, n)
	for i := range a.F32 {
		a.F32[i] = 7
	}
	first := &a.F32[0]
	Recycle(a)
	if a.F32 != nil {
		t.Fatal("Recycle left the tensor holding its storage")
	}
	b := New(Float32, 3, poolMinElems)
	if &b.F32[0] != first {
		t.Fatal("New did not reuse the recycled storage")
	}
	for i, v := range b.F32 {
		if v != 0 {
			t.Fatalf("reused element %d is %v, want 0", i, v)
		}
	}
	small := New(Float32, 8)
	Recycle(small)
	if small.F32 == nil {
		t.Fatal("a small tensor went to the pool")
	}
}

// TestRecycleBestFit checks that a request takes the smallest free slice
// that holds it, and leaves slices far larger than it for later.
func TestRecycleBestFit(t *testing.T) {
	sizes := []int{poolMinElems * 8, poolMinElems * 2, poolMinElems * 64}
	firsts := map[int]*float32{}
	var made []*Dense
	for _, n := range sizes {
		d := New(Float32, n)
		firsts[n] = &d.F32[0]
		made = append(made, d)
	}
	for _, d := range made {
		Recycle(d)
	}
	c := New(Float32, poolMinElems*2-5) // fits the 2x slice best
	if &c.F32[0] != firsts[poolMinElems*2] || len(c.F32) != poolMinElems*2-5 {
		t.Errorf("request for %d did not take the smallest fitting slice", poolMinElems*2-5)
	}
	d := New(Float32, poolMinElems*3) // the 8x slice is within poolMaxWaste
	if &d.F32[0] != firsts[poolMinElems*8] {
		t.Errorf("request for %d did not reuse the %d slice", poolMinElems*3, poolMinElems*8)
	}
	e := New(Float32, poolMinElems) // only the 64x slice is left: too wasteful
	if &e.F32[0] == firsts[poolMinElems*64] {
		t.Errorf("request for %d took a slice %dx its size", poolMinElems, 64)
	}
	for _, x := range []*Dense{c, d, e} {
		Recycle(x)
	}
}

func TestNPYRoundTrip(t *testing.T) {
	cases := []*Dense{
		FromF32([]int{2, 3}, []float32{1, -2, 3.5, float32(math.Inf(1)), 0, 6}),
		FromF64([]int{4}, []float64{1e-300, -2, math.Pi, 0}),
		FromI64([]int{2, 2}, []int64{-1, 1 << 40, 3, 4}),
		FromF32(nil, []float32{42}),
	}
	dir := t.TempDir()
	for i, want := range cases {
		path := filepath.Join(dir, "t.npy")
		if err := SaveNPY(path, want); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		got, err := LoadNPY(path)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if !Equal(got, want) {
			t.Fatalf("case %d: got %v %v, want %v", i, got, got.Float64s(), want)
		}
	}
}

func TestNumElemsRejectsBadShapes(t *testing.T) {
	for _, shape := range [][]int{{-1, 2}, {1 << 30, 1 << 30, 1 << 30}} {
		if _, err := NumElems(shape); err == nil {
			t.Errorf("NumElems(%v): no error", shape)
		}
	}
}
