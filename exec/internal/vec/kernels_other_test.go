//go:build purego || !amd64

package vec

import "testing"

// forWindowsKernels runs test once: there is only the portable kernel.
func forWindowsKernels(t *testing.T, test func(t *testing.T)) { test(t) }
