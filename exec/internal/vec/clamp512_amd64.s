//go:build !purego

#include "textflag.h"

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

	// K1 masks the last cols%16 columns of a row.
	MOVQ  R11, CX
	ANDQ  $15, CX
	MOVL  $1, AX
	SHLL  CX, AX
	DECL  AX
	KMOVW AX, K1

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
