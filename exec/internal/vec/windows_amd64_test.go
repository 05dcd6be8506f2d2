//go:build !purego

package vec

import "testing"

// forWindowsKernels runs test with each vector kernel of ConvWindows this
// machine has: AVX-512 where present, then AVX2.
func forWindowsKernels(t *testing.T, test func(t *testing.T)) {
	defer func(on bool) { useWindowsAVX512 = on }(useWindowsAVX512)
	if haveAVX512 {
		useWindowsAVX512 = true
		t.Run("avx512", test)
	}
	useWindowsAVX512 = false
	t.Run("avx2", test)
}
