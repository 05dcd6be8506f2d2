//go:build !purego

#include "textflag.h"

// func convTapsAVX2(dst, src *float32, n int, off *int, w *float32, taps int, bias float32)
// dst[i] = bias + Σ_t w[t]·src[off[t]+i] for i < n, n a positive multiple
// of 8: 64 outputs at a time in eight accumulators (enough independent
// chains to keep both FMA ports busy), then 8 at a time.
TEXT ·convTapsAVX2(SB), NOSPLIT, $0-52
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS bias+48(FP), Y15
	MOVQ CX, DX
	SHRQ $6, CX
	JZ   tail

loop64:
	VMOVAPS Y15, Y0
	VMOVAPS Y15, Y1
	VMOVAPS Y15, Y2
	VMOVAPS Y15, Y3
	VMOVAPS Y15, Y4
	VMOVAPS Y15, Y5
	VMOVAPS Y15, Y6
	VMOVAPS Y15, Y7
	MOVQ off+24(FP), R8
	MOVQ w+32(FP), R9
	MOVQ taps+40(FP), R10

tap64:
	MOVQ (R8), R11
	LEAQ (SI)(R11*4), R11
	VBROADCASTSS (R9), Y8
	VFMADD231PS (R11), Y8, Y0
	VFMADD231PS 32(R11), Y8, Y1
	VFMADD231PS 64(R11), Y8, Y2
	VFMADD231PS 96(R11), Y8, Y3
	VFMADD231PS 128(R11), Y8, Y4
	VFMADD231PS 160(R11), Y8, Y5
	VFMADD231PS 192(R11), Y8, Y6
	VFMADD231PS 224(R11), Y8, Y7
	ADDQ $8, R8
	ADDQ $4, R9
	DECQ R10
	JNZ  tap64
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	VMOVUPS Y4, 128(DI)
	VMOVUPS Y5, 160(DI)
	VMOVUPS Y6, 192(DI)
	VMOVUPS Y7, 224(DI)
	ADDQ $256, SI
	ADDQ $256, DI
	DECQ CX
	JNZ  loop64

tail:
	ANDQ $63, DX
	SHRQ $3, DX
	JZ   done

loop8:
	VMOVAPS Y15, Y0
	MOVQ off+24(FP), R8
	MOVQ w+32(FP), R9
	MOVQ taps+40(FP), R10

tap8:
	MOVQ (R8), R11
	VBROADCASTSS (R9), Y8
	VFMADD231PS (SI)(R11*4), Y8, Y0
	ADDQ $8, R8
	ADDQ $4, R9
	DECQ R10
	JNZ  tap8
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ DX
	JNZ  loop8

done:
	VZEROUPPER
	RET

// func convWindowsAVX2(dst *float32, ldd int, src *float32, lds, rows, cols int, off *int, w *float32, taps, step int, bias float32)
// For r < rows, c < cols: dst[r*ldd+c] = bias + sum_t w[t]*src[r*lds +
// step*c + off[t]], cols >= 8, step 1 or 2, a fused multiply-add a tap in
// tap order. 32 columns a round while they last, then 8, the last block
// moved back to end at cols (the same outputs written twice). At step 2 a
// tap's inputs are the even elements of sixteen (VSHUFPS, VPERMPD: see
// maxWindowsAVX2).

// CLOAD1/CLOAD2(disp, Y): the tap's eight inputs of the block disp bytes
// of output columns past DX.
#define CLOAD1(disp, Y) VMOVUPS disp(DX), Y
#define CLOAD2(disp, Y) VMOVUPS (2*disp)(DX), Y; VSHUFPS $0x88, (2*disp+32)(DX), Y, Y; VPERMPD $0xD8, Y, Y

// CTAPS32(LOAD): the taps of 32 columns at BX into Y0-Y3.
#define CTAPS32(LOAD, label) \
	VMOVAPS Y15, Y0; VMOVAPS Y15, Y1; VMOVAPS Y15, Y2; VMOVAPS Y15, Y3; \
	XORQ R14, R14; \
label: \
	VBROADCASTSS (R15)(R14*4), Y14; \
	MOVQ (R12)(R14*8), DX; \
	LEAQ (BX)(DX*4), DX; \
	LOAD(0, Y8); LOAD(32, Y9); LOAD(64, Y10); LOAD(96, Y11); \
	VFMADD231PS Y8, Y14, Y0; VFMADD231PS Y9, Y14, Y1; VFMADD231PS Y10, Y14, Y2; VFMADD231PS Y11, Y14, Y3; \
	INCQ R14; \
	CMPQ R14, R13; \
	JLT  label

// CTAPS8(LOAD): the taps of 8 columns at BX into Y0.
#define CTAPS8(LOAD, label) \
	VMOVAPS Y15, Y0; \
	XORQ R14, R14; \
label: \
	VBROADCASTSS (R15)(R14*4), Y14; \
	MOVQ (R12)(R14*8), DX; \
	LEAQ (BX)(DX*4), DX; \
	LOAD(0, Y8); \
	VFMADD231PS Y8, Y14, Y0; \
	INCQ R14; \
	CMPQ R14, R13; \
	JLT  label

TEXT ·convWindowsAVX2(SB), NOSPLIT, $0-84
	MOVQ dst+0(FP), DI
	MOVQ ldd+8(FP), R8
	SHLQ $2, R8
	MOVQ src+16(FP), SI
	MOVQ lds+24(FP), R9
	SHLQ $2, R9
	MOVQ rows+32(FP), R10
	MOVQ cols+40(FP), R11
	MOVQ off+48(FP), R12
	MOVQ w+56(FP), R15
	MOVQ taps+64(FP), R13
	MOVQ step+72(FP), AX
	VBROADCASTSS bias+80(FP), Y15

crow:
	XORQ CX, CX

c32:
	LEAQ 32(CX), DX
	CMPQ DX, R11
	JGT  c8
	MOVQ CX, BX
	IMULQ AX, BX
	LEAQ (SI)(BX*4), BX
	CMPQ AX, $2
	JEQ  c32s2
	CTAPS32(CLOAD1, c32t1)
	JMP  c32store

c32s2:
	CTAPS32(CLOAD2, c32t2)

c32store:
	VMOVUPS Y0, (DI)(CX*4)
	VMOVUPS Y1, 32(DI)(CX*4)
	VMOVUPS Y2, 64(DI)(CX*4)
	VMOVUPS Y3, 96(DI)(CX*4)
	ADDQ $32, CX
	JMP  c32

c8:
	LEAQ 8(CX), DX
	CMPQ DX, R11
	JLE  c8block
	CMPQ CX, R11
	JGE  cnext
	LEAQ -8(R11), CX

c8block:
	MOVQ CX, BX
	IMULQ AX, BX
	LEAQ (SI)(BX*4), BX
	CMPQ AX, $2
	JEQ  c8s2
	CTAPS8(CLOAD1, c8t1)
	JMP  c8store

c8s2:
	CTAPS8(CLOAD2, c8t2)

c8store:
	VMOVUPS Y0, (DI)(CX*4)
	ADDQ $8, CX
	JMP  c8

cnext:
	ADDQ R8, DI
	ADDQ R9, SI
	DECQ R10
	JNZ  crow
	VZEROUPPER
	RET
