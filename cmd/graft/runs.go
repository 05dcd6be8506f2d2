package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/graft-ml/graft/runlog"
)

// runsDirFlag names the folder of records for runs show and compare.
func runsDirFlag() cli.Flag {
	return &cli.StringFlag{Name: "dir", Value: defaultRunsDir, EnvVars: []string{runsDirEnv}, Usage: "folder holding the run records"}
}

var runsJSONFlag = &cli.BoolFlag{Name: "json", Usage: "print JSON"}

func newRunsCmd() *cli.Command {
	return &cli.Command{
		Name:      "runs",
		Usage:     "list, show and compare the records of past runs",
		ArgsUsage: "[DIR]",
		Description: "Commands that fit, train, evaluate or compute an NTK (stitch --fit, lowrank, prune,\n" +
			"eval, similarity, ntk, ...) record each run in a folder under --runs (default runs/;\n" +
			"--no-record skips it): params.json with the command line, flags, graft version,\n" +
			"SHA-256 of each input, seed, threads and machine; metrics.jsonl; copies of small\n" +
			"outputs; and curves as PNG. `graft runs` lists the runs in DIR (default runs/, or\n" +
			"$GRAFT_RUNS) with their key metrics; a run that stopped without finishing is shown\n" +
			"as crashed. IDs may be abbreviated to any unique prefix or part.\n\n" +
			"Examples:\n" +
			"  $ graft runs\n" +
			"  $ graft runs /scratch/runs --json\n" +
			"  $ graft runs show 20261204-180512-eval-3f2a\n" +
			"  $ graft runs compare 3f2a 9c01",
		Flags:  []cli.Flag{runsJSONFlag},
		Action: runRunsList,
		Subcommands: []*cli.Command{
			{
				Name:      "show",
				Usage:     "everything recorded about one run",
				ArgsUsage: "<ID>",
				Description: "Prints the run's command line, status, version, machine, flags, inputs with their\n" +
					"SHA-256, summary, metrics, artefacts and curves.\n\n" +
					"Examples:\n" +
					"  $ graft runs show 20261204-180512-eval-3f2a\n" +
					"  $ graft runs show 3f2a --dir /scratch/runs --json",
				Flags:  []cli.Flag{runsDirFlag(), runsJSONFlag},
				Action: runRunsShow,
			},
			{
				Name:      "compare",
				Usage:     "two runs side by side: the flags that differ, and their metrics",
				ArgsUsage: "<ID> <ID>",
				Description: "Prints the flags and inputs in which the two runs differ, then every summary\n" +
					"metric and the last logged value of every metric of either run, side by side.\n\n" +
					"Examples:\n" +
					"  $ graft runs compare 3f2a 9c01\n" +
					"  $ graft runs compare 3f2a 9c01 --dir /scratch/runs --json",
				Flags:  []cli.Flag{runsDirFlag(), runsJSONFlag},
				Action: runRunsCompare,
			},
		},
	}
}

func runRunsList(c *cli.Context) error {
	if c.NArg() > 1 {
		return usagef("runs takes at most one folder, got %d arguments", c.NArg())
	}
	dir := c.Args().First()
	if dir == "" {
		dir = os.Getenv(runsDirEnv)
	}
	if dir == "" {
		dir = defaultRunsDir
	}
	list, err := runlog.List(dir)
	if err != nil {
		return err
	}
	w := c.App.Writer
	if c.Bool("json") {
		for _, r := range list {
			r.Metrics = nil // the listing is for the table's columns; show gives the metrics
		}
		if list == nil {
			list = []*runlog.Record{}
		}
		return json.NewEncoder(w).Encode(list)
	}
	if len(list) == 0 {
		fmt.Fprintf(w, "no runs in %s\n", dir)
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCOMMAND\tSTATUS\tSTARTED\tTIME\tMETRICS")
	for _, r := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Command, r.Status,
			r.Start.Local().Format("2006-01-02 15:04"), duration(r), keyMetrics(r.Summary, 6))
	}
	return tw.Flush()
}

// duration is how long a finished run took, or "-".
func duration(r *runlog.Record) string {
	if r.End.IsZero() {
		return "-"
	}
	d := time.Duration(r.Seconds * float64(time.Second))
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// keyMetrics writes up to n summary values as key=value, sorted by key.
func keyMetrics(m map[string]any, n int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for i, k := range keys {
		if i == n {
			parts = append(parts, "…")
			break
		}
		parts = append(parts, k+"="+formatValue(m[k]))
	}
	return strings.Join(parts, " ")
}

// formatValue prints numbers with five significant digits, nil as "-".
func formatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "-"
	case float64:
		return fmt.Sprintf("%.5g", x)
	case string:
		return x
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func runRunsShow(c *cli.Context) error {
	if c.NArg() != 1 {
		return usagef("runs show takes one run id, got %d", c.NArg())
	}
	r, err := runlog.Load(c.String("dir"), c.Args().First())
	if err != nil {
		return err
	}
	w := c.App.Writer
	if c.Bool("json") {
		return json.NewEncoder(w).Encode(r)
	}
	printRun(w, r)
	return nil
}

// printRun describes everything in a record.
func printRun(w io.Writer, r *runlog.Record) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "run\t%s (%s)\n", r.ID, r.Dir)
	fmt.Fprintf(tw, "command\t%s\n", shellJoin(r.Args))
	status := r.Status
	if r.Error != "" {
		status += ": " + r.Error
	}
	fmt.Fprintf(tw, "status\t%s\n", status)
	fmt.Fprintf(tw, "started\t%s, took %s\n", r.Start.Local().Format("2006-01-02 15:04:05"), duration(r))
	b := r.Build
	rev := ""
	if b.Revision != "" {
		rev = " revision " + b.Revision
		if b.Modified {
			rev += " (modified)"
		}
	}
	fmt.Fprintf(tw, "graft\t%s%s, %s\n", b.Version, rev, b.Go)
	m := r.Machine
	fmt.Fprintf(tw, "machine\t%s, %s/%s, %s, %d CPUs, pid %d\n", m.Hostname, m.OS, m.Arch, orDash(m.CPU), m.NumCPU, m.PID)
	fmt.Fprintf(tw, "seed\t%d\n", r.Seed)
	fmt.Fprintf(tw, "threads\t%d\n", r.Threads)
	tw.Flush()

	if len(r.Flags) > 0 {
		fmt.Fprintln(w, "\nflags")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, k := range sortedKeys(r.Flags) {
			fmt.Fprintf(tw, "  --%s\t%s\n", k, r.Flags[k])
		}
		tw.Flush()
	}
	printFiles(w, "inputs", r.Inputs, r.Dir)
	if len(r.Summary) > 0 {
		fmt.Fprintln(w, "\nsummary")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, k := range sortedKeys(r.Summary) {
			fmt.Fprintf(tw, "  %s\t%s\n", k, formatValue(r.Summary[k]))
		}
		tw.Flush()
	}
	if n := len(r.Metrics); n > 0 {
		fmt.Fprintf(w, "\nmetrics (%s)\n", runlog.MetricsFile)
		const head, tail = 5, 10
		for i, l := range r.Metrics {
			if n > head+tail && i == head {
				fmt.Fprintf(w, "  … %d more\n", n-head-tail)
			}
			if n > head+tail && i >= head && i < n-tail {
				continue
			}
			fmt.Fprintf(w, "  %s\n", metricLine(l))
		}
	}
	printFiles(w, "artefacts", r.Artefacts, r.Dir)
	if len(r.Curves) > 0 {
		fmt.Fprintln(w, "\ncurves")
		for _, c := range r.Curves {
			fmt.Fprintf(w, "  %s\n", filepath.Join(r.Dir, c))
		}
	}
}

// printFiles lists inputs or artefacts with their size and hash.
func printFiles(w io.Writer, title string, files []runlog.File, dir string) {
	if len(files) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%s\n", title)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, f := range files {
		what := fmt.Sprintf("%d bytes", f.Bytes)
		if f.Files > 0 {
			what = fmt.Sprintf("%d files, %d bytes", f.Files, f.Bytes)
			if f.Partial {
				what += ", partly hashed by name and size"
			}
		}
		if f.Error != "" {
			what = "unreadable: " + f.Error
		}
		extra := ""
		if f.Copy != "" {
			extra = "copy " + filepath.Join(dir, f.Copy)
		}
		fmt.Fprintf(tw, "  %s\tsha256 %s\t%s\t%s\n", f.Path, orDash(f.SHA256), what, extra)
	}
	tw.Flush()
}

// metricLine writes one metrics line as key=value, step or epoch first.
func metricLine(l map[string]any) string {
	keys := sortedKeys(l)
	sort.SliceStable(keys, func(i, j int) bool { return metricRank(keys[i]) < metricRank(keys[j]) })
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + formatValue(l[k])
	}
	return strings.Join(parts, " ")
}

func metricRank(k string) int {
	switch k {
	case "epoch":
		return 0
	case "step":
		return 1
	case "seconds":
		return 3
	}
	return 2
}

func runRunsCompare(c *cli.Context) error {
	if c.NArg() != 2 {
		return usagef("runs compare takes two run ids, got %d", c.NArg())
	}
	dir := c.String("dir")
	a, err := runlog.Load(dir, c.Args().Get(0))
	if err != nil {
		return err
	}
	b, err := runlog.Load(dir, c.Args().Get(1))
	if err != nil {
		return err
	}
	cmp := runlog.Compare(a, b)
	w := c.App.Writer
	if c.Bool("json") {
		return json.NewEncoder(w).Encode(cmp)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "\tA\tB\n")
	fmt.Fprintf(tw, "run\t%s\t%s\n", a.ID, b.ID)
	fmt.Fprintf(tw, "command\t%s\t%s\n", a.Command, b.Command)
	fmt.Fprintf(tw, "status\t%s\t%s\n", a.Status, b.Status)
	fmt.Fprintf(tw, "time\t%s\t%s\n", duration(a), duration(b))
	if a.Build.Version != b.Build.Version || a.Build.Revision != b.Build.Revision {
		fmt.Fprintf(tw, "graft\t%s %s\t%s %s\n", a.Build.Version, a.Build.Revision, b.Build.Version, b.Build.Revision)
	}
	section := func(title string, rows []runlog.Diff, none string) {
		fmt.Fprintf(tw, "\t\t\n%s\t\t\n", title)
		if len(rows) == 0 {
			fmt.Fprintf(tw, "  (%s)\t\t\n", none)
		}
		for _, d := range rows {
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", d.Key, formatValue(d.A), formatValue(d.B))
		}
	}
	section("flags that differ", prefixed(cmp.Flags, "--"), "none")
	if len(cmp.Inputs) > 0 {
		section("inputs that differ (sha256)", shortHashes(cmp.Inputs), "")
	}
	section("summary", cmp.Summary, "none")
	section("last metrics", cmp.Metrics, "none")
	return tw.Flush()
}

// prefixed puts p before each key.
func prefixed(rows []runlog.Diff, p string) []runlog.Diff {
	out := make([]runlog.Diff, len(rows))
	for i, d := range rows {
		out[i] = runlog.Diff{Key: p + d.Key, A: d.A, B: d.B}
	}
	return out
}

// shortHashes cuts SHA-256 cells to their first 12 digits.
func shortHashes(rows []runlog.Diff) []runlog.Diff {
	cut := func(v any) any {
		if s, ok := v.(string); ok && len(s) == 64 {
			return s[:12]
		}
		return v
	}
	out := make([]runlog.Diff, len(rows))
	for i, d := range rows {
		out[i] = runlog.Diff{Key: d.Key, A: cut(d.A), B: cut(d.B)}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// shellJoin writes a command line so that it can be pasted back into a
// shell: arguments with spaces or special characters are single-quoted.
func shellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a != "" && !strings.ContainsAny(a, " \t\n'\"\\$`!*?[]{}()<>|&;#~") {
			out[i] = a
			continue
		}
		out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(out, " ")
}
