package vec

import "testing"

// TestDeinterleave2 checks every split of lengths around the 8-pair
// blocks, odd and even source lengths.
func TestDeinterleave2(t *testing.T) {
	for n := range 40 {
		src := make([]float32, n)
		for i := range src {
			src[i] = float32(i + 1)
		}
		even, odd := make([]float32, (n+1)/2), make([]float32, n/2)
		Deinterleave2(even, odd, src)
		for i, v := range even {
			if v != float32(2*i+1) {
				t.Fatalf("n=%d: even[%d] = %v", n, i, v)
			}
		}
		for i, v := range odd {
			if v != float32(2*i+2) {
				t.Fatalf("n=%d: odd[%d] = %v", n, i, v)
			}
		}
	}
}
