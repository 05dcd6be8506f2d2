package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/graft-ml/graft/surgery"
)

func newFoldCmd() *cli.Command {
	return &cli.Command{
		Name:      "fold",
		Usage:     "fold BatchNorm into Conv/Gemm, drop Identity and Dropout, fold constants",
		ArgsUsage: "<model.onnx>",
		Description: "Simplifies a model without changing its outputs (beyond float rounding).\n\n" +
			"Example:\n" +
			"  $ graft fold fixtures/cnn_bn/model.onnx -o /tmp/folded.onnx",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "where to write the model", Required: true},
		}, externalDataFlags()...),
		Action: func(c *cli.Context) error {
			_, m, err := loadModelArg(c)
			if err != nil {
				return err
			}
			before := len(m.Graph.Nodes)
			r, err := surgery.Fold(m)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "folded %d BatchNorms, removed %d Identity/Dropout, folded %d constant nodes: %d → %d nodes\n",
				r.BatchNorms, r.Passthrough, r.Constants, before, len(m.Graph.Nodes))
			return saveReport(c, m)
		},
	}
}
