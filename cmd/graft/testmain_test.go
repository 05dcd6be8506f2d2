package main

import (
	"fmt"
	"os"
	"testing"
)

// TestMain points run records at a temporary folder, so that the tests'
// commands do not leave runs/ folders in the package directory.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "graft-test-runs-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv(runsDirEnv, dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
