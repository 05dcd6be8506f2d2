//go:build !purego

#include "textflag.h"

// Packing helpers. They need AVX only (checked by the caller).

// func transpose8AVX(dst *float32, ldd int, src *float32, lds int, n int)
//
// For r < 8 and p < 8*n: dst[p*ldd+r] = src[r*lds+p]. Works on 8×8 blocks.
TEXT ·transpose8AVX(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ ldd+8(FP), R11
	MOVQ src+16(FP), SI
	MOVQ lds+24(FP), R8
	MOVQ n+32(FP), CX
	SHLQ $2, R11               // ldd in bytes
	SHLQ $2, R8                // lds in bytes
	LEAQ (R8)(R8*2), R9        // 3*lds
	LEAQ (R11)(R11*2), R12     // 3*ldd
	TESTQ CX, CX
	JEQ   tdone

tloop:
	LEAQ    (SI)(R8*4), R10    // row 4
	VMOVUPS (SI), Y0
	VMOVUPS (SI)(R8*1), Y1
	VMOVUPS (SI)(R8*2), Y2
	VMOVUPS (SI)(R9*1), Y3
	VMOVUPS (R10), Y4
	VMOVUPS (R10)(R8*1), Y5
	VMOVUPS (R10)(R8*2), Y6
	VMOVUPS (R10)(R9*1), Y7

	// Interleave row pairs.
	VUNPCKLPS Y1, Y0, Y8       // r0[0] r1[0] r0[1] r1[1] | r0[4] r1[4] r0[5] r1[5]
	VUNPCKHPS Y1, Y0, Y9       // r0[2] r1[2] r0[3] r1[3] | r0[6] ...
	VUNPCKLPS Y3, Y2, Y10
	VUNPCKHPS Y3, Y2, Y11
	VUNPCKLPS Y5, Y4, Y12
	VUNPCKHPS Y5, Y4, Y13
	VUNPCKLPS Y7, Y6, Y14
	VUNPCKHPS Y7, Y6, Y15

	// Gather 4-row columns within each 128-bit lane.
	VSHUFPS $0x44, Y10, Y8, Y0 // col 0 | col 4 of rows 0-3
	VSHUFPS $0xEE, Y10, Y8, Y1 // col 1 | col 5
	VSHUFPS $0x44, Y11, Y9, Y2 // col 2 | col 6
	VSHUFPS $0xEE, Y11, Y9, Y3 // col 3 | col 7
	VSHUFPS $0x44, Y14, Y12, Y4 // same for rows 4-7
	VSHUFPS $0xEE, Y14, Y12, Y5
	VSHUFPS $0x44, Y15, Y13, Y6
	VSHUFPS $0xEE, Y15, Y13, Y7

	// Join the halves.
	VPERM2F128 $0x20, Y4, Y0, Y8  // col 0
	VPERM2F128 $0x20, Y5, Y1, Y9  // col 1
	VPERM2F128 $0x20, Y6, Y2, Y10 // col 2
	VPERM2F128 $0x20, Y7, Y3, Y11 // col 3
	VPERM2F128 $0x31, Y4, Y0, Y12 // col 4
	VPERM2F128 $0x31, Y5, Y1, Y13 // col 5
	VPERM2F128 $0x31, Y6, Y2, Y14 // col 6
	VPERM2F128 $0x31, Y7, Y3, Y15 // col 7

	LEAQ    (DI)(R11*4), R13
	VMOVUPS Y8, (DI)
	VMOVUPS Y9, (DI)(R11*1)
	VMOVUPS Y10, (DI)(R11*2)
	VMOVUPS Y11, (DI)(R12*1)
	VMOVUPS Y12, (R13)
	VMOVUPS Y13, (R13)(R11*1)
	VMOVUPS Y14, (R13)(R11*2)
	VMOVUPS Y15, (R13)(R12*1)

	ADDQ $32, SI
	LEAQ (DI)(R11*8), DI
	DECQ CX
	JNE  tloop

tdone:
	VZEROUPPER
	RET

// func copyRowsAVX(dst *float32, ldd int, src *float32, lds int, rows, w8 int)
//
// For r < rows and j < 8*w8: dst[r*ldd+j] = src[r*lds+j].
TEXT ·copyRowsAVX(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ ldd+8(FP), R11
	MOVQ src+16(FP), SI
	MOVQ lds+24(FP), R8
	MOVQ rows+32(FP), CX
	MOVQ w8+40(FP), DX
	SHLQ $2, R11
	SHLQ $2, R8
	TESTQ CX, CX
	JEQ   cdone
	CMPQ  DX, $4
	JEQ   c4
	CMPQ  DX, $2
	JEQ   c2
	CMPQ  DX, $1
	JEQ   c1

cgen:
	XORQ AX, AX
	MOVQ DX, BX

cgeninner:
	VMOVUPS (SI)(AX*1), Y0
	VMOVUPS Y0, (DI)(AX*1)
	ADDQ    $32, AX
	DECQ    BX
	JNE     cgeninner
	ADDQ    R8, SI
	ADDQ    R11, DI
	DECQ    CX
	JNE     cgen
	JMP     cdone

c4:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ    R8, SI
	ADDQ    R11, DI
	DECQ    CX
	JNE     c4
	JMP     cdone

c2:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	ADDQ    R8, SI
	ADDQ    R11, DI
	DECQ    CX
	JNE     c2
	JMP     cdone

c1:
	VMOVUPS (SI), Y0
	VMOVUPS Y0, (DI)
	ADDQ    R8, SI
	ADDQ    R11, DI
	DECQ    CX
	JNE     c1

cdone:
	VZEROUPPER
	RET

// func copyRowsAtAVX(dst *float32, ldd int, src *float32, offs *int, rows, w8 int)
//
// For r < rows and j < 8*w8: dst[r*ldd+j] = src[offs[r]+j].
TEXT ·copyRowsAtAVX(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ ldd+8(FP), R11
	MOVQ src+16(FP), SI
	MOVQ offs+24(FP), R9
	MOVQ rows+32(FP), CX
	MOVQ w8+40(FP), DX
	SHLQ $2, R11
	TESTQ CX, CX
	JEQ   adone
	CMPQ  DX, $4
	JEQ   a4
	CMPQ  DX, $2
	JEQ   a2

agen:
	MOVQ (R9), R10
	LEAQ (SI)(R10*4), R10
	XORQ AX, AX
	MOVQ DX, BX

ageninner:
	VMOVUPS (R10)(AX*1), Y0
	VMOVUPS Y0, (DI)(AX*1)
	ADDQ    $32, AX
	DECQ    BX
	JNE     ageninner
	ADDQ    $8, R9
	ADDQ    R11, DI
	DECQ    CX
	JNE     agen
	JMP     adone

a4:
	MOVQ    (R9), R10
	VMOVUPS (SI)(R10*4), Y0
	VMOVUPS 32(SI)(R10*4), Y1
	VMOVUPS 64(SI)(R10*4), Y2
	VMOVUPS 96(SI)(R10*4), Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ    $8, R9
	ADDQ    R11, DI
	DECQ    CX
	JNE     a4
	JMP     adone

a2:
	MOVQ    (R9), R10
	VMOVUPS (SI)(R10*4), Y0
	VMOVUPS 32(SI)(R10*4), Y1
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	ADDQ    $8, R9
	ADDQ    R11, DI
	DECQ    CX
	JNE     a2

adone:
	VZEROUPPER
	RET

// func gemvPanelAVX2(kb int, a *float32, b *float32, nr int, acc *float32)
//
// acc[j] += Σ_{p<kb} a[p]·b[p*nr+j] for j < nr, nr 16 or 32: one packed
// panel of B times a row vector. Two sets of accumulators take
// alternate depths, so that the fused multiply-adds do not wait on each
// other.
TEXT ·gemvPanelAVX2(SB), NOSPLIT, $0-40
	MOVQ kb+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ nr+24(FP), DX
	MOVQ acc+32(FP), R8
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	TESTQ CX, CX
	JEQ   gsum
	CMPQ  DX, $32
	JNE   g16

g32:
	VBROADCASTSS (SI), Y8
	VFMADD231PS  (DI), Y8, Y0
	VFMADD231PS  32(DI), Y8, Y1
	VFMADD231PS  64(DI), Y8, Y2
	VFMADD231PS  96(DI), Y8, Y3
	ADDQ         $4, SI
	ADDQ         $128, DI
	DECQ         CX
	JEQ          gsum
	VBROADCASTSS (SI), Y9
	VFMADD231PS  (DI), Y9, Y4
	VFMADD231PS  32(DI), Y9, Y5
	VFMADD231PS  64(DI), Y9, Y6
	VFMADD231PS  96(DI), Y9, Y7
	ADDQ         $4, SI
	ADDQ         $128, DI
	DECQ         CX
	JNE          g32
	JMP          gsum

g16:
	VBROADCASTSS (SI), Y8
	VFMADD231PS  (DI), Y8, Y0
	VFMADD231PS  32(DI), Y8, Y1
	ADDQ         $4, SI
	ADDQ         $64, DI
	DECQ         CX
	JEQ          gsum
	VBROADCASTSS (SI), Y9
	VFMADD231PS  (DI), Y9, Y4
	VFMADD231PS  32(DI), Y9, Y5
	ADDQ         $4, SI
	ADDQ         $64, DI
	DECQ         CX
	JNE          g16

gsum:
	VADDPS  Y4, Y0, Y0
	VADDPS  Y5, Y1, Y1
	VADDPS  (R8), Y0, Y0
	VADDPS  32(R8), Y1, Y1
	VMOVUPS Y0, (R8)
	VMOVUPS Y1, 32(R8)
	CMPQ    DX, $32
	JNE     gdone
	VADDPS  Y6, Y2, Y2
	VADDPS  Y7, Y3, Y3
	VADDPS  64(R8), Y2, Y2
	VADDPS  96(R8), Y3, Y3
	VMOVUPS Y2, 64(R8)
	VMOVUPS Y3, 96(R8)

gdone:
	VZEROUPPER
	RET
