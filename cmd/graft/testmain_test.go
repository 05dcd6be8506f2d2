package main

import (
	"fmt"
	"os"
	"testing"
)

// TestMain points run records at a temporary folder, so that the tests'
// commands do not leave runs/ folders in the package directory. The test
// binary re-run as graft (TestGraftHelper) records nothing and exits from
// inside m.Run, so it makes no folder it could not remove.
func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		os.Exit(m.Run())
	}
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
