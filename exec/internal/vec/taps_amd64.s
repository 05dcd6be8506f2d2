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

