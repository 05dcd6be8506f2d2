package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/graft-ml/graft/runlog"
)

// defaultRunsDir is where run records go unless --runs or $GRAFT_RUNS
// says otherwise: runs/ in the working directory.
const defaultRunsDir = "runs"

// runsDirEnv and noRecordEnv are the environment variables that --runs and
// --no-record read (the tests point records at a temporary folder).
const (
	runsDirEnv  = "GRAFT_RUNS"
	noRecordEnv = "GRAFT_NO_RECORD"
)

// recordFlags are the flags of every command that keeps a run record.
func recordFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "runs", Value: defaultRunsDir, EnvVars: []string{runsDirEnv}, Usage: "record this run (params, metrics, curves) in a new folder under `DIR`; list records with `graft runs`"},
		&cli.BoolFlag{Name: "no-record", EnvVars: []string{noRecordEnv}, Usage: "keep no run record"},
	}
}

// notRecorded are flags that say how to record, not what the run did.
var notRecorded = map[string]bool{"help": true, "runs": true, "no-record": true}

// startRecord starts the run record of command in --runs, with every flag
// of the command and its value, the command line, the SHA-256 of each
// input (empty paths are skipped) and the thread count. With --no-record
// it returns nil, nil. Every method of a nil *runlog.Run does nothing, so
// callers need no checks; a command that must not lose its result to a
// record passes the error to warnRecord and carries on with the nil run.
func startRecord(c *cli.Context, command string, inputs []string, seed int64) (*runlog.Run, error) {
	if c.Bool("no-record") {
		return nil, nil
	}
	info := runlog.Info{
		Command: command,
		Flags:   map[string]string{},
		Inputs:  inputs,
		Seed:    seed,
		Threads: runtime.GOMAXPROCS(0), // exec.Compile's default
	}
	if args, ok := c.App.Metadata["args"].([]string); ok {
		info.Args = args
	} else {
		info.Args = os.Args
	}
	for _, f := range c.Command.Flags {
		name := f.Names()[0]
		if notRecorded[name] {
			continue
		}
		info.Flags[name] = flagValue(c, f)
		if name == "threads" && c.Int("threads") > 0 {
			info.Threads = c.Int("threads")
		}
	}
	r, err := runlog.Start(c.String("runs"), info)
	if err != nil {
		return nil, fmt.Errorf("%w (--no-record skips the record)", err)
	}
	return r, nil
}

// flagValue is f's value in c as text; lists are joined with commas.
func flagValue(c *cli.Context, f cli.Flag) string {
	name := f.Names()[0]
	switch f.(type) {
	case *cli.StringSliceFlag:
		return strings.Join(c.StringSlice(name), ",")
	case *cli.IntSliceFlag:
		return strings.Trim(fmt.Sprint(c.IntSlice(name)), "[]")
	case *cli.Float64SliceFlag:
		return strings.Trim(fmt.Sprint(c.Float64Slice(name)), "[]")
	}
	return fmt.Sprint(c.Value(name))
}

// finishRecord ends r with the command's error, warning on stderr if
// the record could not be completed, and says where the record is.
func finishRecord(c *cli.Context, r *runlog.Run, err error) {
	if r == nil {
		return
	}
	if ferr := r.Finish(err); ferr != nil {
		warnRecord(c, ferr)
	}
	fmt.Fprintf(c.App.ErrWriter, "run recorded in %s\n", r.Dir())
}

// warnRecord reports a failure to record, which does not fail the
// command.
func warnRecord(c *cli.Context, err error) {
	if err != nil {
		fmt.Fprintf(c.App.ErrWriter, "graft: warning: run record: %v\n", err)
	}
}
