package data

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

// maxHeader bounds an .npy header; numpy writes a few hundred bytes.
const maxHeader = 1 << 20

// Names under which an .npz holds samples and labels, in order of
// preference.
var (
	npzDataKeys  = []string{"x", "data", "images", "inputs"}
	npzLabelKeys = []string{"y", "labels", "label", "targets"}
)

// parseNPY reads the header of the .npy file at path. Samples stay on disk:
// Batch reads them at their offset.
func parseNPY(path string) (*array, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	a, err := readNPYHeader(f, path, "npy")
	if err != nil {
		return nil, err
	}
	if err := a.checkSize(st.Size() - a.offset); err != nil {
		return nil, err
	}
	return a, nil
}

// checkSize reports an array whose elements do not fill exactly have bytes.
func (a *array) checkSize(have int64) error {
	want, err := checkShape(a.path, a.format, a.shape, a.el)
	if err != nil {
		return err
	}
	if have < want {
		return formatErr(a.path, a.format, "truncated: %s%v needs %d data bytes, file has %d", a.el, a.shape, want, have)
	}
	if have > want {
		return formatErr(a.path, a.format, "%s%v needs %d data bytes, file has %d", a.el, a.shape, want, have)
	}
	return nil
}

// readNPYHeader reads an .npy magic string and header from r, returning an
// array whose offset is the header's length.
func readNPYHeader(r io.Reader, path, format string) (*array, error) {
	bad := func(msg string, args ...any) error { return formatErr(path, format, msg, args...) }
	var pre [8]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return nil, bad("truncated: no .npy magic string")
	}
	if string(pre[:6]) != "\x93NUMPY" {
		return nil, bad("bad magic %q; want \"\\x93NUMPY\"", pre[:6])
	}
	lenBytes := 2
	switch pre[6] {
	case 1:
	case 2, 3:
		lenBytes = 4
	default:
		return nil, bad("unsupported .npy format version %d.%d", pre[6], pre[7])
	}
	var lb [4]byte
	if _, err := io.ReadFull(r, lb[:lenBytes]); err != nil {
		return nil, bad("truncated: no header length")
	}
	hlen := int(binary.LittleEndian.Uint32(lb[:]))
	if hlen > maxHeader {
		return nil, bad("header length %d is too large", hlen)
	}
	hdr := make([]byte, hlen)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, bad("truncated: header shorter than its declared %d bytes", hlen)
	}
	fields, err := parseDict(string(hdr))
	if err != nil {
		return nil, bad("header %q: %v", strings.TrimSpace(string(hdr)), err)
	}
	el, err := parseDescr(fields["descr"])
	if err != nil {
		return nil, bad("%v", err)
	}
	switch fields["fortran_order"] {
	case "False":
	case "True":
		return nil, bad("Fortran-order arrays are not supported; save np.ascontiguousarray(x)")
	default:
		return nil, bad("header has no fortran_order")
	}
	shape, err := parseTuple(fields["shape"])
	if err != nil {
		return nil, bad("shape: %v", err)
	}
	if _, err := checkShape(path, format, shape, el); err != nil {
		return nil, err
	}
	return &array{path: path, format: format, el: el, shape: shape, offset: int64(8 + lenBytes + hlen)}, nil
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

// parseDescr decodes a numpy type string such as "<f4" or "|u1".
func parseDescr(d string) (elem, error) {
	if len(d) < 3 {
		return elem{}, fmt.Errorf("unsupported dtype %q", d)
	}
	var el elem
	switch d[0] {
	case '<', '|', '=': // '=' is native order: graft runs on little-endian machines
	case '>':
		el.big = true
	default:
		return elem{}, fmt.Errorf("unsupported dtype %q", d)
	}
	size, err := strconv.Atoi(d[2:])
	if err != nil {
		return elem{}, fmt.Errorf("unsupported dtype %q", d)
	}
	el.kind, el.size = d[1], size
	ok := false
	switch el.kind {
	case 'f':
		ok = size == 2 || size == 4 || size == 8
	case 'i', 'u':
		ok = size == 1 || size == 2 || size == 4 || size == 8
	case 'b':
		ok = size == 1 // decodes as 0 or 1, unscaled
	}
	if !ok {
		return elem{}, fmt.Errorf("unsupported dtype %q (want a float, integer or bool type)", d)
	}
	return el, nil
}

// parseNPZ finds the sample array of the .npz at path (named key, or chosen
// as Options.Key describes) and, when withLabels is set, an integer label
// array beside it.
func parseNPZ(path, key string, withLabels bool) (data, labels *array, err error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, nil, npzOpenErr(path, err)
	}
	defer zr.Close()
	members := npzMembers(zr)
	if key == "" {
		key, err = chooseKey(path, members, npzDataKeys)
		if err != nil {
			return nil, nil, err
		}
	}
	f, ok := members[key]
	if !ok {
		return nil, nil, formatErr(path, "npz", "no array %q (arrays: %s)", key, strings.Join(sortedKeys(members), ", "))
	}
	if data, err = npzMember(path, f); err != nil {
		return nil, nil, err
	}
	if !withLabels {
		return data, nil, nil
	}
	for _, k := range npzLabelKeys {
		if f, ok := members[k]; ok && k != key {
			l, err := npzMember(path, f)
			if err != nil {
				return nil, nil, err
			}
			if l.el.kind != 'f' && (len(l.shape) == 1 || len(l.shape) == 2 && l.shape[1] == 1) {
				return data, l, nil
			}
		}
	}
	return data, nil, nil
}

// parseNPZLabels finds the label array of the .npz at path.
func parseNPZLabels(path string) (*array, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, npzOpenErr(path, err)
	}
	defer zr.Close()
	members := npzMembers(zr)
	key, err := chooseKey(path, members, npzLabelKeys)
	if err != nil {
		return nil, err
	}
	return npzMember(path, members[key])
}

func npzOpenErr(path string, err error) error {
	if errors.Is(err, zip.ErrFormat) {
		return formatErr(path, "npz", "not a zip archive (truncated?): %v", err)
	}
	return fmt.Errorf("data: %s: %w", path, err)
}

// npzMembers maps an archive's .npy members by name without ".npy".
func npzMembers(zr *zip.ReadCloser) map[string]*zip.File {
	m := map[string]*zip.File{}
	for _, f := range zr.File {
		if name, ok := strings.CutSuffix(f.Name, ".npy"); ok {
			m[name] = f
		}
	}
	return m
}

// chooseKey picks the only member, or else the first of prefer present.
func chooseKey(path string, members map[string]*zip.File, prefer []string) (string, error) {
	keys := sortedKeys(members)
	if len(keys) == 1 {
		return keys[0], nil
	}
	for _, k := range prefer {
		if _, ok := members[k]; ok {
			return k, nil
		}
	}
	if len(keys) == 0 {
		return "", formatErr(path, "npz", "archive holds no .npy arrays")
	}
	return "", formatErr(path, "npz", "which array? it holds %s and none is named %s; choose one with Options.Key (--key)",
		strings.Join(keys, ", "), strings.Join(prefer, ", "))
}

func sortedKeys(m map[string]*zip.File) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// npzMember reads the header of one archive member. A stored (uncompressed,
// np.savez) member is read in place in the archive like an .npy file; a
// compressed (np.savez_compressed) one is inflated into memory once.
func npzMember(path string, f *zip.File) (*array, error) {
	where := path + ": " + f.Name
	rc, err := f.Open()
	if err != nil {
		return nil, formatErr(where, "npz", "%v", err)
	}
	defer rc.Close()
	a, err := readNPYHeader(rc, where, "npz")
	if err != nil {
		return nil, err
	}
	if f.Method == zip.Store {
		off, err := f.DataOffset()
		if err != nil {
			return nil, formatErr(where, "npz", "%v", err)
		}
		if err := a.checkSize(int64(f.UncompressedSize64) - a.offset); err != nil {
			return nil, err
		}
		a.path, a.offset = path, off+a.offset
		return a, nil
	}
	want, _ := checkShape(where, "npz", a.shape, a.el) // checked by readNPYHeader
	var buf bytes.Buffer
	// Limit the copy so that a lying header cannot make us allocate more
	// than the member holds.
	if _, err := io.Copy(&buf, io.LimitReader(rc, want+1)); err != nil {
		return nil, formatErr(where, "npz", "inflating: %v", err)
	}
	if err := a.checkSize(int64(buf.Len())); err != nil {
		return nil, err
	}
	a.path, a.mem, a.offset = path, buf.Bytes(), 0
	return a, nil
}
