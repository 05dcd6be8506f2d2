//go:build linux

package onnx

import (
	"os"
	"syscall"
)

// mmapSupported says whether external data is mapped rather than read.
const mmapSupported = true

// mapFile maps size bytes of f read-only and private (see "External
// data" in the package doc). A mapping outlives the closing of f.
func mapFile(f *os.File, size int64) ([]byte, error) {
	return syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_PRIVATE)
}

// unmapFile releases a mapping made by mapFile.
func unmapFile(b []byte) { syscall.Munmap(b) }
