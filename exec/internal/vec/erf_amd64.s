//go:build !purego

#include "textflag.h"

// Exp's constants and EXPCORE, as in exp_amd64.s (assembly files do not
// share macros).
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

// func erfAVX2(dst, src *float32, n int)
// Erf on n floats, n a positive multiple of 8: both of erf.go's forms,
// chosen per element by a blend; NaNs are ORed back in at the end (the
// clamps drop them).
TEXT ·erfAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	EXPCONSTS(0xc2d00000, 0x42b20000)

loop:
	VMOVUPS (SI), Y0
	VANDPS  erfAbs<>(SB), Y0, Y0
	VMINPS  erfFour<>(SB), Y0, Y0     // a = min(|x|, 4)
	VMULPS  Y0, Y0, Y0
	VXORPS  erfSign<>(SB), Y0, Y0     // -a²
	EXPCORE                           // Y3 = e^(-a²)
	VMOVUPS (SI), Y0
	VANDPS  erfAbs<>(SB), Y0, Y0
	VMINPS  erfFour<>(SB), Y0, Y0
	VMOVUPS erfUScale<>(SB), Y1
	VFMADD213PS erfUShift<>(SB), Y1, Y0   // u
	VMOVUPS erfL12<>(SB), Y1
	VFMADD213PS erfL11<>(SB), Y0, Y1
	VFMADD213PS erfL10<>(SB), Y0, Y1
	VFMADD213PS erfL9<>(SB), Y0, Y1
	VFMADD213PS erfL8<>(SB), Y0, Y1
	VFMADD213PS erfL7<>(SB), Y0, Y1
	VFMADD213PS erfL6<>(SB), Y0, Y1
	VFMADD213PS erfL5<>(SB), Y0, Y1
	VFMADD213PS erfL4<>(SB), Y0, Y1
	VFMADD213PS erfL3<>(SB), Y0, Y1
	VFMADD213PS erfL2<>(SB), Y0, Y1
	VFMADD213PS erfL1<>(SB), Y0, Y1
	VFMADD213PS erfL0<>(SB), Y0, Y1
	VFNMADD213PS Y4, Y3, Y1          // 1 - e·R
	VMOVUPS (SI), Y0
	VANDPS  erfSign<>(SB), Y0, Y2
	VORPS   Y2, Y1, Y1               // x's sign
	VMULPS  Y0, Y0, Y2               // z = x²
	VMOVUPS erfS6<>(SB), Y3
	VFMADD213PS erfS5<>(SB), Y2, Y3
	VFMADD213PS erfS4<>(SB), Y2, Y3
	VFMADD213PS erfS3<>(SB), Y2, Y3
	VFMADD213PS erfS2<>(SB), Y2, Y3
	VFMADD213PS erfS1<>(SB), Y2, Y3
	VFMADD213PS erfS0<>(SB), Y2, Y3
	VFMADD213PS Y0, Y0, Y3           // x + x·P(z)
	VANDPS  erfAbs<>(SB), Y0, Y2
	VCMPPS  $1, Y4, Y2, Y2           // |x| < 1
	VBLENDVPS Y2, Y3, Y1, Y1
	VCMPPS  $3, Y0, Y0, Y2           // NaN
	VORPS   Y2, Y1, Y1
	VMOVUPS Y1, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     loop
	VZEROUPPER
	RET

DATA erfAbs<>+0(SB)/4, $0x7fffffff
DATA erfAbs<>+4(SB)/4, $0x7fffffff
DATA erfAbs<>+8(SB)/4, $0x7fffffff
DATA erfAbs<>+12(SB)/4, $0x7fffffff
DATA erfAbs<>+16(SB)/4, $0x7fffffff
DATA erfAbs<>+20(SB)/4, $0x7fffffff
DATA erfAbs<>+24(SB)/4, $0x7fffffff
DATA erfAbs<>+28(SB)/4, $0x7fffffff
GLOBL erfAbs<>(SB), RODATA|NOPTR, $32
DATA erfSign<>+0(SB)/4, $0x80000000
DATA erfSign<>+4(SB)/4, $0x80000000
DATA erfSign<>+8(SB)/4, $0x80000000
DATA erfSign<>+12(SB)/4, $0x80000000
DATA erfSign<>+16(SB)/4, $0x80000000
DATA erfSign<>+20(SB)/4, $0x80000000
DATA erfSign<>+24(SB)/4, $0x80000000
DATA erfSign<>+28(SB)/4, $0x80000000
GLOBL erfSign<>(SB), RODATA|NOPTR, $32
DATA erfFour<>+0(SB)/4, $0x40800000
DATA erfFour<>+4(SB)/4, $0x40800000
DATA erfFour<>+8(SB)/4, $0x40800000
DATA erfFour<>+12(SB)/4, $0x40800000
DATA erfFour<>+16(SB)/4, $0x40800000
DATA erfFour<>+20(SB)/4, $0x40800000
DATA erfFour<>+24(SB)/4, $0x40800000
DATA erfFour<>+28(SB)/4, $0x40800000
GLOBL erfFour<>(SB), RODATA|NOPTR, $32
DATA erfUScale<>+0(SB)/4, $0x3f2aaaab
DATA erfUScale<>+4(SB)/4, $0x3f2aaaab
DATA erfUScale<>+8(SB)/4, $0x3f2aaaab
DATA erfUScale<>+12(SB)/4, $0x3f2aaaab
DATA erfUScale<>+16(SB)/4, $0x3f2aaaab
DATA erfUScale<>+20(SB)/4, $0x3f2aaaab
DATA erfUScale<>+24(SB)/4, $0x3f2aaaab
DATA erfUScale<>+28(SB)/4, $0x3f2aaaab
GLOBL erfUScale<>(SB), RODATA|NOPTR, $32
DATA erfUShift<>+0(SB)/4, $0xbfd55555
DATA erfUShift<>+4(SB)/4, $0xbfd55555
DATA erfUShift<>+8(SB)/4, $0xbfd55555
DATA erfUShift<>+12(SB)/4, $0xbfd55555
DATA erfUShift<>+16(SB)/4, $0xbfd55555
DATA erfUShift<>+20(SB)/4, $0xbfd55555
DATA erfUShift<>+24(SB)/4, $0xbfd55555
DATA erfUShift<>+28(SB)/4, $0xbfd55555
GLOBL erfUShift<>(SB), RODATA|NOPTR, $32
DATA erfS0<>+0(SB)/4, $0x3e0375d4
DATA erfS0<>+4(SB)/4, $0x3e0375d4
DATA erfS0<>+8(SB)/4, $0x3e0375d4
DATA erfS0<>+12(SB)/4, $0x3e0375d4
DATA erfS0<>+16(SB)/4, $0x3e0375d4
DATA erfS0<>+20(SB)/4, $0x3e0375d4
DATA erfS0<>+24(SB)/4, $0x3e0375d4
DATA erfS0<>+28(SB)/4, $0x3e0375d4
GLOBL erfS0<>(SB), RODATA|NOPTR, $32
DATA erfS1<>+0(SB)/4, $0xbec0939f
DATA erfS1<>+4(SB)/4, $0xbec0939f
DATA erfS1<>+8(SB)/4, $0xbec0939f
DATA erfS1<>+12(SB)/4, $0xbec0939f
DATA erfS1<>+16(SB)/4, $0xbec0939f
DATA erfS1<>+20(SB)/4, $0xbec0939f
DATA erfS1<>+24(SB)/4, $0xbec0939f
DATA erfS1<>+28(SB)/4, $0xbec0939f
GLOBL erfS1<>(SB), RODATA|NOPTR, $32
DATA erfS2<>+0(SB)/4, $0x3de71678
DATA erfS2<>+4(SB)/4, $0x3de71678
DATA erfS2<>+8(SB)/4, $0x3de71678
DATA erfS2<>+12(SB)/4, $0x3de71678
DATA erfS2<>+16(SB)/4, $0x3de71678
DATA erfS2<>+20(SB)/4, $0x3de71678
DATA erfS2<>+24(SB)/4, $0x3de71678
DATA erfS2<>+28(SB)/4, $0x3de71678
GLOBL erfS2<>(SB), RODATA|NOPTR, $32
DATA erfS3<>+0(SB)/4, $0xbcdbfc46
DATA erfS3<>+4(SB)/4, $0xbcdbfc46
DATA erfS3<>+8(SB)/4, $0xbcdbfc46
DATA erfS3<>+12(SB)/4, $0xbcdbfc46
DATA erfS3<>+16(SB)/4, $0xbcdbfc46
DATA erfS3<>+20(SB)/4, $0xbcdbfc46
DATA erfS3<>+24(SB)/4, $0xbcdbfc46
DATA erfS3<>+28(SB)/4, $0xbcdbfc46
GLOBL erfS3<>(SB), RODATA|NOPTR, $32
DATA erfS4<>+0(SB)/4, $0x3baa00f0
DATA erfS4<>+4(SB)/4, $0x3baa00f0
DATA erfS4<>+8(SB)/4, $0x3baa00f0
DATA erfS4<>+12(SB)/4, $0x3baa00f0
DATA erfS4<>+16(SB)/4, $0x3baa00f0
DATA erfS4<>+20(SB)/4, $0x3baa00f0
DATA erfS4<>+24(SB)/4, $0x3baa00f0
DATA erfS4<>+28(SB)/4, $0x3baa00f0
GLOBL erfS4<>(SB), RODATA|NOPTR, $32
DATA erfS5<>+0(SB)/4, $0xba51ee16
DATA erfS5<>+4(SB)/4, $0xba51ee16
DATA erfS5<>+8(SB)/4, $0xba51ee16
DATA erfS5<>+12(SB)/4, $0xba51ee16
DATA erfS5<>+16(SB)/4, $0xba51ee16
DATA erfS5<>+20(SB)/4, $0xba51ee16
DATA erfS5<>+24(SB)/4, $0xba51ee16
DATA erfS5<>+28(SB)/4, $0xba51ee16
GLOBL erfS5<>(SB), RODATA|NOPTR, $32
DATA erfS6<>+0(SB)/4, $0x38a491ad
DATA erfS6<>+4(SB)/4, $0x38a491ad
DATA erfS6<>+8(SB)/4, $0x38a491ad
DATA erfS6<>+12(SB)/4, $0x38a491ad
DATA erfS6<>+16(SB)/4, $0x38a491ad
DATA erfS6<>+20(SB)/4, $0x38a491ad
DATA erfS6<>+24(SB)/4, $0x38a491ad
DATA erfS6<>+28(SB)/4, $0x38a491ad
GLOBL erfS6<>(SB), RODATA|NOPTR, $32
DATA erfL0<>+0(SB)/4, $0x3e57dda0
DATA erfL0<>+4(SB)/4, $0x3e57dda0
DATA erfL0<>+8(SB)/4, $0x3e57dda0
DATA erfL0<>+12(SB)/4, $0x3e57dda0
DATA erfL0<>+16(SB)/4, $0x3e57dda0
DATA erfL0<>+20(SB)/4, $0x3e57dda0
DATA erfL0<>+24(SB)/4, $0x3e57dda0
DATA erfL0<>+28(SB)/4, $0x3e57dda0
GLOBL erfL0<>(SB), RODATA|NOPTR, $32
DATA erfL1<>+0(SB)/4, $0xbde46520
DATA erfL1<>+4(SB)/4, $0xbde46520
DATA erfL1<>+8(SB)/4, $0xbde46520
DATA erfL1<>+12(SB)/4, $0xbde46520
DATA erfL1<>+16(SB)/4, $0xbde46520
DATA erfL1<>+20(SB)/4, $0xbde46520
DATA erfL1<>+24(SB)/4, $0xbde46520
DATA erfL1<>+28(SB)/4, $0xbde46520
GLOBL erfL1<>(SB), RODATA|NOPTR, $32
DATA erfL2<>+0(SB)/4, $0x3d65d424
DATA erfL2<>+4(SB)/4, $0x3d65d424
DATA erfL2<>+8(SB)/4, $0x3d65d424
DATA erfL2<>+12(SB)/4, $0x3d65d424
DATA erfL2<>+16(SB)/4, $0x3d65d424
DATA erfL2<>+20(SB)/4, $0x3d65d424
DATA erfL2<>+24(SB)/4, $0x3d65d424
DATA erfL2<>+28(SB)/4, $0x3d65d424
GLOBL erfL2<>(SB), RODATA|NOPTR, $32
DATA erfL3<>+0(SB)/4, $0xbcdd3aff
DATA erfL3<>+4(SB)/4, $0xbcdd3aff
DATA erfL3<>+8(SB)/4, $0xbcdd3aff
DATA erfL3<>+12(SB)/4, $0xbcdd3aff
DATA erfL3<>+16(SB)/4, $0xbcdd3aff
DATA erfL3<>+20(SB)/4, $0xbcdd3aff
DATA erfL3<>+24(SB)/4, $0xbcdd3aff
DATA erfL3<>+28(SB)/4, $0xbcdd3aff
GLOBL erfL3<>(SB), RODATA|NOPTR, $32
DATA erfL4<>+0(SB)/4, $0x3c4c9f66
DATA erfL4<>+4(SB)/4, $0x3c4c9f66
DATA erfL4<>+8(SB)/4, $0x3c4c9f66
DATA erfL4<>+12(SB)/4, $0x3c4c9f66
DATA erfL4<>+16(SB)/4, $0x3c4c9f66
DATA erfL4<>+20(SB)/4, $0x3c4c9f66
DATA erfL4<>+24(SB)/4, $0x3c4c9f66
DATA erfL4<>+28(SB)/4, $0x3c4c9f66
GLOBL erfL4<>(SB), RODATA|NOPTR, $32
DATA erfL5<>+0(SB)/4, $0xbbb670d5
DATA erfL5<>+4(SB)/4, $0xbbb670d5
DATA erfL5<>+8(SB)/4, $0xbbb670d5
DATA erfL5<>+12(SB)/4, $0xbbb670d5
DATA erfL5<>+16(SB)/4, $0xbbb670d5
DATA erfL5<>+20(SB)/4, $0xbbb670d5
DATA erfL5<>+24(SB)/4, $0xbbb670d5
DATA erfL5<>+28(SB)/4, $0xbbb670d5
GLOBL erfL5<>(SB), RODATA|NOPTR, $32
DATA erfL6<>+0(SB)/4, $0x3b1d8c80
DATA erfL6<>+4(SB)/4, $0x3b1d8c80
DATA erfL6<>+8(SB)/4, $0x3b1d8c80
DATA erfL6<>+12(SB)/4, $0x3b1d8c80
DATA erfL6<>+16(SB)/4, $0x3b1d8c80
DATA erfL6<>+20(SB)/4, $0x3b1d8c80
DATA erfL6<>+24(SB)/4, $0x3b1d8c80
DATA erfL6<>+28(SB)/4, $0x3b1d8c80
GLOBL erfL6<>(SB), RODATA|NOPTR, $32
DATA erfL7<>+0(SB)/4, $0xba853821
DATA erfL7<>+4(SB)/4, $0xba853821
DATA erfL7<>+8(SB)/4, $0xba853821
DATA erfL7<>+12(SB)/4, $0xba853821
DATA erfL7<>+16(SB)/4, $0xba853821
DATA erfL7<>+20(SB)/4, $0xba853821
DATA erfL7<>+24(SB)/4, $0xba853821
DATA erfL7<>+28(SB)/4, $0xba853821
GLOBL erfL7<>(SB), RODATA|NOPTR, $32
DATA erfL8<>+0(SB)/4, $0x39d6f3db
DATA erfL8<>+4(SB)/4, $0x39d6f3db
DATA erfL8<>+8(SB)/4, $0x39d6f3db
DATA erfL8<>+12(SB)/4, $0x39d6f3db
DATA erfL8<>+16(SB)/4, $0x39d6f3db
DATA erfL8<>+20(SB)/4, $0x39d6f3db
DATA erfL8<>+24(SB)/4, $0x39d6f3db
DATA erfL8<>+28(SB)/4, $0x39d6f3db
GLOBL erfL8<>(SB), RODATA|NOPTR, $32
DATA erfL9<>+0(SB)/4, $0xb917b8bf
DATA erfL9<>+4(SB)/4, $0xb917b8bf
DATA erfL9<>+8(SB)/4, $0xb917b8bf
DATA erfL9<>+12(SB)/4, $0xb917b8bf
DATA erfL9<>+16(SB)/4, $0xb917b8bf
DATA erfL9<>+20(SB)/4, $0xb917b8bf
DATA erfL9<>+24(SB)/4, $0xb917b8bf
DATA erfL9<>+28(SB)/4, $0xb917b8bf
GLOBL erfL9<>(SB), RODATA|NOPTR, $32
DATA erfL10<>+0(SB)/4, $0x38778c7c
DATA erfL10<>+4(SB)/4, $0x38778c7c
DATA erfL10<>+8(SB)/4, $0x38778c7c
DATA erfL10<>+12(SB)/4, $0x38778c7c
DATA erfL10<>+16(SB)/4, $0x38778c7c
DATA erfL10<>+20(SB)/4, $0x38778c7c
DATA erfL10<>+24(SB)/4, $0x38778c7c
DATA erfL10<>+28(SB)/4, $0x38778c7c
GLOBL erfL10<>(SB), RODATA|NOPTR, $32
DATA erfL11<>+0(SB)/4, $0xb819be6a
DATA erfL11<>+4(SB)/4, $0xb819be6a
DATA erfL11<>+8(SB)/4, $0xb819be6a
DATA erfL11<>+12(SB)/4, $0xb819be6a
DATA erfL11<>+16(SB)/4, $0xb819be6a
DATA erfL11<>+20(SB)/4, $0xb819be6a
DATA erfL11<>+24(SB)/4, $0xb819be6a
DATA erfL11<>+28(SB)/4, $0xb819be6a
GLOBL erfL11<>(SB), RODATA|NOPTR, $32
DATA erfL12<>+0(SB)/4, $0x3750ce42
DATA erfL12<>+4(SB)/4, $0x3750ce42
DATA erfL12<>+8(SB)/4, $0x3750ce42
DATA erfL12<>+12(SB)/4, $0x3750ce42
DATA erfL12<>+16(SB)/4, $0x3750ce42
DATA erfL12<>+20(SB)/4, $0x3750ce42
DATA erfL12<>+24(SB)/4, $0x3750ce42
DATA erfL12<>+28(SB)/4, $0x3750ce42
GLOBL erfL12<>(SB), RODATA|NOPTR, $32
