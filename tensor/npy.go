package tensor

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
)

// npyDescr maps .npy type descriptors to dtypes and back.
var npyDescr = map[string]DType{
	"<f4": Float32, "<f8": Float64, "<f2": Float16, "<i8": Int64, "<i4": Int32,
	"<i2": Int16, "|i1": Int8, "|u1": Uint8, "<u2": Uint16, "<u4": Uint32,
	"<u8": Uint64, "|b1": Bool,
}

func descrOf(dt DType) (string, bool) {
	for k, v := range npyDescr {
		if v == dt {
			return k, true
		}
	}
	return "", false
}

// maxNPYHeader bounds the header length we accept; numpy itself writes
// headers of a few hundred bytes.
const maxNPYHeader = 1 << 20

// ReadNPY decodes a .npy stream (format versions 1-3, C order,
// little-endian). A header that declares more data than the stream holds is
// an error, found without allocating the declared size.
func ReadNPY(r io.Reader) (*Dense, error) {
	var magic [8]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil {
		return nil, fmt.Errorf("npy: reading magic: %w", err)
	}
	if string(magic[:6]) != "\x93NUMPY" {
		return nil, fmt.Errorf("npy: not a .npy file (bad magic)")
	}
	var hlen int
	switch magic[6] {
	case 1:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, fmt.Errorf("npy: reading header length: %w", err)
		}
		hlen = int(binary.LittleEndian.Uint16(b[:]))
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, fmt.Errorf("npy: reading header length: %w", err)
		}
		hlen = int(binary.LittleEndian.Uint32(b[:]))
	default:
		return nil, fmt.Errorf("npy: unsupported format version %d", magic[6])
	}
	if hlen > maxNPYHeader {
		return nil, fmt.Errorf("npy: header length %d too large", hlen)
	}
	hdr := make([]byte, hlen)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, fmt.Errorf("npy: reading header: %w", err)
	}
	dt, shape, err := parseNPYHeader(string(hdr))
	if err != nil {
		return nil, err
	}
	n, err := NumElems(shape)
	if err != nil {
		return nil, fmt.Errorf("npy: %w", err)
	}
	want := int64(n) * int64(dt.Size())
	// Read through a limited reader so a lying shape cannot make us allocate
	// more than the stream holds.
	var buf bytes.Buffer
	got, err := io.Copy(&buf, io.LimitReader(r, want))
	if err != nil {
		return nil, fmt.Errorf("npy: reading data: %w", err)
	}
	if got != want {
		return nil, fmt.Errorf("npy: %s%v needs %d data bytes, file has %d", dt, shape, want, got)
	}
	return FromRaw(dt, shape, buf.Bytes())
}

func parseNPYHeader(h string) (DType, []int, error) {
	h = strings.TrimSpace(h)
	field := func(key string) (string, error) {
		i := strings.Index(h, "'"+key+"'")
		if i < 0 {
			return "", fmt.Errorf("npy: header lacks %q", key)
		}
		rest := strings.TrimLeft(h[i+len(key)+2:], " ")
		if !strings.HasPrefix(rest, ":") {
			return "", fmt.Errorf("npy: malformed header near %q", key)
		}
		return strings.TrimLeft(rest[1:], " "), nil
	}
	d, err := field("descr")
	if err != nil {
		return 0, nil, err
	}
	if len(d) < 2 || d[0] != '\'' {
		return 0, nil, fmt.Errorf("npy: malformed descr")
	}
	end := strings.IndexByte(d[1:], '\'')
	if end < 0 {
		return 0, nil, fmt.Errorf("npy: malformed descr")
	}
	descr := d[1 : 1+end]
	if descr == "|b1" || descr == "<b1" {
		descr = "|b1"
	}
	if len(descr) == 3 && descr[0] == '=' {
		descr = "<" + descr[1:]
	}
	if len(descr) == 3 && (descr[1:] == "i1" || descr[1:] == "u1") {
		descr = "|" + descr[1:]
	}
	dt, ok := npyDescr[descr]
	if !ok {
		return 0, nil, fmt.Errorf("npy: unsupported dtype %q (want little-endian float or integer)", descr)
	}
	f, err := field("fortran_order")
	if err != nil {
		return 0, nil, err
	}
	if strings.HasPrefix(f, "True") {
		return 0, nil, fmt.Errorf("npy: Fortran-order arrays are not supported; save with np.ascontiguousarray")
	}
	s, err := field("shape")
	if err != nil {
		return 0, nil, err
	}
	if !strings.HasPrefix(s, "(") {
		return 0, nil, fmt.Errorf("npy: malformed shape")
	}
	close := strings.IndexByte(s, ')')
	if close < 0 {
		return 0, nil, fmt.Errorf("npy: malformed shape")
	}
	var shape []int
	for _, p := range strings.Split(s[1:close], ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		p = strings.TrimSuffix(p, "L")
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 {
			return 0, nil, fmt.Errorf("npy: bad dimension %q", p)
		}
		shape = append(shape, v)
	}
	return dt, shape, nil
}

// WriteNPY encodes t as a version 1.0 .npy stream.
func WriteNPY(w io.Writer, t *Dense) error {
	descr, ok := descrOf(t.DType)
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
