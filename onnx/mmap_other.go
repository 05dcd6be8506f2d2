//go:build !linux

package onnx

import (
	"errors"
	"os"
)

// mmapSupported says whether external data is mapped rather than read:
// elsewhere than Linux it is read into memory.
const mmapSupported = false

func mapFile(*os.File, int64) ([]byte, error) { return nil, errors.New("mmap not supported") }

func unmapFile([]byte) {}

func dropPages([]byte) {}
