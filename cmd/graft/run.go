package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/graft-ml/graft/exec"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

func newRunCmd() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "run a model on .npy inputs and write any values, hidden ones included, as .npy",
		ArgsUsage: "<model.onnx>",
		Description: "Feeds each --input NAME=FILE.npy (NAME may be a graph input or any hidden value or\n" +
			"module path, whose computed value it then replaces), and writes each requested value\n" +
			"(--value, repeatable; default: the graph outputs) into the folder -o as NAME.npy, NAME\n" +
			"being what you asked for made file-safe (--value layer1 writes layer1.npy), and prints\n" +
			"the name → file mapping with the ONNX value each name resolved to. A sequence value\n" +
			"(SplitToSequence, a scripted list) is written as NAME.npz holding arr_0, arr_1, ...\n\n" +
			"--sparse auto (default) runs Gemm, MatMul and Conv layers whose constant weight is at\n" +
			"most " + sparseCrossoverText + " nonzero as sparse products, on every\n" +
			"such layer, off none; the results agree with dense execution to float32 rounding\n" +
			"(1e-5 relative).\n\n" +
			"Examples:\n" +
			"  $ graft run fixtures/resnet_small/model.onnx --input input=fixtures/resnet_small/input.npy -o /tmp/out\n" +
			"  $ graft run model.onnx --input input=x.npy --value layer1.0.conv1 --value output -o acts\n" +
			"  $ graft run model.onnx --input layer2=acts.npy -o /tmp/out   # inject an activation\n" +
			"  $ graft run pruned.onnx --input input=x.npy --sparse off -o /tmp/dense",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "input", Aliases: []string{"i"}, Usage: "NAME=FILE.npy (repeatable)"},
			&cli.StringSliceFlag{Name: "value", Usage: "value, node or module path to write (repeatable; default: the graph outputs)"},
			&cli.BoolFlag{Name: "all", Usage: "write every value the run computes"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "where to write the .npy files (a folder)", Required: true},
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
			asked := c.StringSlice("value")
			res, err := p.Run(inputs, exec.RunOptions{Outputs: asked, All: c.Bool("all")})
			if err != nil {
				return err
			}
			dir := c.String("output")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			label := askedNames(m.Graph, asked)
			used := map[string]bool{}
			for _, name := range exec.SortedNames(res) {
				shown := name
				if a, ok := label[name]; ok {
					shown = a
				}
				file := exec.FileSafe(shown)
				for base, i := file, 1; used[file]; i++ {
					file = fmt.Sprintf("%s_%d", base, i)
				}
				used[file] = true
				out, err := saveValue(dir, file, res[name])
				if err != nil {
					return fmt.Errorf("value %s: %w", name, err)
				}
				if shown != name {
					shown += " (" + name + ")"
				}
				fmt.Fprintf(c.App.Writer, "%s\t%s\t%s\n", shown, describeValue(res[name]), out)
			}
			return nil
		},
	}
}

// saveValue writes a tensor as DIR/FILE.npy, and a sequence as
// DIR/FILE.npz holding its tensors as arr_0, arr_1, ... (numpy.savez's
// names), returning the path; an empty optional writes nothing.
func saveValue(dir, file string, d *tensor.Dense) (string, error) {
	if d.None {
		return "(empty optional: no file)", nil
	}
	if d.Seq == nil {
		out := filepath.Join(dir, file+".npy")
		return out, tensor.SaveNPY(out, d)
	}
	items := map[string]*tensor.Dense{}
	for i, it := range d.Seq.Items {
		items[fmt.Sprintf("arr_%d", i)] = it
	}
	out := filepath.Join(dir, file+".npz")
	return out, tensor.SaveNPZ(out, items)
}

// describeValue renders a value's type for the listing: float32[2 3], or
// seq(float32)×4 for a sequence of four tensors.
func describeValue(d *tensor.Dense) string {
	if d.None {
		return "optional(none)"
	}
	if d.Seq != nil {
		return fmt.Sprintf("seq(%s)×%d", d.DType, len(d.Seq.Items))
	}
	return fmt.Sprintf("%s%v", d.DType, d.Shape)
}

// askedNames maps each value a --value resolved to onto the name the user
// gave for it (a module path or node name), so that files are named as
// asked. The first name asked for a value wins.
func askedNames(g *onnx.Graph, asked []string) map[string]string {
	label := map[string]string{}
	for _, a := range asked {
		v, err := g.Resolve(a)
		if err != nil {
			continue // Run has already reported unknown names
		}
		if _, ok := label[v.Name]; !ok {
			label[v.Name] = a
		}
	}
	return label
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
