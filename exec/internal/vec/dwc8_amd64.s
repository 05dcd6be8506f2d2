//go:build !purego

#include "textflag.h"

// func dwc8AVX2(out *float32, ldo int, in *float32, wp8 int, w, bias *float32, kh, kw, s8, n int, lo, hi float32)
//
// Per group of eight output pixels: Y0..Y7 accumulate pixel i's eight
// channels (the bias, then one FMA a tap, the tap's eight weights in Y8),
// are clamped, and are transposed so that each register holds one
// channel's eight pixels, which go to that channel's plane.
//
// Registers: DI out, R8 ldo in bytes, R12 3·ldo bytes, SI the group's
// input, R9 wp8 in bytes (an input row), R13 s8 in bytes (one output
// pixel's step in the input), R10 3·R13, BX groups left; AX weights, CX
// rows left, R14 the tap row, R15 taps left in the row, DX and R11 tap
// addresses.
TEXT ·dwc8AVX2(SB), NOSPLIT, $0-88
	MOVQ out+0(FP), DI
	MOVQ ldo+8(FP), R8
	SHLQ $2, R8
	LEAQ (R8)(R8*2), R12
	MOVQ in+16(FP), SI
	MOVQ wp8+24(FP), R9
	SHLQ $2, R9
	MOVQ s8+64(FP), R13
	SHLQ $2, R13
	LEAQ (R13)(R13*2), R10
	MOVQ n+72(FP), BX

group:
	MOVQ    bias+40(FP), AX
	VMOVUPS (AX), Y0
	VMOVAPS Y0, Y1
	VMOVAPS Y0, Y2
	VMOVAPS Y0, Y3
	VMOVAPS Y0, Y4
	VMOVAPS Y0, Y5
	VMOVAPS Y0, Y6
	VMOVAPS Y0, Y7
	MOVQ    w+32(FP), AX
	MOVQ    kh+48(FP), CX
	MOVQ    SI, R14

row:
	MOVQ R14, DX
	MOVQ kw+56(FP), R15

tap:
	VMOVUPS     (AX), Y8
	LEAQ        (DX)(R13*4), R11
	VFMADD231PS (DX), Y8, Y0
	VFMADD231PS (DX)(R13*1), Y8, Y1
	VFMADD231PS (DX)(R13*2), Y8, Y2
	VFMADD231PS (DX)(R10*1), Y8, Y3
	VFMADD231PS (R11), Y8, Y4
	VFMADD231PS (R11)(R13*1), Y8, Y5
	VFMADD231PS (R11)(R13*2), Y8, Y6
	VFMADD231PS (R11)(R10*1), Y8, Y7
	ADDQ        $32, AX
	ADDQ        $32, DX
	DECQ        R15
	JNZ         tap
	ADDQ        R9, R14
	DECQ        CX
	JNZ         row

	// Clamp: the data is the second source, so NaNs stay NaN.
	VBROADCASTSS lo+80(FP), Y8
	VBROADCASTSS hi+84(FP), Y9
	VMAXPS       Y0, Y8, Y0
	VMAXPS       Y1, Y8, Y1
	VMAXPS       Y2, Y8, Y2
	VMAXPS       Y3, Y8, Y3
	VMAXPS       Y4, Y8, Y4
	VMAXPS       Y5, Y8, Y5
	VMAXPS       Y6, Y8, Y6
	VMAXPS       Y7, Y8, Y7
	VMINPS       Y0, Y9, Y0
	VMINPS       Y1, Y9, Y1
	VMINPS       Y2, Y9, Y2
	VMINPS       Y3, Y9, Y3
	VMINPS       Y4, Y9, Y4
	VMINPS       Y5, Y9, Y5
	VMINPS       Y6, Y9, Y6
	VMINPS       Y7, Y9, Y7

	// Transpose: Y(i) holds pixel i's channels; after, Y(8+c) holds
	// channel c's pixels.
	VUNPCKLPS Y1, Y0, Y8
	VUNPCKHPS Y1, Y0, Y9
	VUNPCKLPS Y3, Y2, Y10
	VUNPCKHPS Y3, Y2, Y11
	VUNPCKLPS Y5, Y4, Y12
	VUNPCKHPS Y5, Y4, Y13
	VUNPCKLPS Y7, Y6, Y14
	VUNPCKHPS Y7, Y6, Y15
	VSHUFPS   $0x44, Y10, Y8, Y0
	VSHUFPS   $0xEE, Y10, Y8, Y1
	VSHUFPS   $0x44, Y11, Y9, Y2
	VSHUFPS   $0xEE, Y11, Y9, Y3
	VSHUFPS   $0x44, Y14, Y12, Y4
	VSHUFPS   $0xEE, Y14, Y12, Y5
	VSHUFPS   $0x44, Y15, Y13, Y6
	VSHUFPS   $0xEE, Y15, Y13, Y7
	VPERM2F128 $0x20, Y4, Y0, Y8
	VPERM2F128 $0x20, Y5, Y1, Y9
	VPERM2F128 $0x20, Y6, Y2, Y10
	VPERM2F128 $0x20, Y7, Y3, Y11
	VPERM2F128 $0x31, Y4, Y0, Y12
	VPERM2F128 $0x31, Y5, Y1, Y13
	VPERM2F128 $0x31, Y6, Y2, Y14
	VPERM2F128 $0x31, Y7, Y3, Y15

	LEAQ    (DI)(R8*4), R11
	VMOVUPS Y8, (DI)
	VMOVUPS Y9, (DI)(R8*1)
	VMOVUPS Y10, (DI)(R8*2)
	VMOVUPS Y11, (DI)(R12*1)
	VMOVUPS Y12, (R11)
	VMOVUPS Y13, (R11)(R8*1)
	VMOVUPS Y14, (R11)(R8*2)
	VMOVUPS Y15, (R11)(R12*1)

	// Next group: eight output pixels on.
	LEAQ (SI)(R13*8), SI
	ADDQ $32, DI
	DECQ BX
	JNZ  group
	VZEROUPPER
	RET
