package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/graft-ml/graft/exec"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

func newInspectCmd() *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "show a model's inputs, outputs, ops, parameters and every node's output shape",
		ArgsUsage: "<model.onnx>",
		Description: "Prints the model's inputs and outputs, a histogram of op types, the parameter count,\n" +
			"and each node with its PyTorch module path and inferred output shape.\n\n" +
			"Examples:\n" +
			"  $ graft inspect fixtures/resnet_small/model.onnx\n" +
			"  $ graft inspect --json resnet18.onnx | jq '.nodes[] | select(.module == \"layer1.0.conv1\")'",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print machine-readable JSON"},
		},
		Action: func(c *cli.Context) error {
			path, err := oneArg(c, "model")
			if err != nil {
				return err
			}
			return runInspect(c.App.Writer, path, c.Bool("json"))
		},
	}
}

func oneArg(c *cli.Context, what string) (string, error) {
	if c.NArg() != 1 {
		return "", usagef("%s takes one %s argument, got %d", c.Command.Name, what, c.NArg())
	}
	return c.Args().First(), nil
}

// loadModelArg loads the command's one model argument.
func loadModelArg(c *cli.Context) (string, *onnx.Model, error) {
	path, err := oneArg(c, "model")
	if err != nil {
		return "", nil, err
	}
	m, err := onnx.Load(path)
	return path, m, err
}

type valueReport struct {
	Name  string `json:"name"`
	DType string `json:"dtype"`
	Shape string `json:"shape"`
}

type nodeReport struct {
	Index   int           `json:"index"`
	Name    string        `json:"name"`
	Op      string        `json:"op"`
	Module  string        `json:"module,omitempty"`
	Inputs  []string      `json:"inputs"`
	Outputs []valueReport `json:"outputs"`
}

type inspectReport struct {
	Path       string         `json:"path"`
	IRVersion  int64          `json:"ir_version"`
	Opsets     map[string]int `json:"opsets"`
	Producer   string         `json:"producer"`
	Inputs     []valueReport  `json:"inputs"`
	Outputs    []valueReport  `json:"outputs"`
	Ops        map[string]int `json:"ops"`
	Parameters int            `json:"parameters"`
	Tensors    int            `json:"initializers"`
	Nodes      []nodeReport   `json:"nodes"`
	Warning    string         `json:"warning,omitempty"`
}

func describe(v *onnx.Value) valueReport {
	dt := "?"
	if v.Type.DType != tensor.Undefined {
		dt = v.Type.DType.String()
	}
	if v.Type.Seq {
		dt = "seq(" + dt + ")" // a sequence of tensors of that dtype and shape
	}
	if v.Type.Optional {
		dt = "optional(" + dt + ")"
	}
	return valueReport{Name: v.Name, DType: dt, Shape: v.Type.ShapeString()}
}

func runInspect(w io.Writer, path string, asJSON bool) error {
	m, err := onnx.Load(path)
	if err != nil {
		return err
	}
	g := m.Graph
	r := inspectReport{Path: path, IRVersion: m.IRVersion, Opsets: map[string]int{}, Ops: map[string]int{},
		Producer: strings.TrimSpace(m.ProducerName + " " + m.ProducerVersion)}
	if err := exec.InferShapes(m); err != nil {
		r.Warning = err.Error()
	}
	for _, o := range m.Opsets {
		d := o.Domain
		if d == "" {
			d = "ai.onnx"
		}
		r.Opsets[d] = int(o.Version)
	}
	for _, v := range g.Inputs {
		if v.Const == nil {
			r.Inputs = append(r.Inputs, describe(v))
		}
	}
	for _, v := range g.Outputs {
		r.Outputs = append(r.Outputs, describe(v))
	}
	for _, v := range g.Initializers {
		r.Tensors++
		if v.Const.DType.IsFloat() {
			r.Parameters += v.Const.NumElems()
		}
	}
	for i, n := range g.Nodes {
		r.Ops[n.OpType]++
		nr := nodeReport{Index: i, Name: n.Name, Op: n.OpType, Module: onnx.ModulePath(n.Name)}
		for _, v := range n.Inputs {
			if v == nil {
				nr.Inputs = append(nr.Inputs, "")
			} else {
				nr.Inputs = append(nr.Inputs, v.Name)
			}
		}
		for _, v := range n.Outputs {
			if v != nil {
				nr.Outputs = append(nr.Outputs, describe(v))
			}
		}
		r.Nodes = append(r.Nodes, nr)
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	printInspect(w, &r)
	return nil
}

func printInspect(w io.Writer, r *inspectReport) {
	fmt.Fprintf(w, "model     %s\n", r.Path)
	var opsets []string
	for d, v := range r.Opsets {
		opsets = append(opsets, fmt.Sprintf("%s %d", d, v))
	}
	sort.Strings(opsets)
	fmt.Fprintf(w, "ir        %d, opsets %s, producer %q\n", r.IRVersion, strings.Join(opsets, ", "), r.Producer)
	fmt.Fprintf(w, "params    %d in %d initializers\n", r.Parameters, r.Tensors)
	for _, v := range r.Inputs {
		fmt.Fprintf(w, "input     %s %s%s\n", printable(v.Name), v.DType, v.Shape)
	}
	for _, v := range r.Outputs {
		fmt.Fprintf(w, "output    %s %s%s\n", printable(v.Name), v.DType, v.Shape)
	}
	type kv struct {
		op string
		n  int
	}
	var hist []kv
	for op, n := range r.Ops {
		hist = append(hist, kv{op, n})
	}
	sort.Slice(hist, func(i, j int) bool {
		if hist[i].n != hist[j].n {
			return hist[i].n > hist[j].n
		}
		return hist[i].op < hist[j].op
	})
	var parts []string
	for _, h := range hist {
		parts = append(parts, fmt.Sprintf("%s %d", printable(h.op), h.n))
	}
	fmt.Fprintf(w, "ops       %d nodes: %s\n", len(r.Nodes), strings.Join(parts, ", "))
	if r.Warning != "" {
		fmt.Fprintf(w, "warning   %s\n", r.Warning)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%4s  %-20s %-28s %-22s %s\n", "#", "op", "module", "shape", "output")
	for _, n := range r.Nodes {
		for i, o := range n.Outputs {
			op, mod := printable(n.Op), printable(n.Module)
			if i > 0 {
				op, mod = "", ""
			}
			fmt.Fprintf(w, "%4d  %-20s %-28s %-22s %s\n", n.Index, op, mod, o.DType+o.Shape, printable(o.Name))
		}
	}
}
