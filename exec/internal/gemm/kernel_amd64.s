//go:build !purego

#include "textflag.h"

// Micro-kernels. Each computes, for one MR×NR tile of C,
//
//	C = alpha*(Ap·Bp) + beta*C   (C is not read when beta == 0)
//
// where Ap is a packed MR×k panel of A (k steps of MR consecutive values)
// and Bp is a packed k×NR panel of B (k steps of NR consecutive values).
// ldc is in elements. The Go declarations are in kernel_amd64.go.

// ---------------------------------------------------------------------------
// AVX-512: 8×32 tile, 16 zmm accumulators (Z0..Z15), row r in Z(2r), Z(2r+1).
// Z16, Z17 hold the current row of B; Z18..Z25 hold broadcast A values.

#define K832_STEP(AOFF, BOFF) \
	VMOVUPS      BOFF(DI), Z16;      \
	VMOVUPS      (BOFF+64)(DI), Z17; \
	K832_FMAS(AOFF)

// K832_ROWSTEP is K832_STEP for B read in place: the step's row of B is
// the 32 values at DI + 4·(OOFF(R10)), its offset in elements.
#define K832_ROWSTEP(AOFF, OOFF) \
	MOVQ         OOFF(R10), R11;       \
	VMOVUPS      (DI)(R11*4), Z16;     \
	VMOVUPS      64(DI)(R11*4), Z17;   \
	K832_FMAS(AOFF)

// K832_FMAS multiplies the row of B in Z16, Z17 by the step's 8 values
// of A (AOFF(SI)) into the accumulators.
#define K832_FMAS(AOFF) \
	VBROADCASTSS (AOFF+0)(SI), Z18;  \
	VBROADCASTSS (AOFF+4)(SI), Z19;  \
	VBROADCASTSS (AOFF+8)(SI), Z20;  \
	VBROADCASTSS (AOFF+12)(SI), Z21; \
	VFMADD231PS  Z18, Z16, Z0;       \
	VFMADD231PS  Z18, Z17, Z1;       \
	VFMADD231PS  Z19, Z16, Z2;       \
	VFMADD231PS  Z19, Z17, Z3;       \
	VBROADCASTSS (AOFF+16)(SI), Z22; \
	VBROADCASTSS (AOFF+20)(SI), Z23; \
	VFMADD231PS  Z20, Z16, Z4;       \
	VFMADD231PS  Z20, Z17, Z5;       \
	VFMADD231PS  Z21, Z16, Z6;       \
	VFMADD231PS  Z21, Z17, Z7;       \
	VBROADCASTSS (AOFF+24)(SI), Z24; \
	VBROADCASTSS (AOFF+28)(SI), Z25; \
	VFMADD231PS  Z22, Z16, Z8;       \
	VFMADD231PS  Z22, Z17, Z9;       \
	VFMADD231PS  Z23, Z16, Z10;      \
	VFMADD231PS  Z23, Z17, Z11;      \
	VFMADD231PS  Z24, Z16, Z12;      \
	VFMADD231PS  Z24, Z17, Z13;      \
	VFMADD231PS  Z25, Z16, Z14;      \
	VFMADD231PS  Z25, Z17, Z15

// Store row pair (ZA, ZB) to (DX) scaled by alpha (Z26), adding beta*C (Z27).
#define K832_STORE_BETA(ZA, ZB) \
	VMULPS      Z26, ZA, ZA;     \
	VMULPS      Z26, ZB, ZB;     \
	VFMADD231PS (DX), Z27, ZA;   \
	VFMADD231PS 64(DX), Z27, ZB; \
	VMOVUPS     ZA, (DX);        \
	VMOVUPS     ZB, 64(DX);      \
	ADDQ        R8, DX

#define K832_STORE(ZA, ZB) \
	VMULPS  Z26, ZA, ZA; \
	VMULPS  Z26, ZB, ZB; \
	VMOVUPS ZA, (DX);    \
	VMOVUPS ZB, 64(DX);  \
	ADDQ    R8, DX

// K832_PRODUCT loads the arguments, prefetches the C tile and leaves the
// 8×32 product Ap·Bp in Z0..Z15, ending at label k832done (labels are
// per function, so both kernels can expand it).
#define K832_PRODUCT \
	MOVQ k+0(FP), CX; \
	MOVQ a+8(FP), SI; \
	MOVQ b+16(FP), DI; \
	MOVQ c+24(FP), DX; \
	MOVQ ldc+32(FP), R8; \
	K832_PREFETCH_ZERO; \
	KSTEPS(K832_STEP, k832loop4, k832tail, k832loop1, k832done)

// KSTEPS(STEP, l4, ltail, l1, ldone) is the depth loop of the AVX-512
// kernels over packed panels: CX steps of STEP(A offset, B offset), four
// at a time and then one at a time, A (SI) advancing 32 bytes a step and
// B (DI) 128 (a 32-wide panel row); it ends at ldone.
//
// Each round of four prefetches the two cache lines of A APREFETCH bytes
// ahead. Packed A panels lie end to end, so near a panel's end this
// reaches into the next tile's. A large layer's weights come from memory
// once a run and serve only a few tiles of B (ResNet-18's 512-channel
// layers: two), and the hardware prefetchers alone let the kernel wait
// for them: BenchmarkMicroKernelStream 111 -> 154 GFLOP/s with one tile
// a panel, 156 -> 196 with two (AMD Zen 5); ResNet-18 at batch 1 18.2 ->
// 15.4 ms.
#define APREFETCH 2048

// PREFETCH_A prefetches the two cache lines of A APREFETCH bytes past SI.
#define PREFETCH_A PREFETCHT0 APREFETCH(SI); PREFETCHT0 (APREFETCH+64)(SI)

#define KSTEPS(STEP, l4, ltail, l1, ldone) \
	CMPQ CX, $4; \
	JLT  ltail; \
l4: \
	PREFETCH_A; \
	STEP(0, 0); \
	STEP(32, 128); \
	STEP(64, 256); \
	STEP(96, 384); \
	ADDQ $128, SI; \
	ADDQ $512, DI; \
	SUBQ $4, CX; \
	CMPQ CX, $4; \
	JGE  l4; \
ltail: \
	TESTQ CX, CX; \
	JEQ   ldone; \
l1: \
	STEP(0, 0); \
	ADDQ $32, SI; \
	ADDQ $128, DI; \
	DECQ CX; \
	JNE  l1

// KMASK_EP_ARGS loads the masked kernels' epilogue: K1 and K2 select the
// first cols columns (0-15, 16-31), Z26 alpha, BX the bias, Z29 lo, Z30
// hi, Z27 beta; the flags are beta's test for zero (of either sign).
#define KMASK_EP_ARGS \
	MOVQ         cols+64(FP), CX; \
	MOVQ         $1, AX; \
	SHLQ         CX, AX; \
	DECQ         AX; \
	KMOVW        AX, K1; \
	SHRQ         $16, AX; \
	KMOVW        AX, K2; \
	VBROADCASTSS alpha+40(FP), Z26; \
	MOVQ         bias+48(FP), BX; \
	VBROADCASTSS lo+56(FP), Z29; \
	VBROADCASTSS hi+60(FP), Z30; \
	MOVL         beta+44(FP), AX; \
	VBROADCASTSS beta+44(FP), Z27; \
	ANDL         $0x7fffffff, AX

// K832_PREFETCH_ZERO turns ldc (R8) into bytes, prefetches the C tile at
// DX and zeroes the accumulators.
#define K832_PREFETCH_ZERO \
	SHLQ $2, R8; \
	MOVQ       DX, R9; \
	PREFETCHT0 (R9); \
	PREFETCHT0 64(R9); \
	ADDQ       R8, R9; \
	PREFETCHT0 (R9); \
	PREFETCHT0 64(R9); \
	ADDQ       R8, R9; \
	PREFETCHT0 (R9); \
	PREFETCHT0 64(R9); \
	ADDQ       R8, R9; \
	PREFETCHT0 (R9); \
	PREFETCHT0 64(R9); \
	ADDQ       R8, R9; \
	PREFETCHT0 (R9); \
	PREFETCHT0 64(R9); \
	ADDQ       R8, R9; \
	PREFETCHT0 (R9); \
	PREFETCHT0 64(R9); \
	ADDQ       R8, R9; \
	PREFETCHT0 (R9); \
	PREFETCHT0 64(R9); \
	ADDQ       R8, R9; \
	PREFETCHT0 (R9); \
	PREFETCHT0 64(R9); \
	VPXORD Z0, Z0, Z0; \
	VPXORD Z1, Z1, Z1; \
	VPXORD Z2, Z2, Z2; \
	VPXORD Z3, Z3, Z3; \
	VPXORD Z4, Z4, Z4; \
	VPXORD Z5, Z5, Z5; \
	VPXORD Z6, Z6, Z6; \
	VPXORD Z7, Z7, Z7; \
	VPXORD Z8, Z8, Z8; \
	VPXORD Z9, Z9, Z9; \
	VPXORD Z10, Z10, Z10; \
	VPXORD Z11, Z11, Z11; \
	VPXORD Z12, Z12, Z12; \
	VPXORD Z13, Z13, Z13; \
	VPXORD Z14, Z14, Z14; \
	VPXORD Z15, Z15, Z15

// K832_STORE_TILE stores the tile scaled by alpha (Z26), adding beta (Z27)
// times C unless beta (AX, its bits) is zero, and returns.
#define K832_STORE_TILE \
	ANDL $0x7fffffff, AX; \
	JEQ  k832nobeta; \
	K832_STORE_BETA(Z0, Z1); \
	K832_STORE_BETA(Z2, Z3); \
	K832_STORE_BETA(Z4, Z5); \
	K832_STORE_BETA(Z6, Z7); \
	K832_STORE_BETA(Z8, Z9); \
	K832_STORE_BETA(Z10, Z11); \
	K832_STORE_BETA(Z12, Z13); \
	K832_STORE_BETA(Z14, Z15); \
	VZEROUPPER; \
	RET; \
k832nobeta: \
	K832_STORE(Z0, Z1); \
	K832_STORE(Z2, Z3); \
	K832_STORE(Z4, Z5); \
	K832_STORE(Z6, Z7); \
	K832_STORE(Z8, Z9); \
	K832_STORE(Z10, Z11); \
	K832_STORE(Z12, Z13); \
	K832_STORE(Z14, Z15); \
	VZEROUPPER; \
	RET

// func kern8x32AVX512(k int, a, b, c *float32, ldc int, alpha, beta float32)
TEXT ·kern8x32AVX512(SB), NOSPLIT, $0-48
	K832_PRODUCT

k832done:
	VBROADCASTSS alpha+40(FP), Z26
	MOVL         beta+44(FP), AX
	VBROADCASTSS beta+44(FP), Z27
	K832_STORE_TILE

// func kern8x32AVX512Rows(k int, a, b *float32, offs *int, c *float32, ldc int, alpha, beta float32)
// kern8x32AVX512 with B read in place: row p of the k×32 panel is the 32
// values at b[offs[p]] (a convolution's zero-padded input at one weight
// tap's shift), so B is never packed.
TEXT ·kern8x32AVX512Rows(SB), NOSPLIT, $0-56
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ offs+24(FP), R10
	MOVQ c+32(FP), DX
	MOVQ ldc+40(FP), R8
	K832_PREFETCH_ZERO
	CMPQ CX, $4
	JLT  r832tail

r832loop4:
	PREFETCH_A
	K832_ROWSTEP(0, 0)
	K832_ROWSTEP(32, 8)
	K832_ROWSTEP(64, 16)
	K832_ROWSTEP(96, 24)
	ADDQ $128, SI
	ADDQ $32, R10
	SUBQ $4, CX
	CMPQ CX, $4
	JGE  r832loop4

r832tail:
	TESTQ CX, CX
	JEQ   r832done

r832loop1:
	K832_ROWSTEP(0, 0)
	ADDQ $32, SI
	ADDQ $8, R10
	DECQ CX
	JNE  r832loop1

r832done:
	VBROADCASTSS alpha+48(FP), Z26
	MOVL         beta+52(FP), AX
	VBROADCASTSS beta+52(FP), Z27
	K832_STORE_TILE

// Store row pair (ZA, ZB) as K832_STORE(_BETA) does, then add the row's
// bias (BOFF(BX)) and clamp to [lo (Z29), hi (Z30)]: the epilogue of
// kern8x32AVX512Ep. The data is VMAXPS's and VMINPS's second source, so
// NaNs stay NaN, as in vec.BiasClamp.
#define K832_EP(ZA, ZB, BOFF) \
	VBROADCASTSS BOFF(BX), Z28; \
	VADDPS       Z28, ZA, ZA;   \
	VADDPS       Z28, ZB, ZB;   \
	VMAXPS       ZA, Z29, ZA;   \
	VMAXPS       ZB, Z29, ZB;   \
	VMINPS       ZA, Z30, ZA;   \
	VMINPS       ZB, Z30, ZB

#define K832_STORE_EP_BETA(ZA, ZB, BOFF) \
	VMULPS      Z26, ZA, ZA;     \
	VMULPS      Z26, ZB, ZB;     \
	VFMADD231PS (DX), Z27, ZA;   \
	VFMADD231PS 64(DX), Z27, ZB; \
	K832_EP(ZA, ZB, BOFF);       \
	VMOVUPS     ZA, (DX);        \
	VMOVUPS     ZB, 64(DX);      \
	ADDQ        R8, DX

#define K832_STORE_EP(ZA, ZB, BOFF) \
	VMULPS  Z26, ZA, ZA;   \
	VMULPS  Z26, ZB, ZB;   \
	K832_EP(ZA, ZB, BOFF); \
	VMOVUPS ZA, (DX);      \
	VMOVUPS ZB, 64(DX);    \
	ADDQ    R8, DX

// func kern8x32AVX512Ep(k int, a, b, c *float32, ldc int, alpha, beta float32, bias *float32, lo, hi float32)
// kern8x32AVX512, then c = min(max(c + bias[r], lo), hi) on row r of the
// tile while it is still in registers: a convolution's bias and fused
// activation without another pass over its output. bias holds 8 values.
TEXT ·kern8x32AVX512Ep(SB), NOSPLIT, $0-64
	K832_PRODUCT

k832done:
	VBROADCASTSS alpha+40(FP), Z26
	MOVQ         bias+48(FP), BX
	VBROADCASTSS lo+56(FP), Z29
	VBROADCASTSS hi+60(FP), Z30
	MOVL         beta+44(FP), AX
	ANDL         $0x7fffffff, AX
	JEQ          e832nobeta
	VBROADCASTSS beta+44(FP), Z27
	K832_STORE_EP_BETA(Z0, Z1, 0)
	K832_STORE_EP_BETA(Z2, Z3, 4)
	K832_STORE_EP_BETA(Z4, Z5, 8)
	K832_STORE_EP_BETA(Z6, Z7, 12)
	K832_STORE_EP_BETA(Z8, Z9, 16)
	K832_STORE_EP_BETA(Z10, Z11, 20)
	K832_STORE_EP_BETA(Z12, Z13, 24)
	K832_STORE_EP_BETA(Z14, Z15, 28)
	VZEROUPPER
	RET

e832nobeta:
	K832_STORE_EP(Z0, Z1, 0)
	K832_STORE_EP(Z2, Z3, 4)
	K832_STORE_EP(Z4, Z5, 8)
	K832_STORE_EP(Z6, Z7, 12)
	K832_STORE_EP(Z8, Z9, 16)
	K832_STORE_EP(Z10, Z11, 20)
	K832_STORE_EP(Z12, Z13, 24)
	K832_STORE_EP(Z14, Z15, 28)
	VZEROUPPER
	RET

// K832_STORE_EPM_BETA and K832_STORE_EPM are K832_STORE_EP_BETA and
// K832_STORE_EP storing only the columns K1 (first 16) and K2 (next 16)
// select, and reading C (Z31) only there.
#define K832_STORE_EPM_BETA(ZA, ZB, BOFF) \
	VMULPS      Z26, ZA, ZA;        \
	VMULPS      Z26, ZB, ZB;        \
	VMOVUPS.Z   (DX), K1, Z31;      \
	VFMADD231PS Z31, Z27, ZA;       \
	VMOVUPS.Z   64(DX), K2, Z31;    \
	VFMADD231PS Z31, Z27, ZB;       \
	K832_EP(ZA, ZB, BOFF);          \
	VMOVUPS     ZA, K1, (DX);       \
	VMOVUPS     ZB, K2, 64(DX);     \
	ADDQ        R8, DX

#define K832_STORE_EPM(ZA, ZB, BOFF) \
	VMULPS  Z26, ZA, ZA;    \
	VMULPS  Z26, ZB, ZB;    \
	K832_EP(ZA, ZB, BOFF);  \
	VMOVUPS ZA, K1, (DX);   \
	VMOVUPS ZB, K2, 64(DX); \
	ADDQ    R8, DX

// func kern8x32AVX512EpMask(k int, a, b, c *float32, ldc int, alpha, beta float32, bias *float32, lo, hi float32, cols int)
// kern8x32AVX512Ep for a tile of which only the first cols (1 to 31)
// columns lie in C: the rest are neither read nor written, so the
// narrower last panel of a product is stored with its epilogue in place
// instead of through a scratch tile.
TEXT ·kern8x32AVX512EpMask(SB), NOSPLIT, $0-72
	K832_PRODUCT

k832done:
	KMASK_EP_ARGS
	JEQ m832nobeta
	K832_STORE_EPM_BETA(Z0, Z1, 0)
	K832_STORE_EPM_BETA(Z2, Z3, 4)
	K832_STORE_EPM_BETA(Z4, Z5, 8)
	K832_STORE_EPM_BETA(Z6, Z7, 12)
	K832_STORE_EPM_BETA(Z8, Z9, 16)
	K832_STORE_EPM_BETA(Z10, Z11, 20)
	K832_STORE_EPM_BETA(Z12, Z13, 24)
	K832_STORE_EPM_BETA(Z14, Z15, 28)
	VZEROUPPER
	RET

m832nobeta:
	K832_STORE_EPM(Z0, Z1, 0)
	K832_STORE_EPM(Z2, Z3, 4)
	K832_STORE_EPM(Z4, Z5, 8)
	K832_STORE_EPM(Z6, Z7, 12)
	K832_STORE_EPM(Z8, Z9, 16)
	K832_STORE_EPM(Z10, Z11, 20)
	K832_STORE_EPM(Z12, Z13, 24)
	K832_STORE_EPM(Z14, Z15, 28)
	VZEROUPPER
	RET

// ---------------------------------------------------------------------------
// AVX2+FMA: 6×16 tile, 12 ymm accumulators (Y0..Y11), row r in Y(2r), Y(2r+1).
// Y12, Y13 hold the current row of B; Y14, Y15 hold broadcast A values.

#define K256_STEP(AOFF, BOFF) \
	VMOVUPS      BOFF(DI), Y12;     \
	VMOVUPS      (BOFF+32)(DI), Y13; \
	VBROADCASTSS (AOFF+0)(SI), Y14;  \
	VBROADCASTSS (AOFF+4)(SI), Y15;  \
	VFMADD231PS  Y14, Y12, Y0;      \
	VFMADD231PS  Y14, Y13, Y1;      \
	VFMADD231PS  Y15, Y12, Y2;      \
	VFMADD231PS  Y15, Y13, Y3;      \
	VBROADCASTSS (AOFF+8)(SI), Y14;  \
	VBROADCASTSS (AOFF+12)(SI), Y15; \
	VFMADD231PS  Y14, Y12, Y4;      \
	VFMADD231PS  Y14, Y13, Y5;      \
	VFMADD231PS  Y15, Y12, Y6;      \
	VFMADD231PS  Y15, Y13, Y7;      \
	VBROADCASTSS (AOFF+16)(SI), Y14; \
	VBROADCASTSS (AOFF+20)(SI), Y15; \
	VFMADD231PS  Y14, Y12, Y8;      \
	VFMADD231PS  Y14, Y13, Y9;      \
	VFMADD231PS  Y15, Y12, Y10;     \
	VFMADD231PS  Y15, Y13, Y11

// Store row pair (YA, YB) to (DX) scaled by alpha (Y14), adding beta*C (Y15).
#define K256_STORE_BETA(YA, YB) \
	VMULPS      Y14, YA, YA;     \
	VMULPS      Y14, YB, YB;     \
	VFMADD231PS (DX), Y15, YA;   \
	VFMADD231PS 32(DX), Y15, YB; \
	VMOVUPS     YA, (DX);        \
	VMOVUPS     YB, 32(DX);      \
	ADDQ        R8, DX

#define K256_STORE(YA, YB) \
	VMULPS  Y14, YA, YA; \
	VMULPS  Y14, YB, YB; \
	VMOVUPS YA, (DX);    \
	VMOVUPS YB, 32(DX);  \
	ADDQ    R8, DX

// func kern6x16AVX2(k int, a, b, c *float32, ldc int, alpha, beta float32)
TEXT ·kern6x16AVX2(SB), NOSPLIT, $0-48
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
	SHLQ $2, R8

	MOVQ       DX, R9
	PREFETCHT0 (R9)
	ADDQ       R8, R9
	PREFETCHT0 (R9)
	ADDQ       R8, R9
	PREFETCHT0 (R9)
	ADDQ       R8, R9
	PREFETCHT0 (R9)
	ADDQ       R8, R9
	PREFETCHT0 (R9)
	ADDQ       R8, R9
	PREFETCHT0 (R9)

	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11

	CMPQ CX, $4
	JLT  k256tail

k256loop4:
	PREFETCH_A
	K256_STEP(0, 0)
	K256_STEP(24, 64)
	K256_STEP(48, 128)
	K256_STEP(72, 192)
	ADDQ $96, SI
	ADDQ $256, DI
	SUBQ $4, CX
	CMPQ CX, $4
	JGE  k256loop4

k256tail:
	TESTQ CX, CX
	JEQ   k256done

k256loop1:
	K256_STEP(0, 0)
	ADDQ $24, SI
	ADDQ $64, DI
	DECQ CX
	JNE  k256loop1

k256done:
	VBROADCASTSS alpha+40(FP), Y14
	MOVL         beta+44(FP), AX
	ANDL         $0x7fffffff, AX
	JEQ          k256nobeta
	VBROADCASTSS beta+44(FP), Y15
	K256_STORE_BETA(Y0, Y1)
	K256_STORE_BETA(Y2, Y3)
	K256_STORE_BETA(Y4, Y5)
	K256_STORE_BETA(Y6, Y7)
	K256_STORE_BETA(Y8, Y9)
	K256_STORE_BETA(Y10, Y11)
	VZEROUPPER
	RET

k256nobeta:
	K256_STORE(Y0, Y1)
	K256_STORE(Y2, Y3)
	K256_STORE(Y4, Y5)
	K256_STORE(Y6, Y7)
	K256_STORE(Y8, Y9)
	K256_STORE(Y10, Y11)
	VZEROUPPER
	RET

// ---------------------------------------------------------------------------
// AVX-512, half width: the first 16 columns of an 8×32 tile, 8 zmm
// accumulators (row r in Zr), B read from the same 32-wide packed panels.

#define K816_STEP(AOFF, BOFF) \
	VMOVUPS      BOFF(DI), Z16;      \
	VBROADCASTSS (AOFF+0)(SI), Z18;  \
	VBROADCASTSS (AOFF+4)(SI), Z19;  \
	VBROADCASTSS (AOFF+8)(SI), Z20;  \
	VBROADCASTSS (AOFF+12)(SI), Z21; \
	VFMADD231PS  Z18, Z16, Z0;       \
	VFMADD231PS  Z19, Z16, Z1;       \
	VFMADD231PS  Z20, Z16, Z2;       \
	VFMADD231PS  Z21, Z16, Z3;       \
	VBROADCASTSS (AOFF+16)(SI), Z22; \
	VBROADCASTSS (AOFF+20)(SI), Z23; \
	VBROADCASTSS (AOFF+24)(SI), Z24; \
	VBROADCASTSS (AOFF+28)(SI), Z25; \
	VFMADD231PS  Z22, Z16, Z4;       \
	VFMADD231PS  Z23, Z16, Z5;       \
	VFMADD231PS  Z24, Z16, Z6;       \
	VFMADD231PS  Z25, Z16, Z7

// K816_STORE_EPM(_BETA) store row ZA as K832_STORE_EPM(_BETA) store a
// row's first 16 columns.
#define K816_EP(ZA, BOFF) \
	VBROADCASTSS BOFF(BX), Z28; \
	VADDPS       Z28, ZA, ZA;   \
	VMAXPS       ZA, Z29, ZA;   \
	VMINPS       ZA, Z30, ZA

#define K816_STORE_EPM_BETA(ZA, BOFF) \
	VMULPS      Z26, ZA, ZA;   \
	VMOVUPS.Z   (DX), K1, Z31; \
	VFMADD231PS Z31, Z27, ZA;  \
	K816_EP(ZA, BOFF);         \
	VMOVUPS     ZA, K1, (DX);  \
	ADDQ        R8, DX

#define K816_STORE_EPM(ZA, BOFF) \
	VMULPS  Z26, ZA, ZA;  \
	K816_EP(ZA, BOFF);    \
	VMOVUPS ZA, K1, (DX); \
	ADDQ    R8, DX

// func kern8x16AVX512EpMask(k int, a, b, c *float32, ldc int, alpha, beta float32, bias *float32, lo, hi float32, cols int)
// kern8x32AVX512EpMask for a tile whose first cols (1 to 16) columns lie
// in C: half the multiplications, for the narrow last panel of a product
// (a 14×14 map's 196 columns end in a panel of 4).
TEXT ·kern8x16AVX512EpMask(SB), NOSPLIT, $0-72
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
	SHLQ $2, R8
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	VXORPS Z4, Z4, Z4
	VXORPS Z5, Z5, Z5
	VXORPS Z6, Z6, Z6
	VXORPS Z7, Z7, Z7
	KSTEPS(K816_STEP, k816loop4, k816tail, k816loop1, k816done)

k816done:
	KMASK_EP_ARGS
	JEQ m816nobeta
	K816_STORE_EPM_BETA(Z0, 0)
	K816_STORE_EPM_BETA(Z1, 4)
	K816_STORE_EPM_BETA(Z2, 8)
	K816_STORE_EPM_BETA(Z3, 12)
	K816_STORE_EPM_BETA(Z4, 16)
	K816_STORE_EPM_BETA(Z5, 20)
	K816_STORE_EPM_BETA(Z6, 24)
	K816_STORE_EPM_BETA(Z7, 28)
	VZEROUPPER
	RET

m816nobeta:
	K816_STORE_EPM(Z0, 0)
	K816_STORE_EPM(Z1, 4)
	K816_STORE_EPM(Z2, 8)
	K816_STORE_EPM(Z3, 12)
	K816_STORE_EPM(Z4, 16)
	K816_STORE_EPM(Z5, 20)
	K816_STORE_EPM(Z6, 24)
	K816_STORE_EPM(Z7, 28)
	VZEROUPPER
	RET

// ---------------------------------------------------------------------------
// AVX-512 (with VL), three quarters width: the first 24 columns of an 8×32
// tile, row r in Zr (columns 0-15) and Y(8+r) (16-23), B read from the
// same 32-wide packed panels.

#define K824_STEP(AOFF, BOFF) \
	VMOVUPS      BOFF(DI), Z16;      \
	VMOVUPS      (BOFF+64)(DI), Y17; \
	VBROADCASTSS (AOFF+0)(SI), Z18;  \
	VBROADCASTSS (AOFF+4)(SI), Z19;  \
	VBROADCASTSS (AOFF+8)(SI), Z20;  \
	VBROADCASTSS (AOFF+12)(SI), Z21; \
	VFMADD231PS  Z18, Z16, Z0;       \
	VFMADD231PS  Y18, Y17, Y8;       \
	VFMADD231PS  Z19, Z16, Z1;       \
	VFMADD231PS  Y19, Y17, Y9;       \
	VFMADD231PS  Z20, Z16, Z2;       \
	VFMADD231PS  Y20, Y17, Y10;      \
	VFMADD231PS  Z21, Z16, Z3;       \
	VFMADD231PS  Y21, Y17, Y11;      \
	VBROADCASTSS (AOFF+16)(SI), Z22; \
	VBROADCASTSS (AOFF+20)(SI), Z23; \
	VBROADCASTSS (AOFF+24)(SI), Z24; \
	VBROADCASTSS (AOFF+28)(SI), Z25; \
	VFMADD231PS  Z22, Z16, Z4;       \
	VFMADD231PS  Y22, Y17, Y12;      \
	VFMADD231PS  Z23, Z16, Z5;       \
	VFMADD231PS  Y23, Y17, Y13;      \
	VFMADD231PS  Z24, Z16, Z6;       \
	VFMADD231PS  Y24, Y17, Y14;      \
	VFMADD231PS  Z25, Z16, Z7;       \
	VFMADD231PS  Y25, Y17, Y15

// K824_STORE_EPM(_BETA) store row (ZA, YB) as K832_STORE_EPM(_BETA) store
// a row's first 24 columns (K1: 0-15, K2: 16-23).
#define K824_EP(ZA, YB, BOFF) \
	VBROADCASTSS BOFF(BX), Z28; \
	VADDPS       Z28, ZA, ZA;   \
	VADDPS       Y28, YB, YB;   \
	VMAXPS       ZA, Z29, ZA;   \
	VMAXPS       YB, Y29, YB;   \
	VMINPS       ZA, Z30, ZA;   \
	VMINPS       YB, Y30, YB

#define K824_STORE_EPM_BETA(ZA, YB, BOFF) \
	VMULPS      Z26, ZA, ZA;     \
	VMULPS      Y26, YB, YB;     \
	VMOVUPS.Z   (DX), K1, Z31;   \
	VFMADD231PS Z31, Z27, ZA;    \
	VMOVUPS.Z   64(DX), K2, Y31; \
	VFMADD231PS Y31, Y27, YB;    \
	K824_EP(ZA, YB, BOFF);       \
	VMOVUPS     ZA, K1, (DX);    \
	VMOVUPS     YB, K2, 64(DX);  \
	ADDQ        R8, DX

#define K824_STORE_EPM(ZA, YB, BOFF) \
	VMULPS  Z26, ZA, ZA;    \
	VMULPS  Y26, YB, YB;    \
	K824_EP(ZA, YB, BOFF);  \
	VMOVUPS ZA, K1, (DX);   \
	VMOVUPS YB, K2, 64(DX); \
	ADDQ    R8, DX

// func kern8x24AVX512EpMask(k int, a, b, c *float32, ldc int, alpha, beta float32, bias *float32, lo, hi float32, cols int)
// kern8x32AVX512EpMask for a tile whose first cols (17 to 24) columns lie
// in C: three quarters of the multiplications, for the last panel of a
// 7×7 map's 49 columns (17 wide).
TEXT ·kern8x24AVX512EpMask(SB), NOSPLIT, $0-72
	MOVQ   k+0(FP), CX
	MOVQ   a+8(FP), SI
	MOVQ   b+16(FP), DI
	MOVQ   c+24(FP), DX
	MOVQ   ldc+32(FP), R8
	SHLQ   $2, R8
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	VXORPS Z4, Z4, Z4
	VXORPS Z5, Z5, Z5
	VXORPS Z6, Z6, Z6
	VXORPS Z7, Z7, Z7
	VXORPS Z8, Z8, Z8
	VXORPS Z9, Z9, Z9
	VXORPS Z10, Z10, Z10
	VXORPS Z11, Z11, Z11
	VXORPS Z12, Z12, Z12
	VXORPS Z13, Z13, Z13
	VXORPS Z14, Z14, Z14
	VXORPS Z15, Z15, Z15
	KSTEPS(K824_STEP, k824loop4, k824tail, k824loop1, k824done)

k824done:
	KMASK_EP_ARGS
	JEQ m824nobeta
	K824_STORE_EPM_BETA(Z0, Y8, 0)
	K824_STORE_EPM_BETA(Z1, Y9, 4)
	K824_STORE_EPM_BETA(Z2, Y10, 8)
	K824_STORE_EPM_BETA(Z3, Y11, 12)
	K824_STORE_EPM_BETA(Z4, Y12, 16)
	K824_STORE_EPM_BETA(Z5, Y13, 20)
	K824_STORE_EPM_BETA(Z6, Y14, 24)
	K824_STORE_EPM_BETA(Z7, Y15, 28)
	VZEROUPPER
	RET

m824nobeta:
	K824_STORE_EPM(Z0, Y8, 0)
	K824_STORE_EPM(Z1, Y9, 4)
	K824_STORE_EPM(Z2, Y10, 8)
	K824_STORE_EPM(Z3, Y11, 12)
	K824_STORE_EPM(Z4, Y12, 16)
	K824_STORE_EPM(Z5, Y13, 20)
	K824_STORE_EPM(Z6, Y14, 24)
	K824_STORE_EPM(Z7, Y15, 28)
	VZEROUPPER
	RET
