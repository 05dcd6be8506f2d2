//go:build !purego

#include "textflag.h"

// func maxTapsAVX2(dst, src *float32, n int, off *int, taps int)
// dst[i] = max_t src[off[t]+i] for i < n, n a positive multiple of 8; 32
// outputs at a time, then 8. VMAXPS drops a NaN in one of its operands,
// so each tap's NaNs are also gathered (VCMPPS unordered) into a mask
// that is ORed into the result at the end: all-ones bits are a NaN.
TEXT ·maxTapsAVX2(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVL $0xff800000, AX    // -Inf
	VMOVD AX, X15
	VBROADCASTSS X15, Y15
	MOVQ CX, DX
	SHRQ $5, CX
	JZ   tail

loop32:
	VMOVAPS Y15, Y0
	VMOVAPS Y15, Y1
	VMOVAPS Y15, Y2
	VMOVAPS Y15, Y3
	VXORPS  Y4, Y4, Y4
	VXORPS  Y5, Y5, Y5
	VXORPS  Y6, Y6, Y6
	VXORPS  Y7, Y7, Y7
	MOVQ off+24(FP), R8
	MOVQ taps+32(FP), R10

tap32:
	MOVQ (R8), R11
	LEAQ (SI)(R11*4), R11
	VMOVUPS (R11), Y8
	VMOVUPS 32(R11), Y9
	VMOVUPS 64(R11), Y10
	VMOVUPS 96(R11), Y11
	VMAXPS  Y8, Y0, Y0
	VMAXPS  Y9, Y1, Y1
	VMAXPS  Y10, Y2, Y2
	VMAXPS  Y11, Y3, Y3
	VCMPPS  $3, Y8, Y8, Y8
	VCMPPS  $3, Y9, Y9, Y9
	VCMPPS  $3, Y10, Y10, Y10
	VCMPPS  $3, Y11, Y11, Y11
	VORPS   Y8, Y4, Y4
	VORPS   Y9, Y5, Y5
	VORPS   Y10, Y6, Y6
	VORPS   Y11, Y7, Y7
	ADDQ $8, R8
	DECQ R10
	JNZ  tap32
	VORPS   Y4, Y0, Y0
	VORPS   Y5, Y1, Y1
	VORPS   Y6, Y2, Y2
	VORPS   Y7, Y3, Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ $128, SI
	ADDQ $128, DI
	DECQ CX
	JNZ  loop32

tail:
	ANDQ $31, DX
	SHRQ $3, DX
	JZ   done

loop8:
	VMOVAPS Y15, Y0
	VXORPS  Y4, Y4, Y4
	MOVQ off+24(FP), R8
	MOVQ taps+32(FP), R10

tap8:
	MOVQ (R8), R11
	VMOVUPS (SI)(R11*4), Y8
	VMAXPS  Y8, Y0, Y0
	VCMPPS  $3, Y8, Y8, Y8
	VORPS   Y8, Y4, Y4
	ADDQ $8, R8
	DECQ R10
	JNZ  tap8
	VORPS   Y4, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ DX
	JNZ  loop8

done:
	VZEROUPPER
	RET

// HSUM4PD: X0 = the sum of the float64 lanes of Y0..Y3.
#define HSUM4PD \
	VADDPD Y1, Y0, Y0; \
	VADDPD Y3, Y2, Y2; \
	VADDPD Y2, Y0, Y0; \
	VEXTRACTF128 $1, Y0, X1; \
	VADDPD X1, X0, X0; \
	VHADDPD X0, X0, X0

// func sumAVX2(src *float32, n int) float64
// n a positive multiple of 16: each 4 floats widen to float64 and go to
// one of four accumulators, which are added at the end.
TEXT ·sumAVX2(SB), NOSPLIT, $0-24
	MOVQ src+0(FP), SI
	MOVQ n+8(FP), CX
	SHRQ $4, CX
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3

sumloop:
	VCVTPS2PD (SI), Y4
	VCVTPS2PD 16(SI), Y5
	VCVTPS2PD 32(SI), Y6
	VCVTPS2PD 48(SI), Y7
	VADDPD  Y4, Y0, Y0
	VADDPD  Y5, Y1, Y1
	VADDPD  Y6, Y2, Y2
	VADDPD  Y7, Y3, Y3
	ADDQ $64, SI
	DECQ CX
	JNZ  sumloop
	HSUM4PD
	VZEROUPPER
	MOVSD X0, ret+16(FP)
	RET

// func maxAVX2(src *float32, n int) float32
// n a positive multiple of 16: the largest of src by VMAXPS, in two
// accumulators reduced at the end. A NaN may or may not survive
// (VMAXPS returns its second source when either is NaN); see Max.
TEXT ·maxAVX2(SB), NOSPLIT, $0-20
	MOVQ src+0(FP), SI
	MOVQ n+8(FP), CX
	SHRQ $4, CX
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1

maxloop:
	VMAXPS (SI), Y0, Y0
	VMAXPS 32(SI), Y1, Y1
	ADDQ $64, SI
	DECQ CX
	JNZ  maxloop
	VMAXPS Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VMAXPS X1, X0, X0
	VPERMILPS $0x4e, X0, X1
	VMAXPS X1, X0, X0
	VPERMILPS $0xb1, X0, X1
	VMAXPS X1, X0, X0
	VZEROUPPER
	MOVSS X0, ret+16(FP)
	RET

// func dotAVX2(a, b *float32, n int) float64
// n a positive multiple of 16: each 4 products widen to float64 (the
// factors widened first, so that each product is exact) and go to one
// of four accumulators, which are added at the end.
TEXT ·dotAVX2(SB), NOSPLIT, $0-32
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ n+16(FP), CX
	SHRQ $4, CX
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3

dotloop:
	VCVTPS2PD (SI), Y4
	VCVTPS2PD 16(SI), Y5
	VCVTPS2PD 32(SI), Y6
	VCVTPS2PD 48(SI), Y7
	VCVTPS2PD (DI), Y8
	VCVTPS2PD 16(DI), Y9
	VCVTPS2PD 32(DI), Y10
	VCVTPS2PD 48(DI), Y11
	VFMADD231PD Y8, Y4, Y0
	VFMADD231PD Y9, Y5, Y1
	VFMADD231PD Y10, Y6, Y2
	VFMADD231PD Y11, Y7, Y3
	ADDQ $64, SI
	ADDQ $64, DI
	DECQ CX
	JNZ  dotloop
	HSUM4PD
	VZEROUPPER
	MOVSD X0, ret+24(FP)
	RET
