package qgemm

import "math"

// Bounds are a quantized output's limits: the dtype's range [Lo, Hi]
// (0..255 for uint8, -128..127 for int8) and its zero point ZP.
type Bounds struct{ Lo, Hi, ZP int32 }

// shifted returns the range of the value before the zero point is added,
// as float32 (exact: every bound is an integer below 2^24 in magnitude).
func (q Bounds) shifted() (lo, hi float32) {
	return float32(q.Lo - q.ZP), float32(q.Hi - q.ZP)
}

// Requantize sets dst[i] to ONNX Runtime's requantization of the int32
// sum src[i]+bias (wrapping) with scale, for i < len(dst):
//
//	v = float32(src[i]+bias) · scale
//	dst[i] = clamp(roundHalfEven(v) + q.ZP, q.Lo, q.Hi)
//
// A NaN v gives q.Lo. Clamping before rounding, as the loops do, gives the
// same result as after, since the bounds are integers. src must be at
// least as long as dst.
func Requantize(dst []int64, src []int32, bias int32, scale float32, q Bounds) {
	src = src[:len(dst)]
	lo, hi := q.shifted()
	n := requantBlocks(dst, src, bias, scale, lo, hi, q.ZP)
	requantGo(dst[n:], src[n:], bias, scale, lo, hi, q.ZP)
}

// requantGo is Requantize one element at a time, with lo and hi the
// bounds less the zero point.
func requantGo(dst []int64, src []int32, bias int32, scale, lo, hi float32, zp int32) {
	src = src[:len(dst)]
	for i, a := range src {
		dst[i] = int64(roundClamp(float32(a+bias)*scale, lo, hi) + zp)
	}
}

// Quantize sets dst[i] to the quantization of src[i] with scale, as ONNX's
// QuantizeLinear (and ONNX Runtime) compute it, for i < len(dst):
//
//	dst[i] = clamp(roundHalfEven(src[i] / scale) + q.ZP, q.Lo, q.Hi)
//
// A NaN quotient gives q.Lo. src must be at least as long as dst.
func Quantize(dst []int64, src []float32, scale float32, q Bounds) {
	src = src[:len(dst)]
	lo, hi := q.shifted()
	n := quantizeBlocks(dst, src, scale, lo, hi, q.ZP)
	quantizeGo(dst[n:], src[n:], scale, lo, hi, q.ZP)
}

// quantizeGo is Quantize one element at a time, with lo and hi the bounds
// less the zero point.
func quantizeGo(dst []int64, src []float32, scale, lo, hi float32, zp int32) {
	src = src[:len(dst)]
	for i, v := range src {
		dst[i] = int64(roundClamp(v/scale, lo, hi) + zp)
	}
}

// roundClamp clamps v to [lo, hi] (NaN to lo) and rounds it half to even.
func roundClamp(v, lo, hi float32) int32 {
	if !(v >= lo) {
		v = lo
	}
	if v > hi {
		v = hi
	}
	return int32(math.RoundToEven(float64(v)))
}

// Dequantize sets dst[i] = float32(int32(src[i]-zp)) · scale for
// i < len(dst), as ONNX's DequantizeLinear (and ONNX Runtime) compute it
// for 8- and 16-bit integers. src must be at least as long as dst.
func Dequantize(dst []float32, src []int64, zp int64, scale float32) {
	src = src[:len(dst)]
	n := dequantizeBlocks(dst, src, zp, scale)
	dequantizeGo(dst[n:], src[n:], zp, scale)
}

// dequantizeGo is Dequantize one element at a time.
func dequantizeGo(dst []float32, src []int64, zp int64, scale float32) {
	src = src[:len(dst)]
	for i, v := range src {
		dst[i] = float32(int32(v-zp)) * scale
	}
}
