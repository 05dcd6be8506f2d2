//go:build !purego

#include "textflag.h"

// The constants of Exp's polynomial (see exp.go and sigmoid.go) go into
// Y4..Y15; EXPCORE then computes e^Y0 into Y3 (Y0 clamped to [Y14, Y15]
// first, NaN kept: VMAXPS/VMINPS return their second source, the data,
// when either is NaN), clobbering Y0..Y2. 2^n is applied as 2^(n>>1) times
// 2^(n-(n>>1)), both normal floats, so that results in float32's
// subnormal range come out right.
#define EXPCONSTS(lo, hi) \
	MOVL $hi, AX; VMOVD AX, X15; VBROADCASTSS X15, Y15; \
	MOVL $lo, AX; VMOVD AX, X14; VBROADCASTSS X14, Y14; \
	MOVL $0x3fb8aa3b, AX; VMOVD AX, X13; VBROADCASTSS X13, Y13; \
	MOVL $0x3f318000, AX; VMOVD AX, X12; VBROADCASTSS X12, Y12; \
	MOVL $0xb95e8083, AX; VMOVD AX, X11; VBROADCASTSS X11, Y11; \
	MOVL $0x39506967, AX; VMOVD AX, X10; VBROADCASTSS X10, Y10; \
	MOVL $0x3ab743ce, AX; VMOVD AX, X9; VBROADCASTSS X9, Y9; \
	MOVL $0x3c088908, AX; VMOVD AX, X8; VBROADCASTSS X8, Y8; \
	MOVL $0x3d2aa9c1, AX; VMOVD AX, X7; VBROADCASTSS X7, Y7; \
	MOVL $0x3e2aaaaa, AX; VMOVD AX, X6; VBROADCASTSS X6, Y6; \
	MOVL $0x3f000000, AX; VMOVD AX, X5; VBROADCASTSS X5, Y5; \
	MOVL $0x3f800000, AX; VMOVD AX, X4; VBROADCASTSS X4, Y4

#define EXPCORE \
	VMAXPS  Y0, Y14, Y0; \
	VMINPS  Y0, Y15, Y0; \
	VMULPS  Y13, Y0, Y1; \
	VROUNDPS $0, Y1, Y1; \
	VMOVAPS Y0, Y2; \
	VFNMADD231PS Y12, Y1, Y2; \
	VFNMADD231PS Y11, Y1, Y2; \
	VMOVAPS Y10, Y3; \
	VFMADD213PS Y9, Y2, Y3; \
	VFMADD213PS Y8, Y2, Y3; \
	VFMADD213PS Y7, Y2, Y3; \
	VFMADD213PS Y6, Y2, Y3; \
	VFMADD213PS Y5, Y2, Y3; \
	VMULPS  Y2, Y2, Y0; \
	VFMADD213PS Y2, Y0, Y3; \
	VADDPS  Y4, Y3, Y3; \
	VCVTPS2DQ Y1, Y1; \
	VPSRAD  $1, Y1, Y0; \
	VPSUBD  Y0, Y1, Y1; \
	VPSLLD  $23, Y0, Y0; \
	VPADDD  Y4, Y0, Y0; \
	VPSLLD  $23, Y1, Y1; \
	VPADDD  Y4, Y1, Y1; \
	VMULPS  Y0, Y3, Y3; \
	VMULPS  Y1, Y3, Y3

// func expAVX2(dst, src *float32, n int)
// Exp on n floats, n a positive multiple of 8.
TEXT ·expAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	EXPCONSTS(0xc2d00000, 0x42b20000)

exploop:
	VMOVUPS (SI), Y0
	EXPCORE
	VMOVUPS Y3, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     exploop
	VZEROUPPER
	RET

// func siluAVX2(dst, src *float32, n int)
// SiLU on n floats, n a positive multiple of 8: Sigmoid's steps (e^-x
// with -x clamped to [-88, 88]; sigmoid.go), then the product with x.
TEXT ·siluAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	EXPCONSTS(0xc2b00000, 0x42b00000)

siluloop:
	VXORPS  Y0, Y0, Y0
	VSUBPS  (SI), Y0, Y0
	EXPCORE
	VADDPS  Y4, Y3, Y3
	VDIVPS  Y3, Y4, Y3
	VMULPS  (SI), Y3, Y3
	VMOVUPS Y3, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     siluloop
	VZEROUPPER
	RET

// func tanhAVX2(dst, src *float32, n int)
// Tanh on n floats, n a positive multiple of 8: for |x| <= 0.625 the odd
// polynomial x + x·z·T(z), z = x², otherwise sign(x)·(1 − 2/(e^(2|x|)+1)),
// chosen per element by a blend (tanh.go).
TEXT ·tanhAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	EXPCONSTS(0xc2d00000, 0x42b20000)

tanhloop:
	VMOVUPS (SI), Y0
	VANDPS  tanhAbs<>(SB), Y0, Y0
	VADDPS  Y0, Y0, Y0           // 2|x|
	EXPCORE                      // Y3 = e^(2|x|)
	VADDPS  Y4, Y3, Y3
	VMOVUPS tanhTwo<>(SB), Y1
	VDIVPS  Y3, Y1, Y1           // 2/(e+1)
	VSUBPS  Y1, Y4, Y3           // 1 - 2/(e+1)
	VMOVUPS (SI), Y0
	VMULPS  Y0, Y0, Y1           // z = x²
	VMOVUPS tanhT0<>(SB), Y2
	VFMADD213PS tanhT1<>(SB), Y1, Y2
	VFMADD213PS tanhT2<>(SB), Y1, Y2
	VFMADD213PS tanhT3<>(SB), Y1, Y2
	VFMADD213PS tanhT4<>(SB), Y1, Y2
	VMULPS  Y0, Y1, Y1           // x·z
	VFMADD213PS Y0, Y1, Y2       // x + x·z·T(z)
	VANDPS  tanhAbs<>(SB), Y0, Y0
	VCMPPS  $2, tanhCut<>(SB), Y0, Y0 // |x| <= 0.625
	VBLENDVPS Y0, Y2, Y3, Y3
	VMOVUPS (SI), Y0
	VANDPS  tanhSign<>(SB), Y0, Y0
	VORPS   Y0, Y3, Y3           // x's sign (−0 included)
	VMOVUPS Y3, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     tanhloop
	VZEROUPPER
	RET

DATA tanhAbs<>+0(SB)/4, $0x7fffffff
DATA tanhAbs<>+4(SB)/4, $0x7fffffff
DATA tanhAbs<>+8(SB)/4, $0x7fffffff
DATA tanhAbs<>+12(SB)/4, $0x7fffffff
DATA tanhAbs<>+16(SB)/4, $0x7fffffff
DATA tanhAbs<>+20(SB)/4, $0x7fffffff
DATA tanhAbs<>+24(SB)/4, $0x7fffffff
DATA tanhAbs<>+28(SB)/4, $0x7fffffff
GLOBL tanhAbs<>(SB), RODATA|NOPTR, $32
DATA tanhSign<>+0(SB)/4, $0x80000000
DATA tanhSign<>+4(SB)/4, $0x80000000
DATA tanhSign<>+8(SB)/4, $0x80000000
DATA tanhSign<>+12(SB)/4, $0x80000000
DATA tanhSign<>+16(SB)/4, $0x80000000
DATA tanhSign<>+20(SB)/4, $0x80000000
DATA tanhSign<>+24(SB)/4, $0x80000000
DATA tanhSign<>+28(SB)/4, $0x80000000
GLOBL tanhSign<>(SB), RODATA|NOPTR, $32
DATA tanhTwo<>+0(SB)/4, $0x40000000
DATA tanhTwo<>+4(SB)/4, $0x40000000
DATA tanhTwo<>+8(SB)/4, $0x40000000
DATA tanhTwo<>+12(SB)/4, $0x40000000
DATA tanhTwo<>+16(SB)/4, $0x40000000
DATA tanhTwo<>+20(SB)/4, $0x40000000
DATA tanhTwo<>+24(SB)/4, $0x40000000
DATA tanhTwo<>+28(SB)/4, $0x40000000
GLOBL tanhTwo<>(SB), RODATA|NOPTR, $32
DATA tanhCut<>+0(SB)/4, $0x3f200000
DATA tanhCut<>+4(SB)/4, $0x3f200000
DATA tanhCut<>+8(SB)/4, $0x3f200000
DATA tanhCut<>+12(SB)/4, $0x3f200000
DATA tanhCut<>+16(SB)/4, $0x3f200000
DATA tanhCut<>+20(SB)/4, $0x3f200000
DATA tanhCut<>+24(SB)/4, $0x3f200000
DATA tanhCut<>+28(SB)/4, $0x3f200000
GLOBL tanhCut<>(SB), RODATA|NOPTR, $32
DATA tanhT0<>+0(SB)/4, $0xbbbaf0ea
DATA tanhT0<>+4(SB)/4, $0xbbbaf0ea
DATA tanhT0<>+8(SB)/4, $0xbbbaf0ea
DATA tanhT0<>+12(SB)/4, $0xbbbaf0ea
DATA tanhT0<>+16(SB)/4, $0xbbbaf0ea
DATA tanhT0<>+20(SB)/4, $0xbbbaf0ea
DATA tanhT0<>+24(SB)/4, $0xbbbaf0ea
DATA tanhT0<>+28(SB)/4, $0xbbbaf0ea
GLOBL tanhT0<>(SB), RODATA|NOPTR, $32
DATA tanhT1<>+0(SB)/4, $0x3ca9134e
DATA tanhT1<>+4(SB)/4, $0x3ca9134e
DATA tanhT1<>+8(SB)/4, $0x3ca9134e
DATA tanhT1<>+12(SB)/4, $0x3ca9134e
DATA tanhT1<>+16(SB)/4, $0x3ca9134e
DATA tanhT1<>+20(SB)/4, $0x3ca9134e
DATA tanhT1<>+24(SB)/4, $0x3ca9134e
DATA tanhT1<>+28(SB)/4, $0x3ca9134e
GLOBL tanhT1<>(SB), RODATA|NOPTR, $32
DATA tanhT2<>+0(SB)/4, $0xbd5c1e2d
DATA tanhT2<>+4(SB)/4, $0xbd5c1e2d
DATA tanhT2<>+8(SB)/4, $0xbd5c1e2d
DATA tanhT2<>+12(SB)/4, $0xbd5c1e2d
DATA tanhT2<>+16(SB)/4, $0xbd5c1e2d
DATA tanhT2<>+20(SB)/4, $0xbd5c1e2d
DATA tanhT2<>+24(SB)/4, $0xbd5c1e2d
DATA tanhT2<>+28(SB)/4, $0xbd5c1e2d
GLOBL tanhT2<>(SB), RODATA|NOPTR, $32
DATA tanhT3<>+0(SB)/4, $0x3e088393
DATA tanhT3<>+4(SB)/4, $0x3e088393
DATA tanhT3<>+8(SB)/4, $0x3e088393
DATA tanhT3<>+12(SB)/4, $0x3e088393
DATA tanhT3<>+16(SB)/4, $0x3e088393
DATA tanhT3<>+20(SB)/4, $0x3e088393
DATA tanhT3<>+24(SB)/4, $0x3e088393
DATA tanhT3<>+28(SB)/4, $0x3e088393
GLOBL tanhT3<>(SB), RODATA|NOPTR, $32
DATA tanhT4<>+0(SB)/4, $0xbeaaaa99
DATA tanhT4<>+4(SB)/4, $0xbeaaaa99
DATA tanhT4<>+8(SB)/4, $0xbeaaaa99
DATA tanhT4<>+12(SB)/4, $0xbeaaaa99
DATA tanhT4<>+16(SB)/4, $0xbeaaaa99
DATA tanhT4<>+20(SB)/4, $0xbeaaaa99
DATA tanhT4<>+24(SB)/4, $0xbeaaaa99
DATA tanhT4<>+28(SB)/4, $0xbeaaaa99
GLOBL tanhT4<>(SB), RODATA|NOPTR, $32
