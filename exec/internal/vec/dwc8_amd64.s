//go:build !purego

#include "textflag.h"

// DWC_T8_STORE transposes Y0..Y7, pixel i's eight channels in Y(i), so
// that Y(8+c) holds channel c's eight pixels, and stores channel c's at
// BASE + c·ldo (ldo in bytes in R8, 3·ldo in R12; R11 is clobbered).
#define DWC_T8_STORE(BASE) \
	VUNPCKLPS  Y1, Y0, Y8;            \
	VUNPCKHPS  Y1, Y0, Y9;            \
	VUNPCKLPS  Y3, Y2, Y10;           \
	VUNPCKHPS  Y3, Y2, Y11;           \
	VUNPCKLPS  Y5, Y4, Y12;           \
	VUNPCKHPS  Y5, Y4, Y13;           \
	VUNPCKLPS  Y7, Y6, Y14;           \
	VUNPCKHPS  Y7, Y6, Y15;           \
	VSHUFPS    $0x44, Y10, Y8, Y0;    \
	VSHUFPS    $0xEE, Y10, Y8, Y1;    \
	VSHUFPS    $0x44, Y11, Y9, Y2;    \
	VSHUFPS    $0xEE, Y11, Y9, Y3;    \
	VSHUFPS    $0x44, Y14, Y12, Y4;   \
	VSHUFPS    $0xEE, Y14, Y12, Y5;   \
	VSHUFPS    $0x44, Y15, Y13, Y6;   \
	VSHUFPS    $0xEE, Y15, Y13, Y7;   \
	VPERM2F128 $0x20, Y4, Y0, Y8;     \
	VPERM2F128 $0x20, Y5, Y1, Y9;     \
	VPERM2F128 $0x20, Y6, Y2, Y10;    \
	VPERM2F128 $0x20, Y7, Y3, Y11;    \
	VPERM2F128 $0x31, Y4, Y0, Y12;    \
	VPERM2F128 $0x31, Y5, Y1, Y13;    \
	VPERM2F128 $0x31, Y6, Y2, Y14;    \
	VPERM2F128 $0x31, Y7, Y3, Y15;    \
	LEAQ       (BASE)(R8*4), R11;     \
	VMOVUPS    Y8, (BASE);            \
	VMOVUPS    Y9, (BASE)(R8*1);      \
	VMOVUPS    Y10, (BASE)(R8*2);     \
	VMOVUPS    Y11, (BASE)(R12*1);    \
	VMOVUPS    Y12, (R11);            \
	VMOVUPS    Y13, (R11)(R8*1);      \
	VMOVUPS    Y14, (R11)(R8*2);      \
	VMOVUPS    Y15, (R11)(R12*1)

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

	DWC_T8_STORE(DI)

	// Next group: eight output pixels on.
	LEAQ (SI)(R13*8), SI
	ADDQ $32, DI
	DECQ BX
	JNZ  group
	VZEROUPPER
	RET

// func dwc16AVX512(out *float32, ldo int, in *float32, wp16 int, w, bias *float32, kh, kw, s16, n int, lo, hi float32)
//
// dwc8AVX2 on sixteen channels a pixel: Z0..Z7 accumulate pixel i's
// sixteen channels (the tap's weights in Z8), are clamped, and go to the
// planes eight channels at a time: channels 8..15 (the upper halves, set
// aside in Y16..Y23) after channels 0..7. Registers as in dwc8AVX2, DX
// the second half's first plane.
TEXT ·dwc16AVX512(SB), NOSPLIT, $0-88
	MOVQ out+0(FP), DI
	MOVQ ldo+8(FP), R8
	SHLQ $2, R8
	LEAQ (R8)(R8*2), R12
	MOVQ in+16(FP), SI
	MOVQ wp16+24(FP), R9
	SHLQ $2, R9
	MOVQ s16+64(FP), R13
	SHLQ $2, R13
	LEAQ (R13)(R13*2), R10
	MOVQ n+72(FP), BX

group16:
	MOVQ    bias+40(FP), AX
	VMOVUPS (AX), Z0
	VMOVAPS Z0, Z1
	VMOVAPS Z0, Z2
	VMOVAPS Z0, Z3
	VMOVAPS Z0, Z4
	VMOVAPS Z0, Z5
	VMOVAPS Z0, Z6
	VMOVAPS Z0, Z7
	MOVQ    w+32(FP), AX
	MOVQ    kh+48(FP), CX
	MOVQ    SI, R14

row16:
	MOVQ R14, DX
	MOVQ kw+56(FP), R15

tap16:
	VMOVUPS     (AX), Z8
	LEAQ        (DX)(R13*4), R11
	VFMADD231PS (DX), Z8, Z0
	VFMADD231PS (DX)(R13*1), Z8, Z1
	VFMADD231PS (DX)(R13*2), Z8, Z2
	VFMADD231PS (DX)(R10*1), Z8, Z3
	VFMADD231PS (R11), Z8, Z4
	VFMADD231PS (R11)(R13*1), Z8, Z5
	VFMADD231PS (R11)(R13*2), Z8, Z6
	VFMADD231PS (R11)(R10*1), Z8, Z7
	ADDQ        $64, AX
	ADDQ        $64, DX
	DECQ        R15
	JNZ         tap16
	ADDQ        R9, R14
	DECQ        CX
	JNZ         row16

	// Clamp: the data is the second source, so NaNs stay NaN.
	VBROADCASTSS lo+80(FP), Z8
	VBROADCASTSS hi+84(FP), Z9
	VMAXPS       Z0, Z8, Z0
	VMAXPS       Z1, Z8, Z1
	VMAXPS       Z2, Z8, Z2
	VMAXPS       Z3, Z8, Z3
	VMAXPS       Z4, Z8, Z4
	VMAXPS       Z5, Z8, Z5
	VMAXPS       Z6, Z8, Z6
	VMAXPS       Z7, Z8, Z7
	VMINPS       Z0, Z9, Z0
	VMINPS       Z1, Z9, Z1
	VMINPS       Z2, Z9, Z2
	VMINPS       Z3, Z9, Z3
	VMINPS       Z4, Z9, Z4
	VMINPS       Z5, Z9, Z5
	VMINPS       Z6, Z9, Z6
	VMINPS       Z7, Z9, Z7

	VEXTRACTF64X4 $1, Z0, Y16
	VEXTRACTF64X4 $1, Z1, Y17
	VEXTRACTF64X4 $1, Z2, Y18
	VEXTRACTF64X4 $1, Z3, Y19
	VEXTRACTF64X4 $1, Z4, Y20
	VEXTRACTF64X4 $1, Z5, Y21
	VEXTRACTF64X4 $1, Z6, Y22
	VEXTRACTF64X4 $1, Z7, Y23
	DWC_T8_STORE(DI)
	VMOVAPS       Y16, Y0
	VMOVAPS       Y17, Y1
	VMOVAPS       Y18, Y2
	VMOVAPS       Y19, Y3
	VMOVAPS       Y20, Y4
	VMOVAPS       Y21, Y5
	VMOVAPS       Y22, Y6
	VMOVAPS       Y23, Y7
	LEAQ          (DI)(R8*8), DX
	DWC_T8_STORE(DX)

	// Next group: eight output pixels on.
	LEAQ (SI)(R13*8), SI
	ADDQ $32, DI
	DECQ BX
	JNZ  group16
	VZEROUPPER
	RET
