package main

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// eachCommand calls visit with every command and subcommand of graft and
// its path ("ntk merge").
func eachCommand(visit func(path string, cmd *cli.Command)) {
	var walk func(prefix string, cmds []*cli.Command)
	walk = func(prefix string, cmds []*cli.Command) {
		for _, cmd := range cmds {
			path := strings.TrimSpace(prefix + " " + cmd.Name)
			visit(path, cmd)
			walk(path, cmd.Subcommands)
		}
	}
	walk("", newApp(nil, io.Discard, io.Discard).Commands)
}

// flagByName returns the flag of cmd called name (or having it as an
// alias), or nil.
func flagByName(cmd *cli.Command, name string) cli.Flag {
	for _, f := range cmd.Flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}

func usageOf(f cli.Flag) string {
	if d, ok := f.(cli.DocGenerationFlag); ok {
		return d.GetUsage()
	}
	return ""
}

// TestFlagConvention holds every command to one convention, so that a
// flag means the same wherever it appears: -o/--output is what the
// command writes; --json is a switch that prints JSON; a command that
// reads a dataset takes the shared dataset flags; --threads defaults to
// every core; each command's help has examples and states each default
// once.
func TestFlagConvention(t *testing.T) {
	dataset := []string{"labels", "mean", "std", "raw"}
	n := 0
	eachCommand(func(path string, cmd *cli.Command) {
		n++
		if cmd.Action != nil && !strings.Contains(cmd.Description, "Example") {
			t.Errorf("%s: help has no examples", path)
		}
		for _, f := range cmd.Flags {
			names := f.Names()
			// The help line states a default once: a default written into
			// the usage text needs DefaultText (or a real Value), or cli
			// appends a second, wrong "(default: 0)".
			line, usage := fmt.Sprint(f), usageOf(f)
			if strings.Contains(usage, "(default") && strings.Count(line, "(default") > strings.Count(usage, "(default") {
				t.Errorf("%s: help states two defaults: %s", path, line)
			}
			switch {
			case names[0] == "output":
				if !strings.HasPrefix(usageOf(f), "where to write") {
					t.Errorf("%s --output: %q; --output says where the command writes (\"where to write ...\")", path, usageOf(f))
				}
				if len(names) < 2 || names[1] != "o" {
					t.Errorf("%s --output has no -o", path)
				}
				if _, ok := f.(*cli.StringFlag); !ok {
					t.Errorf("%s --output is a %T, want one path", path, f)
				}
			case names[0] == "json":
				if _, ok := f.(*cli.BoolFlag); !ok {
					t.Errorf("%s --json is a %T; --json is a switch that prints JSON (files go to -o)", path, f)
				}
			case names[0] == "out":
				t.Errorf("%s has --out; the written file or folder is -o/--output", path)
			case names[0] == "threads":
				if g, ok := f.(*cli.IntFlag); !ok || g.DefaultText != "all cores" {
					t.Errorf("%s --threads is not threadsFlag()", path)
				}
			}
			for _, n := range names[1:] {
				if n == "o" && names[0] != "output" {
					t.Errorf("%s: -o stands for --%s; -o is --output everywhere", path, names[0])
				}
			}
		}
		if flagByName(cmd, "data") != nil {
			for _, want := range dataset {
				if flagByName(cmd, want) == nil {
					t.Errorf("%s reads --data but has no --%s (use dataFlags)", path, want)
				}
			}
		}
		// Each default once: a usage text saying "(default: ...)" must not
		// be followed by the one urfave/cli prints from the flag's value.
		args := append(strings.Fields(path), "--help")
		code, stdout, stderr := graft(args...)
		if code != 0 {
			t.Errorf("graft %s: exit %d: %s", strings.Join(args, " "), code, stderr)
		}
		for _, line := range strings.Split(stdout, "\n") {
			if strings.Count(line, "(default:") > 1 {
				t.Errorf("graft %s: two defaults on one line: %s", strings.Join(args, " "), strings.TrimSpace(line))
			}
		}
	})
	if n < 20 {
		t.Fatalf("walked %d commands; the walk is broken", n)
	}
}

// TestRenamedFlags checks that a flag renamed by the convention names
// its successor instead of a guess.
func TestRenamedFlags(t *testing.T) {
	for key, hint := range renamedFlags {
		cmdPath, flag, _ := strings.Cut(key, " --")
		args := append(strings.Fields(cmdPath), "m.onnx", "--"+flag, "x")
		code, _, stderr := graft(args...)
		if code != exitUsage || !strings.Contains(stderr, hint) {
			t.Errorf("graft %s: exit %d, stderr %q; want the hint %q", strings.Join(args, " "), code, stderr, hint)
		}
	}
}

// TestSimilarityJSONPositional checks that the old `--json FILE` form,
// which now leaves FILE as a model argument, gets a hint instead of a
// protobuf error.
func TestSimilarityJSONPositional(t *testing.T) {
	code, _, stderr := graft("similarity", fmnist("a.onnx"), "--a", "fc1", "--data", fmnist("input8.npy"), "--json", "sim.json")
	if code != exitUsage || !strings.Contains(stderr, "write the scores with -o sim.json") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// TestCountFlagsBelowMinimum gives every integer size or count flag of
// every command a value below its minimum and expects a usage error
// naming the flag, before the command reads any file.
func TestCountFlagsBelowMinimum(t *testing.T) {
	checked := 0
	eachCommand(func(path string, cmd *cli.Command) {
		if cmd.Action == nil {
			return
		}
		// Fill the required flags so that the check is what fails.
		var base []string
		for _, f := range cmd.Flags {
			if r, ok := f.(cli.RequiredFlag); ok && r.IsRequired() {
				v := "x"
				switch f.(type) {
				case *cli.IntFlag, *cli.Float64Flag:
					v = "1"
				}
				base = append(base, "--"+f.Names()[0], v)
			}
		}
		for _, f := range cmd.Flags {
			name := f.Names()[0]
			least, ok := countMinimum[name]
			if _, isInt := f.(*cli.IntFlag); !ok || !isInt {
				continue
			}
			checked++
			args := append(append(strings.Fields(path), "m.onnx"), base...)
			args = append(args, fmt.Sprintf("--%s=%d", name, least-1))
			code, _, stderr := graft(args...)
			if code != exitUsage || !strings.Contains(stderr, "--"+name) {
				t.Errorf("graft %s: exit %d, stderr %q; want a usage error naming --%s", strings.Join(args, " "), code, stderr, name)
			}
		}
	})
	if checked < 20 {
		t.Errorf("checked %d flags; the walk is broken", checked)
	}
}
