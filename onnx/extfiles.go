package onnx

import (
	"fmt"
	"io"
	"os"
	"runtime"
)

// extFiles holds the side files of one Load: each file is mapped once,
// whole, on first use, and unmapped when no tensor of that load refers
// to it any more (every rawTensor with external bytes points here). See
// "External data" in the package doc.
type extFiles struct {
	maps *fileMaps
}

// fileMaps is kept apart from extFiles so that the cleanup, which holds
// it, does not keep the extFiles alive.
type fileMaps struct {
	byPath map[string][]byte // the mapping of each file; nil where it could not be mapped
}

func newExtFiles() *extFiles {
	e := &extFiles{maps: &fileMaps{byPath: map[string][]byte{}}}
	runtime.AddCleanup(e, func(m *fileMaps) {
		for _, b := range m.byPath {
			if b != nil {
				unmapFile(b)
			}
		}
	}, e.maps)
	return e
}

// read returns the want bytes at offset in the file at path: a slice of
// its mapping (capacity limited to the slice, so that no append can write
// into the mapping), or, where mapping is not available or fails, a copy.
// The bytes must lie within the file; mapped says which it returned.
func (e *extFiles) read(path string, offset, want int64) (data []byte, mapped bool, err error) {
	b, mapped := e.maps.byPath[path]
	if !mapped || b == nil {
		f, err := os.Open(path)
		if err != nil {
			return nil, false, err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return nil, false, err
		}
		size := st.Size()
		if err := within(offset, want, size); err != nil {
			return nil, false, err
		}
		if !mapped && mmapSupported && st.Mode().IsRegular() && size > 0 && size == int64(int(size)) {
			if b, err = mapFile(f, size); err != nil {
				b = nil // fall back to reading, for this file from now on
			}
			e.maps.byPath[path] = b
		}
		if b == nil {
			buf := make([]byte, want)
			if _, err := f.ReadAt(buf, offset); err != nil && err != io.EOF {
				return nil, false, err
			}
			return buf, false, nil
		}
	}
	if err := within(offset, want, int64(len(b))); err != nil {
		return nil, false, err
	}
	return b[offset : offset+want : offset+want], true, nil
}

// within checks that [offset, offset+want) lies in a file of size bytes.
func within(offset, want, size int64) error {
	if offset < 0 || offset > size || want > size-offset {
		return fmt.Errorf("bytes [%d, %d) lie outside the file (%d bytes)", offset, offset+want, size)
	}
	return nil
}
