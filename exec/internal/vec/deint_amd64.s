//go:build !purego

#include "textflag.h"

// func deinterleave2AVX2(even, odd, src *float32, n int)
// 16 floats in, 8 even and 8 odd out per step: VSHUFPS picks the even
// (odd) elements of each 128-bit lane of the two loads, and VPERMPD puts
// the 64-bit pairs back in order.
TEXT ·deinterleave2AVX2(SB), NOSPLIT, $0-32
	MOVQ even+0(FP), DI
	MOVQ odd+8(FP), R8
	MOVQ src+16(FP), SI
	MOVQ n+24(FP), CX
	SHRQ $3, CX

loop:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VSHUFPS $0x88, Y1, Y0, Y2
	VSHUFPS $0xdd, Y1, Y0, Y3
	VPERMPD $0xd8, Y2, Y2
	VPERMPD $0xd8, Y3, Y3
	VMOVUPS Y2, (DI)
	VMOVUPS Y3, (R8)
	ADDQ $64, SI
	ADDQ $32, DI
	ADDQ $32, R8
	DECQ CX
	JNZ  loop
	VZEROUPPER
	RET
