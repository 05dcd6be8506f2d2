package data

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/graft-ml/graft/tensor"
)

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

// readNPYHeader reads an .npy magic string and header from r through
// tensor.ReadNPYHeader, returning an array whose offset is the header's
// length.
func readNPYHeader(r io.Reader, path, format string) (*array, error) {
	h, err := tensor.ReadNPYHeader(r)
	if err != nil {
		var fe *tensor.NPYFormatError
		if errors.As(err, &fe) {
			return nil, formatErr(path, format, "%s", fe.Msg)
		}
		return nil, fmt.Errorf("data: %s: %w", path, err)
	}
	el := elem{kind: h.Kind, size: h.Size, big: h.BigEndian}
	if _, err := checkShape(path, format, h.Shape, el); err != nil {
		return nil, err
	}
	return &array{path: path, format: format, el: el, shape: h.Shape, offset: h.Offset}, nil
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
