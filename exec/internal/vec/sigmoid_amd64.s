//go:build !purego

#include "textflag.h"

// func sigmoidAVX2(dst, src *float32, n int)
// Sigmoid's steps on 8 floats at a time (see sigmoid.go); n a positive
// multiple of 8. VMAXPS/VMINPS take the data as their second source so
// that a NaN passes through, and every later step keeps it.
TEXT ·sigmoidAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	MOVL $0x42b00000, AX    // 88
	VMOVD AX, X15
	VBROADCASTSS X15, Y15
	MOVL $0xc2b00000, AX    // -88
	VMOVD AX, X14
	VBROADCASTSS X14, Y14
	MOVL $0x3fb8aa3b, AX    // log2(e)
	VMOVD AX, X13
	VBROADCASTSS X13, Y13
	MOVL $0x3f318000, AX    // ln2 hi 0.693359375
	VMOVD AX, X12
	VBROADCASTSS X12, Y12
	MOVL $0xb95e8083, AX    // ln2 lo -2.12194440e-4
	VMOVD AX, X11
	VBROADCASTSS X11, Y11
	MOVL $0x39506967, AX    // p0 1.9875691500e-4
	VMOVD AX, X10
	VBROADCASTSS X10, Y10
	MOVL $0x3ab743ce, AX    // p1 1.3981999507e-3
	VMOVD AX, X9
	VBROADCASTSS X9, Y9
	MOVL $0x3c088908, AX    // p2 8.3334519073e-3
	VMOVD AX, X8
	VBROADCASTSS X8, Y8
	MOVL $0x3d2aa9c1, AX    // p3 4.1665795894e-2
	VMOVD AX, X7
	VBROADCASTSS X7, Y7
	MOVL $0x3e2aaaaa, AX    // p4 1.6666665459e-1
	VMOVD AX, X6
	VBROADCASTSS X6, Y6
	MOVL $0x3f000000, AX    // p5 0.5 (5.0000001201e-1 rounds to it)
	VMOVD AX, X5
	VBROADCASTSS X5, Y5
	MOVL $0x3f800000, AX    // 1
	VMOVD AX, X4
	VBROADCASTSS X4, Y4

loop:
	VMOVUPS (SI), Y0
	VXORPS  Y1, Y1, Y1
	VSUBPS  Y0, Y1, Y0         // t = -x
	VMAXPS  Y0, Y14, Y0        // max(-88, t), NaN kept
	VMINPS  Y0, Y15, Y0        // min(88, t), NaN kept
	VMULPS  Y13, Y0, Y1
	VROUNDPS $0, Y1, Y1        // n = round(t·log2e), to nearest even
	VMOVAPS Y0, Y2
	VFNMADD231PS Y12, Y1, Y2   // r = t - n·ln2hi
	VFNMADD231PS Y11, Y1, Y2   // r -= n·ln2lo
	VMOVAPS Y10, Y3            // p = p0
	VFMADD213PS Y9, Y2, Y3     // p = p·r + p1
	VFMADD213PS Y8, Y2, Y3
	VFMADD213PS Y7, Y2, Y3
	VFMADD213PS Y6, Y2, Y3
	VFMADD213PS Y5, Y2, Y3     // p = p·r + p5
	VMULPS  Y2, Y2, Y0         // r²
	VFMADD213PS Y2, Y0, Y3     // p = p·r² + r
	VADDPS  Y4, Y3, Y3         // p += 1
	VCVTPS2DQ Y1, Y1           // n as int32
	VPSLLD  $23, Y1, Y1
	VPADDD  Y4, Y1, Y1         // bits of 2^n: (n+127)<<23 = n<<23 + bits(1)
	VMULPS  Y1, Y3, Y3         // e = p·2^n
	VADDPS  Y4, Y3, Y3         // 1 + e
	VDIVPS  Y3, Y4, Y3         // 1 / (1 + e)
	VMOVUPS Y3, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     loop
	VZEROUPPER
	RET
