package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/graft-ml/graft/exec"
	"github.com/graft-ml/graft/exec/ops"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/surgery"
)

func newCheckCmd() *cli.Command {
	return &cli.Command{
		Name:      "check",
		Usage:     "validate a model's graph and report what graft cannot run",
		ArgsUsage: "<model.onnx>",
		Description: "Loads the model, checks the graph's consistency (every input defined, no cycle,\n" +
			"unique names), runs shape inference, and lists ops graft does not implement.\n" +
			"Exits 1 if the graph is invalid. Warns (exit 0) when the model imports a default-domain\n" +
			"opset newer than the newest whose operator changes graft knows.\n\n" +
			"Example:\n" +
			"  $ graft check fixtures/mlp/model.onnx",
		Action: func(c *cli.Context) error {
			path, err := oneArg(c, "model")
			if err != nil {
				return err
			}
			return runCheck(c.App.Writer, path)
		},
	}
}

func runCheck(w io.Writer, path string) error {
	m, err := onnx.Load(path)
	if err != nil {
		return err
	}
	if err := m.Graph.Validate(); err != nil {
		return fmt.Errorf("%s: invalid graph:\n%w", path, err)
	}
	fmt.Fprintf(w, "graph     ok: %d nodes, %d initializers\n", len(m.Graph.Nodes), len(m.Graph.Initializers))
	if v := m.Opset(""); v > surgery.MaxKnownOpset {
		fmt.Fprintf(w, "opset     warning: the model imports default-domain opset %d, newer than %d, the newest whose operator changes graft knows; ops changed since may run with their older meaning\n", v, surgery.MaxKnownOpset)
	}
	// A variant graft does not run (an attribute value, a dtype) stops
	// inference at its node: it counts as unrunnable, not as a bad graph.
	inferErr := exec.InferShapes(m)
	if inferErr != nil && !errors.Is(inferErr, ops.ErrUnsupported) {
		return fmt.Errorf("%s: %w", path, inferErr)
	}
	if inferErr == nil {
		untyped := 0
		for _, n := range m.Graph.Nodes {
			for _, v := range n.Outputs {
				if v != nil && !v.Type.HasShape {
					untyped++
				}
			}
		}
		fmt.Fprintf(w, "shapes    ok: %d node outputs without an inferred shape\n", untyped)
	}
	opset := int(m.Opset(""))
	type miss struct {
		first *onnx.Node
		count int
		err   error
	}
	missing := map[string]*miss{}
	var order []string
	for _, n := range m.Graph.Nodes {
		if _, err := ops.Resolve(n, opset); err != nil && errors.Is(err, ops.ErrUnsupported) {
			key := n.Domain + ":" + n.OpType
			if missing[key] == nil {
				missing[key] = &miss{first: n, err: err}
				order = append(order, key)
			}
			missing[key].count++
		}
	}
	for _, key := range order {
		ms := missing[key]
		fmt.Fprintf(w, "runnable  no: %d node(s) of op %q (opset %d), first %q: %s\n", ms.count, ms.first.OpType, opset, ms.first.Name, escapeControls(ms.err.Error()))
	}
	if inferErr != nil && len(missing) == 0 {
		fmt.Fprintf(w, "runnable  no: %s\n", escapeControls(inferErr.Error()))
		return fmt.Errorf("%s: a node graft cannot run: %w", path, errUnsupportedOps)
	}
	if len(missing) == 0 {
		fmt.Fprintln(w, "runnable  ok: every op is implemented")
		return nil
	}
	return fmt.Errorf("%s: %d op(s) graft cannot run: %w", path, len(missing), errUnsupportedOps)
}
