package tensor

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// npyDescr is the .npy type string WriteNPY writes for each dtype it
// can write.
var npyDescr = map[DType]string{
	Float32: "<f4", Float64: "<f8", Float16: "<f2", Int64: "<i8", Int32: "<i4",
	Int16: "<i2", Int8: "|i1", Uint8: "|u1", Uint16: "<u2", Uint32: "<u4",
	Uint64: "<u8", Bool: "|b1",
}

// maxNPYHeader bounds the header length we accept; numpy itself writes
// headers of a few hundred bytes.
const maxNPYHeader = 1 << 20

// NPYHeader is what the header of a .npy stream says about its elements:
// how each one is encoded, the array's shape, and where the first one
// starts. It is the one .npy header parser of graft: ReadNPY reads whole
// arrays through it, and package data's streaming sources read the
// elements they need at Offset.
type NPYHeader struct {
	// Kind is 'f' (float), 'i' (signed integer), 'u' (unsigned integer)
	// or 'b' (bool).
	Kind byte
	// Size is the number of bytes of one element: 2, 4 or 8 for floats,
	// 1, 2, 4 or 8 for integers, 1 for bool.
	Size int
	// BigEndian is set for descriptors starting '>'; '<', '|' and '='
	// (native order: graft runs on little-endian machines) read as
	// little-endian.
	BigEndian bool
	// Shape is the array's shape in C order; empty for a scalar.
	Shape []int
	// Offset is the length of the magic string, header length and header:
	// the position of the first element in the stream.
	Offset int64
}

// NPYFormatError reports a .npy stream whose bytes are not a .npy file
// graft reads: a bad magic string, a truncated or malformed header, an
// unsupported dtype, a Fortran-order array.
type NPYFormatError struct {
	Msg string // what is wrong, without the "npy: " prefix
}

func (e *NPYFormatError) Error() string { return "npy: " + e.Msg }

func npyErr(msg string, args ...any) error {
	return &NPYFormatError{Msg: fmt.Sprintf(msg, args...)}
}

// ReadNPYHeader reads the magic string and header of a .npy stream
// (format versions 1 to 3) from r and leaves r at the first element. A
// stream that is not a .npy file graft can read, or ends inside the
// header, gives a *NPYFormatError; other read errors are returned
// wrapped.
func ReadNPYHeader(r io.Reader) (*NPYHeader, error) {
	read := func(b []byte, what string) error {
		if _, err := io.ReadFull(r, b); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return npyErr("truncated: %s", what)
			}
			return fmt.Errorf("npy: reading the header: %w", err)
		}
		return nil
	}
	var pre [8]byte
	if err := read(pre[:], "no .npy magic string"); err != nil {
		return nil, err
	}
	if string(pre[:6]) != "\x93NUMPY" {
		return nil, npyErr("bad magic %q; want \"\\x93NUMPY\"", pre[:6])
	}
	lenBytes := 2
	switch pre[6] {
	case 1:
	case 2, 3:
		lenBytes = 4
	default:
		return nil, npyErr("unsupported .npy format version %d.%d", pre[6], pre[7])
	}
	var lb [4]byte
	if err := read(lb[:lenBytes], "no header length"); err != nil {
		return nil, err
	}
	hlen := int(binary.LittleEndian.Uint32(lb[:]))
	if hlen > maxNPYHeader {
		return nil, npyErr("header length %d is too large", hlen)
	}
	hdr := make([]byte, hlen)
	if err := read(hdr, fmt.Sprintf("header shorter than its declared %d bytes", hlen)); err != nil {
		return nil, err
	}
	h, err := parseNPYHeader(string(hdr))
	if err != nil {
		return nil, err
	}
	h.Offset = int64(8 + lenBytes + hlen)
	return h, nil
}

// parseNPYHeader decodes the Python dict literal of a .npy header.
func parseNPYHeader(hdr string) (*NPYHeader, error) {
	fields, err := parseDict(hdr)
	if err != nil {
		return nil, npyErr("header %q: %v", strings.TrimSpace(hdr), err)
	}
	h := &NPYHeader{}
	if err := h.parseDescr(fields["descr"]); err != nil {
		return nil, err
	}
	switch fields["fortran_order"] {
	case "False":
	case "True":
		return nil, npyErr("Fortran-order arrays are not supported; save np.ascontiguousarray(x)")
	default:
		return nil, npyErr("header has no fortran_order")
	}
	if h.Shape, err = parseTuple(fields["shape"]); err != nil {
		return nil, npyErr("shape: %v", err)
	}
	if _, err := NumElems(h.Shape); err != nil {
		return nil, npyErr("%v", err)
	}
	return h, nil
}

// parseDescr decodes a numpy type string such as "<f4" or "|u1".
func (h *NPYHeader) parseDescr(d string) error {
	bad := func() error {
		return npyErr("unsupported dtype %q (want a float, integer or bool type)", d)
	}
	if len(d) < 3 {
		return bad()
	}
	switch d[0] {
	case '<', '|', '=':
	case '>':
		h.BigEndian = true
	default:
		return bad()
	}
	size, err := strconv.Atoi(d[2:])
	if err != nil {
		return bad()
	}
	h.Kind, h.Size = d[1], size
	ok := false
	switch h.Kind {
	case 'f':
		ok = size == 2 || size == 4 || size == 8
	case 'i', 'u':
		ok = size == 1 || size == 2 || size == 4 || size == 8
	case 'b':
		ok = size == 1
	}
	if !ok {
		return bad()
	}
	return nil
}

// DType returns the dtype of a Dense holding the elements.
func (h *NPYHeader) DType() DType {
	switch h.Kind {
	case 'f':
		return map[int]DType{2: Float16, 4: Float32, 8: Float64}[h.Size]
	case 'i':
		return map[int]DType{1: Int8, 2: Int16, 4: Int32, 8: Int64}[h.Size]
	case 'u':
		return map[int]DType{1: Uint8, 2: Uint16, 4: Uint32, 8: Uint64}[h.Size]
	}
	return Bool
}

// DataBytes returns the number of bytes the elements occupy.
func (h *NPYHeader) DataBytes() int64 {
	n, _ := NumElems(h.Shape) // checked by ReadNPYHeader
	return int64(n) * int64(h.Size)
}

// parseDict parses the Python dict literal of an .npy header into its
// keys' values as written: "'<f4'" loses its quotes, "(2, 3)" and "False"
// stay as they are.
func parseDict(s string) (map[string]string, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "{") || !strings.HasSuffix(s, "}") {
		return nil, errors.New("not a dict literal")
	}
	s = s[1 : len(s)-1]
	out := map[string]string{}
	for {
		s = strings.TrimLeft(s, " ,")
		if s == "" {
			return out, nil
		}
		key, rest, err := quoted(s)
		if err != nil {
			return nil, err
		}
		rest = strings.TrimLeft(rest, " ")
		if !strings.HasPrefix(rest, ":") {
			return nil, fmt.Errorf("no ':' after key %q", key)
		}
		rest = strings.TrimLeft(rest[1:], " ")
		var val string
		switch {
		case strings.HasPrefix(rest, "'"), strings.HasPrefix(rest, `"`):
			val, rest, err = quoted(rest)
			if err != nil {
				return nil, err
			}
		case strings.HasPrefix(rest, "("):
			end := strings.IndexByte(rest, ')')
			if end < 0 {
				return nil, fmt.Errorf("unclosed tuple for key %q", key)
			}
			val, rest = rest[:end+1], rest[end+1:]
		case strings.HasPrefix(rest, "["):
			return nil, fmt.Errorf("structured dtype for key %q is not supported", key)
		default:
			end := strings.IndexAny(rest, ",}")
			if end < 0 {
				end = len(rest)
			}
			val, rest = strings.TrimSpace(rest[:end]), rest[end:]
		}
		out[key] = val
		s = rest
	}
}

// quoted splits a leading Python string literal off s.
func quoted(s string) (val, rest string, err error) {
	if s == "" || (s[0] != '\'' && s[0] != '"') {
		return "", "", fmt.Errorf("want a quoted string at %q", s)
	}
	end := strings.IndexByte(s[1:], s[0])
	if end < 0 {
		return "", "", fmt.Errorf("unclosed string at %q", s)
	}
	return s[1 : 1+end], s[2+end:], nil
}

// parseTuple parses a Python tuple of non-negative integers such as "(3,)".
func parseTuple(s string) ([]int, error) {
	if !strings.HasPrefix(s, "(") || !strings.HasSuffix(s, ")") {
		return nil, fmt.Errorf("want a tuple, got %q", s)
	}
	shape := []int{}
	for _, p := range strings.Split(s[1:len(s)-1], ",") {
		p = strings.TrimSuffix(strings.TrimSpace(p), "L")
		if p == "" {
			continue
		}
		d, err := strconv.Atoi(p)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("bad dimension %q", p)
		}
		shape = append(shape, d)
	}
	return shape, nil
}

// ReadNPY decodes a .npy stream (format versions 1 to 3, C order, either
// byte order) into a Dense of the stored dtype, reading exactly the
// header and the elements from r. A header that declares more data than
// the stream holds is an error, found without allocating the declared
// size.
func ReadNPY(r io.Reader) (*Dense, error) {
	h, err := ReadNPYHeader(r)
	if err != nil {
		return nil, err
	}
	dt, want := h.DType(), h.DataBytes()
	// Read through a limited reader so a lying shape cannot make us allocate
	// more than the stream holds.
	var buf bytes.Buffer
	got, err := io.Copy(&buf, io.LimitReader(r, want))
	if err != nil {
		return nil, fmt.Errorf("npy: reading data: %w", err)
	}
	if got != want {
		return nil, npyErr("%s%v needs %d data bytes, file has %d", dt, h.Shape, want, got)
	}
	raw := buf.Bytes()
	if h.BigEndian && h.Size > 1 {
		for i := 0; i < len(raw); i += h.Size {
			slices.Reverse(raw[i : i+h.Size])
		}
	}
	return FromRaw(dt, h.Shape, raw)
}

// WriteNPY encodes t as a version 1.0 .npy stream.
func WriteNPY(w io.Writer, t *Dense) error {
	if t.Seq != nil {
		return fmt.Errorf("npy: cannot write a %s: .npy holds one array", t)
	}
	descr, ok := npyDescr[t.DType]
	if !ok {
		return fmt.Errorf("npy: cannot write dtype %s", t.DType)
	}
	var dims []string
	for _, d := range t.Shape {
		dims = append(dims, strconv.Itoa(d))
	}
	shape := strings.Join(dims, ", ")
	if len(t.Shape) == 1 {
		shape += ","
	}
	h := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, shape)
	// Pad with spaces so that magic+len+header+newline is a multiple of 64.
	total := 10 + len(h) + 1
	h += strings.Repeat(" ", (64-total%64)%64) + "\n"
	var pre [10]byte
	copy(pre[:], "\x93NUMPY\x01\x00")
	binary.LittleEndian.PutUint16(pre[8:], uint16(len(h)))
	if _, err := w.Write(pre[:]); err != nil {
		return err
	}
	if _, err := io.WriteString(w, h); err != nil {
		return err
	}
	_, err := w.Write(t.Raw())
	return err
}

// LoadNPY reads a .npy file.
func LoadNPY(path string) (*Dense, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	t, err := ReadNPY(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// SaveNPY writes t to path atomically (temporary file, then rename).
func SaveNPY(path string, t *Dense) error {
	return WriteFileAtomic(path, func(w io.Writer) error { return WriteNPY(w, t) })
}

// LoadNPZ reads every array of a .npz archive, keyed by name without the
// ".npy" suffix.
func LoadNPZ(path string) (map[string]*Dense, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer zr.Close()
	out := map[string]*Dense{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, f.Name, err)
		}
		t, err := ReadNPY(rc)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, f.Name, err)
		}
		out[strings.TrimSuffix(f.Name, ".npy")] = t
	}
	return out, nil
}

// SaveNPZ writes arrays to a .npz archive (uncompressed, like numpy.savez),
// in sorted key order so that output is deterministic.
func SaveNPZ(path string, arrays map[string]*Dense) error {
	keys := make([]string, 0, len(arrays))
	for k := range arrays {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return WriteFileAtomic(path, func(w io.Writer) error {
		zw := zip.NewWriter(w)
		for _, k := range keys {
			fw, err := zw.CreateHeader(&zip.FileHeader{Name: k + ".npy", Method: zip.Store})
			if err != nil {
				return err
			}
			if err := WriteNPY(fw, arrays[k]); err != nil {
				return err
			}
		}
		return zw.Close()
	})
}
