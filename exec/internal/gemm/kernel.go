package gemm

import "unsafe"

// microFunc computes one full mr×nr tile of C:
//
//	C = alpha*(Ap·Bp) + beta*C
//
// where Ap is a packed mr×k panel (k groups of mr values) and Bp a packed
// k×nr panel (k groups of nr values). C is not read when beta == 0.
// ldc is the row stride of C in elements. k >= 1.
type microFunc func(k int, a, b, c *float32, ldc int, alpha, beta float32)

// epilogueFunc is a microFunc that then applies an Epilogue to the tile in
// registers: c = min(max(c + bias[r], lo), hi) on row r, bias holding mr
// values.
type epilogueFunc func(k int, a, b, c *float32, ldc int, alpha, beta float32, bias *float32, lo, hi float32)

// rowsFunc is a microFunc that reads B in place: row p of the k×nr panel
// is the nr values at b[offs[p]], so that a convolution's zero-padded
// input, read at one shifted offset per weight tap, is never packed.
type rowsFunc func(k int, a, b *float32, offs *int, c *float32, ldc int, alpha, beta float32)

// epilogueMaskFunc is an epilogueFunc that reads and writes only the
// first cols columns of the tile, 0 < cols < nr.
type epilogueMaskFunc func(k int, a, b, c *float32, ldc int, alpha, beta float32, bias *float32, lo, hi float32, cols int)

// Epilogue finishes each element of C once its product is complete:
// c = min(max(c + Bias[i], Lo), Hi) on row i, as a layer adds its bias and
// applies a fused Relu or Clip. Bias may be nil (no bias); Lo and Hi may
// be infinite. NaNs stay NaN. Func, if set, then maps finished runs of a
// row in place (a fused Sigmoid or SiLU), while they are in cache and on
// the threads that computed them.
type Epilogue struct {
	Bias   []float32
	Lo, Hi float32
	Func   func(dst, src []float32)
}

// kernel describes a micro-kernel and the cache-blocking parameters the
// driver uses with it.
type kernel struct {
	name string
	mr   int // rows of the register tile
	nr   int // columns of the register tile
	kc   int // depth of a packed block (A and B micro-panels)
	mc   int // rows of a packed A block; multiple of mr
	nc   int // columns of a packed B block; multiple of nr
	fn   microFunc
	// ep, if set, is fn with the epilogue in registers; without it the
	// driver applies the epilogue to each finished tile.
	ep epilogueFunc
	// rows, if set, is fn reading B's rows in place (SgemmPackedAIndirect).
	rows rowsFunc
	// epMask, if set, is ep for a tile of which only the first cols
	// columns (0 < cols < nr) are stored.
	epMask epilogueMaskFunc
	// epHalf, if set, is epMask for tiles of at most nr/2 columns, at half
	// the cost.
	epHalf epilogueMaskFunc
	// ep24, if set, is epMask for tiles of at most 3·nr/4 columns.
	ep24 epilogueMaskFunc
}

// active is the kernel used by Sgemm, PackA and PackB. It is chosen at
// start-up (see selectKernel) and may be replaced by tests.
var active = selectKernel()

// genericKernel is the portable micro-kernel; it is used where no assembly
// kernel applies (purego builds, other architectures, old x86 CPUs).
var genericKernel = &kernel{
	name: "generic",
	mr:   4,
	nr:   4,
	kc:   256,
	mc:   128,
	nc:   2048,
	fn:   kernGeneric4x4,
}

// kernGeneric4x4 is a register-blocked 4×4 micro-kernel in plain Go.
func kernGeneric4x4(k int, a, b, c *float32, ldc int, alpha, beta float32) {
	ap := unsafe.Slice(a, 4*k)
	bp := unsafe.Slice(b, 4*k)
	var c00, c01, c02, c03 float32
	var c10, c11, c12, c13 float32
	var c20, c21, c22, c23 float32
	var c30, c31, c32, c33 float32
	for len(ap) >= 4 && len(bp) >= 4 {
		a0, a1, a2, a3 := ap[0], ap[1], ap[2], ap[3]
		b0, b1, b2, b3 := bp[0], bp[1], bp[2], bp[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
		ap = ap[4:]
		bp = bp[4:]
	}
	cs := unsafe.Slice(c, 3*ldc+4)
	r0 := cs[0:4:4]
	r1 := cs[ldc : ldc+4 : ldc+4]
	r2 := cs[2*ldc : 2*ldc+4 : 2*ldc+4]
	r3 := cs[3*ldc : 3*ldc+4 : 3*ldc+4]
	if beta == 0 {
		r0[0], r0[1], r0[2], r0[3] = alpha*c00, alpha*c01, alpha*c02, alpha*c03
		r1[0], r1[1], r1[2], r1[3] = alpha*c10, alpha*c11, alpha*c12, alpha*c13
		r2[0], r2[1], r2[2], r2[3] = alpha*c20, alpha*c21, alpha*c22, alpha*c23
		r3[0], r3[1], r3[2], r3[3] = alpha*c30, alpha*c31, alpha*c32, alpha*c33
		return
	}
	r0[0], r0[1], r0[2], r0[3] = alpha*c00+beta*r0[0], alpha*c01+beta*r0[1], alpha*c02+beta*r0[2], alpha*c03+beta*r0[3]
	r1[0], r1[1], r1[2], r1[3] = alpha*c10+beta*r1[0], alpha*c11+beta*r1[1], alpha*c12+beta*r1[2], alpha*c13+beta*r1[3]
	r2[0], r2[1], r2[2], r2[3] = alpha*c20+beta*r2[0], alpha*c21+beta*r2[1], alpha*c22+beta*r2[2], alpha*c23+beta*r2[3]
	r3[0], r3[1], r3[2], r3[3] = alpha*c30+beta*r3[0], alpha*c31+beta*r3[1], alpha*c32+beta*r3[2], alpha*c33+beta*r3[3]
}

// kernGeneric4x4Rows is the portable rowsFunc: it gathers the panel and
// runs kernGeneric4x4 on it. It saves no copying, so only the tests
// install it (genericKernel.rows), to run the in-place driver path on
// every platform.
func kernGeneric4x4Rows(k int, a, b *float32, offs *int, c *float32, ldc int, alpha, beta float32) {
	var panel [4 * 256]float32
	os := unsafe.Slice(offs, k)
	for p0 := 0; p0 < k; p0 += 256 {
		kb := min(256, k-p0)
		for p, o := range os[p0 : p0+kb] {
			copy(panel[4*p:4*p+4], unsafe.Slice((*float32)(unsafe.Add(unsafe.Pointer(b), 4*o)), 4))
		}
		kernGeneric4x4(kb, (*float32)(unsafe.Add(unsafe.Pointer(a), 4*4*p0)), &panel[0], c, ldc, alpha, beta)
		beta = 1 // later blocks add to the first
	}
}
