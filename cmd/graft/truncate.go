package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/surgery"
)

func newTruncateCmd() *cli.Command {
	return &cli.Command{
		Name:      "truncate",
		Usage:     "cut a model so that hidden layers become its outputs",
		ArgsUsage: "<model.onnx>",
		Description: "Each --at names a layer (value, node or PyTorch module path); those values become\n" +
			"the outputs, in order, and everything they do not need is removed.\n\n" +
			"Examples:\n" +
			"  $ graft truncate fixtures/resnet_small/model.onnx --at layer1 -o /tmp/layer1.onnx\n" +
			"  $ graft truncate resnet18.onnx --at layer3 --at layer4 -o features.onnx\n" +
			"  $ graft truncate big.onnx --at layer10 --external-data weights.bin -o cut.onnx   # over 2 GiB",
		Flags: append([]cli.Flag{
			&cli.StringSliceFlag{Name: "at", Usage: "layer to output (repeatable)", Required: true},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "where to write the model", Required: true},
		}, externalDataFlags()...),
		Action: func(c *cli.Context) error {
			_, m, err := loadModelArg(c)
			if err != nil {
				return err
			}
			if err := surgery.Truncate(m, c.StringSlice("at")...); err != nil {
				return err
			}
			return saveReport(c, m)
		},
	}
}

func newExtractCmd() *cli.Command {
	return &cli.Command{
		Name:      "extract",
		Usage:     "keep the part of a model between layers",
		ArgsUsage: "<model.onnx>",
		Description: "The --from layers become the inputs (with their inferred shapes) and the --to layers\n" +
			"the outputs; everything outside is removed.\n\n" +
			"Example:\n" +
			"  $ graft extract fixtures/resnet_small/model.onnx --from layer1 --to layer2 -o /tmp/block.onnx",
		Flags: append([]cli.Flag{
			&cli.StringSliceFlag{Name: "from", Usage: "layer that becomes an input (repeatable)", Required: true},
			&cli.StringSliceFlag{Name: "to", Usage: "layer that becomes an output (repeatable)", Required: true},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "where to write the model", Required: true},
		}, externalDataFlags()...),
		Action: func(c *cli.Context) error {
			_, m, err := loadModelArg(c)
			if err != nil {
				return err
			}
			extra, err := surgery.Extract(m, c.StringSlice("from"), c.StringSlice("to"))
			if err != nil {
				return err
			}
			for _, name := range extra {
				fmt.Fprintf(c.App.ErrWriter, "note: the outputs also need original input %q, which stays an input\n", name)
			}
			return saveReport(c, m)
		},
	}
}

// saveReport writes the edited model to --output and summarises it.
func saveReport(c *cli.Context, m *onnx.Model) error {
	out := c.String("output")
	// --external-data where the command has it (externalDataFlags).
	opts := onnx.SaveOptions{ExternalData: c.String("external-data"), ExternalThreshold: c.Int("threshold")}
	if err := m.SaveWith(out, opts); err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	w := c.App.Writer
	fmt.Fprintf(w, "wrote %s: %d nodes\n", out, len(m.Graph.Nodes))
	for _, v := range m.Graph.Inputs {
		if v.Const == nil {
			fmt.Fprintf(w, "  input  %s %s\n", v.Name, v.Type)
		}
	}
	for _, v := range m.Graph.Outputs {
		fmt.Fprintf(w, "  output %s %s\n", v.Name, v.Type)
	}
	return nil
}
