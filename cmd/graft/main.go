// Command graft takes PyTorch-exported ONNX models apart, runs them and puts
// them back together. Run `graft help` for the commands.
package main

import (
	"io"
	"os"

	"github.com/urfave/cli/v2"
)

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

// run executes the command line and returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
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
		},
		ExitErrHandler: func(*cli.Context, error) {}, // exit.go decides codes
	}
	return exitCode(app.Run(args), stderr)
}
