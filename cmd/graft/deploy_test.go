package main

import (
	"bytes"
	"fmt"
	"math"
	"net"
	"os"
	osexec "os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/onnx"
)

// deployDir is the repository's deploy/ folder.
func deployDir() string { return filepath.Join(fixtures.Dir(), "..", "deploy") }

// ntkJob is the sharded NTK the deploy tests run: the residual CNN
// fixture's full kernel over its 6 samples, in 4 shards (the tiling takes
// chunks of 2 samples, 6 chunk pairs).
func ntkJob() (model, x string) {
	dir := filepath.Join(fixtures.Dir(), "ntk", "rescnn")
	return filepath.Join(dir, "model.onnx"), filepath.Join(dir, "x.npy")
}

// oneRunKernel computes the kernel of ntkJob in one run with chunks of 2
// samples and returns the .npy file's bytes.
func oneRunKernel(t *testing.T, extra ...string) []byte {
	t.Helper()
	model, x := ntkJob()
	path := filepath.Join(t.TempDir(), "one.npy")
	args := append([]string{"ntk", model, "--data", x, "--chunk", "2", "--no-record", "-o", path}, extra...)
	if code, _, stderr := graft(args...); code != 0 {
		t.Fatalf("one run: exit %d: %s", code, stderr)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sameFile fails t unless the file at path holds want.
func sameFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s (%d bytes) is not byte for byte the one run's kernel (%d bytes)", path, len(got), len(want))
	}
}

// TestDeploySlurmScripts runs deploy/slurm's scripts the way Slurm would,
// without Slurm: each array task's script with the variables Slurm sets
// for it (an array numbered from 1, as --array=1-4 gives), at once, then
// the merge script; the kernel must be the one run's, byte for byte. It
// also checks submit.sh's two sbatch calls (the array, then the merge with
// --dependency=afterok on it) through a stand-in sbatch.
func TestDeploySlurmScripts(t *testing.T) {
	if _, err := osexec.LookPath("bash"); err != nil {
		t.Skip("the scripts need bash")
	}
	slurm := filepath.Join(deployDir(), "slurm")
	tmp := t.TempDir()
	wrapper := graftWrapper(t, tmp)
	model, x := ntkJob()
	out := filepath.Join(tmp, "out")
	env := []string{"MODEL=" + model, "DATA=" + x, "OUT=" + out, "GRAFT=" + wrapper, "NTK_ARGS=--mode full"}

	logs := runArrayTasks(t, filepath.Join(slurm, "ntk-shard.sbatch"), tmp, env, 1, 4)
	for i := range logs {
		if want := fmt.Sprintf("shard %d/4 (from $SLURM_ARRAY_TASK_ID=%d)", i, i+1); !strings.Contains(logs[i].String(), want) {
			t.Errorf("task %d did not say %q:\n%s", i+1, want, logs[i])
		}
	}
	merge := osexec.Command("bash", filepath.Join(slurm, "ntk-merge.sbatch"))
	merge.Dir = tmp
	merge.Env = append(cleanShardEnv(), env...)
	if b, err := merge.CombinedOutput(); err != nil {
		t.Fatalf("merge: %v\n%s", err, b)
	}
	sameFile(t, filepath.Join(out, "kernel.npy"), oneRunKernel(t, "--mode", "full"))
	for _, f := range []string{"spectrum.json", "spectrum.png"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}

	// Outside an array job the shard script says so.
	cmd := osexec.Command("bash", filepath.Join(slurm, "ntk-shard.sbatch"))
	cmd.Env = append(cleanShardEnv(), env...)
	if b, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(b), "Slurm array job") {
		t.Errorf("shard script outside an array: %v\n%s", err, b)
	}

	// submit.sh against a stand-in sbatch that logs its arguments and the
	// variables the jobs will see, and answers job ids as --parsable does.
	bin := filepath.Join(tmp, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	sbatchLog := filepath.Join(tmp, "sbatch.log")
	fake := `#!/bin/bash
echo "sbatch $* | MODEL=$MODEL DATA=$DATA OUT=$OUT NTK_ARGS=$NTK_ARGS" >> "` + sbatchLog + `"
n=$(wc -l < "` + sbatchLog + `")
if [[ $n == 1 ]]; then echo 4242; else echo "4243;cluster"; fi
`
	if err := os.WriteFile(filepath.Join(bin, "sbatch"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	submit := func(args ...string) (string, error) {
		cmd := osexec.Command("bash", append([]string{filepath.Join(slurm, "submit.sh")}, args...)...)
		cmd.Dir = tmp
		cmd.Env = append(cleanShardEnv(), "PATH="+bin+":"+os.Getenv("PATH"))
		b, err := cmd.CombinedOutput()
		return string(b), err
	}
	fresh := filepath.Join(tmp, "fresh")
	stdout, err := submit("4", model, x, fresh, "--", "--mode", "full", "--chunk", "2")
	if err != nil {
		t.Fatalf("submit.sh: %v\n%s", err, stdout)
	}
	logged, err := os.ReadFile(sbatchLog)
	if err != nil {
		t.Fatal(err)
	}
	calls := strings.Split(strings.TrimSpace(string(logged)), "\n")
	if len(calls) != 2 {
		t.Fatalf("submit.sh called sbatch %d times:\n%s", len(calls), logged)
	}
	for _, want := range []string{"--array=0-3", "ntk-shard.sbatch", "MODEL=" + model, "OUT=" + fresh, "NTK_ARGS=--mode full --chunk 2"} {
		if !strings.Contains(calls[0], want) {
			t.Errorf("first sbatch call %q lacks %q", calls[0], want)
		}
	}
	for _, want := range []string{"--dependency=afterok:4242", "ntk-merge.sbatch", "OUT=" + fresh} {
		if !strings.Contains(calls[1], want) {
			t.Errorf("second sbatch call %q lacks %q", calls[1], want)
		}
	}
	if !strings.Contains(stdout, "array job 4242") || !strings.Contains(stdout, "merge as job 4243") {
		t.Errorf("submit.sh said:\n%s", stdout)
	}
	if stdout, err := submit("4", model, x, out); err == nil || !strings.Contains(stdout, "already holds blocks") {
		t.Errorf("submit.sh into a folder of old blocks: %v\n%s", err, stdout)
	}
	if stdout, err := submit("four", model, x); err == nil || !strings.Contains(stdout, "SHARDS must be a positive number") {
		t.Errorf("submit.sh with a bad count: %v\n%s", err, stdout)
	}
}

// TestDeploySlurmCluster starts a one-node Slurm (munged, slurmctld and
// slurmd from Debian's slurm-wlm and munge, on free ports, with their own
// configuration and sockets in a temporary folder), submits the NTK with
// deploy/slurm/submit.sh, and waits for the merge job's kernel, which must
// be the one run's byte for byte. It is skipped where slurm-wlm is not
// installed or the test is not root (slurmd runs jobs as their owner).
func TestDeploySlurmCluster(t *testing.T) {
	for _, bin := range []string{"munged", "slurmctld", "slurmd", "sbatch", "sinfo", "bash"} {
		if _, err := osexec.LookPath(bin); err != nil {
			if _, err := os.Stat(filepath.Join("/usr/sbin", bin)); err != nil {
				t.Skipf("%s is not installed (apt-get install slurm-wlm munge)", bin)
			}
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("starting slurmd needs root")
	}
	if _, err := os.Stat("/etc/munge/munge.key"); err != nil {
		t.Skipf("munge has no key: %v", err)
	}
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	// A folder the munge user can enter, for munged's socket.
	root, err := os.MkdirTemp("", "graft-slurm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	munge := filepath.Join(root, "munge")
	for _, d := range []string{munge, filepath.Join(root, "state"), filepath.Join(root, "spool"), filepath.Join(root, "work")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	socket := filepath.Join(munge, "munge.socket")
	ports := freePorts(t, 2)
	conf := filepath.Join(root, "slurm.conf")
	cfg := fmt.Sprintf(`ClusterName=grafttest
SlurmctldHost=%[1]s
AuthType=auth/munge
AuthInfo=socket=%[2]s
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmUser=root
SlurmdUser=root
SlurmctldPort=%[3]d
SlurmdPort=%[4]d
StateSaveLocation=%[5]s/state
SlurmdSpoolDir=%[5]s/spool
SlurmctldPidFile=%[5]s/slurmctld.pid
SlurmdPidFile=%[5]s/slurmd.pid
SlurmctldLogFile=%[5]s/slurmctld.log
SlurmdLogFile=%[5]s/slurmd.log
ReturnToService=2
NodeName=%[1]s CPUs=%[6]d RealMemory=1000 State=UNKNOWN
PartitionName=test Nodes=%[1]s Default=YES MaxTime=INFINITE State=UP
`, host, socket, ports[0], ports[1], root, runtime.NumCPU())
	if err := os.WriteFile(conf, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	env := append(cleanShardEnv(), "SLURM_CONF="+conf)
	// daemon runs a daemon in the foreground as uid:gid, logging to a
	// file, and stops it when the test ends.
	daemon := func(uid, gid uint32, name string, args ...string) {
		cmd := osexec.Command(name, args...)
		cmd.Env = env
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
		logPath := filepath.Join(root, name+".out")
		logFile, err := os.Create(logPath)
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = logFile, logFile
		if err := cmd.Start(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
			logFile.Close()
			if t.Failed() {
				b, _ := os.ReadFile(logPath)
				t.Logf("%s said:\n%s", name, b)
			}
		})
	}
	mu, err := user.Lookup("munge")
	if err != nil {
		t.Skipf("no munge user: %v", err)
	}
	muid, _ := strconv.Atoi(mu.Uid)
	mgid, _ := strconv.Atoi(mu.Gid)
	if err := os.Chown(munge, muid, mgid); err != nil {
		t.Fatal(err)
	}
	daemon(uint32(muid), uint32(mgid), "munged", "-F", "--socket="+socket, "--pid-file="+filepath.Join(munge, "munged.pid"),
		"--seed-file="+filepath.Join(munge, "seed"), "--log-file="+filepath.Join(munge, "munged.log"))
	waitFor(t, 10*time.Second, "munged's socket", func() bool { _, err := os.Stat(socket); return err == nil })
	daemon(0, 0, "slurmctld", "-D", "-f", conf)
	daemon(0, 0, "slurmd", "-D", "-f", conf)
	waitFor(t, 60*time.Second, "the node to be idle", func() bool {
		cmd := osexec.Command("sinfo", "-h", "-o", "%t")
		cmd.Env = env
		b, _ := cmd.Output()
		return strings.TrimSpace(string(b)) == "idle"
	})

	model, x := ntkJob()
	work := filepath.Join(root, "work")
	out := filepath.Join(work, "ntk")
	cmd := osexec.Command("bash", filepath.Join(deployDir(), "slurm", "submit.sh"), "4", model, x, out, "--", "--mode", "full")
	cmd.Dir = work
	// The scripts ask for 4 CPUs and 8 GB a task; this node has less.
	cmd.Env = append(env, "GRAFT="+graftWrapper(t, work), "SBATCH_ARGS=--cpus-per-task=1 --mem=100")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("submit.sh: %v\n%s", err, b)
	} else {
		t.Logf("%s", b)
	}
	kernel := filepath.Join(out, "kernel.npy")
	waitFor(t, 180*time.Second, "the jobs to finish", func() bool {
		q := osexec.Command("squeue", "-h")
		q.Env = env
		b, err := q.Output()
		return err == nil && len(bytes.TrimSpace(b)) == 0
	})
	logs, _ := filepath.Glob(filepath.Join(work, "graft-ntk-*.out"))
	if _, err := os.Stat(kernel); err != nil {
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			t.Logf("%s:\n%s", l, b)
		}
		t.Fatalf("the jobs left no kernel: %v", err)
	}
	sameFile(t, kernel, oneRunKernel(t, "--mode", "full"))
	if len(logs) != 5 {
		t.Errorf("%d job logs, want 4 shards and a merge: %v", len(logs), logs)
	}
}

// freePorts returns n TCP ports free on localhost just now.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// waitFor polls ok until it holds, failing t after limit.
func waitFor(t *testing.T, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	for start := time.Now(); !ok(); time.Sleep(200 * time.Millisecond) {
		if time.Since(start) > limit {
			t.Fatalf("gave up waiting %s for %s", limit, what)
		}
	}
}

// TestDeployK8sManifests reads deploy/k8s's manifests, checks that they
// fit together (an Indexed Job whose --shards is its completions, its
// blocks where the merge Job reads them, one volume claim), and runs their
// commands the way the kubelet would: the Job controller's
// $JOB_COMPLETION_INDEX in each pod's environment, $(VAR) in the
// arguments expanded from it, /work the shared volume. The kernel must be
// the one run's, byte for byte. The manifests are also checked against
// the Kubernetes API's schemas (checkK8sSchemas).
func TestDeployK8sManifests(t *testing.T) {
	dir := filepath.Join(deployDir(), "k8s")
	type container struct {
		Image string
		Args  []string
	}
	type manifest struct {
		Kind     string
		Metadata struct{ Name string }
		Spec     struct {
			CompletionMode string `yaml:"completionMode"`
			Completions    int
			Template       struct {
				Spec struct {
					RestartPolicy string `yaml:"restartPolicy"`
					Containers    []container
					Volumes       []struct {
						PersistentVolumeClaim struct {
							ClaimName string `yaml:"claimName"`
						} `yaml:"persistentVolumeClaim"`
					}
				}
			}
		}
	}
	read := func(name string) manifest {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		var m manifest
		if err := yaml.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return m
	}
	pvc, job, merge := read("ntk-pvc.yaml"), read("ntk-job.yaml"), read("ntk-merge-job.yaml")
	if pvc.Kind != "PersistentVolumeClaim" || job.Kind != "Job" || merge.Kind != "Job" {
		t.Fatalf("kinds %s, %s, %s", pvc.Kind, job.Kind, merge.Kind)
	}
	if job.Spec.CompletionMode != "Indexed" || job.Spec.Completions < 1 {
		t.Errorf("the shard Job is not Indexed with completions: %q, %d", job.Spec.CompletionMode, job.Spec.Completions)
	}
	for _, m := range []manifest{job, merge} {
		s := m.Spec.Template.Spec
		if len(s.Containers) != 1 || len(s.Volumes) != 1 || s.Volumes[0].PersistentVolumeClaim.ClaimName != pvc.Metadata.Name {
			t.Fatalf("job %s: want one container and the claim %s", m.Metadata.Name, pvc.Metadata.Name)
		}
		if s.RestartPolicy != "Never" {
			t.Errorf("job %s: restartPolicy %q", m.Metadata.Name, s.RestartPolicy)
		}
	}
	shardArgs := job.Spec.Template.Spec.Containers[0].Args
	mergeArgs := merge.Spec.Template.Spec.Containers[0].Args
	shards := -1
	for i, a := range shardArgs {
		if a == "--shards" && i+1 < len(shardArgs) {
			shards, _ = strconv.Atoi(shardArgs[i+1])
		}
	}
	if shards != job.Spec.Completions {
		t.Errorf("--shards %d, completions %d", shards, job.Spec.Completions)
	}

	// Run the pods' commands: /work → a temporary folder holding
	// input/model.onnx and input/x.npy, $(JOB_COMPLETION_INDEX) expanded
	// and set, as the kubelet does.
	work := t.TempDir()
	model, x := ntkJob()
	if err := os.Mkdir(filepath.Join(work, "input"), 0o755); err != nil {
		t.Fatal(err)
	}
	for src, dst := range map[string]string{model: "model.onnx", x: "x.npy"} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(work, "input", dst), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	expand := regexp.MustCompile(`\$\(([A-Z_]+)\)`)
	pod := func(args []string, env map[string]string) []string {
		out := make([]string, len(args))
		for i, a := range args {
			a = expand.ReplaceAllStringFunc(a, func(m string) string { return env[m[2:len(m)-1]] })
			out[i] = strings.ReplaceAll(a, "/work", work)
		}
		return out
	}
	var procs []*osexec.Cmd
	var logs []*bytes.Buffer
	for i := range job.Spec.Completions {
		index := strconv.Itoa(i)
		cmd := graftCommand([]string{"JOB_COMPLETION_INDEX=" + index}, pod(shardArgs, map[string]string{"JOB_COMPLETION_INDEX": index})...)
		var b bytes.Buffer
		cmd.Stdout, cmd.Stderr = &b, &b
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs, logs = append(procs, cmd), append(logs, &b)
	}
	for i, p := range procs {
		if err := p.Wait(); err != nil {
			t.Fatalf("pod %d: %v\n%s", i, err, logs[i])
		}
		if want := fmt.Sprintf("(from $JOB_COMPLETION_INDEX=%d)", i); !strings.Contains(logs[i].String(), want) {
			t.Errorf("pod %d did not say %q:\n%s", i, want, logs[i])
		}
	}
	if b, err := graftCommand(nil, pod(mergeArgs, nil)...).CombinedOutput(); err != nil {
		t.Fatalf("merge pod: %v\n%s", err, b)
	}
	sameFile(t, filepath.Join(work, "kernel.npy"), oneRunKernel(t))

	checkK8sSchemas(t, filepath.Join(dir, "ntk-pvc.yaml"), filepath.Join(dir, "ntk-job.yaml"), filepath.Join(dir, "ntk-merge-job.yaml"))
}

// checkK8sSchemas validates manifests against the Kubernetes API's JSON
// schemas with tools/k8s (kubernetes-models, offline), and checks that
// the validator rejects a manifest with a wrong type.
func checkK8sSchemas(t *testing.T, files ...string) {
	t.Helper()
	tools := filepath.Join(fixtures.Dir(), "..", "tools", "k8s")
	if _, err := os.Stat(filepath.Join(tools, "node_modules", "kubernetes-models")); err != nil {
		fixtures.SkipNoReference(t, "tools/k8s is not installed (cd tools/k8s && npm ci): no schema check")
	}
	validate := filepath.Join(tools, "validate.js")
	if b, err := osexec.Command("node", append([]string{validate}, files...)...).CombinedOutput(); err != nil {
		t.Errorf("schema check: %v\n%s", err, b)
	}
	job, err := os.ReadFile(files[1])
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte(strings.Replace(string(job), "restartPolicy: Never", "restartPolicy: 12", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := osexec.Command("node", validate, bad).CombinedOutput(); err == nil || !strings.Contains(string(b), "restartPolicy") {
		t.Errorf("the schema check accepted restartPolicy: 12: %v\n%s", err, b)
	}
}

// sameInitializers fails t unless every initializer of the model at want
// is in the one at got with the same values to 1e-6 of its largest: a
// sharded fit's float64 sums differ from one run's only in the order of
// additions, so its float32 weights agree to rounding.
func sameInitializers(t *testing.T, got, want string) {
	t.Helper()
	gm, err := onnx.Load(got)
	if err != nil {
		t.Fatal(err)
	}
	wm, err := onnx.Load(want)
	if err != nil {
		t.Fatal(err)
	}
	compared := 0
	for _, w := range wm.Graph.Initializers {
		g := gm.Graph.Value(w.Name)
		if g == nil || g.Const == nil {
			t.Fatalf("the sharded result has no initializer %q", w.Name)
		}
		gd, err := g.Const.Dense()
		if err != nil {
			t.Fatal(err)
		}
		wd, err := w.Const.Dense()
		if err != nil {
			t.Fatal(err)
		}
		a, b := gd.Float64s(), wd.Float64s()
		scale := 0.0
		for _, v := range b {
			scale = max(scale, math.Abs(v))
		}
		for j := range a {
			if math.Abs(a[j]-b[j]) > 1e-6*scale {
				t.Fatalf("%s[%d]: %v from the shards, %v from one run", w.Name, j, a[j], b[j])
			}
		}
		compared++
	}
	if compared == 0 {
		t.Fatal("no initializers compared")
	}
}

// TestDeployK8sFitManifests runs deploy/k8s's sharded fit the way the
// Job controller and kubelet would: each pod of fit-job.yaml with its
// $JOB_COMPLETION_INDEX, /work a temporary folder holding the inputs,
// then fit-finish-job.yaml's init container and container in turn. The
// stitched model must equal one `graft stitch --fit` run's, and the
// manifests must pass the Kubernetes API's schemas.
func TestDeployK8sFitManifests(t *testing.T) {
	dir := filepath.Join(deployDir(), "k8s")
	type container struct{ Args []string }
	type manifest struct {
		Kind string
		Spec struct {
			CompletionMode string `yaml:"completionMode"`
			Completions    int
			Template       struct {
				Spec struct {
					InitContainers []container `yaml:"initContainers"`
					Containers     []container
				}
			}
		}
	}
	read := func(name string) manifest {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		var m manifest
		if err := yaml.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return m
	}
	job, finish := read("fit-job.yaml"), read("fit-finish-job.yaml")
	if job.Kind != "Job" || job.Spec.CompletionMode != "Indexed" || len(job.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("fit-job.yaml: want an Indexed Job of one container")
	}
	if len(finish.Spec.Template.Spec.InitContainers) != 1 || len(finish.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("fit-finish-job.yaml: want one init container (merge) and one container (fit)")
	}
	work := t.TempDir()
	fm := func(name string) string { return filepath.Join(fixtures.Dir(), "fmnist", name) }
	for src, dst := range map[string]string{fm("a.onnx"): "a.onnx", fm("b.onnx"): "b.onnx", fm("train-images-2k-idx3-ubyte.gz"): "train-images-idx3-ubyte.gz"} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(work, "input"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(work, "input", dst), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pod := func(args []string, index string) []string {
		out := make([]string, len(args))
		for i, a := range args {
			out[i] = strings.ReplaceAll(strings.ReplaceAll(a, "$(JOB_COMPLETION_INDEX)", index), "/work", work)
		}
		return out
	}
	shardArgs := job.Spec.Template.Spec.Containers[0].Args
	var procs []*osexec.Cmd
	var logs []*bytes.Buffer
	for i := range job.Spec.Completions {
		index := strconv.Itoa(i)
		cmd := graftCommand([]string{"JOB_COMPLETION_INDEX=" + index}, pod(shardArgs, index)...)
		var b bytes.Buffer
		cmd.Stdout, cmd.Stderr = &b, &b
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs, logs = append(procs, cmd), append(logs, &b)
	}
	for i, p := range procs {
		if err := p.Wait(); err != nil {
			t.Fatalf("shard pod %d: %v\n%s", i, err, logs[i])
		}
	}
	for _, c := range []container{finish.Spec.Template.Spec.InitContainers[0], finish.Spec.Template.Spec.Containers[0]} {
		if b, err := graftCommand(nil, pod(c.Args, "")...).CombinedOutput(); err != nil {
			t.Fatalf("finish %v: %v\n%s", c.Args[:2], err, b)
		}
	}
	// One run over all the data: the shards' command without --shards N
	// and with its own output.
	var one []string
	for i := 0; i < len(shardArgs); i++ {
		switch shardArgs[i] {
		case "--shards", "-o":
			i++
			continue
		}
		one = append(one, shardArgs[i])
	}
	oneOut := filepath.Join(t.TempDir(), "one.onnx")
	if code, _, stderr := graft(append(pod(one, ""), "-o", oneOut)...); code != 0 {
		t.Fatalf("one run: exit %d: %s", code, stderr)
	}
	sameInitializers(t, filepath.Join(work, "fit", "result.onnx"), oneOut)
	checkK8sSchemas(t, filepath.Join(dir, "ntk-pvc.yaml"), filepath.Join(dir, "fit-job.yaml"), filepath.Join(dir, "fit-finish-job.yaml"))
}

// runArrayTasks runs script as the n tasks of a Slurm array numbered from
// first, all at once in dir, each with env and the variables Slurm sets
// for it, and returns their output; a task that fails fails t.
func runArrayTasks(t *testing.T, script, dir string, env []string, first, n int) []*bytes.Buffer {
	t.Helper()
	var cmds []*osexec.Cmd
	var logs []*bytes.Buffer
	for i := first; i < first+n; i++ {
		cmd := osexec.Command("bash", script)
		cmd.Dir = dir
		cmd.Env = append(cleanShardEnv(), append(env, "SLURM_ARRAY_JOB_ID=77", "SLURM_ARRAY_TASK_ID="+strconv.Itoa(i),
			"SLURM_ARRAY_TASK_MIN="+strconv.Itoa(first), "SLURM_ARRAY_TASK_MAX="+strconv.Itoa(first+n-1), "SLURM_ARRAY_TASK_STEP=1",
			"SLURM_ARRAY_TASK_COUNT="+strconv.Itoa(n), "SLURM_CPUS_PER_TASK=1")...)
		var b bytes.Buffer
		cmd.Stdout, cmd.Stderr = &b, &b
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, logs = append(cmds, cmd), append(logs, &b)
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("%s, task %d: %v\n%s", filepath.Base(script), first+i, err, logs[i])
		}
	}
	return logs
}

// TestDeploySlurmFitScripts runs deploy/slurm's sharded fit the way Slurm
// would, without Slurm: four array tasks of fit-shard.sbatch with the
// variables Slurm sets, then fit-finish.sbatch; the stitched model must
// equal one `graft stitch --fit` run over the same samples (the float64
// sums differ only in the order of additions, so the float32 weights agree
// to rounding). submit-fit.sh's two sbatch calls are checked through a
// stand-in sbatch.
func TestDeploySlurmFitScripts(t *testing.T) {
	if _, err := osexec.LookPath("bash"); err != nil {
		t.Skip("the scripts need bash")
	}
	slurm := filepath.Join(deployDir(), "slurm")
	tmp := t.TempDir()
	wrapper := graftWrapper(t, tmp)
	fm := func(name string) string { return filepath.Join(fixtures.Dir(), "fmnist", name) }
	fit := "stitch " + fm("a.onnx") + " --at pool2 " + fm("b.onnx") + " --from pool2 --fit linear"
	dataArgs := "--data " + fm("train-images-2k-idx3-ubyte.gz") + " --mean 0.2860 --std 0.3530 --limit 300"
	out := filepath.Join(tmp, "out")
	env := []string{"OUT=" + out, "GRAFT=" + wrapper, "FIT_ARGS=" + fit, "DATA_ARGS=" + dataArgs}
	runArrayTasks(t, filepath.Join(slurm, "fit-shard.sbatch"), tmp, env, 0, 4)
	finish := osexec.Command("bash", filepath.Join(slurm, "fit-finish.sbatch"))
	finish.Dir = tmp
	finish.Env = append(cleanShardEnv(), append(env, noRecordEnv+"=1")...)
	if b, err := finish.CombinedOutput(); err != nil {
		t.Fatalf("finish: %v\n%s", err, b)
	}
	one := filepath.Join(tmp, "one.onnx")
	if code, _, stderr := graft(append(strings.Fields(fit+" "+dataArgs), "--no-record", "-o", one)...); code != 0 {
		t.Fatalf("one run: exit %d: %s", code, stderr)
	}
	sameInitializers(t, filepath.Join(out, "result.onnx"), one)

	// submit-fit.sh: the array, then the finish after it.
	bin := filepath.Join(tmp, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	sbatchLog := filepath.Join(tmp, "sbatch.log")
	fake := "#!/bin/bash\necho \"sbatch $* | OUT=$OUT FIT_ARGS=$FIT_ARGS DATA_ARGS=$DATA_ARGS\" >> \"" + sbatchLog + "\"\necho 5151\n"
	if err := os.WriteFile(filepath.Join(bin, "sbatch"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	submitArgs := append([]string{filepath.Join(slurm, "submit-fit.sh"), "8", filepath.Join(tmp, "job"), "--"}, strings.Fields(fit)...)
	submit := osexec.Command("bash", append(append(submitArgs, "--"), strings.Fields(dataArgs)...)...)
	submit.Env = append(cleanShardEnv(), "PATH="+bin+":"+os.Getenv("PATH"))
	if b, err := submit.CombinedOutput(); err != nil {
		t.Fatalf("submit-fit.sh: %v\n%s", err, b)
	}
	logged, err := os.ReadFile(sbatchLog)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(logged)), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "--array=0-7") || !strings.Contains(lines[0], "fit-shard.sbatch") ||
		!strings.Contains(lines[1], "--dependency=afterok:5151") || !strings.Contains(lines[1], "fit-finish.sbatch") || !strings.Contains(lines[1], "FIT_ARGS=stitch ") || !strings.Contains(lines[1], "DATA_ARGS=--data ") {
		t.Errorf("submit-fit.sh's sbatch calls:\n%s", logged)
	}
	bad := osexec.Command("bash", filepath.Join(slurm, "submit-fit.sh"), "4", filepath.Join(tmp, "job2"), "--", "ntk", "m.onnx", "--", "--data", "x")
	if b, err := bad.CombinedOutput(); err == nil || !strings.Contains(string(b), "not 'ntk'") {
		t.Errorf("submit-fit.sh of ntk: %v\n%s", err, b)
	}
}
