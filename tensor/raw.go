package tensor

import (
	"encoding/binary"
	"fmt"
	"math"
)

// FromRaw decodes little-endian packed elements (ONNX raw_data, .npy
// bodies) into a tensor. The byte count must match the shape exactly, which
// is checked before anything is allocated.
func FromRaw(dt DType, shape []int, raw []byte) (*Dense, error) {
	if !dt.Supported() {
		return nil, fmt.Errorf("unsupported dtype %s", dt)
	}
	n, err := NumElems(shape)
	if err != nil {
		return nil, err
	}
	if want := n * dt.Size(); len(raw) != want {
		return nil, fmt.Errorf("%s%v needs %d bytes, have %d", dt, shape, want, len(raw))
	}
	t := New(dt, shape...)
	le := binary.LittleEndian
	switch dt {
	case Float32:
		for i := range t.F32 {
			t.F32[i] = math.Float32frombits(le.Uint32(raw[4*i:]))
		}
	case Float16:
		for i := range t.F32 {
			t.F32[i] = Float16ToFloat32(le.Uint16(raw[2*i:]))
		}
	case BFloat16:
		for i := range t.F32 {
			t.F32[i] = BFloat16ToFloat32(le.Uint16(raw[2*i:]))
		}
	case Float64:
		for i := range t.F64 {
			t.F64[i] = math.Float64frombits(le.Uint64(raw[8*i:]))
		}
	case Int64:
		for i := range t.I64 {
			t.I64[i] = int64(le.Uint64(raw[8*i:]))
		}
	case Uint64:
		for i := range t.I64 {
			t.I64[i] = int64(le.Uint64(raw[8*i:]))
		}
	case Int32:
		for i := range t.I64 {
			t.I64[i] = int64(int32(le.Uint32(raw[4*i:])))
		}
	case Uint32:
		for i := range t.I64 {
			t.I64[i] = int64(le.Uint32(raw[4*i:]))
		}
	case Int16:
		for i := range t.I64 {
			t.I64[i] = int64(int16(le.Uint16(raw[2*i:])))
		}
	case Uint16:
		for i := range t.I64 {
			t.I64[i] = int64(le.Uint16(raw[2*i:]))
		}
	case Int8:
		for i := range t.I64 {
			t.I64[i] = int64(int8(raw[i]))
		}
	case Uint8, Bool:
		for i := range t.I64 {
			t.I64[i] = int64(raw[i])
		}
	}
	return t, nil
}

// Raw encodes the elements little-endian in t's dtype, the inverse of
// FromRaw.
func (t *Dense) Raw() []byte {
	n := t.Len()
	sz := t.DType.Size()
	out := make([]byte, n*sz)
	le := binary.LittleEndian
	switch t.DType {
	case Float32:
		for i, v := range t.F32 {
			le.PutUint32(out[4*i:], math.Float32bits(v))
		}
	case Float16:
		for i, v := range t.F32 {
			le.PutUint16(out[2*i:], Float32ToFloat16(v))
		}
	case BFloat16:
		for i, v := range t.F32 {
			le.PutUint16(out[2*i:], Float32ToBFloat16(v))
		}
	case Float64:
		for i, v := range t.F64 {
			le.PutUint64(out[8*i:], math.Float64bits(v))
		}
	case Int64, Uint64:
		for i, v := range t.I64 {
			le.PutUint64(out[8*i:], uint64(v))
		}
	case Int32, Uint32:
		for i, v := range t.I64 {
			le.PutUint32(out[4*i:], uint32(v))
		}
	case Int16, Uint16:
		for i, v := range t.I64 {
			le.PutUint16(out[2*i:], uint16(v))
		}
	case Int8, Uint8, Bool:
		for i, v := range t.I64 {
			out[i] = byte(v)
		}
	}
	return out
}
