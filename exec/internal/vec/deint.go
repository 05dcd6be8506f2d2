package vec

// Deinterleave2 splits src into its even and odd elements: even[i] =
// src[2i] for i < len(even), odd[i] = src[2i+1] for i < len(odd). src must
// hold 2·len(even)−1 and 2·len(odd) elements; len(odd) must be len(even)
// or one less. A stride-2 convolution or pool reads each phase as a
// contiguous row (exec/ops' tapPlan).
func Deinterleave2(even, odd, src []float32) {
	if len(odd) != len(even) && len(odd) != len(even)-1 {
		panic("vec: Deinterleave2 lengths")
	}
	if len(even) > 0 {
		_ = src[2*len(even)-2]
	}
	if len(odd) > 0 {
		_ = src[2*len(odd)-1]
	}
	n := deinterleave2Blocks(even, odd, src)
	deinterleave2Go(even[n:], odd[min(n, len(odd)):], src[2*n:])
}

// deinterleave2Go is Deinterleave2 one element at a time.
func deinterleave2Go(even, odd, src []float32) {
	for i := range even {
		even[i] = src[2*i]
	}
	for i := range odd {
		odd[i] = src[2*i+1]
	}
}
