//go:build !purego

#include "textflag.h"

// maxWindowsAVX2 and convWindowsAVX2 (MaxWindows, ConvWindows): for
// r < rows and c < cols (cols >= 8), a window's result from the taps
// src[r*lds + step*c + off[t]], step 1 or 2, stored at dst[r*ldd+c]. They
// share one driver (WINDOWS) and differ in the taps' loop. 32 columns a
// round while they last, then 8, the last block moved back to end at
// cols (overlapping the one before it: the same outputs written twice).
// At step 2 a tap's eight inputs are the even elements of sixteen: two
// loads, VSHUFPS picking elements 0 and 2 of each 128-bit half, VPERMPD
// putting the halves in order.
//
// Registers: DI dst, R8 ldd and R9 lds in bytes, SI src, R10 rows left,
// R11 cols, R12 off, R13 taps, AX step, CX the block's first column, BX
// its first window, R14 the tap, DX scratch; Y15 each output's starting
// value (−Inf, or the bias); results in Y0-Y3 (a 32-column block) or Y0.

// LOAD1/LOAD2(disp, Y): the tap's eight inputs of the block disp bytes
// of output columns past DX, at step 1 and 2.
#define LOAD1(disp, Y) VMOVUPS disp(DX), Y
#define LOAD2(disp, Y) VMOVUPS (2*disp)(DX), Y; VSHUFPS $0x88, (2*disp+32)(DX), Y, Y; VPERMPD $0xD8, Y, Y

// TAP: DX = the tap's inputs for the block at BX.
#define TAP MOVQ (R12)(R14*8), DX; LEAQ (BX)(DX*4), DX

// WMAX(Y, ACC, NAN): fold Y into a block's maximum and NaN mask
// (VMAXPS drops a NaN in one operand; the mask, ORed in at the end, is
// all ones, a NaN, where any tap held one).
#define WMAX(Y, ACC, NAN) VMAXPS Y, ACC, ACC; VCMPPS $3, Y, Y, Y; VORPS Y, NAN, NAN

// MAXTAPS32/MAXTAPS8(LOAD): the maxima of 32 or 8 columns.
#define MAXTAPS32(LOAD, label) \
	VMOVAPS Y15, Y0; VMOVAPS Y15, Y1; VMOVAPS Y15, Y2; VMOVAPS Y15, Y3; \
	VXORPS Y4, Y4, Y4; VXORPS Y5, Y5, Y5; VXORPS Y6, Y6, Y6; VXORPS Y7, Y7, Y7; \
	XORQ R14, R14; \
label: \
	TAP; \
	LOAD(0, Y8); LOAD(32, Y9); LOAD(64, Y10); LOAD(96, Y11); \
	WMAX(Y8, Y0, Y4); WMAX(Y9, Y1, Y5); WMAX(Y10, Y2, Y6); WMAX(Y11, Y3, Y7); \
	INCQ R14; CMPQ R14, R13; JLT label; \
	VORPS Y4, Y0, Y0; VORPS Y5, Y1, Y1; VORPS Y6, Y2, Y2; VORPS Y7, Y3, Y3

#define MAXTAPS8(LOAD, label) \
	VMOVAPS Y15, Y0; \
	VXORPS Y4, Y4, Y4; \
	XORQ R14, R14; \
label: \
	TAP; \
	LOAD(0, Y8); \
	WMAX(Y8, Y0, Y4); \
	INCQ R14; CMPQ R14, R13; JLT label; \
	VORPS Y4, Y0, Y0

// CONVTAPS32/CONVTAPS8(LOAD): bias + the weighted taps (weights at R15),
// a fused multiply-add a tap in tap order.
#define CONVTAPS32(LOAD, label) \
	VMOVAPS Y15, Y0; VMOVAPS Y15, Y1; VMOVAPS Y15, Y2; VMOVAPS Y15, Y3; \
	XORQ R14, R14; \
label: \
	VBROADCASTSS (R15)(R14*4), Y14; \
	TAP; \
	LOAD(0, Y8); LOAD(32, Y9); LOAD(64, Y10); LOAD(96, Y11); \
	VFMADD231PS Y8, Y14, Y0; VFMADD231PS Y9, Y14, Y1; VFMADD231PS Y10, Y14, Y2; VFMADD231PS Y11, Y14, Y3; \
	INCQ R14; CMPQ R14, R13; JLT label

#define CONVTAPS8(LOAD, label) \
	VMOVAPS Y15, Y0; \
	XORQ R14, R14; \
label: \
	VBROADCASTSS (R15)(R14*4), Y14; \
	TAP; \
	LOAD(0, Y8); \
	VFMADD231PS Y8, Y14, Y0; \
	INCQ R14; CMPQ R14, R13; JLT label

// WINDOWS(T32S1, T32S2, T8S1, T8S2, labels…): the driver, with the taps'
// loops for 32 and 8 columns at steps 1 and 2; the common arguments are
// loaded first (WARGS).
#define WARGS \
	MOVQ dst+0(FP), DI; \
	MOVQ ldd+8(FP), R8; \
	SHLQ $2, R8; \
	MOVQ src+16(FP), SI; \
	MOVQ lds+24(FP), R9; \
	SHLQ $2, R9; \
	MOVQ rows+32(FP), R10; \
	MOVQ cols+40(FP), R11; \
	MOVQ off+48(FP), R12

#define WINDOWS(T32S1, T32S2, T8S1, T8S2, Lrow, L32, L32s2, L32st, L8, L8b, L8s2, L8st, Lnext) \
Lrow: \
	XORQ CX, CX; \
L32: \
	LEAQ 32(CX), DX; \
	CMPQ DX, R11; \
	JGT  L8; \
	MOVQ CX, BX; IMULQ AX, BX; LEAQ (SI)(BX*4), BX; \
	CMPQ AX, $2; \
	JEQ  L32s2; \
	T32S1; \
	JMP  L32st; \
L32s2: \
	T32S2; \
L32st: \
	VMOVUPS Y0, (DI)(CX*4); VMOVUPS Y1, 32(DI)(CX*4); VMOVUPS Y2, 64(DI)(CX*4); VMOVUPS Y3, 96(DI)(CX*4); \
	ADDQ $32, CX; \
	JMP  L32; \
L8: \
	LEAQ 8(CX), DX; \
	CMPQ DX, R11; \
	JLE  L8b; \
	CMPQ CX, R11; \
	JGE  Lnext; \
	LEAQ -8(R11), CX; \
L8b: \
	MOVQ CX, BX; IMULQ AX, BX; LEAQ (SI)(BX*4), BX; \
	CMPQ AX, $2; \
	JEQ  L8s2; \
	T8S1; \
	JMP  L8st; \
L8s2: \
	T8S2; \
L8st: \
	VMOVUPS Y0, (DI)(CX*4); \
	ADDQ $8, CX; \
	JMP  L8; \
Lnext: \
	ADDQ R8, DI; \
	ADDQ R9, SI; \
	DECQ R10; \
	JNZ  Lrow; \
	VZEROUPPER; \
	RET

#define MAX32S1 MAXTAPS32(LOAD1, mt32s1)
#define MAX32S2 MAXTAPS32(LOAD2, mt32s2)
#define MAX8S1 MAXTAPS8(LOAD1, mt8s1)
#define MAX8S2 MAXTAPS8(LOAD2, mt8s2)

// func maxWindowsAVX2(dst *float32, ldd int, src *float32, lds, rows, cols int, off *int, taps, step int)
TEXT ·maxWindowsAVX2(SB), NOSPLIT, $0-72
	WARGS
	MOVQ taps+56(FP), R13
	MOVQ step+64(FP), AX
	MOVL $0xff800000, DX    // -Inf
	VMOVD DX, X15
	VBROADCASTSS X15, Y15
	WINDOWS(MAX32S1, MAX32S2, MAX8S1, MAX8S2, mrow, m32, m32s2, m32st, m8, m8b, m8s2, m8st, mnext)

#define CONV32S1 CONVTAPS32(LOAD1, ct32s1)
#define CONV32S2 CONVTAPS32(LOAD2, ct32s2)
#define CONV8S1 CONVTAPS8(LOAD1, ct8s1)
#define CONV8S2 CONVTAPS8(LOAD2, ct8s2)

// func convWindowsAVX2(dst *float32, ldd int, src *float32, lds, rows, cols int, off *int, w *float32, taps, step int, bias float32)
TEXT ·convWindowsAVX2(SB), NOSPLIT, $0-84
	WARGS
	MOVQ w+56(FP), R15
	MOVQ taps+64(FP), R13
	MOVQ step+72(FP), AX
	VBROADCASTSS bias+80(FP), Y15
	WINDOWS(CONV32S1, CONV32S2, CONV8S1, CONV8S2, crow, c32, c32s2, c32st, c8, c8b, c8s2, c8st, cnext)
