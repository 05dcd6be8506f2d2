package main

import (
	"io"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/graft-ml/graft/serve"
)

func newServeCmd() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "answer requests from another program (the Python bridge) over stdin and stdout",
		Description: "Reads request frames on stdin and writes one response frame for each on stdout,\n" +
			"until stdin closes; models loaded once stay compiled between requests. The Python\n" +
			"package in python/ (import graft) starts this itself and finds the binary through\n" +
			"$GRAFT_BIN or PATH; the protocol (length-prefixed JSON headers carrying .npy and\n" +
			"ONNX blobs) is documented in the serve package.\n\n" +
			"Examples:\n" +
			"  $ graft serve --stdio   # normally started by Python, not by hand\n" +
			"  $ GRAFT_BIN=$(which graft) PYTHONPATH=python python3 -c \\\n" +
			"      \"import graft; print(graft.Session('fixtures/mlp/model.onnx').get_inputs())\"",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "stdio", Usage: "serve over stdin and stdout (the only transport)", Required: true},
			threadsFlag(),
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("serve takes no arguments, got %q", c.Args().Slice())
			}
			var in io.Reader = os.Stdin
			if c.App.Reader != nil {
				in = c.App.Reader
			}
			out := c.App.Writer
			if out == os.Stdout {
				// Frames own stdout: anything else printed would break the
				// stream, so stray prints go to stderr instead.
				stdout := os.Stdout
				os.Stdout = os.Stderr
				defer func() { os.Stdout = stdout }()
			}
			return serve.New(serve.Options{Threads: c.Int("threads")}).Serve(in, out)
		},
	}
}
