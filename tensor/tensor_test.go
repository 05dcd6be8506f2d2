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
