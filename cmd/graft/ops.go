package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/graft-ml/graft/exec/ops"
	"github.com/graft-ml/graft/surgery"
)

func newOpsCmd() *cli.Command {
	return &cli.Command{
		Name:  "ops",
		Usage: "list the ONNX ops graft runs, with their opsets and gradients",
		Description: "Prints graft's op table, read from the code: each default-domain op, the first\n" +
			"opset whose meaning graft implements (opsets up to " + fmt.Sprint(surgery.MaxKnownOpset) + ", the newest graft knows), whether\n" +
			"the CPU backend runs it, whether exec.Gradient differentiates through it (or why no\n" +
			"gradient flows), and GPU support (none yet: no GPU backend). Ops of other domains (the\n" +
			"gradient kernels in ai.graft) are internal and not listed. --markdown prints the table\n" +
			"the README carries; `graft check MODEL` says which of a model's ops are missing.\n\n" +
			"Examples:\n" +
			"  $ graft ops\n" +
			"  $ graft ops --markdown > ops.md\n" +
			"  $ graft ops --json | jq '.[] | select(.gradient == \"yes\") | .op'",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "markdown", Usage: "print a Markdown table"},
			&cli.BoolFlag{Name: "json", Usage: "print a JSON array"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("ops takes no arguments, got %q", c.Args().First())
			}
			rows := opRows()
			switch {
			case c.Bool("json"):
				enc := json.NewEncoder(c.App.Writer)
				enc.SetIndent("", "  ")
				return enc.Encode(rows)
			case c.Bool("markdown"):
				writeOpMarkdown(c.App.Writer, rows)
			default:
				for _, r := range rows {
					fmt.Fprintf(c.App.Writer, "%-28s %-8s gradient: %s\n", r.Op, r.Opsets, r.Gradient)
				}
				fmt.Fprintf(c.App.Writer, "%d ops\n", len(rows))
			}
			return nil
		},
	}
}

// opRow is one line of the op table.
type opRow struct {
	Op       string `json:"op"`
	Opsets   string `json:"opsets"` // "N+": opset N and later
	CPU      bool   `json:"cpu"`
	Gradient string `json:"gradient"` // "yes", "none: why" or "no rule yet"
	GPU      bool   `json:"gpu"`
}

// opRows reads the default-domain ops from the table, sorted by name.
func opRows() []opRow {
	var rows []opRow
	for _, name := range ops.Names() {
		op := ops.Lookup(name)
		if op.Domain != "" {
			continue
		}
		grad := "no rule yet"
		switch {
		case op.Grad != nil:
			grad = "yes"
		case op.NoGrad != "":
			grad = "none: " + op.NoGrad
		}
		rows = append(rows, opRow{
			Op:       op.Name,
			Opsets:   fmt.Sprintf("%d+", op.Since),
			CPU:      op.Run != nil,
			Gradient: grad,
		})
	}
	return rows
}

// writeOpMarkdown prints rows as the README's Markdown table.
func writeOpMarkdown(w io.Writer, rows []opRow) {
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "–"
	}
	fmt.Fprintln(w, "| op | opsets | CPU | gradient | GPU |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", r.Op, r.Opsets, yes(r.CPU), strings.ReplaceAll(r.Gradient, "|", `\|`), yes(r.GPU))
	}
}
