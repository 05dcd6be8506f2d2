package tensor

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// npyBytes builds a .npy stream by hand (format version 1 or 2), so that
// tests can use headers WriteNPY never writes.
func npyBytes(version byte, header string, body []byte) []byte {
	b := []byte("\x93NUMPY")
	b = append(b, version, 0)
	if version == 1 {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(header)))
	} else {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(header)))
	}
	b = append(b, header...)
	return append(b, body...)
}

// TestReadNPY reads headers WriteNPY never writes (other byte orders,
// quoting and key orders, version 2) and rejects malformed ones with a
// *NPYFormatError saying what is wrong.
func TestReadNPY(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		want *Dense
		err  string
	}{
		// 0x3fc00000 is 1.5 and 0xc1200000 is -10, here big-endian.
		{name: "big_endian_v2", in: npyBytes(2, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }\n", []byte{0x3f, 0xc0, 0, 0, 0xc1, 0x20, 0, 0}),
			want: FromF32([]int{2}, []float32{1.5, -10})},
		{name: "big_endian_int16", in: npyBytes(1, "{'descr': '>i2', 'fortran_order': False, 'shape': (2,), }", []byte{0xff, 0xfe, 0x01, 0x00}),
			want: &Dense{DType: Int16, Shape: []int{2}, I64: []int64{-2, 256}}},
		{name: "double_quotes_any_order", in: npyBytes(1, `{"shape": (1, 2), "descr": "<i2", "fortran_order": False}`, []byte{0xfe, 0xff, 0x00, 0x01}),
			want: &Dense{DType: Int16, Shape: []int{1, 2}, I64: []int64{-2, 256}}},
		{name: "native_order_uint8", in: npyBytes(1, "{'descr': '=u1', 'fortran_order': False, 'shape': (3,), }", []byte{0, 7, 255}),
			want: &Dense{DType: Uint8, Shape: []int{3}, I64: []int64{0, 7, 255}}},
		{name: "scalar", in: npyBytes(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (), }", make([]byte, 8)),
			want: FromF64(nil, []float64{0})},
		{name: "bad_magic", in: []byte("\x93NUMPI\x01\x00"), err: "bad magic"},
		{name: "no_magic", in: []byte("\x93NU"), err: "truncated: no .npy magic string"},
		{name: "version", in: npyBytes(9, "{}", nil), err: "unsupported .npy format version 9.0"},
		{name: "short_header", in: npyBytes(1, "{'descr': '<f4'", nil)[:14], err: "truncated: header shorter than its declared 15 bytes"},
		{name: "fortran_order", in: npyBytes(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (1, 2), }", make([]byte, 8)),
			err: "Fortran-order arrays are not supported"},
		{name: "no_fortran_order", in: npyBytes(1, "{'descr': '<f4', 'shape': (1,), }", make([]byte, 4)), err: "header has no fortran_order"},
		{name: "structured", in: npyBytes(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", make([]byte, 4)),
			err: "structured dtype"},
		{name: "complex", in: npyBytes(1, "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", make([]byte, 8)),
			err: `unsupported dtype "<c8"`},
		{name: "negative_dim", in: npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", nil), err: `shape: bad dimension "-1"`},
		{name: "huge_shape", in: npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776), }", nil), err: "too large"},
		{name: "short_data", in: npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776,), }", make([]byte, 8)),
			err: "float32[1099511627776] needs 4398046511104 data bytes, file has 8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ReadNPY(bytes.NewReader(c.in))
			if c.err != "" {
				var fe *NPYFormatError
				if !errors.As(err, &fe) || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want an *NPYFormatError with %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !Equal(got, c.want) {
				t.Errorf("got %v %v, want %v %v", got.DType, got, c.want.DType, c.want)
			}
		})
	}
}

// TestReadNPYHeaderOffset checks that the header reader leaves the
// stream at the first element and reports where it is.
func TestReadNPYHeaderOffset(t *testing.T) {
	var b bytes.Buffer
	if err := WriteNPY(&b, FromF32([]int{2, 3}, []float32{1, 2, 3, 4, 5, 6})); err != nil {
		t.Fatal(err)
	}
	total := b.Len()
	h, err := ReadNPYHeader(&b)
	if err != nil {
		t.Fatal(err)
	}
	if h.Kind != 'f' || h.Size != 4 || h.BigEndian || !SameShape(h.Shape, []int{2, 3}) || h.DType() != Float32 {
		t.Errorf("header %+v, want float32 [2 3] little-endian", h)
	}
	// WriteNPY pads the header so that the data start at a multiple of 64.
	if h.Offset%64 != 0 || h.DataBytes() != 24 || int64(b.Len()) != h.DataBytes() || int64(total) != h.Offset+h.DataBytes() {
		t.Errorf("offset %d, %d bytes left, data %d: want a multiple of 64, then 24 bytes", h.Offset, b.Len(), h.DataBytes())
	}
}
