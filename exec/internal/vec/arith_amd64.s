//go:build !purego

#include "textflag.h"

// Each kernel takes 16 elements a round while it can, then 8; n is a
// positive multiple of 8. In Go's operand order VSUBPS m, Y0, Y0 is
// Y0 − m.

// ROWS(name, OP): func name(dst, a, b *float32, n int), dst = a OP b.
#define ROWS(name, OP) \
TEXT name(SB), NOSPLIT, $0-32; \
	MOVQ dst+0(FP), DI; \
	MOVQ a+8(FP), SI; \
	MOVQ b+16(FP), DX; \
	MOVQ n+24(FP), CX; \
	SHRQ $3, CX; \
loop16: \
	CMPQ CX, $2; \
	JLT  tail; \
	VMOVUPS (SI), Y0; \
	VMOVUPS 32(SI), Y1; \
	OP   (DX), Y0, Y0; \
	OP   32(DX), Y1, Y1; \
	VMOVUPS Y0, (DI); \
	VMOVUPS Y1, 32(DI); \
	ADDQ $64, SI; \
	ADDQ $64, DX; \
	ADDQ $64, DI; \
	SUBQ $2, CX; \
	JMP  loop16; \
tail: \
	TESTQ CX, CX; \
	JZ   done; \
	VMOVUPS (SI), Y0; \
	OP   (DX), Y0, Y0; \
	VMOVUPS Y0, (DI); \
done: \
	VZEROUPPER; \
	RET

// WITHSCALAR(name, OP, FIRST, SECOND): func name(dst, x *float32, n int,
// s float32), dst = FIRST OP SECOND with x's block in Y0 and s in Y15.
#define WITHSCALAR(name, OP, FIRST, SECOND) \
TEXT name(SB), NOSPLIT, $0-28; \
	MOVQ dst+0(FP), DI; \
	MOVQ x+8(FP), SI; \
	MOVQ n+16(FP), CX; \
	VBROADCASTSS s+24(FP), Y15; \
	SHRQ $3, CX; \
loop: \
	VMOVUPS (SI), Y0; \
	OP   SECOND, FIRST, Y0; \
	VMOVUPS Y0, (DI); \
	ADDQ $32, SI; \
	ADDQ $32, DI; \
	DECQ CX; \
	JNZ  loop; \
	VZEROUPPER; \
	RET

ROWS(·addAVX, VADDPS)
ROWS(·subAVX, VSUBPS)
ROWS(·divAVX, VDIVPS)
WITHSCALAR(·addScalarAVX, VADDPS, Y0, Y15)
WITHSCALAR(·divScalarAVX, VDIVPS, Y0, Y15)
WITHSCALAR(·scalarSubAVX, VSUBPS, Y15, Y0)
WITHSCALAR(·scalarDivAVX, VDIVPS, Y15, Y0)

// func scaleShiftAVX(dst, src *float32, n int, m, a float32)
// dst = src·m + a, multiply and add rounded separately; n a positive
// multiple of 8.
TEXT ·scaleShiftAVX(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS m+24(FP), Y14
	VBROADCASTSS a+28(FP), Y15
	SHRQ $3, CX

loop:
	VMULPS  (SI), Y14, Y0
	VADDPS  Y15, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     loop
	VZEROUPPER
	RET
