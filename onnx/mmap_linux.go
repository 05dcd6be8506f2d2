//go:build linux

package onnx

import (
	"os"
	"syscall"
	"unsafe"
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

// dropPages tells the kernel that b, a slice of a mapping made by
// mapFile, is not needed for now: the whole pages inside it leave the
// process's resident set and are read again from the file if used. The
// mapping is private and never written, so nothing is lost. It must not
// be called on any other memory.
func dropPages(b []byte) {
	if len(b) == 0 {
		return
	}
	page := uintptr(os.Getpagesize())
	start := uintptr(unsafe.Pointer(&b[0]))
	first := (start + page - 1) &^ (page - 1)
	last := (start + uintptr(len(b))) &^ (page - 1)
	if last <= first {
		return
	}
	syscall.Madvise(unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(&b[0]), first-start)), last-first), syscall.MADV_DONTNEED)
}
