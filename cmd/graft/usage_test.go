package main

import (
	"strings"
	"testing"
)

func TestUsageErrorsSuggest(t *testing.T) {
	cases := []struct {
		args []string
		want string // in stderr
	}{
		{[]string{"inspcet", "m.onnx"}, `did you mean "inspect"?`},
		{[]string{"stich"}, `did you mean "stitch"?`},
		{[]string{"truncate", "m.onnx", "--layer", "fc1", "-o", "x.onnx"}, "unknown flag --layer (did you mean --at?)"},
		{[]string{"truncate", "m.onnx", "--ouptut", "x.onnx"}, "did you mean --output?"},
		{[]string{"eval", "m.onnx", "--limt", "5"}, "did you mean --limit?"},
		{[]string{"truncate", "m.onnx", "--zzzz"}, "unknown flag --zzzz\nusage: graft truncate [options] <model.onnx>"},
		{[]string{"runs", "show", "--dirr", "x"}, "runs show: unknown flag --dirr (did you mean --dir?)"},
	}
	for _, c := range cases {
		code, stdout, stderr := graft(c.args...)
		if code != exitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("graft %v: exit %d, stderr %q; want exit %d mentioning %q", c.args, code, stderr, exitUsage, c.want)
		}
		// One line and the usage line: never the whole help.
		if strings.Contains(stdout+stderr, "DESCRIPTION:") || strings.Count(stderr, "\n") > 3 {
			t.Errorf("graft %v printed more than the error and usage line:\n%s%s", c.args, stdout, stderr)
		}
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}} {
		code, stdout, stderr := graft(args...)
		if code != 0 || !strings.HasPrefix(stdout, "graft ") || !strings.Contains(stdout, "go1.") || stderr != "" {
			t.Errorf("graft %v: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}
}

func TestEditDistance(t *testing.T) {
	cases := []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"abc", "", 3}, {"inspcet", "inspect", 1}, {"kitten", "sitting", 3}, {"ouptut", "output", 1}, {"at", "layer", 4},
	}
	for _, c := range cases {
		if got := editDistance(c.a, c.b); got != c.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}
