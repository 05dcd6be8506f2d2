//go:build !purego

package gemm

import "golang.org/x/sys/cpu"

// Implemented in kernel_amd64.s.

//go:noescape
func kern8x32AVX512(k int, a, b, c *float32, ldc int, alpha, beta float32)

//go:noescape
func kern8x32AVX512Ep(k int, a, b, c *float32, ldc int, alpha, beta float32, bias *float32, lo, hi float32)

//go:noescape
func kern8x32AVX512Rows(k int, a, b *float32, offs *int, c *float32, ldc int, alpha, beta float32)

//go:noescape
func kern8x32AVX512EpMask(k int, a, b, c *float32, ldc int, alpha, beta float32, bias *float32, lo, hi float32, cols int)

//go:noescape
func kern8x16AVX512EpMask(k int, a, b, c *float32, ldc int, alpha, beta float32, bias *float32, lo, hi float32, cols int)

//go:noescape
func kern8x24AVX512EpMask(k int, a, b, c *float32, ldc int, alpha, beta float32, bias *float32, lo, hi float32, cols int)

//go:noescape
func kern6x16AVX2(k int, a, b, c *float32, ldc int, alpha, beta float32)

// avx512Kernel: 8×32 tile (16 zmm accumulators). Per depth step it loads
// 2 zmm of B and broadcasts 8 values of A for 16 FMAs. An 8-row tile (rather
// than 6) lets A be packed with plain 8×8 transposes and tiles the common
// M = 64, 128, ... convolution shapes exactly.
var avx512Kernel = &kernel{
	name:   "avx512",
	mr:     8,
	nr:     32,
	kc:     256, // B micro-panel 256×32×4 = 32 KiB (L1), A micro-panel 8 KiB
	mc:     192, // A block 192×256×4 = 192 KiB (well inside L2)
	nc:     2048,
	fn:     kern8x32AVX512,
	ep:     kern8x32AVX512Ep,
	rows:   kern8x32AVX512Rows,
	epMask: kern8x32AVX512EpMask,
	epHalf: kern8x16AVX512EpMask,
	ep24:   kern8x24AVX512EpMask,
}

func init() {
	// kern8x24AVX512EpMask's 8-wide halves are EVEX ymm instructions.
	if !cpu.X86.HasAVX512VL {
		avx512Kernel.ep24 = nil
	}
}

// avx2Kernel: 6×16 tile (12 ymm accumulators + 2 for B + 2 broadcasts:
// all 16 ymm registers).
var avx2Kernel = &kernel{
	name: "avx2",
	mr:   6,
	nr:   16,
	kc:   256,
	mc:   192,
	nc:   2048,
	fn:   kern6x16AVX2,
}

// kernels lists the kernels usable on this machine, best first. cpu's
// HasAVX2 and HasAVX512F also check that the OS saves the wide registers.
func kernels() []*kernel {
	var ks []*kernel
	if cpu.X86.HasAVX512F {
		ks = append(ks, avx512Kernel)
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ks = append(ks, avx2Kernel)
	}
	return append(ks, genericKernel)
}

// selectKernel returns the fastest kernel this CPU supports.
func selectKernel() *kernel { return kernels()[0] }
