package main

import (
	"bytes"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ml/graft/fixtures"
)

// helperArgsEnv carries a command line, its arguments separated by the
// unit separator \x1f, to the test binary re-run as one shard's process
// (TestNTKShardHelper).
const helperArgsEnv = "GRAFT_TEST_HELPER_ARGS"

// TestNTKShardHelper is not a test: run by TestNTKShardProcesses as a
// separate process, it runs the graft command line in $GRAFT_TEST_HELPER_ARGS
// and exits with its code. Without that variable it does nothing.
func TestNTKShardHelper(t *testing.T) {
	args := os.Getenv(helperArgsEnv)
	if args == "" {
		return
	}
	code, stdout, stderr := graft(strings.Split(args, "\x1f")...)
	fmt.Print(stdout)
	fmt.Fprint(os.Stderr, stderr)
	os.Exit(code)
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
		cmd := osexec.Command(os.Args[0], "-test.run=^TestNTKShardHelper$")
		cmd.Env = append(cleanShardEnv(), append(s.env, helperArgsEnv+"="+strings.Join(args, "\x1f"), noRecordEnv+"=1")...)
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
