//go:build !purego

#include "textflag.h"

// convWindowsAVX512 and maxWindowsAVX512 (ConvWindows and MaxWindows on
// AVX-512) share one driver (WINDOWS512). For r < rows, the outputs
// of row r in blocks of 64 columns (four zmm accumulators, Z0-Z3) over
// its first full columns, then one block of tail accumulators (1 to 4,
// the last one masked by K1) for the rest. Each tap is one broadcast
// weight and one fused multiply-add per accumulator, in tap order as in
// the AVX2 kernel (the maxima as there: a NaN mask per accumulator, K4-K7,
// ORed in at the end as all ones). At step 2 an accumulator's sixteen inputs are the even
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

// TAPS(BODY, label): the accumulators start at the bias (Z15), then BODY
// runs for each tap with DX at the tap's inputs for the block at BX.
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


// The maxima's bodies: X1/X2 (X1M/X2M masked) fold the tap's inputs into
// accumulator A and its NaN mask K (VMAXPS drops a NaN in the
// accumulator; the mask keeps it).
#define XMAX(A, K) VMAXPS Z8, A, A; VCMPPS $3, Z8, Z8, K0; KORW K0, K, K
#define X1(d, A, K) VMOVUPS d(DX), Z8; XMAX(A, K)
#define X1M(d, A, K) VMOVUPS.Z d(DX), K1, Z8; XMAX(A, K)
#define X2(d, A, K) VMOVUPS (2*d)(DX), Z8; VPERMT2PS (2*d+64)(DX), Z13, Z8; XMAX(A, K)
#define X2M(d, A, K) VMOVUPS.Z (2*d)(DX), K2, Z8; VMOVUPS.Z (2*d+64)(DX), K3, Z9; VPERMT2PS Z9, Z13, Z8; XMAX(A, K)

// MTAPS(BODY, label): TAPS for the maxima: from −Inf (Z15) and empty
// NaN masks, then the masks' lanes set to all ones (Z12).
#define MTAPS(BODY, label) \
	VMOVAPS Z15, Z0; VMOVAPS Z15, Z1; VMOVAPS Z15, Z2; VMOVAPS Z15, Z3; \
	KXORW K4, K4, K4; KXORW K5, K5, K5; KXORW K6, K6, K6; KXORW K7, K7, K7; \
	XORQ R14, R14; \
label: \
	MOVQ (R12)(R14*8), DX; LEAQ (BX)(DX*4), DX; \
	BODY; \
	INCQ R14; CMPQ R14, R13; JLT label; \
	VMOVAPS Z12, K4, Z0; VMOVAPS Z12, K5, Z1; VMOVAPS Z12, K6, Z2; VMOVAPS Z12, K7, Z3

#define XFULL1 X1(0, Z0, K4); X1(64, Z1, K5); X1(128, Z2, K6); X1(192, Z3, K7)
#define XFULL2 X2(0, Z0, K4); X2(64, Z1, K5); X2(128, Z2, K6); X2(192, Z3, K7)
#define XT1S1 X1M(0, Z0, K4)
#define XT2S1 X1(0, Z0, K4); X1M(64, Z1, K5)
#define XT3S1 X1(0, Z0, K4); X1(64, Z1, K5); X1M(128, Z2, K6)
#define XT4S1 X1(0, Z0, K4); X1(64, Z1, K5); X1(128, Z2, K6); X1M(192, Z3, K7)
#define XT1S2 X2M(0, Z0, K4)
#define XT2S2 X2(0, Z0, K4); X2M(64, Z1, K5)
#define XT3S2 X2(0, Z0, K4); X2(64, Z1, K5); X2M(128, Z2, K6)
#define XT4S2 X2(0, Z0, K4); X2(64, Z1, K5); X2(128, Z2, K6); X2M(192, Z3, K7)

// WINDOWS512(TAIL, LOOP, F1, F2, T1S1, T1S2, …, T4S2, labels…): the
// driver, TAIL the tail argument, LOOP (TAPS or MTAPS) running the bodies for the full blocks (F1, F2 at
// steps 1 and 2) and the tails of 1 to 4 accumulators. The common
// arguments are loaded first (W512ARGS, and KMASKS from the masks).
#define W512ARGS \
	MOVQ dst+0(FP), DI; \
	MOVQ ldd+8(FP), R8; \
	SHLQ $2, R8; \
	MOVQ src+16(FP), SI; \
	MOVQ lds+24(FP), R9; \
	SHLQ $2, R9; \
	MOVQ rows+32(FP), R10; \
	MOVQ full+40(FP), R11; \
	MOVQ off+48(FP), R12; \
	VMOVDQU32 evenIdx<>(SB), Z13

// KMASKS: K1, K2 and K3 from the masks argument, in DX.
#define KMASKS \
	KMOVW DX, K1; \
	SHRQ $16, DX; \
	KMOVW DX, K2; \
	SHRQ $16, DX; \
	KMOVW DX, K3

// WTAIL(LOOP, BODY1, BODY2, STORE, labels…): a tail block at step 1 or
// 2, stored, then on to the next row.
#define WTAIL(LOOP, BODY1, BODY2, STORE, l1, l2, l2loop, lst, lnext) \
	CMPQ AX, $2; \
	JEQ  l2; \
	LOOP(BODY1, l1); \
	JMP  lst; \
l2: \
	LOOP(BODY2, l2loop); \
lst: \
	STORE; \
	JMP  lnext

#define WINDOWS512(TAIL, LOOP, F1, F2, T1S1, T1S2, T2S1, T2S2, T3S1, T3S2, T4S1, T4S2, lrow, lblock, lblock2, lf1, lf2, lblockst, ltail, lt1, lt2, lt3, lnext, l1a, l1b, l1l, l1st, l2a, l2b, l2l, l2st, l3a, l3b, l3l, l3st, l4a, l4b, l4l, l4st) \
lrow: \
	XORQ CX, CX; \
lblock: \
	CMPQ CX, R11; \
	JGE  ltail; \
	MOVQ CX, BX; \
	IMULQ AX, BX; \
	LEAQ (SI)(BX*4), BX; \
	CMPQ AX, $2; \
	JEQ  lblock2; \
	LOOP(F1, lf1); \
	JMP  lblockst; \
lblock2: \
	LOOP(F2, lf2); \
lblockst: \
	ST(0, Z0); ST(64, Z1); ST(128, Z2); ST(192, Z3); \
	ADDQ $64, CX; \
	JMP  lblock; \
ltail: \
	MOVQ CX, BX; \
	IMULQ AX, BX; \
	LEAQ (SI)(BX*4), BX; \
	MOVQ TAIL, DX; \
	CMPQ DX, $1; \
	JLT  lnext; \
	JEQ  lt1; \
	CMPQ DX, $3; \
	JLT  lt2; \
	JEQ  lt3; \
	WTAIL(LOOP, T4S1, T4S2, STT4, l4a, l4b, l4l, l4st, lnext); \
lt1: \
	WTAIL(LOOP, T1S1, T1S2, STT1, l1a, l1b, l1l, l1st, lnext); \
lt2: \
	WTAIL(LOOP, T2S1, T2S2, STT2, l2a, l2b, l2l, l2st, lnext); \
lt3: \
	WTAIL(LOOP, T3S1, T3S2, STT3, l3a, l3b, l3l, l3st, lnext); \
lnext: \
	ADDQ R8, DI; \
	ADDQ R9, SI; \
	DECQ R10; \
	JNZ  lrow; \
	VZEROUPPER; \
	RET

// func convWindowsAVX512(dst *float32, ldd int, src *float32, lds, rows, full int, off *int, w *float32, taps, step int, bias float32, tail int, masks uint64)
TEXT ·convWindowsAVX512(SB), NOSPLIT, $0-104
	W512ARGS
	MOVQ masks+96(FP), DX
	KMASKS
	MOVQ w+56(FP), R15
	MOVQ taps+64(FP), R13
	MOVQ step+72(FP), AX
	VBROADCASTSS bias+80(FP), Z15
	WINDOWS512(tail+88(FP), TAPS, FULL1, FULL2, T1S1, T1S2, T2S1, T2S2, T3S1, T3S2, T4S1, T4S2, crow, cblock, cblock2, cf1, cf2, cblockst, ctail, ct1, ct2, ct3, cnext, c1a, c1b, c1l, c1st, c2a, c2b, c2l, c2st, c3a, c3b, c3l, c3st, c4a, c4b, c4l, c4st)

// func maxWindowsAVX512(dst *float32, ldd int, src *float32, lds, rows, full int, off *int, taps, step int, tail int, masks uint64)
TEXT ·maxWindowsAVX512(SB), NOSPLIT, $0-88
	W512ARGS
	MOVQ masks+80(FP), DX
	KMASKS
	MOVQ taps+56(FP), R13
	MOVQ step+64(FP), AX
	MOVL $0xff800000, DX    // -Inf
	VMOVD DX, X15
	VBROADCASTSS X15, Z15
	VPTERNLOGD $0xff, Z12, Z12, Z12    // all ones
	WINDOWS512(tail+72(FP), MTAPS, XFULL1, XFULL2, XT1S1, XT1S2, XT2S1, XT2S2, XT3S1, XT3S2, XT4S1, XT4S2, mrow, mblock, mblock2, mf1, mf2, mblockst, mtail, mt1, mt2, mt3, mnext, m1a, m1b, m1l, m1st, m2a, m2b, m2l, m2st, m3a, m3b, m3l, m3st, m4a, m4b, m4l, m4st)
