//go:build !purego

#include "textflag.h"

// convWindowsAVX512 (ConvWindows on AVX-512): for r < rows, the outputs
// of row r in blocks of 64 columns (four zmm accumulators, Z0-Z3) over
// its first full columns, then one block of tail accumulators (1 to 4,
// the last one masked by K1) for the rest. Each tap is one broadcast
// weight and one fused multiply-add per accumulator, in tap order as in
// the AVX2 kernel. At step 2 an accumulator's sixteen inputs are the even
// elements of thirty-two: two loads and a VPERMT2PS by evenIdx; in the
// tail the last accumulator's two loads are masked by K2 and K3, so that
// nothing past the last tap's element is read there.
//
// Registers: DI dst, R8 ldd and R9 lds in bytes, SI src, R10 rows left,
// R11 full, R12 off, R13 taps, R15 w, AX step, CX the block's first
// column, BX its first window, R14 the tap, DX scratch; Z15 the bias,
// Z14 the tap's weight, Z13 evenIdx, Z8/Z9 inputs.

DATA evenIdx<>+0(SB)/4, $0
DATA evenIdx<>+4(SB)/4, $2
DATA evenIdx<>+8(SB)/4, $4
DATA evenIdx<>+12(SB)/4, $6
DATA evenIdx<>+16(SB)/4, $8
DATA evenIdx<>+20(SB)/4, $10
DATA evenIdx<>+24(SB)/4, $12
DATA evenIdx<>+28(SB)/4, $14
DATA evenIdx<>+32(SB)/4, $16
DATA evenIdx<>+36(SB)/4, $18
DATA evenIdx<>+40(SB)/4, $20
DATA evenIdx<>+44(SB)/4, $22
DATA evenIdx<>+48(SB)/4, $24
DATA evenIdx<>+52(SB)/4, $26
DATA evenIdx<>+56(SB)/4, $28
DATA evenIdx<>+60(SB)/4, $30
GLOBL evenIdx<>(SB), RODATA|NOPTR, $64

// S1(d, Z) / S2(d, Z): add the tap's weighted inputs for the sixteen
// outputs d bytes past the block's start to accumulator A, at step 1 and
// 2 (the inputs then lie 2d bytes on). S1M and S2M: the same, masked.
#define S1(d, A) VFMADD231PS d(DX), Z14, A
#define S1M(d, A) VMOVUPS.Z d(DX), K1, Z8; VFMADD231PS Z8, Z14, A
#define S2(d, A) VMOVUPS (2*d)(DX), Z8; VPERMT2PS (2*d+64)(DX), Z13, Z8; VFMADD231PS Z8, Z14, A
#define S2M(d, A) VMOVUPS.Z (2*d)(DX), K2, Z8; VMOVUPS.Z (2*d+64)(DX), K3, Z9; VPERMT2PS Z9, Z13, Z8; VFMADD231PS Z8, Z14, A

// TAPS(BODY, label): the accumulators start at the bias, then BODY runs
// for each tap with DX at the tap's inputs for the block at BX.
#define TAPS(BODY, label) \
	VMOVAPS Z15, Z0; VMOVAPS Z15, Z1; VMOVAPS Z15, Z2; VMOVAPS Z15, Z3; \
	XORQ R14, R14; \
label: \
	VBROADCASTSS (R15)(R14*4), Z14; \
	MOVQ (R12)(R14*8), DX; LEAQ (BX)(DX*4), DX; \
	BODY; \
	INCQ R14; CMPQ R14, R13; JLT label

#define FULL1 S1(0, Z0); S1(64, Z1); S1(128, Z2); S1(192, Z3)
#define FULL2 S2(0, Z0); S2(64, Z1); S2(128, Z2); S2(192, Z3)
#define T1S1 S1M(0, Z0)
#define T2S1 S1(0, Z0); S1M(64, Z1)
#define T3S1 S1(0, Z0); S1(64, Z1); S1M(128, Z2)
#define T4S1 S1(0, Z0); S1(64, Z1); S1(128, Z2); S1M(192, Z3)
#define T1S2 S2M(0, Z0)
#define T2S2 S2(0, Z0); S2M(64, Z1)
#define T3S2 S2(0, Z0); S2(64, Z1); S2M(128, Z2)
#define T4S2 S2(0, Z0); S2(64, Z1); S2(128, Z2); S2M(192, Z3)

#define ST(d, A) VMOVUPS A, d(DI)(CX*4)
#define STM(d, A) VMOVUPS A, K1, d(DI)(CX*4)
#define STT1 STM(0, Z0)
#define STT2 ST(0, Z0); STM(64, Z1)
#define STT3 ST(0, Z0); ST(64, Z1); STM(128, Z2)
#define STT4 ST(0, Z0); ST(64, Z1); ST(128, Z2); STM(192, Z3)

// TAIL(BODY1, BODY2, STORE, labels…): a tail block at step 1 or 2,
// stored, then on to the next row.
#define TAIL(BODY1, BODY2, STORE, l1, l2, l2loop, lst) \
	CMPQ AX, $2; \
	JEQ  l2; \
	TAPS(BODY1, l1); \
	JMP  lst; \
l2: \
	TAPS(BODY2, l2loop); \
lst: \
	STORE; \
	JMP  next

// func convWindowsAVX512(dst *float32, ldd int, src *float32, lds, rows, full int, off *int, w *float32, taps, step int, bias float32, tail int, masks uint64)
TEXT ·convWindowsAVX512(SB), NOSPLIT, $0-104
	MOVQ dst+0(FP), DI
	MOVQ ldd+8(FP), R8
	SHLQ $2, R8
	MOVQ src+16(FP), SI
	MOVQ lds+24(FP), R9
	SHLQ $2, R9
	MOVQ rows+32(FP), R10
	MOVQ full+40(FP), R11
	MOVQ off+48(FP), R12
	MOVQ w+56(FP), R15
	MOVQ taps+64(FP), R13
	MOVQ step+72(FP), AX
	VBROADCASTSS bias+80(FP), Z15
	VMOVDQU32 evenIdx<>(SB), Z13
	MOVQ masks+96(FP), DX
	KMOVW DX, K1
	SHRQ $16, DX
	KMOVW DX, K2
	SHRQ $16, DX
	KMOVW DX, K3

row:
	XORQ CX, CX

block:
	CMPQ CX, R11
	JGE  tail
	MOVQ CX, BX
	IMULQ AX, BX
	LEAQ (SI)(BX*4), BX
	CMPQ AX, $2
	JEQ  block2
	TAPS(FULL1, f1)
	JMP  blockst

block2:
	TAPS(FULL2, f2)

blockst:
	ST(0, Z0)
	ST(64, Z1)
	ST(128, Z2)
	ST(192, Z3)
	ADDQ $64, CX
	JMP  block

tail:
	MOVQ CX, BX
	IMULQ AX, BX
	LEAQ (SI)(BX*4), BX
	MOVQ tail+88(FP), DX
	CMPQ DX, $1
	JLT  next
	JEQ  tail1
	CMPQ DX, $3
	JLT  tail2
	JEQ  tail3
	TAIL(T4S1, T4S2, STT4, t4a, t4b, t4l, t4st)

tail1:
	TAIL(T1S1, T1S2, STT1, t1a, t1b, t1l, t1st)

tail2:
	TAIL(T2S1, T2S2, STT2, t2a, t2b, t2l, t2st)

tail3:
	TAIL(T3S1, T3S2, STT3, t3a, t3b, t3l, t3st)

next:
	ADDQ R8, DI
	ADDQ R9, SI
	DECQ R10
	JNZ  row
	VZEROUPPER
	RET
