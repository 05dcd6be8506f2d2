package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/graft-ml/graft/exec"
	"github.com/graft-ml/graft/tensor"
)

func newRunCmd() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "run a model on .npy inputs and write any values, hidden ones included, as .npy",
		ArgsUsage: "<model.onnx>",
		Description: "Feeds each --input NAME=FILE.npy (NAME may be a graph input or any hidden value or\n" +
			"module path, whose computed value it then replaces), and writes each requested value\n" +
			"to DIR as <file-safe name>.npy, printing the name → file mapping.\n\n" +
			"--sparse auto (default) runs Gemm, MatMul and Conv layers whose constant weight is at\n" +
			"most " + sparseCrossoverText + " nonzero as sparse products, on every\n" +
			"such layer, off none; the results agree with dense execution to float32 rounding\n" +
			"(1e-5 relative).\n\n" +
			"Examples:\n" +
			"  $ graft run fixtures/resnet_small/model.onnx --input input=fixtures/resnet_small/input.npy --out /tmp/out\n" +
			"  $ graft run model.onnx --input input=x.npy --output layer1.0.conv1 --output output --out acts\n" +
			"  $ graft run model.onnx --input layer2=acts.npy --out /tmp/out   # inject an activation\n" +
			"  $ graft run pruned.onnx --input input=x.npy --sparse off --out /tmp/dense",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "input", Aliases: []string{"i"}, Usage: "NAME=FILE.npy (repeatable)"},
			&cli.StringSliceFlag{Name: "output", Aliases: []string{"o"}, Usage: "value, node or module path to write (repeatable; default: graph outputs)"},
			&cli.BoolFlag{Name: "all", Usage: "write every value the run computes"},
			&cli.StringFlag{Name: "out", Usage: "directory for the .npy files", Required: true},
			threadsFlag(),
			sparseFlag,
		},
		Action: func(c *cli.Context) error {
			_, m, err := loadModelArg(c)
			if err != nil {
				return err
			}
			inputs, err := readInputs(c.StringSlice("input"))
			if err != nil {
				return err
			}
			mode, err := sparseMode(c)
			if err != nil {
				return err
			}
			p, err := exec.CompileWith(m, exec.Options{Sparse: mode})
			if err != nil {
				return err
			}
			if t := c.Int("threads"); t > 0 {
				p.Threads = t
			}
			res, err := p.Run(inputs, exec.RunOptions{Outputs: c.StringSlice("output"), All: c.Bool("all")})
			if err != nil {
				return err
			}
			dir := c.String("out")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			used := map[string]bool{}
			for _, name := range exec.SortedNames(res) {
				file := exec.FileSafe(name)
				for base, i := file, 1; used[file]; i++ {
					file = fmt.Sprintf("%s_%d", base, i)
				}
				used[file] = true
				out := filepath.Join(dir, file+".npy")
				if err := tensor.SaveNPY(out, res[name]); err != nil {
					return err
				}
				fmt.Fprintf(c.App.Writer, "%s\t%s%v\t%s\n", name, res[name].DType, res[name].Shape, out)
			}
			return nil
		},
	}
}

// readInputs parses NAME=FILE.npy flags.
func readInputs(specs []string) (map[string]*tensor.Dense, error) {
	inputs := map[string]*tensor.Dense{}
	for _, s := range specs {
		name, file, ok := strings.Cut(s, "=")
		if !ok || name == "" || file == "" {
			return nil, usagef("--input %q: want NAME=FILE.npy", s)
		}
		d, err := tensor.LoadNPY(file)
		if err != nil {
			return nil, fmt.Errorf("--input %s: %w", name, err)
		}
		inputs[name] = d
	}
	return inputs, nil
}
