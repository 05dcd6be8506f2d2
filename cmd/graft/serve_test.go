package main

import (
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ml/graft/fixtures"
)

func TestServeUsage(t *testing.T) {
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"serve", "--help"}, 0, "$ graft serve --stdio"},
		{[]string{"serve"}, 2, "stdio"},
		{[]string{"serve", "--stdio", "extra"}, 2, "serve takes no arguments"},
	}
	for _, c := range cases {
		code, stdout, stderr := graft(c.args...)
		if code != c.code || !strings.Contains(stdout+stderr, c.want) {
			t.Errorf("graft %v: exit %d, output %q; want exit %d mentioning %q", c.args, code, stdout+stderr, c.code, c.want)
		}
	}
}

// TestPythonBridge builds the graft binary and runs the Python bridge's
// unittest suite (python/tests) with Debian's /usr/bin/python3 against
// it: Session.run bit-identical to `graft run`, hidden values by module
// path, truncate/stitch/ntk/eval, process lifetime and 10,000 calls
// without memory growth. It skips without that Python and numpy, except
// under CI, which installs them.
func TestPythonBridge(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts Python")
	}
	if _, err := os.Stat(fixtures.Python); err != nil {
		fixtures.SkipNoReference(t, "the Python bridge's tests need %s: %v", fixtures.Python, err)
	}
	if out, err := osexec.Command(fixtures.Python, "-c", "import numpy").CombinedOutput(); err != nil {
		fixtures.SkipNoReference(t, "the Python bridge's tests need numpy in %s: %v: %s", fixtures.Python, err, out)
	}
	goBin, err := osexec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to build graft with: %v", err)
	}
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "graft")
	if out, err := osexec.Command(goBin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	py := filepath.Join(repo, "python")
	cmd := osexec.Command(fixtures.Python, "-m", "unittest", "discover", "-s", filepath.Join(py, "tests"), "-v")
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "GRAFT_BIN="+bin, "PYTHONPATH="+py, "GRAFT_REPO="+repo,
		"PYTHONDONTWRITEBYTECODE=1") // no __pycache__ in the working tree
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python bridge tests failed: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
