//go:build !purego

#include "textflag.h"

// ---------------------------------------------------------------------------
// kernAVX2: 4×16 int32 tile, eight ymm accumulators (Y0..Y7), row r in
// Y(2r) (columns 0-7) and Y(2r+1) (columns 8-15). Per pair of the inner
// dimension, Y8 and Y9 hold B's 16 columns (two int16s each) and Y10, Y11
// a broadcast int16 pair of A; VPMADDWD multiplies the pairs and adds each
// pair's two products into an int32 lane. The Go twin is kernGo.

#define QSTEP(AOFF, BOFF) \
	VMOVDQU      BOFF(DI), Y8;       \
	VMOVDQU      (BOFF+32)(DI), Y9;  \
	VPBROADCASTD (AOFF+0)(SI), Y10;  \
	VPBROADCASTD (AOFF+4)(SI), Y11;  \
	VPMADDWD     Y8, Y10, Y12;       \
	VPMADDWD     Y9, Y10, Y13;       \
	VPMADDWD     Y8, Y11, Y14;       \
	VPMADDWD     Y9, Y11, Y15;       \
	VPADDD       Y12, Y0, Y0;        \
	VPADDD       Y13, Y1, Y1;        \
	VPADDD       Y14, Y2, Y2;        \
	VPADDD       Y15, Y3, Y3;        \
	VPBROADCASTD (AOFF+8)(SI), Y10;  \
	VPBROADCASTD (AOFF+12)(SI), Y11; \
	VPMADDWD     Y8, Y10, Y12;       \
	VPMADDWD     Y9, Y10, Y13;       \
	VPMADDWD     Y8, Y11, Y14;       \
	VPMADDWD     Y9, Y11, Y15;       \
	VPADDD       Y12, Y4, Y4;        \
	VPADDD       Y13, Y5, Y5;        \
	VPADDD       Y14, Y6, Y6;        \
	VPADDD       Y15, Y7, Y7

// func kernAVX2(kp int, a *int16, b *uint32, c *int32, ldc int)
TEXT ·kernAVX2(SB), NOSPLIT, $0-40
	MOVQ kp+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
	SHLQ $2, R8

	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	VPXOR Y4, Y4, Y4
	VPXOR Y5, Y5, Y5
	VPXOR Y6, Y6, Y6
	VPXOR Y7, Y7, Y7

	CMPQ CX, $2
	JLT  qtail

qloop2:
	QSTEP(0, 0)
	QSTEP(16, 64)
	ADDQ $32, SI
	ADDQ $128, DI
	SUBQ $2, CX
	CMPQ CX, $2
	JGE  qloop2

qtail:
	TESTQ CX, CX
	JEQ   qstore
	QSTEP(0, 0)

qstore:
	VMOVDQU Y0, (DX)
	VMOVDQU Y1, 32(DX)
	ADDQ    R8, DX
	VMOVDQU Y2, (DX)
	VMOVDQU Y3, 32(DX)
	ADDQ    R8, DX
	VMOVDQU Y4, (DX)
	VMOVDQU Y5, 32(DX)
	ADDQ    R8, DX
	VMOVDQU Y6, (DX)
	VMOVDQU Y7, 32(DX)
	VZEROUPPER
	RET

// ---------------------------------------------------------------------------
// Quantized outputs, eight at a time: Y0 holds eight float32 values v;
// clamp them to [lo, hi] (Y13, Y14; VMAXPS returns its first Go operand
// where v is NaN, so NaN becomes lo), round half to even (VCVTPS2DQ under
// Go's default MXCSR), add the zero point (Y15) and widen to int64.

#define QOUT \
	VMAXPS       Y13, Y0, Y0; \
	VMINPS       Y14, Y0, Y0; \
	VCVTPS2DQ    Y0, Y0;      \
	VPADDD       Y15, Y0, Y0; \
	VEXTRACTI128 $1, Y0, X1;  \
	VPMOVSXDQ    X0, Y0;      \
	VPMOVSXDQ    X1, Y1;      \
	VMOVDQU      Y0, (DI);    \
	VMOVDQU      Y1, 32(DI)

// func requantAVX2(dst *int64, src *int32, n int, bias int32, scale, lo, hi float32, zp int32)
TEXT ·requantAVX2(SB), NOSPLIT, $0-44
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         n+16(FP), CX
	MOVL         bias+24(FP), AX
	MOVD         AX, X11
	VPBROADCASTD X11, Y11
	VBROADCASTSS scale+28(FP), Y12
	VBROADCASTSS lo+32(FP), Y13
	VBROADCASTSS hi+36(FP), Y14
	MOVL         zp+40(FP), AX
	MOVD         AX, X15
	VPBROADCASTD X15, Y15

requantloop:
	VMOVDQU   (SI), Y0
	VPADDD    Y11, Y0, Y0
	VCVTDQ2PS Y0, Y0
	VMULPS    Y12, Y0, Y0
	QOUT
	ADDQ      $32, SI
	ADDQ      $64, DI
	SUBQ      $8, CX
	JNE       requantloop
	VZEROUPPER
	RET

// func quantizeAVX2(dst *int64, src *float32, n int, scale, lo, hi float32, zp int32)
TEXT ·quantizeAVX2(SB), NOSPLIT, $0-40
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS scale+24(FP), Y12
	VBROADCASTSS lo+28(FP), Y13
	VBROADCASTSS hi+32(FP), Y14
	MOVL         zp+36(FP), AX
	MOVD         AX, X15
	VPBROADCASTD X15, Y15

quantizeloop:
	VMOVUPS (SI), Y0
	VDIVPS  Y12, Y0, Y0
	QOUT
	ADDQ    $32, SI
	ADDQ    $64, DI
	SUBQ    $8, CX
	JNE     quantizeloop
	VZEROUPPER
	RET

// func dequantizeAVX2(dst *float32, src *int64, n int, zp int64, scale float32)
//
// Eight int64s at a time: subtract the zero point (VPSUBQ), keep each
// one's low 32 bits in order (VSHUFPS takes dwords 0 and 2 of each 128-bit
// lane of both registers, VPERMQ puts the four pairs back in order),
// convert to float32 and scale.
TEXT ·dequantizeAVX2(SB), NOSPLIT, $0-36
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         n+16(FP), CX
	MOVQ         zp+24(FP), AX
	MOVQ         AX, X15
	VPBROADCASTQ X15, Y15
	VBROADCASTSS scale+32(FP), Y14

dequantizeloop:
	VMOVDQU   (SI), Y0
	VMOVDQU   32(SI), Y1
	VPSUBQ    Y15, Y0, Y0
	VPSUBQ    Y15, Y1, Y1
	VSHUFPS   $0x88, Y1, Y0, Y2
	VPERMQ    $0xD8, Y2, Y2
	VCVTDQ2PS Y2, Y2
	VMULPS    Y14, Y2, Y2
	VMOVUPS   Y2, (DI)
	ADDQ      $64, SI
	ADDQ      $32, DI
	SUBQ      $8, CX
	JNE       dequantizeloop
	VZEROUPPER
	RET
