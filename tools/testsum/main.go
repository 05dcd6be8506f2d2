// Command testsum reads `go test -json` on stdin, prints what plain
// `go test` prints (a line per package, the output of failed tests and
// build errors), and ends with a summary of the tests that were skipped
// and why, so that a cross-check skipped for want of a reference (ONNX
// Runtime, PyTorch, a Debian package) never passes unnoticed.
//
//	go test -json ./... | go run ./tools/testsum
//
// It exits 1 when a test or a build failed.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action     string
	Package    string
	ImportPath string // build-output and build-fail events
	Test       string
	Output     string
}

// skipGroup counts the skipped tests under one package's top-level test.
type skipGroup struct {
	count  int
	reason string // the first skipped test's message
}

func main() {
	failed, err := summarize(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsum:", err)
		os.Exit(2)
	}
	if failed {
		os.Exit(1)
	}
}

// summarize copies the test results from r to w and reports whether
// anything failed.
func summarize(r io.Reader, w io.Writer) (bool, error) {
	output := map[string][]string{} // package + test → its output lines
	skips := map[string]*skipGroup{}
	failed := false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if err := json.Unmarshal(line, &e); err != nil || e.Action == "" {
			fmt.Fprintln(w, string(line)) // not JSON: go's own message
			continue
		}
		key := e.Package + " " + e.Test
		switch e.Action {
		case "build-output":
			fmt.Fprint(w, e.Output)
		case "build-fail":
			failed = true
		case "output":
			if e.Test != "" {
				output[key] = append(output[key], e.Output)
			} else if packageLine(e.Output) {
				fmt.Fprint(w, e.Output)
			}
		case "fail":
			failed = true
			if e.Test != "" {
				fmt.Fprint(w, strings.Join(output[key], ""))
			}
			delete(output, key)
		case "skip":
			if e.Test != "" {
				top, _, _ := strings.Cut(e.Test, "/")
				g := skips[e.Package+" "+top]
				if g == nil {
					g = &skipGroup{reason: skipReason(output[key])}
					skips[e.Package+" "+top] = g
				}
				g.count++
			}
			delete(output, key)
		case "pass":
			delete(output, key)
		}
	}
	if err := sc.Err(); err != nil {
		return true, err
	}
	printSkips(w, skips)
	return failed, nil
}

// packageLine reports whether a package-level output line is one that
// plain `go test` shows: its verdict, a panic, a failure.
func packageLine(s string) bool {
	for _, p := range []string{"ok ", "FAIL", "?   ", "panic:", "--- FAIL"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// skipReason picks a skipped test's message out of its output: the line
// that t.Skip wrote ("    file_test.go:12: why").
func skipReason(lines []string) string {
	for i := len(lines) - 1; i >= 0; i-- {
		s := strings.TrimSpace(lines[i])
		if s == "" || strings.HasPrefix(s, "--- SKIP") || strings.HasPrefix(s, "=== ") {
			continue
		}
		if _, after, ok := strings.Cut(s, ".go:"); ok {
			if _, msg, ok := strings.Cut(after, ": "); ok {
				return msg
			}
		}
		return s
	}
	return "(no message)"
}

func printSkips(w io.Writer, skips map[string]*skipGroup) {
	if len(skips) == 0 {
		fmt.Fprintln(w, "testsum: no test was skipped")
		return
	}
	keys := make([]string, 0, len(skips))
	total := 0
	for k, g := range skips {
		keys = append(keys, k)
		total += g.count
	}
	sort.Strings(keys)
	fmt.Fprintf(w, "testsum: %d tests skipped:\n", total)
	for _, k := range keys {
		g := skips[k]
		pkg, test, _ := strings.Cut(k, " ")
		reason := g.reason
		if len(reason) > 140 {
			reason = reason[:137] + "..."
		}
		fmt.Fprintf(w, "  %4d  %s %s: %s\n", g.count, strings.TrimPrefix(pkg, "github.com/graft-ml/graft/"), test, reason)
	}
}
