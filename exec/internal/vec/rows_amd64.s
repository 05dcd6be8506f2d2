//go:build !purego

#include "textflag.h"

// ROWMASK sets K1 to the last n%16 columns of a row of n (R11).
#define ROWMASK \
	MOVQ  R11, CX; \
	ANDQ  $15, CX; \
	MOVL  $1, AX;  \
	SHLL  CX, AX;  \
	DECL  AX;      \
	KMOVW AX, K1

// ROWS_SCALAR(OP) runs dst[r·n+i] = OP(src[r·n+i], s[r]) over rows (R10)
// of n (R11): DI dst, SI src, DX s; a masked vector for each row's last
// n%16 columns.
#define ROWS_SCALAR(OP) \
	MOVQ dst+0(FP), DI;        \
	MOVQ src+8(FP), SI;        \
	MOVQ s+16(FP), DX;         \
	MOVQ rows+24(FP), R10;     \
	MOVQ n+32(FP), R11;        \
	ROWMASK;                   \
row:                           \
	VBROADCASTSS (DX), Z1;     \
	MOVQ         R11, CX;      \
cols:                          \
	CMPQ    CX, $16;           \
	JLT     tail;              \
	VMOVUPS (SI), Z0;          \
	OP      Z1, Z0, Z0;        \
	VMOVUPS Z0, (DI);          \
	ADDQ    $64, SI;           \
	ADDQ    $64, DI;           \
	SUBQ    $16, CX;           \
	JMP     cols;              \
tail:                          \
	TESTQ     CX, CX;          \
	JEQ       next;            \
	VMOVUPS.Z (SI), K1, Z0;    \
	OP        Z1, Z0, Z0;      \
	VMOVUPS   Z0, K1, (DI);    \
	LEAQ      (SI)(CX*4), SI;  \
	LEAQ      (DI)(CX*4), DI;  \
next:                          \
	ADDQ $4, DX;               \
	DECQ R10;                  \
	JNE  row;                  \
	VZEROUPPER;                \
	RET

// func scaleRowsAVX512(dst, src, s *float32, rows, n int)
TEXT ·scaleRowsAVX512(SB), NOSPLIT, $0-40
	ROWS_SCALAR(VMULPS)

// func addRowsAVX512(dst, src, s *float32, rows, n int)
TEXT ·addRowsAVX512(SB), NOSPLIT, $0-40
	ROWS_SCALAR(VADDPS)

// func meanRowsAVX512(dst, src *float32, rows, n int, nf float64)
// dst[r] = float32(Σ src[r·n+i] / nf), the sum in float64: sixteen floats
// widen to two vectors of eight doubles a step, into two accumulators.
TEXT ·meanRowsAVX512(SB), NOSPLIT, $0-40
	MOVQ  dst+0(FP), DI
	MOVQ  src+8(FP), SI
	MOVQ  rows+16(FP), R10
	MOVQ  n+24(FP), R11
	VMOVSD nf+32(FP), X7
	ROWMASK

mrow:
	VXORPD Z2, Z2, Z2
	VXORPD Z3, Z3, Z3
	MOVQ   R11, CX

mcols:
	CMPQ      CX, $16
	JLT       mtail
	VCVTPS2PD (SI), Z4
	VCVTPS2PD 32(SI), Z5
	VADDPD    Z4, Z2, Z2
	VADDPD    Z5, Z3, Z3
	ADDQ      $64, SI
	SUBQ      $16, CX
	JMP       mcols

mtail:
	TESTQ         CX, CX
	JEQ           mdone
	VMOVUPS.Z     (SI), K1, Z0
	VCVTPS2PD     Y0, Z4
	VEXTRACTF64X4 $1, Z0, Y1
	VCVTPS2PD     Y1, Z5
	VADDPD        Z4, Z2, Z2
	VADDPD        Z5, Z3, Z3
	LEAQ          (SI)(CX*4), SI

mdone:
	VADDPD        Z3, Z2, Z2
	VEXTRACTF64X4 $1, Z2, Y3
	VADDPD        Y3, Y2, Y2
	VEXTRACTF128  $1, Y2, X3
	VADDPD        X3, X2, X2
	VHADDPD       X2, X2, X2
	VDIVSD        X7, X2, X2
	VCVTSD2SS     X2, X2, X2
	VMOVSS        X2, (DI)
	ADDQ          $4, DI
	DECQ          R10
	JNE           mrow
	VZEROUPPER
	RET

// func biasClampRowsAVX512(dst *float32, ldd int, src *float32, lds, rows, cols int, bias, lo, hi float32)
// dst[r*ldd+j] = min(max(src[r*lds+j]+bias, lo), hi) for r < rows, j < cols
// (rows, cols >= 1), 16 columns a vector and a masked vector for the rest.
// The data is VMAXPS's and VMINPS's second source, so NaNs stay NaN.
TEXT ·biasClampRowsAVX512(SB), NOSPLIT, $0-60
	MOVQ         dst+0(FP), DI
	MOVQ         ldd+8(FP), R8
	MOVQ         src+16(FP), SI
	MOVQ         lds+24(FP), R9
	MOVQ         rows+32(FP), R10
	MOVQ         cols+40(FP), R11
	VBROADCASTSS bias+48(FP), Z13
	VBROADCASTSS lo+52(FP), Z14
	VBROADCASTSS hi+56(FP), Z15
	SHLQ         $2, R8
	SHLQ         $2, R9

	ROWMASK

row:
	MOVQ DI, DX
	MOVQ SI, BX
	MOVQ R11, CX

vec16:
	CMPQ    CX, $16
	JLT     tail
	VADDPS  (BX), Z13, Z0
	VMAXPS  Z0, Z14, Z0
	VMINPS  Z0, Z15, Z0
	VMOVUPS Z0, (DX)
	ADDQ    $64, BX
	ADDQ    $64, DX
	SUBQ    $16, CX
	JMP     vec16

tail:
	TESTQ     CX, CX
	JEQ       next
	VMOVUPS.Z (BX), K1, Z0
	VADDPS    Z0, Z13, Z0
	VMAXPS    Z0, Z14, Z0
	VMINPS    Z0, Z15, Z0
	VMOVUPS   Z0, K1, (DX)

next:
	ADDQ R8, DI
	ADDQ R9, SI
	DECQ R10
	JNE  row
	VZEROUPPER
	RET
