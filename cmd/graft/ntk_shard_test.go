package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ml/graft/fixtures"
)

// helperEnv, set to 1, makes the test binary act as graft (see
// TestGraftHelper), so that tests can run graft commands as separate
// processes, and scripts can call it, without building a binary.
const helperEnv = "GRAFT_TEST_HELPER"

// TestGraftHelper is not a test: with $GRAFT_TEST_HELPER=1 it runs the
// command line after the test flags (`TESTBIN -test.run=^TestGraftHelper$
// -- ntk ...`) as graft would and exits with its code. Otherwise it does
// nothing.
func TestGraftHelper(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		return
	}
	code, stdout, stderr := graft(flag.Args()...)
	fmt.Print(stdout)
	fmt.Fprint(os.Stderr, stderr)
	os.Exit(code)
}

// graftCommand returns a command that runs graft with args in a separate
// process (the test binary as TestGraftHelper), with env added to this
// process's environment less any array-job variables.
func graftCommand(env []string, args ...string) *osexec.Cmd {
	cmd := osexec.Command(os.Args[0], append([]string{"-test.run=^TestGraftHelper$", "--"}, args...)...)
	cmd.Env = append(cleanShardEnv(), append(env, helperEnv+"=1", noRecordEnv+"=1")...)
	return cmd
}

// graftWrapper writes an executable script into dir that runs graft (the
// test binary as TestGraftHelper) on its arguments, for scripts that call
// $GRAFT.
func graftWrapper(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "graft")
	script := fmt.Sprintf("#!/bin/sh\n%s=1 %s=1 exec '%s' -test.run='^TestGraftHelper$' -- \"$@\"\n", helperEnv, noRecordEnv, os.Args[0])
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestNTKShardProcesses runs `graft ntk --shard` as 4 processes at once,
// each finding its shard its own way (a Slurm array task's variables, a
// Kubernetes Indexed Job's, --shards with Slurm's index, and an explicit
// --shard that wins over a contradicting environment), merges the blocks
// and checks that the kernel file is byte for byte that of one run with
// the chunk the merge reports (6 samples in one chunk leave too few pairs
// for 4 shards, so the tiling takes chunks of 2).
func TestNTKShardProcesses(t *testing.T) {
	dir := filepath.Join(fixtures.Dir(), "ntk", "rescnn")
	model, x := filepath.Join(dir, "model.onnx"), filepath.Join(dir, "x.npy")
	out := t.TempDir()
	common := []string{"ntk", model, "--data", x, "--mode", "full"}
	shards := []struct {
		env  []string
		args []string
	}{
		{[]string{"SLURM_ARRAY_TASK_ID=1", "SLURM_ARRAY_TASK_MIN=1", "SLURM_ARRAY_TASK_COUNT=4"}, []string{"--shard", "auto"}},
		{[]string{"JOB_COMPLETION_INDEX=1"}, []string{"--shards", "4"}},
		{[]string{"SLURM_ARRAY_TASK_ID=2", "SLURM_ARRAY_TASK_COUNT=4"}, []string{"--shards", "4"}},
		{[]string{"SLURM_ARRAY_TASK_ID=0", "SLURM_ARRAY_TASK_COUNT=8"}, []string{"--shard", "3/4"}},
	}
	var procs []*osexec.Cmd
	var outs []*bytes.Buffer
	var blocks []string
	for i, s := range shards {
		block := filepath.Join(out, fmt.Sprintf("k-%d.npz", i))
		blocks = append(blocks, block)
		args := append(append(append([]string{}, common...), s.args...), "-o", block)
		cmd := graftCommand(s.env, args...)
		var b bytes.Buffer
		cmd.Stdout, cmd.Stderr = &b, &b
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs, outs = append(procs, cmd), append(outs, &b)
	}
	for i, p := range procs {
		if err := p.Wait(); err != nil {
			t.Fatalf("shard process %d: %v\n%s", i, err, outs[i])
		}
		want := fmt.Sprintf("shard %d/4", i)
		if !strings.Contains(outs[i].String(), want) {
			t.Errorf("process %d did not compute %s:\n%s", i, want, outs[i])
		}
	}
	merged := filepath.Join(out, "k.npy")
	code, stdout, stderr := graft(append([]string{"ntk", "merge", "-o", merged}, blocks...)...)
	if code != 0 {
		t.Fatalf("merge: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "from 4 shards, chunks of 2 samples") || !strings.Contains(stdout, "spectrum:") {
		t.Errorf("merge output:\n%s", stdout)
	}
	one := filepath.Join(out, "one.npy")
	if code, _, stderr := graft(append(append([]string{}, common...), "--chunk", "2", "--no-record", "-o", one)...); code != 0 {
		t.Fatalf("one run: exit %d: %s", code, stderr)
	}
	a, err := os.ReadFile(merged)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(one)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Errorf("the merged kernel (%d bytes) is not byte for byte the one run's (%d bytes)", len(a), len(b))
	}
}

// cleanShardEnv is this process's environment without the array-job
// variables (in case the tests run inside an array job).
func cleanShardEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "SLURM_ARRAY_") || name == "JOB_COMPLETION_INDEX" {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// TestNTKShardErrors checks the command line's shard errors and the
// merge's refusals.
func TestNTKShardErrors(t *testing.T) {
	for _, name := range []string{"SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_STEP", "JOB_COMPLETION_INDEX"} {
		t.Setenv(name, "")
	}
	dir := filepath.Join(fixtures.Dir(), "ntk", "mlp")
	model, x := filepath.Join(dir, "model.onnx"), filepath.Join(dir, "x.npy")
	tmp := t.TempDir()
	block := filepath.Join(tmp, "b.npz")
	cases := []struct {
		name string
		env  map[string]string
		args []string
		code int
		want string
	}{
		{"index past count", nil, []string{"--shard", "4/4", "-o", block}, 2, "want 0 <= I < N"},
		{"counts disagree", nil, []string{"--shard", "1/4", "--shards", "3", "-o", block}, 2, "disagree"},
		{"with rows", nil, []string{"--shard", "1/4", "--rows", "0:2", "-o", block}, 2, "does not combine with --rows"},
		{"with metrics", nil, []string{"--shard", "1/4", "--metrics", filepath.Join(tmp, "m.json"), "-o", block}, 2, "graft ntk merge"},
		{"npy output", nil, []string{"--shard", "1/4", "-o", filepath.Join(tmp, "b.npy")}, 2, "an .npz"},
		{"no index", nil, []string{"--shards", "4", "-o", block}, 2, "neither $SLURM_ARRAY_TASK_ID"},
		{"slurm count disagrees", map[string]string{"SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "8"}, []string{"--shards", "4", "-o", block}, 2, "$SLURM_ARRAY_TASK_COUNT=8"},
		{"k8s index past count", map[string]string{"JOB_COMPLETION_INDEX": "4"}, []string{"--shards", "4", "-o", block}, 2, "$JOB_COMPLETION_INDEX=4"},
		{"no data", nil, []string{"--shard", "0/2", "-o", block}, 2, `"data" not set`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			args := append([]string{"ntk", model, "--no-record"}, c.args...)
			if c.name != "no data" {
				args = append(args, "--data", x)
			}
			code, _, stderr := graft(args...)
			if code != c.code || !strings.Contains(stderr, c.want) {
				t.Errorf("graft %v: exit %d, stderr %q; want exit %d mentioning %q", args, code, stderr, c.code, c.want)
			}
		})
	}

	// Shards of two different jobs (trace and full kernels) do not merge.
	a, b := filepath.Join(tmp, "a.npz"), filepath.Join(tmp, "b.npz")
	if code, _, stderr := graft("ntk", model, "--data", x, "--no-record", "--shard", "0/2", "-o", a); code != 0 {
		t.Fatal(stderr)
	}
	if code, _, stderr := graft("ntk", model, "--data", x, "--no-record", "--mode", "full", "--shard", "1/2", "-o", b); code != 0 {
		t.Fatal(stderr)
	}
	code, _, stderr := graft("ntk", "merge", a, b, "-o", filepath.Join(tmp, "k.npy"))
	if code != 1 || !strings.Contains(stderr, "not blocks of one kernel") {
		t.Errorf("merging blocks of two kernels: exit %d, %q", code, stderr)
	}
	code, _, stderr = graft("ntk", "merge", a, "-o", filepath.Join(tmp, "k.npy"))
	if code != 1 || !strings.Contains(stderr, "shard(s) 1 of 2 missing") {
		t.Errorf("merging one of two shards: exit %d, %q", code, stderr)
	}
	code, _, stderr = graft("ntk", "merge", model, "-o", filepath.Join(tmp, "k.npy"))
	if code != 1 || !strings.Contains(stderr, "not a block file") {
		t.Errorf("merging a model file: exit %d, %q", code, stderr)
	}
	code, stdout, _ := graft("ntk", "merge", "--help")
	if code != 0 || !strings.Contains(stdout, "$ graft ntk merge") {
		t.Errorf("ntk merge --help: exit %d, no example:\n%s", code, stdout)
	}
}
