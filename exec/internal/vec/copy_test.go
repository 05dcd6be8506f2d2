package vec

import "testing"

// TestCopyRows holds CopyRows to a copy per row on column counts around
// its 8- and 32-element blocks, with strides wider than the rows, whose
// gaps must stay untouched.
func TestCopyRows(t *testing.T) {
	for _, cols := range []int{1, 7, 8, 9, 31, 32, 33, 41, 70} {
		rows, ldd, lds := 4, cols+3, cols+5
		src := make([]float32, (rows-1)*lds+cols)
		for i := range src {
			src[i] = float32(i) + 0.5
		}
		got := make([]float32, rows*ldd)
		for i := range got {
			got[i] = -1
		}
		CopyRows(got, ldd, src, lds, rows, cols)
		for i, g := range got {
			want := float32(-1)
			if r, c := i/ldd, i%ldd; c < cols {
				want = src[r*lds+c]
			}
			if g != want {
				t.Fatalf("cols=%d: element %d = %v, want %v", cols, i, g, want)
			}
		}
	}
}
