//go:build !purego

#include "textflag.h"

// AVX-512 Exp, SiLU and Sigmoid: the AVX2 kernels' steps (exp_amd64.s,
// sigmoid_amd64.s) on sixteen floats at a time, except that 2^n is
// applied by VSCALEFPS, one rounding of p·2^n as the AVX2 kernels' two
// exact-then-rounding multiplications give: the results are the same
// bit for bit. Constants in Z4..Z15 as there; ECORE computes e^Z0 into
// Z3, clobbering Z0..Z2.
#define ECONST(bits, X, Z) MOVL $bits, AX; VMOVD AX, X; VBROADCASTSS X, Z

#define ECONSTS(lo, hi) \
	ECONST(hi, X15, Z15); \
	ECONST(lo, X14, Z14); \
	ECONST(0x3fb8aa3b, X13, Z13); \
	ECONST(0x3f318000, X12, Z12); \
	ECONST(0xb95e8083, X11, Z11); \
	ECONST(0x39506967, X10, Z10); \
	ECONST(0x3ab743ce, X9, Z9); \
	ECONST(0x3c088908, X8, Z8); \
	ECONST(0x3d2aa9c1, X7, Z7); \
	ECONST(0x3e2aaaaa, X6, Z6); \
	ECONST(0x3f000000, X5, Z5); \
	ECONST(0x3f800000, X4, Z4)

#define ECORE \
	VMAXPS  Z0, Z14, Z0; \
	VMINPS  Z0, Z15, Z0; \
	VMULPS  Z13, Z0, Z1; \
	VRNDSCALEPS $0, Z1, Z1; \
	VMOVAPS Z0, Z2; \
	VFNMADD231PS Z12, Z1, Z2; \
	VFNMADD231PS Z11, Z1, Z2; \
	VMOVAPS Z10, Z3; \
	VFMADD213PS Z9, Z2, Z3; \
	VFMADD213PS Z8, Z2, Z3; \
	VFMADD213PS Z7, Z2, Z3; \
	VFMADD213PS Z6, Z2, Z3; \
	VFMADD213PS Z5, Z2, Z3; \
	VMULPS  Z2, Z2, Z0; \
	VFMADD213PS Z2, Z0, Z3; \
	VADDPS  Z4, Z3, Z3; \
	VSCALEFPS Z1, Z3, Z3

#define ARGS16 \
	MOVQ dst+0(FP), DI; \
	MOVQ src+8(FP), SI; \
	MOVQ n+16(FP), CX; \
	SHRQ $4, CX

#define NEXT16(label) \
	ADDQ $64, SI; \
	ADDQ $64, DI; \
	DECQ CX; \
	JNZ  label; \
	VZEROUPPER; \
	RET

// SIGMOID16: Z3 = 1 / (1 + e^-x) for the sixteen floats at SI, −x
// clamped to [−88, 88] (ECONSTS(−88, 88)).
#define SIGMOID16 \
	VXORPS  Z0, Z0, Z0; \
	VSUBPS  (SI), Z0, Z0; \
	ECORE; \
	VADDPS  Z4, Z3, Z3; \
	VDIVPS  Z3, Z4, Z3

// func expAVX512(dst, src *float32, n int)
// Exp on n floats, n a positive multiple of 16.
TEXT ·expAVX512(SB), NOSPLIT, $0-24
	ARGS16
	ECONSTS(0xc2d00000, 0x42b20000)

exploop:
	VMOVUPS (SI), Z0
	ECORE
	VMOVUPS Z3, (DI)
	NEXT16(exploop)

// func siluAVX512(dst, src *float32, n int)
// SiLU on n floats, n a positive multiple of 16: x / (1 + e^-x), -x
// clamped to [-88, 88], as siluAVX2.
TEXT ·siluAVX512(SB), NOSPLIT, $0-24
	ARGS16
	ECONSTS(0xc2b00000, 0x42b00000)

siluloop:
	SIGMOID16
	VMULPS  (SI), Z3, Z3
	VMOVUPS Z3, (DI)
	NEXT16(siluloop)

// func sigmoidAVX512(dst, src *float32, n int)
// Sigmoid on n floats, n a positive multiple of 16, as sigmoidAVX2.
TEXT ·sigmoidAVX512(SB), NOSPLIT, $0-24
	ARGS16
	ECONSTS(0xc2b00000, 0x42b00000)

sigloop:
	SIGMOID16
	VMOVUPS Z3, (DI)
	NEXT16(sigloop)
