//go:build !purego

#include "textflag.h"

// func clampAVX2(dst, src *float32, n int, lo, hi float32)
// n is a positive multiple of 32. VMAXPS/VMINPS return their second
// source (here the data) when either operand is NaN or both are zero,
// which keeps NaNs and matches clampGo.
TEXT ·clampAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS lo+24(FP), Y14
	VBROADCASTSS hi+28(FP), Y15
	SHRQ $5, CX

loop:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	VMAXPS  Y0, Y14, Y0
	VMAXPS  Y1, Y14, Y1
	VMAXPS  Y2, Y14, Y2
	VMAXPS  Y3, Y14, Y3
	VMINPS  Y0, Y15, Y0
	VMINPS  Y1, Y15, Y1
	VMINPS  Y2, Y15, Y2
	VMINPS  Y3, Y15, Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ    $128, SI
	ADDQ    $128, DI
	DECQ    CX
	JNZ     loop
	VZEROUPPER
	RET

// func biasClampAVX2(dst, src *float32, n int, bias, lo, hi float32)
// dst[i] = min(max(src[i]+bias, lo), hi); n a positive multiple of 32.
TEXT ·biasClampAVX2(SB), NOSPLIT, $0-36
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS bias+24(FP), Y13
	VBROADCASTSS lo+28(FP), Y14
	VBROADCASTSS hi+32(FP), Y15
	SHRQ $5, CX

bloop:
	VADDPS  (SI), Y13, Y0
	VADDPS  32(SI), Y13, Y1
	VADDPS  64(SI), Y13, Y2
	VADDPS  96(SI), Y13, Y3
	VMAXPS  Y0, Y14, Y0
	VMAXPS  Y1, Y14, Y1
	VMAXPS  Y2, Y14, Y2
	VMAXPS  Y3, Y14, Y3
	VMINPS  Y0, Y15, Y0
	VMINPS  Y1, Y15, Y1
	VMINPS  Y2, Y15, Y2
	VMINPS  Y3, Y15, Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ    $128, SI
	ADDQ    $128, DI
	DECQ    CX
	JNZ     bloop
	VZEROUPPER
	RET

// func biasClamp8AVX2(dst, src *float32, n int, bias, lo, hi float32)
// biasClampAVX2 for n a positive multiple of 8, one vector at a time: the
// rows of small convolution outputs (7, 14, 28 wide) are shorter than 32.
TEXT ·biasClamp8AVX2(SB), NOSPLIT, $0-36
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS bias+24(FP), Y13
	VBROADCASTSS lo+28(FP), Y14
	VBROADCASTSS hi+32(FP), Y15
	SHRQ $3, CX

loop8:
	VADDPS  (SI), Y13, Y0
	VMAXPS  Y0, Y14, Y0
	VMINPS  Y0, Y15, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     loop8
	VZEROUPPER
	RET

// func axpyAVX2(dst, src *float32, n int, a float32)
// dst[i] += a·src[i]; n a positive multiple of 8, 32 at a time while it can.
TEXT ·axpyAVX2(SB), NOSPLIT, $0-28
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS a+24(FP), Y15

axpy32:
	CMPQ CX, $32
	JLT  axpy8
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	VFMADD231PS (SI), Y15, Y0
	VFMADD231PS 32(SI), Y15, Y1
	VFMADD231PS 64(SI), Y15, Y2
	VFMADD231PS 96(SI), Y15, Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ    $128, SI
	ADDQ    $128, DI
	SUBQ    $32, CX
	JMP     axpy32

axpy8:
	CMPQ CX, $8
	JLT  axpydone
	VMOVUPS (DI), Y0
	VFMADD231PS (SI), Y15, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     axpy8

axpydone:
	VZEROUPPER
	RET
