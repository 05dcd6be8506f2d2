//go:build !purego

#include "textflag.h"

// func maxPixels(dst, src *float32, offs *int, taps, n, stride int)
TEXT ·maxPixels(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ offs+16(FP), R8
	MOVQ taps+24(FP), R9
	MOVQ n+32(FP), CX
	MOVQ stride+40(FP), R10
	SHLQ $6, R10
maxpixel:
	MOVQ (R8), AX
	VMOVUPS (SI)(AX*4), Z0
	MOVQ $1, BX
maxtap:
	CMPQ BX, R9
	JGE maxstore
	MOVQ (R8)(BX*8), AX
	VMAXPS (SI)(AX*4), Z0, Z0
	INCQ BX
	JMP maxtap
maxstore:
	VMOVUPS Z0, (DI)
	ADDQ $64, DI
	ADDQ R10, SI
	DECQ CX
	JNZ maxpixel
	VZEROUPPER
	RET

// func sumPixels(dst, src *float32, offs *int, taps, n, stride int, scale float32)
TEXT ·sumPixels(SB), NOSPLIT, $0-52
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ offs+16(FP), R8
	MOVQ taps+24(FP), R9
	MOVQ n+32(FP), CX
	MOVQ stride+40(FP), R10
	SHLQ $6, R10
	VBROADCASTSS scale+48(FP), Z1
sumpixel:
	MOVQ (R8), AX
	VMOVUPS (SI)(AX*4), Z0
	MOVQ $1, BX
sumtap:
	CMPQ BX, R9
	JGE sumstore
	MOVQ (R8)(BX*8), AX
	VADDPS (SI)(AX*4), Z0, Z0
	INCQ BX
	JMP sumtap
sumstore:
	VMULPS Z1, Z0, Z0
	VMOVUPS Z0, (DI)
	ADDQ $64, DI
	ADDQ R10, SI
	DECQ CX
	JNZ sumpixel
	VZEROUPPER
	RET

// func affinePixels(dst, src *float32, n int, scale, shift *float32, lo, hi float32)
TEXT ·affinePixels(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ scale+24(FP), AX
	MOVQ shift+32(FP), BX
	VMOVUPS (AX), Z1
	VMOVUPS (BX), Z2
	VBROADCASTSS lo+40(FP), Z3
	VBROADCASTSS hi+44(FP), Z4
affine:
	VMOVUPS (SI), Z0
	VFMADD213PS Z2, Z1, Z0
	VMAXPS Z3, Z0, Z0
	VMINPS Z4, Z0, Z0
	VMOVUPS Z0, (DI)
	ADDQ $64, DI
	ADDQ $64, SI
	DECQ CX
	JNZ affine
	VZEROUPPER
	RET
