package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/graft-ml/graft/eval"
	"github.com/graft-ml/graft/runlog"
)

// TestRunsRecordEval records two evals of the bundled Fashion-MNIST
// model that differ in --limit, then lists, shows and compares them.
func TestRunsRecordEval(t *testing.T) {
	dir := t.TempDir()
	evalArgs := func(extra ...string) []string {
		args := append([]string{"eval", fmnist("a.onnx"), "--data", fmnist("t10k-images-1k-idx3-ubyte.gz"), "--runs", dir}, fmnistNorm...)
		return append(args, extra...)
	}
	code, stdout, stderr := graft(evalArgs("--json")...)
	if code != 0 {
		t.Fatalf("eval: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "run recorded in "+dir) {
		t.Errorf("eval does not say where the record is: %q", stderr)
	}
	var res eval.Result
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("--json output is no longer one JSON object: %v: %q", err, stdout)
	}
	if code, _, stderr := graft(evalArgs("--json", "--limit", "500")...); code != 0 {
		t.Fatalf("eval --limit: exit %d: %s", code, stderr)
	}

	list, err := runlog.List(dir)
	if err != nil || len(list) != 2 {
		t.Fatalf("List: %d runs, %v; want 2", len(list), err)
	}
	first := list[0]
	if first.Status != runlog.StatusDone || first.Command != "eval" || first.Summary["top1"] != *res.Top1 {
		t.Errorf("record: status %q command %q summary %v; want done, eval, top1 %v", first.Status, first.Command, first.Summary, *res.Top1)
	}
	if len(first.Inputs) != 2 || first.Inputs[0].Path != fmnist("a.onnx") || len(first.Inputs[0].SHA256) != 64 {
		t.Errorf("inputs %+v, want the model and the data, hashed", first.Inputs)
	}
	if first.Flags["limit"] != "0" || first.Flags["mean"] != "0.2860" || first.Flags["runs"] != "" {
		t.Errorf("flags %v: want every flag of eval (limit 0, mean 0.2860) and not --runs", first.Flags)
	}

	code, stdout, stderr = graft("runs", dir)
	if code != 0 {
		t.Fatalf("runs: exit %d: %s", code, stderr)
	}
	for _, want := range []string{list[0].ID, list[1].ID, "eval", "done", "top1=0.902"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("runs table lacks %q:\n%s", want, stdout)
		}
	}
	// An abbreviated id, with --dir after it.
	code, stdout, stderr = graft("runs", "show", first.ID[len(first.ID)-4:], "--dir", dir)
	if code != 0 {
		t.Fatalf("runs show: exit %d: %s", code, stderr)
	}
	for _, want := range []string{first.ID, "status   done", "top1", "0.902", "sha256 " + first.Inputs[0].SHA256, "--limit"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("runs show lacks %q:\n%s", want, stdout)
		}
	}
	code, stdout, stderr = graft("runs", "compare", list[0].ID, list[1].ID, "--dir", dir)
	if code != 0 {
		t.Fatalf("runs compare: exit %d: %s", code, stderr)
	}
	for _, want := range []string{"flags that differ", "--limit", "500", "top1"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("runs compare lacks %q:\n%s", want, stdout)
		}
	}
	code, stdout, _ = graft("runs", "compare", list[0].ID, list[1].ID, "--dir", dir, "--json")
	var cmp runlog.Comparison
	if err := json.Unmarshal([]byte(stdout), &cmp); code != 0 || err != nil {
		t.Fatalf("runs compare --json: exit %d, %v", code, err)
	}
	if len(cmp.Flags) != 1 || cmp.Flags[0].Key != "limit" || cmp.Flags[0].B != "500" {
		t.Errorf("differing flags %+v, want only limit 0 → 500", cmp.Flags)
	}
}

// TestRunsRecordOptions checks where records go: $GRAFT_RUNS without
// --runs, nowhere with --no-record, a failed record for a command that
// fails after starting, and none for a usage error.
func TestRunsRecordOptions(t *testing.T) {
	env := t.TempDir()
	t.Setenv(runsDirEnv, env)
	data := []string{"--data", fmnist("t10k-images-1k-idx3-ubyte.gz"), "--limit", "100"}
	off := filepath.Join(t.TempDir(), "off")
	cases := []struct {
		name   string
		args   []string
		code   int
		dir    string
		status string // "" for no record
	}{
		{"env", append([]string{"eval", fmnist("a.onnx")}, data...), 0, env, runlog.StatusDone},
		{"no_record", append([]string{"eval", fmnist("a.onnx"), "--no-record", "--runs", off}, data...), 0, off, ""},
		{"fails_after_start", append([]string{"eval", fmnist("a.onnx"), "--logits", "nosuchvalue", "--runs", filepath.Join(env, "failed")}, data...), 1, filepath.Join(env, "failed"), runlog.StatusFailed},
		{"usage_error", []string{"eval", "--runs", filepath.Join(env, "usage")}, 2, filepath.Join(env, "usage"), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := graft(c.args...)
			if code != c.code {
				t.Fatalf("exit %d, want %d: %s", code, c.code, stderr)
			}
			list, err := runlog.List(c.dir)
			if err != nil {
				t.Fatal(err)
			}
			if c.status == "" {
				if len(list) != 0 {
					t.Errorf("%d records, want none", len(list))
				}
				return
			}
			if len(list) != 1 || list[0].Status != c.status {
				t.Fatalf("records %v, want one %s", list, c.status)
			}
			if c.status == runlog.StatusFailed && !strings.Contains(list[0].Error, "nosuchvalue") {
				t.Errorf("error %q does not say what failed", list[0].Error)
			}
		})
	}
	if _, err := os.Stat(off); !os.IsNotExist(err) {
		t.Errorf("--no-record created %s (%v)", off, err)
	}
}

// TestRunsRecordWrites checks that commands writing files record them as
// artefacts, with their key metrics: prune, lowrank and similarity.
func TestRunsRecordWrites(t *testing.T) {
	dir := t.TempDir()
	out := t.TempDir()
	data := append([]string{"--data", fmnist("t10k-images-1k-idx3-ubyte.gz"), "--limit", "200"}, fmnistNorm...)
	cases := []struct {
		name    string
		args    []string
		summary string
		written string
	}{
		{"prune", []string{"prune", fmnist("a.onnx"), "--sparsity", "0.5", "-o", filepath.Join(out, "p.onnx")}, "nonzero_after", "p.onnx"},
		{"lowrank", []string{"lowrank", fmnist("a.onnx"), "--layer", "fc1", "--rank", "8", "-o", filepath.Join(out, "l.onnx")}, "params_after", "l.onnx"},
		{"similarity", append([]string{"similarity", fmnist("a.onnx"), "--a", "pool2,relu3", "-o", filepath.Join(out, "s.json")}, data...), "cka_diag_mean", "s.json"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sub := filepath.Join(dir, c.name)
			code, _, stderr := graft(append(c.args, "--runs", sub)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			list, err := runlog.List(sub)
			if err != nil || len(list) != 1 {
				t.Fatalf("%d records, %v", len(list), err)
			}
			r := list[0]
			if r.Status != runlog.StatusDone || r.Summary[c.summary] == nil || len(r.Metrics) == 0 {
				t.Errorf("status %q summary %v, %d metrics lines; want done with %s", r.Status, r.Summary, len(r.Metrics), c.summary)
			}
			if len(r.Artefacts) != 1 || filepath.Base(r.Artefacts[0].Path) != c.written || len(r.Artefacts[0].SHA256) != 64 {
				t.Errorf("artefacts %+v, want %s", r.Artefacts, c.written)
			}
		})
	}
}

// TestFlagsFirstSubcommand checks that flags after a subcommand's
// arguments are moved behind the subcommand, not the command.
func TestFlagsFirstSubcommand(t *testing.T) {
	app := &cli.App{Commands: []*cli.Command{newRunsCmd()}}
	cases := []struct{ in, want string }{
		{"graft runs show ID --dir D", "graft runs show --dir D ID"},
		{"graft runs compare A B --json --dir D", "graft runs compare --json --dir D A B"},
		{"graft runs DIR --json", "graft runs --json DIR"},
	}
	for _, c := range cases {
		if got := strings.Join(flagsFirst(app, strings.Fields(c.in)), " "); got != c.want {
			t.Errorf("%s: got %s, want %s", c.in, got, c.want)
		}
	}
}
