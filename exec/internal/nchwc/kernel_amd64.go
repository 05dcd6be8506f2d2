//go:build !purego

package nchwc

import "golang.org/x/sys/cpu"

// Fast reports whether Row runs vector code on this machine.
func Fast() bool { return cpu.X86.HasAVX512F }

func rowKernel(channels, stride, ocb, pixels int) rowFunc {
	if !Fast() {
		return nil
	}
	kind := 0 // blocked
	if channels == 1 {
		kind = 1
	}
	bi := ocb / 2 // 1, 2, 4 → 0, 1, 2
	return rowKernels[kind][stride-1][bi][pixels-1]
}

func pixelKernels() bool { return Fast() }

//go:noescape
func maxPixels(dst, src *float32, offs *int, taps, n, stride int)

//go:noescape
func sumPixels(dst, src *float32, offs *int, taps, n, stride int, scale float32)

//go:noescape
func affinePixels(dst, src *float32, n int, scale, shift *float32, lo, hi float32)

func dwKernel(stride, pixels int) dwFunc {
	if !Fast() {
		return nil
	}
	return dwKernels[stride-1][pixels-1]
}

func row2Kernel(stride, pixels int) rowFunc {
	if !Fast() {
		return nil
	}
	return row2Kernels[stride-1][pixels-1]
}
