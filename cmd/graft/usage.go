package main

import (
	"fmt"
	"regexp"
	"runtime/debug"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"
)

// setUsageErrors makes every command report a mistake in its flags as one
// line naming the mistake, a "did you mean" when a flag comes close, and
// the command's usage line, instead of the whole help text.
func setUsageErrors(cmds []*cli.Command, path string) {
	for _, cmd := range cmds {
		full := strings.TrimSpace(path + " " + cmd.Name)
		cmd.OnUsageError = func(_ *cli.Context, err error, _ bool) error {
			return flagUsageError(cmd, full, err)
		}
		if action := cmd.Action; action != nil {
			cmd.Action = func(c *cli.Context) error {
				if err := checkCounts(c, cmd.Flags); err != nil {
					return err
				}
				return action(c)
			}
		}
		setUsageErrors(cmd.Subcommands, full)
	}
}

// renamedFlags explains the flags that changed name when every command
// took one convention (-o/--output is always what the command writes,
// --json always a switch), keyed by "command --old".
var renamedFlags = map[string]string{
	"run --out":        "the folder is now -o/--output; name values to write with --value",
	"eval --output":    "the logits value is now --logits",
	"similarity --csv": "write the table with -o FILE.csv",
}

// countMinimum is the least value each integer flag of a size, count or
// period takes, wherever it appears; 0 where 0 means "the default" or
// "none". A flag given below it is a usage error before anything runs.
var countMinimum = map[string]int{
	"batch": 1, "iters": 1, "epochs": 1, "steps": 1, "shards": 1, "kernel": 1, "top": 1,
	"rank": 1, "max-memory": 1, "kernel-batch": 1, "hidden": 1, "stop-after": 1, "track-limit": 1,
	"limit": 0, "warmup": 0, "warmup-rec": 0, "threshold": 0, "threads": 0, "step-size": 0,
	"patience": 0, "eval-every": 0, "chunk": 0, "checkpoint-every": 0,
}

// checkCounts reports the first integer flag set below its countMinimum.
func checkCounts(c *cli.Context, flags []cli.Flag) error {
	for _, f := range flags {
		if _, ok := f.(*cli.IntFlag); !ok {
			continue
		}
		name := f.Names()[0]
		least, ok := countMinimum[name]
		if ok && c.IsSet(name) && c.Int(name) < least {
			return usagef("--%s %d: want at least %d", name, c.Int(name), least)
		}
	}
	return nil
}

var undefinedFlag = regexp.MustCompile(`flag provided but not defined: -+(\S+)`)

// flagUsageError words a flag parse error of cmd.
func flagUsageError(cmd *cli.Command, path string, err error) error {
	msg := err.Error()
	if m := undefinedFlag.FindStringSubmatch(msg); m != nil {
		msg = fmt.Sprintf("%s: unknown flag --%s", path, m[1])
		if hint, ok := renamedFlags[path+" --"+m[1]]; ok {
			msg += " (" + hint + ")"
		} else if s := suggestFlag(cmd.Flags, m[1]); s != "" {
			msg += fmt.Sprintf(" (did you mean --%s?)", s)
		}
	} else {
		msg = path + ": " + msg
	}
	return usageError{msg: msg + "\nusage: graft " + path + " [options] " + cmd.ArgsUsage}
}

// suggestFlag returns the flag of flags that an unknown name most likely
// meant: one within a small edit distance, else the one whose name starts
// with it, else the one whose help text uses the name as a word (so that
// `truncate --layer` finds --at, "layer to output"). "" when none fits.
func suggestFlag(flags []cli.Flag, unknown string) string {
	var names []string
	for _, f := range flags {
		for _, n := range f.Names() {
			if len(n) > 1 {
				names = append(names, n)
			}
		}
	}
	if s := closest(names, unknown); s != "" {
		return s
	}
	word := regexp.MustCompile(`(?i)\b` + regexp.QuoteMeta(strings.TrimSuffix(unknown, "s")) + `s?\b`)
	for _, f := range flags {
		if u, ok := f.(cli.DocGenerationFlag); ok && word.MatchString(u.GetUsage()) {
			return f.Names()[0]
		}
	}
	return ""
}

// closest returns the candidate nearest to s: within an edit distance of
// a third of its length (at least 1, at most 3), or having s as a prefix.
func closest(candidates []string, s string) string {
	best, bestDist := "", max(1, min(3, len(s)/3))+1
	for _, c := range candidates {
		d := editDistance(strings.ToLower(s), strings.ToLower(c))
		if d < bestDist {
			best, bestDist = c, d
		}
	}
	if best != "" {
		return best
	}
	sort.Strings(candidates)
	for _, c := range candidates {
		if len(s) >= 2 && strings.HasPrefix(c, s) {
			return c
		}
	}
	return ""
}

// editDistance is the Levenshtein distance between a and b, with a swap of
// two neighbours counting once (inspcet → inspect is one edit).
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

// unknownCommand is the root action: with no arguments it shows the help;
// with one it is a command graft does not have.
func unknownCommand(c *cli.Context) error {
	if c.NArg() == 0 {
		return cli.ShowAppHelp(c)
	}
	name := c.Args().First()
	var names []string
	for _, cmd := range c.App.Commands {
		names = append(names, cmd.Names()...)
	}
	msg := fmt.Sprintf("unknown command %q", name)
	if s := closest(names, name); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	return usageError{msg: msg + "\nusage: graft COMMAND [options] [arguments]; `graft help` lists the commands"}
}

// buildVersion describes this binary from its build information: the
// module version (a tag when installed with `go install …@version`,
// "(devel)" from a clone), the VCS commit and the Go version.
func buildVersion() (version, commit, goVersion string) {
	version, commit, goVersion = "(devel)", "unknown", "unknown"
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return
	}
	goVersion = info.GoVersion
	if v := info.Main.Version; v != "" {
		version = v
	}
	dirty := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			commit = s.Value
			if len(commit) > 12 {
				commit = commit[:12]
			}
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty {
		commit += "+dirty"
	}
	return
}

// versionLine is what `graft --version` and `graft version` print.
func versionLine() string {
	v, c, g := buildVersion()
	return fmt.Sprintf("graft %s (commit %s, %s)", v, c, g)
}

func newVersionCmd() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print graft's version, commit and Go version",
		Description: "The version is the module version when installed with `go install …@VERSION`,\n" +
			"\"(devel)\" when built from a clone; the commit comes from the build's VCS stamp.\n\n" +
			"Examples:\n" +
			"  $ graft version\n" +
			"  $ graft --version",
		Action: func(c *cli.Context) error {
			fmt.Fprintln(c.App.Writer, versionLine())
			return nil
		},
	}
}
