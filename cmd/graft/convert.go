package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/graft-ml/graft/onnx"
)

func newConvertCmd() *cli.Command {
	return &cli.Command{
		Name:      "convert",
		Usage:     "rewrite a model, with tensor data inline or in a side file",
		ArgsUsage: "<in.onnx> <out.onnx>",
		Description: "Loads IN (resolving external data beside it) and writes OUT. By default all tensor\n" +
			"data goes inline; --external-data moves initializers of at least --threshold bytes\n" +
			"into a file beside OUT. Everything graft does not model is kept.\n\n" +
			"Examples:\n" +
			"  $ graft convert model.onnx copy.onnx\n" +
			"  $ graft convert --external-data weights.bin model.onnx split.onnx",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "external-data", Usage: "file name (beside OUT) for large tensors"},
			&cli.IntFlag{Name: "threshold", Value: 1024, Usage: "smallest tensor, in bytes, moved to external data"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				return usagef("convert takes <in.onnx> <out.onnx>, got %d arguments", c.NArg())
			}
			in, out := c.Args().Get(0), c.Args().Get(1)
			m, err := onnx.Load(in)
			if err != nil {
				return err
			}
			opts := onnx.SaveOptions{ExternalData: c.String("external-data"), ExternalThreshold: c.Int("threshold")}
			if err := m.SaveWith(out, opts); err != nil {
				return fmt.Errorf("writing %s: %w", out, err)
			}
			st, err := os.Stat(out)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "wrote %s (%d bytes)\n", out, st.Size())
			return nil
		},
	}
}
