//go:build purego || !amd64

package nchwc

// Fast reports whether Row runs vector code on this machine: not in this
// build.
func Fast() bool { return false }

func rowKernel(stride, ocb, pixels int) rowFunc { return nil }
