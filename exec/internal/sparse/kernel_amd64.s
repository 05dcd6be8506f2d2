//go:build !purego

#include "textflag.h"

// func rows32AVX2(y, x *float32, ldx int, col *int32, val *float32, nnz int)
// y[0:32] = Σ_p val[p]·x[col[p]*ldx : col[p]*ldx+32]. Two nonzeros per
// round into two sets of four accumulators, so that each accumulator
// waits for its previous FMA only every other nonzero.
TEXT ·rows32AVX2(SB), NOSPLIT, $0-48
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ ldx+16(FP), R8
	SHLQ $2, R8
	MOVQ col+24(FP), R9
	MOVQ val+32(FP), R10
	MOVQ nnz+40(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	MOVQ CX, DX
	SHRQ $1, DX
	JZ   r32tail

r32loop:
	MOVLQSX      (R9), AX
	MOVLQSX      4(R9), BX
	IMULQ        R8, AX
	IMULQ        R8, BX
	VBROADCASTSS (R10), Y8
	VBROADCASTSS 4(R10), Y9
	VFMADD231PS  (SI)(AX*1), Y8, Y0
	VFMADD231PS  32(SI)(AX*1), Y8, Y1
	VFMADD231PS  64(SI)(AX*1), Y8, Y2
	VFMADD231PS  96(SI)(AX*1), Y8, Y3
	VFMADD231PS  (SI)(BX*1), Y9, Y4
	VFMADD231PS  32(SI)(BX*1), Y9, Y5
	VFMADD231PS  64(SI)(BX*1), Y9, Y6
	VFMADD231PS  96(SI)(BX*1), Y9, Y7
	ADDQ         $8, R9
	ADDQ         $8, R10
	DECQ         DX
	JNZ          r32loop

r32tail:
	TESTQ        $1, CX
	JZ           r32done
	MOVLQSX      (R9), AX
	IMULQ        R8, AX
	VBROADCASTSS (R10), Y8
	VFMADD231PS  (SI)(AX*1), Y8, Y0
	VFMADD231PS  32(SI)(AX*1), Y8, Y1
	VFMADD231PS  64(SI)(AX*1), Y8, Y2
	VFMADD231PS  96(SI)(AX*1), Y8, Y3

r32done:
	VADDPS  Y4, Y0, Y0
	VADDPS  Y5, Y1, Y1
	VADDPS  Y6, Y2, Y2
	VADDPS  Y7, Y3, Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	VZEROUPPER
	RET

// func rows8AVX2(y, x *float32, ldx int, col *int32, val *float32, nnz int)
// y[0:8] = Σ_p val[p]·x[col[p]*ldx : col[p]*ldx+8], four nonzeros per
// round into four accumulators.
TEXT ·rows8AVX2(SB), NOSPLIT, $0-48
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ ldx+16(FP), R8
	SHLQ $2, R8
	MOVQ col+24(FP), R9
	MOVQ val+32(FP), R10
	MOVQ nnz+40(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	MOVQ CX, DX
	SHRQ $2, DX
	JZ   r8tail

r8loop:
	MOVLQSX      (R9), AX
	MOVLQSX      4(R9), BX
	MOVLQSX      8(R9), R11
	MOVLQSX      12(R9), R12
	IMULQ        R8, AX
	IMULQ        R8, BX
	IMULQ        R8, R11
	IMULQ        R8, R12
	VBROADCASTSS (R10), Y8
	VBROADCASTSS 4(R10), Y9
	VBROADCASTSS 8(R10), Y10
	VBROADCASTSS 12(R10), Y11
	VFMADD231PS  (SI)(AX*1), Y8, Y0
	VFMADD231PS  (SI)(BX*1), Y9, Y1
	VFMADD231PS  (SI)(R11*1), Y10, Y2
	VFMADD231PS  (SI)(R12*1), Y11, Y3
	ADDQ         $16, R9
	ADDQ         $16, R10
	DECQ         DX
	JNZ          r8loop

r8tail:
	ANDQ $3, CX
	JZ   r8done

r8one:
	MOVLQSX      (R9), AX
	IMULQ        R8, AX
	VBROADCASTSS (R10), Y8
	VFMADD231PS  (SI)(AX*1), Y8, Y0
	ADDQ         $4, R9
	ADDQ         $4, R10
	DECQ         CX
	JNZ          r8one

r8done:
	VADDPS  Y1, Y0, Y0
	VADDPS  Y3, Y2, Y2
	VADDPS  Y2, Y0, Y0
	VMOVUPS Y0, (DI)
	VZEROUPPER
	RET

// func dotAVX2(x *float32, col *int32, val *float32, n int) float32
// Σ_p val[p]·x[col[p]] for p < n, n a positive multiple of 8: four
// gathers of eight per round into four accumulators, then single
// gathers. Each gather's destination is zeroed first: a gather merges
// into its destination, and without the zeroing idiom it would wait for
// the previous round's.
TEXT ·dotAVX2(SB), NOSPLIT, $0-36
	MOVQ   x+0(FP), SI
	MOVQ   col+8(FP), R9
	MOVQ   val+16(FP), R10
	MOVQ   n+24(FP), CX
	MOVQ   CX, DX
	SHRQ   $5, CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	TESTQ  CX, CX
	JZ     d8

dloop:
	VMOVDQU     (R9), Y4
	VMOVDQU     32(R9), Y5
	VMOVDQU     64(R9), Y6
	VMOVDQU     96(R9), Y7
	VPCMPEQD    Y8, Y8, Y8
	VPCMPEQD    Y9, Y9, Y9
	VPCMPEQD    Y10, Y10, Y10
	VPCMPEQD    Y11, Y11, Y11
	VXORPS      Y12, Y12, Y12
	VXORPS      Y13, Y13, Y13
	VXORPS      Y14, Y14, Y14
	VXORPS      Y15, Y15, Y15
	VGATHERDPS  Y8, (SI)(Y4*4), Y12
	VGATHERDPS  Y9, (SI)(Y5*4), Y13
	VGATHERDPS  Y10, (SI)(Y6*4), Y14
	VGATHERDPS  Y11, (SI)(Y7*4), Y15
	VFMADD231PS (R10), Y12, Y0
	VFMADD231PS 32(R10), Y13, Y1
	VFMADD231PS 64(R10), Y14, Y2
	VFMADD231PS 96(R10), Y15, Y3
	ADDQ        $128, R9
	ADDQ        $128, R10
	DECQ        CX
	JNZ         dloop

d8:
	ANDQ $31, DX
	SHRQ $3, DX
	JZ   dsum

d8loop:
	VMOVDQU     (R9), Y4
	VPCMPEQD    Y8, Y8, Y8
	VXORPS      Y12, Y12, Y12
	VGATHERDPS  Y8, (SI)(Y4*4), Y12
	VFMADD231PS (R10), Y12, Y0
	ADDQ        $32, R9
	ADDQ        $32, R10
	DECQ        DX
	JNZ         d8loop

dsum:
	VADDPS       Y1, Y0, Y0
	VADDPS       Y3, Y2, Y2
	VADDPS       Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	VZEROUPPER
	MOVSS        X0, ret+32(FP)
	RET

