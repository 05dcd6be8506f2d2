package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// usageError marks a mistake in the command line, reported with exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// exitCode is the one place where errors become exit codes: 0 ok, 1 error,
// 2 usage error, 130 interrupted (after saving what can be resumed).
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "graft: %v\n", err)
	if errors.Is(err, errInterrupted) {
		return 130 // as a shell reports a process stopped by SIGINT
	}
	var ue usageError
	if errors.As(err, &ue) || isFlagError(err) {
		fmt.Fprintln(stderr, "run `graft help` or `graft COMMAND --help` for usage")
		return 2
	}
	return 1
}

// isFlagError recognises urfave/cli's own parse errors.
func isFlagError(err error) bool {
	s := err.Error()
	return strings.Contains(s, "flag provided but not defined") || strings.Contains(s, "Required flag") ||
		strings.Contains(s, "invalid value") || strings.Contains(s, "No help topic")
}
