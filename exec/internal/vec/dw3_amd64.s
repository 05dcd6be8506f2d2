//go:build !purego

#include "textflag.h"

// func dw3x3AVX2(out, r0, r1, r2 *float32, n int, w *[9]float32, bias float32)
// out[i] = bias + Σ_k w[k]·r0[i+k] + Σ_k w[3+k]·r1[i+k] + Σ_k w[6+k]·r2[i+k]
// for i < n, n a positive multiple of 16; each row sum is its own chain of
// fused multiply-adds, so that six chains run side by side.
TEXT ·dw3x3AVX2(SB), NOSPLIT, $0-52
	MOVQ out+0(FP), DI
	MOVQ r0+8(FP), R8
	MOVQ r1+16(FP), R9
	MOVQ r2+24(FP), R10
	MOVQ n+32(FP), CX
	MOVQ w+40(FP), AX
	VBROADCASTSS 0(AX), Y0
	VBROADCASTSS 4(AX), Y1
	VBROADCASTSS 8(AX), Y2
	VBROADCASTSS 12(AX), Y3
	VBROADCASTSS 16(AX), Y4
	VBROADCASTSS 20(AX), Y5
	VBROADCASTSS 24(AX), Y6
	VBROADCASTSS 28(AX), Y7
	VBROADCASTSS 32(AX), Y8
	VBROADCASTSS bias+48(FP), Y9
	SHRQ $4, CX

loop:
	VMULPS      (R8), Y0, Y10
	VMULPS      32(R8), Y0, Y13
	VMULPS      (R9), Y3, Y11
	VMULPS      32(R9), Y3, Y14
	VMULPS      (R10), Y6, Y12
	VMULPS      32(R10), Y6, Y15
	VFMADD231PS 4(R8), Y1, Y10
	VFMADD231PS 36(R8), Y1, Y13
	VFMADD231PS 4(R9), Y4, Y11
	VFMADD231PS 36(R9), Y4, Y14
	VFMADD231PS 4(R10), Y7, Y12
	VFMADD231PS 36(R10), Y7, Y15
	VFMADD231PS 8(R8), Y2, Y10
	VFMADD231PS 40(R8), Y2, Y13
	VFMADD231PS 8(R9), Y5, Y11
	VFMADD231PS 40(R9), Y5, Y14
	VFMADD231PS 8(R10), Y8, Y12
	VFMADD231PS 40(R10), Y8, Y15
	VADDPS      Y9, Y10, Y10
	VADDPS      Y9, Y13, Y13
	VADDPS      Y11, Y10, Y10
	VADDPS      Y14, Y13, Y13
	VADDPS      Y12, Y10, Y10
	VADDPS      Y15, Y13, Y13
	VMOVUPS     Y10, (DI)
	VMOVUPS     Y13, 32(DI)
	ADDQ        $64, R8
	ADDQ        $64, R9
	ADDQ        $64, R10
	ADDQ        $64, DI
	DECQ        CX
	JNZ         loop
	VZEROUPPER
	RET
