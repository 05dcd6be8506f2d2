// Command graft takes PyTorch-exported ONNX models apart, runs them and puts
// them back together. Run `graft help` for the commands.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/graft-ml/graft/tensor"
)

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

// run executes the command line and returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	app := newApp(args, stdout, stderr)
	return exitCode(runApp(app, flagsFirst(app, args)), stderr)
}

// newApp builds the command tree for one command line.
func newApp(args []string, stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:  "graft",
		Usage: "take ONNX models apart, run them, and put them back together",
		Description: "graft loads models exported from PyTorch (torch.onnx.export) as an editable graph,\n" +
			"names layers the way PyTorch does (layer1.0.conv1), runs them on a fast CPU backend\n" +
			"with every hidden value readable, and writes ONNX that PyTorch and ONNX Runtime load.",
		Writer:          stdout,
		ErrWriter:       stderr,
		HideHelpCommand: false,
		Commands: []*cli.Command{
			newInspectCmd(),
			newCheckCmd(),
			newConvertCmd(),
			newRunCmd(),
			newBenchCmd(),
			newTruncateCmd(),
			newExtractCmd(),
			newFoldCmd(),
			newStitchCmd(),
			newSweepCmd(),
			newReplaceCmd(),
			newPruneCmd(),
			newMixCmd(),
			newMergeCmd(),
			newEvalCmd(),
			newSimilarityCmd(),
			newTrackCmd(),
			newLowRankCmd(),
			newFitCmd(),
			newNTKCmd(),
			newFinetuneCmd(),
			newNernCmd(),
			newLRFindCmd(),
			newRunsCmd(),
			newServeCmd(),
			newOpsCmd(),
			newVersionCmd(),
		},
		Action:         unknownCommand,
		Version:        versionLine(),
		Metadata:       map[string]any{"args": args}, // for run records
		ExitErrHandler: func(*cli.Context, error) {}, // exit.go decides codes
	}
	cli.VersionPrinter = func(c *cli.Context) { fmt.Fprintln(c.App.Writer, c.App.Version) }
	setUsageErrors(app.Commands, "")
	return app
}

// runApp runs the command line, turning a panic (a bug: inputs are
// checked before kernels run) into an internalError with its stack, so
// the user sees one line and an exit code instead of a goroutine dump.
func runApp(app *cli.App, args []string) (err error) {
	defer func() {
		if v := recover(); v != nil {
			var ae *tensor.AllocError
			if e, ok := v.(error); ok && errors.As(e, &ae) {
				err = e // a tensor over the budget outside a kernel: no bug
				return
			}
			err = internalError{value: v, stack: debug.Stack()}
		}
	}()
	return app.Run(args)
}

// flagsFirst moves a command's flags ahead of its positional arguments, so
// that `graft truncate MODEL --at layer3` parses as users write it (the
// flag package stops at the first positional argument). A flag's value
// travels with it; after "--" nothing is moved. For a subcommand
// (`graft runs show ID --dir D`) the flags go after the subcommand's name.
func flagsFirst(app *cli.App, args []string) []string {
	if len(args) < 3 {
		return args
	}
	cmd := app.Command(args[1])
	if cmd == nil {
		return args
	}
	at := 2 // where the command's own arguments start
	for at < len(args) {
		sub := cmd.Command(args[at])
		if sub == nil {
			break
		}
		cmd, at = sub, at+1
	}
	takesValue := map[string]bool{}
	for _, f := range cmd.Flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, name := range f.Names() {
			takesValue[name] = !isBool
		}
	}
	var flags, positional []string
	rest := args[at:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" {
			positional = append(positional, rest[i:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			positional = append(positional, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if !strings.Contains(name, "=") && takesValue[name] && i+1 < len(rest) {
			i++
			flags = append(flags, rest[i])
		}
	}
	out := append([]string{}, args[:at]...)
	for _, f := range flags {
		if f == "-h" || f == "--help" || f == "-help" {
			return append(out, "--help") // `graft run MODEL --help`: the command's help
		}
	}
	out = append(out, flags...)
	return append(out, positional...)
}
