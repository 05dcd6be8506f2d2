//go:build !purego

#include "textflag.h"

// func maxTapsAVX2(dst, src *float32, n int, off *int, taps int)
// dst[i] = max_t src[off[t]+i] for i < n, n a positive multiple of 8; 32
// outputs at a time, then 8. VMAXPS drops a NaN in one of its operands,
// so each tap's NaNs are also gathered (VCMPPS unordered) into a mask
// that is ORed into the result at the end: all-ones bits are a NaN.
TEXT ·maxTapsAVX2(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVL $0xff800000, AX    // -Inf
	VMOVD AX, X15
	VBROADCASTSS X15, Y15
	MOVQ CX, DX
	SHRQ $5, CX
	JZ   tail

loop32:
	VMOVAPS Y15, Y0
	VMOVAPS Y15, Y1
	VMOVAPS Y15, Y2
	VMOVAPS Y15, Y3
	VXORPS  Y4, Y4, Y4
	VXORPS  Y5, Y5, Y5
	VXORPS  Y6, Y6, Y6
	VXORPS  Y7, Y7, Y7
	MOVQ off+24(FP), R8
	MOVQ taps+32(FP), R10

tap32:
	MOVQ (R8), R11
	LEAQ (SI)(R11*4), R11
	VMOVUPS (R11), Y8
	VMOVUPS 32(R11), Y9
	VMOVUPS 64(R11), Y10
	VMOVUPS 96(R11), Y11
	VMAXPS  Y8, Y0, Y0
	VMAXPS  Y9, Y1, Y1
	VMAXPS  Y10, Y2, Y2
	VMAXPS  Y11, Y3, Y3
	VCMPPS  $3, Y8, Y8, Y8
	VCMPPS  $3, Y9, Y9, Y9
	VCMPPS  $3, Y10, Y10, Y10
	VCMPPS  $3, Y11, Y11, Y11
	VORPS   Y8, Y4, Y4
	VORPS   Y9, Y5, Y5
	VORPS   Y10, Y6, Y6
	VORPS   Y11, Y7, Y7
	ADDQ $8, R8
	DECQ R10
	JNZ  tap32
	VORPS   Y4, Y0, Y0
	VORPS   Y5, Y1, Y1
	VORPS   Y6, Y2, Y2
	VORPS   Y7, Y3, Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ $128, SI
	ADDQ $128, DI
	DECQ CX
	JNZ  loop32

tail:
	ANDQ $31, DX
	SHRQ $3, DX
	JZ   done

loop8:
	VMOVAPS Y15, Y0
	VXORPS  Y4, Y4, Y4
	MOVQ off+24(FP), R8
	MOVQ taps+32(FP), R10

tap8:
	MOVQ (R8), R11
	VMOVUPS (SI)(R11*4), Y8
	VMAXPS  Y8, Y0, Y0
	VCMPPS  $3, Y8, Y8, Y8
	VORPS   Y8, Y4, Y4
	ADDQ $8, R8
	DECQ R10
	JNZ  tap8
	VORPS   Y4, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ DX
	JNZ  loop8

done:
	VZEROUPPER
	RET

// func maxWindowsAVX2(dst *float32, ldd int, src *float32, lds, rows, cols int, off *int, taps, step int)
// For r < rows, c < cols: dst[r*ldd+c] = max_t src[r*lds + step*c + off[t]],
// cols >= 8, step 1 or 2. 32 columns a round while they last, then 8,
// the last block moved back to end at cols (overlapping the one before
// it: the same outputs written twice). At step 2 a tap's eight inputs
// are the even elements of sixteen: two loads, VSHUFPS picking elements
// 0 and 2 of each 128-bit half, VPERMPD putting the halves in order.
// NaNs are gathered into a mask as in maxTapsAVX2.

// WLOAD1/WLOAD2(disp, Y): the tap's eight inputs of the block disp bytes
// of output columns past DX (step 1: disp; step 2: twice as far).
#define WLOAD1(disp, Y) VMOVUPS disp(DX), Y
#define WLOAD2(disp, Y) VMOVUPS (2*disp)(DX), Y; VSHUFPS $0x88, (2*disp+32)(DX), Y, Y; VPERMPD $0xD8, Y, Y
// WMAX(Y, ACC, NAN): fold Y into a block's maximum and NaN mask.
#define WMAX(Y, ACC, NAN) VMAXPS Y, ACC, ACC; VCMPPS $3, Y, Y, Y; VORPS Y, NAN, NAN

// WTAPS32(LOAD): the taps of 32 columns at BX into Y0-Y3 (masks Y4-Y7).
#define WTAPS32(LOAD, label) \
	VMOVAPS Y15, Y0; VMOVAPS Y15, Y1; VMOVAPS Y15, Y2; VMOVAPS Y15, Y3; \
	VXORPS Y4, Y4, Y4; VXORPS Y5, Y5, Y5; VXORPS Y6, Y6, Y6; VXORPS Y7, Y7, Y7; \
	XORQ R14, R14; \
label: \
	MOVQ (R12)(R14*8), DX; \
	LEAQ (BX)(DX*4), DX; \
	LOAD(0, Y8); LOAD(32, Y9); LOAD(64, Y10); LOAD(96, Y11); \
	WMAX(Y8, Y0, Y4); WMAX(Y9, Y1, Y5); WMAX(Y10, Y2, Y6); WMAX(Y11, Y3, Y7); \
	INCQ R14; \
	CMPQ R14, R13; \
	JLT  label; \
	VORPS Y4, Y0, Y0; VORPS Y5, Y1, Y1; VORPS Y6, Y2, Y2; VORPS Y7, Y3, Y3

// WTAPS8(LOAD): the taps of 8 columns at BX into Y0 (mask Y4).
#define WTAPS8(LOAD, label) \
	VMOVAPS Y15, Y0; \
	VXORPS Y4, Y4, Y4; \
	XORQ R14, R14; \
label: \
	MOVQ (R12)(R14*8), DX; \
	LEAQ (BX)(DX*4), DX; \
	LOAD(0, Y8); \
	WMAX(Y8, Y0, Y4); \
	INCQ R14; \
	CMPQ R14, R13; \
	JLT  label; \
	VORPS Y4, Y0, Y0

TEXT ·maxWindowsAVX2(SB), NOSPLIT, $0-72
	MOVQ dst+0(FP), DI
	MOVQ ldd+8(FP), R8
	SHLQ $2, R8
	MOVQ src+16(FP), SI
	MOVQ lds+24(FP), R9
	SHLQ $2, R9
	MOVQ rows+32(FP), R10
	MOVQ cols+40(FP), R11
	MOVQ off+48(FP), R12
	MOVQ taps+56(FP), R13
	MOVQ step+64(FP), AX
	MOVL $0xff800000, DX    // -Inf
	VMOVD DX, X15
	VBROADCASTSS X15, Y15

wrow:
	XORQ CX, CX             // the block's first column

w32:
	LEAQ 32(CX), DX
	CMPQ DX, R11
	JGT  w8
	MOVQ CX, BX
	IMULQ AX, BX
	LEAQ (SI)(BX*4), BX     // the block's first window
	CMPQ AX, $2
	JEQ  w32s2
	WTAPS32(WLOAD1, w32t1)
	JMP  w32store

w32s2:
	WTAPS32(WLOAD2, w32t2)

w32store:
	VMOVUPS Y0, (DI)(CX*4)
	VMOVUPS Y1, 32(DI)(CX*4)
	VMOVUPS Y2, 64(DI)(CX*4)
	VMOVUPS Y3, 96(DI)(CX*4)
	ADDQ $32, CX
	JMP  w32

w8:
	LEAQ 8(CX), DX
	CMPQ DX, R11
	JLE  w8block
	CMPQ CX, R11
	JGE  wnext
	LEAQ -8(R11), CX        // the last, overlapping block

w8block:
	MOVQ CX, BX
	IMULQ AX, BX
	LEAQ (SI)(BX*4), BX
	CMPQ AX, $2
	JEQ  w8s2
	WTAPS8(WLOAD1, w8t1)
	JMP  w8store

w8s2:
	WTAPS8(WLOAD2, w8t2)

w8store:
	VMOVUPS Y0, (DI)(CX*4)
	ADDQ $8, CX
	JMP  w8

wnext:
	ADDQ R8, DI
	ADDQ R9, SI
	DECQ R10
	JNZ  wrow
	VZEROUPPER
	RET

// func sumAVX2(src *float32, n int) float64
// n a positive multiple of 16: each 4 floats widen to float64 and go to
// one of four accumulators, which are added at the end.
TEXT ·sumAVX2(SB), NOSPLIT, $0-24
	MOVQ src+0(FP), SI
	MOVQ n+8(FP), CX
	SHRQ $4, CX
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3

sumloop:
	VCVTPS2PD (SI), Y4
	VCVTPS2PD 16(SI), Y5
	VCVTPS2PD 32(SI), Y6
	VCVTPS2PD 48(SI), Y7
	VADDPD  Y4, Y0, Y0
	VADDPD  Y5, Y1, Y1
	VADDPD  Y6, Y2, Y2
	VADDPD  Y7, Y3, Y3
	ADDQ $64, SI
	DECQ CX
	JNZ  sumloop
	VADDPD Y1, Y0, Y0
	VADDPD Y3, Y2, Y2
	VADDPD Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPD X1, X0, X0
	VHADDPD X0, X0, X0
	VZEROUPPER
	MOVSD X0, ret+16(FP)
	RET
