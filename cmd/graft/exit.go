package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/graft-ml/graft/tensor"
)

// usageError marks a mistake in the command line, reported with exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// Exit codes, the one table (README "Exit codes" repeats it).
const (
	exitOK          = 0
	exitError       = 1   // anything that went wrong: a bad file, a failed write, a singular fit
	exitUsage       = 2   // a mistake in the command line
	exitUnsupported = 3   // graft check: the model has ops graft cannot run
	exitResource    = 4   // a tensor over the memory budget (GRAFT_MAX_MEMORY)
	exitInternal    = 70  // a bug in graft (an internal panic), as sysexits' EX_SOFTWARE
	exitInterrupted = 130 // Ctrl-C, after saving what can be resumed, as a shell reports SIGINT
)

// errUnsupportedOps marks a model with ops graft cannot run.
var errUnsupportedOps = errors.New("unsupported ops")

// internalError is a panic turned into an error by run.
type internalError struct {
	value any
	stack []byte
}

func (e internalError) Error() string {
	return fmt.Sprintf("internal error: %v (a bug in graft: please report it with the command line and, if you can, the model)", e.value)
}

// exitCode is the one place where errors become exit codes.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "graft: %s\n", escapeControls(err.Error()))
	var ie internalError
	switch {
	case errors.As(err, &ie):
		if os.Getenv("GRAFT_DEBUG") != "" {
			stderr.Write(ie.stack)
		}
		return exitInternal
	case errors.Is(err, errInterrupted):
		return exitInterrupted
	case errors.Is(err, errUnsupportedOps):
		return exitUnsupported
	case errors.Is(err, tensor.ErrOverBudget), errors.Is(err, tensor.ErrTooLarge):
		return exitResource
	}
	var ue usageError
	if errors.As(err, &ue) || isFlagError(err) {
		if !strings.Contains(err.Error(), "\nusage: ") {
			fmt.Fprintln(stderr, "run `graft help` or `graft COMMAND --help` for usage")
		}
		return exitUsage
	}
	return exitError
}

// isFlagError recognises urfave/cli's own parse errors.
func isFlagError(err error) bool {
	s := err.Error()
	return strings.Contains(s, "flag provided but not defined") || strings.Contains(s, "Required flag") ||
		strings.Contains(s, "invalid value") || strings.Contains(s, "No help topic")
}

// escapeControls writes the control characters of s other than newline
// and tab, and bytes that are not UTF-8, as Go escapes, so that names read
// from a corrupt or hostile file cannot drive the terminal when printed.
func escapeControls(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r != '\n' && r != '\t' && unicode.IsControl(r):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// printable is name as it is when every character prints, else quoted:
// for names from a model file in tables.
func printable(name string) string {
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return strconv.Quote(name)
		}
	}
	return name
}
