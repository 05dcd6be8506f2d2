//go:build !purego

#include "textflag.h"

// func copyRowsAVX(dst *float32, ldd int, src *float32, lds, rows, cols int)
// cols >= 8: 32 elements a round while they last, then 8, the last block
// moved back to end at cols (overlapping the one before: the same
// elements stored twice).
TEXT ·copyRowsAVX(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ ldd+8(FP), R8
	SHLQ $2, R8
	MOVQ src+16(FP), SI
	MOVQ lds+24(FP), R9
	SHLQ $2, R9
	MOVQ rows+32(FP), R10
	MOVQ cols+40(FP), R11

crow:
	XORQ CX, CX

c32:
	LEAQ 32(CX), DX
	CMPQ DX, R11
	JGT  c8
	VMOVUPS (SI)(CX*4), Y0
	VMOVUPS 32(SI)(CX*4), Y1
	VMOVUPS 64(SI)(CX*4), Y2
	VMOVUPS 96(SI)(CX*4), Y3
	VMOVUPS Y0, (DI)(CX*4)
	VMOVUPS Y1, 32(DI)(CX*4)
	VMOVUPS Y2, 64(DI)(CX*4)
	VMOVUPS Y3, 96(DI)(CX*4)
	MOVQ DX, CX
	JMP  c32

c8:
	LEAQ 8(CX), DX
	CMPQ DX, R11
	JLE  cblock
	CMPQ CX, R11
	JGE  cnext
	LEAQ -8(R11), CX
	LEAQ 8(CX), DX

cblock:
	VMOVUPS (SI)(CX*4), Y0
	VMOVUPS Y0, (DI)(CX*4)
	MOVQ DX, CX
	JMP  c8

cnext:
	ADDQ R8, DI
	ADDQ R9, SI
	DECQ R10
	JNZ  crow
	VZEROUPPER
	RET
