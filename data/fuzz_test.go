package data

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzOpen writes the input as a dataset file of each kind graft reads
// (.npy, IDX, a CIFAR-10 batch) and opens it and reads its first samples:
// no input may make a reader panic, hang or allocate beyond what the
// bytes hold.
//
//	go test ./data -run XXX -fuzz FuzzOpen -fuzzminimizetime 1s
func FuzzOpen(f *testing.F) {
	f.Add([]byte("\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }      \n\x00\x00\x80?\x00\x00\x00@\x00\x00@@\x00\x00\x80@"))
	f.Add([]byte{0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Add([]byte{0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3})
	f.Add(append([]byte{3}, make([]byte, 3072)...))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, name := range []string{"x.npy", "x-idx3-ubyte", "x.bin"} {
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			src, err := Open(path, Options{})
			if err != nil {
				continue
			}
			if n := min(src.Len(), 4); n > 0 {
				src.Batch(0, n)
			}
		}
	})
}
