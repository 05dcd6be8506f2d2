//go:build purego || !amd64

package nchwc

// Fast reports whether Row runs vector code on this machine: not in this
// build.
func Fast() bool { return false }

func rowKernel(channels, stride, ocb, pixels int) rowFunc { return nil }

func pixelKernels() bool { return false }

func maxPixels(dst, src *float32, offs *int, taps, n, stride int) {
	panic("nchwc: no vector kernels")
}

func sumPixels(dst, src *float32, offs *int, taps, n, stride int, scale float32) {
	panic("nchwc: no vector kernels")
}

func affinePixels(dst, src *float32, n int, scale, shift *float32, lo, hi float32) {
	panic("nchwc: no vector kernels")
}

func dwKernel(stride, pixels int) dwFunc { return nil }

func row2Kernel(stride, pixels int) rowFunc { return nil }
