package runlog

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// writeFile creates path with the given contents, folders included.
func writeFile(t *testing.T, path, contents string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(contents), 0o644); err != nil {
		t.Fatal(err)
	}
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// readParams parses a run's params.json as a client would.
func readParams(t *testing.T, dir string) Params {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, ParamsFile))
	if err != nil {
		t.Fatal(err)
	}
	var p Params
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatalf("params.json does not parse: %v\n%s", err, data)
	}
	return p
}

// TestRoundTrip records a small training run and reads it back: params
// with hashed inputs, metrics lines, summary, artefact copy and curves.
func TestRoundTrip(t *testing.T) {
	tmp := t.TempDir()
	model := filepath.Join(tmp, "model.onnx")
	writeFile(t, model, "weights")
	images := filepath.Join(tmp, "images")
	writeFile(t, filepath.Join(images, "cat", "1.png"), "c1")
	writeFile(t, filepath.Join(images, "dog", "1.png"), "d1")
	dir := filepath.Join(tmp, "runs")

	r, err := Start(dir, Info{
		Command: "finetune", Args: []string{"graft", "finetune", model},
		Flags: map[string]string{"lr": "0.1", "epochs": "3"}, Inputs: []string{model, images, ""}, Seed: 7, Threads: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	if p := readParams(t, r.Dir()); p.Status != StatusRunning || p.ID != r.ID() {
		t.Errorf("after Start: status %q id %q, want running %q", p.Status, p.ID, r.ID())
	}
	for step := range 5 {
		err := r.Log(map[string]any{"step": step, "loss": 2 / float64(step+1), "lr": 0.1 * math.Pow(0.5, float64(step)), "accuracy": 0.1 * float64(step)})
		if err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(tmp, "tuned.json")
	writeFile(t, out, `{"ok":true}`)
	if err := r.Artefact(out); err != nil {
		t.Fatal(err)
	}
	r.Summary("test_top1", 0.9)
	if err := r.Finish(nil); err != nil {
		t.Fatal(err)
	}

	list, err := List(dir)
	if err != nil || len(list) != 1 {
		t.Fatalf("List: %d runs, %v; want 1", len(list), err)
	}
	rec := list[0]
	if rec.Status != StatusDone || rec.Error != "" || rec.End.IsZero() || rec.Seconds < 0 {
		t.Errorf("status %q error %q end %v seconds %v", rec.Status, rec.Error, rec.End, rec.Seconds)
	}
	if rec.Command != "finetune" || rec.Seed != 7 || rec.Threads != 2 || rec.Flags["lr"] != "0.1" || len(rec.Args) != 3 {
		t.Errorf("params not kept: %+v", rec.Params)
	}
	if !strings.HasSuffix(rec.ID, "-finetune-"+rec.ID[len(rec.ID)-4:]) || len(rec.ID) != len("20261204-180512-finetune-3f2a") {
		t.Errorf("id %q not shaped like 20261204-180512-finetune-3f2a", rec.ID)
	}
	if rec.Build.Version == "" || rec.Build.Go == "" || rec.Machine.PID != os.Getpid() || rec.Machine.NumCPU < 1 || rec.Machine.OS == "" {
		t.Errorf("build %+v machine %+v", rec.Build, rec.Machine)
	}
	if len(rec.Inputs) != 2 {
		t.Fatalf("inputs %+v, want the model and the folder (the empty path dropped)", rec.Inputs)
	}
	if in := rec.Inputs[0]; in.SHA256 != sha("weights") || in.Bytes != 7 {
		t.Errorf("model input %+v, want sha256 of its contents and 7 bytes", in)
	}
	if in := rec.Inputs[1]; in.Files != 2 || in.Bytes != 4 || in.Partial || len(in.SHA256) != 64 {
		t.Errorf("folder input %+v, want 2 files, 4 bytes, a full hash", in)
	}
	if len(rec.Metrics) != 5 || rec.Metrics[4]["loss"] != 0.4 || rec.Metrics[0]["seconds"] == nil {
		t.Errorf("metrics %v", rec.Metrics)
	}
	if rec.Summary["test_top1"] != 0.9 {
		t.Errorf("summary %v", rec.Summary)
	}
	if len(rec.Artefacts) != 1 || rec.Artefacts[0].SHA256 != sha(`{"ok":true}`) || rec.Artefacts[0].Copy != "artefacts/tuned.json" {
		t.Fatalf("artefacts %+v", rec.Artefacts)
	}
	if b, err := os.ReadFile(filepath.Join(rec.Dir, rec.Artefacts[0].Copy)); err != nil || string(b) != `{"ok":true}` {
		t.Errorf("artefact copy %q, %v", b, err)
	}
	if got := strings.Join(rec.Curves, ","); got != "accuracy.png,loss.png,lr.png" {
		t.Errorf("curves %s, want accuracy.png,loss.png,lr.png", got)
	}
	for _, c := range rec.Curves {
		f, err := os.Open(filepath.Join(rec.Dir, c))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := png.Decode(f); err != nil {
			t.Errorf("%s: %v", c, err)
		}
		f.Close()
	}
	// Nothing but the run folder is left in dir: no temporary folders.
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("%d entries in the runs folder, want 1", len(entries))
	}
	for _, id := range []string{rec.ID, rec.ID[:10], rec.ID[len(rec.ID)-4:], rec.Dir} {
		got, err := Load(dir, id)
		if err != nil || got.ID != rec.ID {
			t.Errorf("Load(%q): %v, %v", id, got, err)
		}
	}
	if _, err := Load(dir, "nosuchrun"); err == nil {
		t.Error("Load of an unknown id: no error")
	}
}

// TestFailedRun checks that Finish with an error marks the run failed,
// that a second Finish changes nothing, and that Log after it fails.
func TestFailedRun(t *testing.T) {
	dir := t.TempDir()
	r, err := Start(dir, Info{Command: "eval"})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Finish(errors.New("out of memory")); err != nil {
		t.Fatal(err)
	}
	if err := r.Finish(nil); err != nil {
		t.Fatal(err)
	}
	if p := readParams(t, r.Dir()); p.Status != StatusFailed || p.Error != "out of memory" {
		t.Errorf("status %q error %q, want failed, out of memory", p.Status, p.Error)
	}
	if err := r.Log(map[string]any{"step": 1}); err == nil {
		t.Error("Log after Finish: no error")
	}
}

// TestNilRun checks that a nil *Run (recording switched off) is inert.
func TestNilRun(t *testing.T) {
	var r *Run
	if err := r.Log(map[string]any{"loss": 1}); err != nil {
		t.Error(err)
	}
	r.Summary("x", 1)
	r.AddCurve(Curve{X: "lr", Y: "loss"})
	if err := r.Artefact("/nonexistent"); err != nil {
		t.Error(err)
	}
	if err := r.Finish(errors.New("x")); err != nil {
		t.Error(err)
	}
	if r.ID() != "" || r.Dir() != "" {
		t.Error("nil run has an id or folder")
	}
}

// deadPID returns the pid of a process that has exited: this test binary,
// run with no tests. Linux hands pids out in increasing order, so it is
// not reused while the test runs.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.ProcessState.Pid()
}

// TestCrashedRun checks how an unfinished run is reported: running while
// its process lives, crashed when the process is gone on this host or
// the host has rebooted, and running when it ran on another host.
func TestCrashedRun(t *testing.T) {
	dead := deadPID(t)
	cases := []struct {
		name   string
		mutate func(*Params)
		want   string
	}{
		{"alive", func(*Params) {}, StatusRunning},
		{"dead_pid", func(p *Params) { p.Machine.PID = dead }, StatusCrashed},
		{"other_host", func(p *Params) { p.Machine.PID = dead; p.Machine.Hostname += "-elsewhere" }, StatusRunning},
		{"finished", func(p *Params) { p.Machine.PID = dead; p.Status = StatusDone }, StatusDone},
	}
	if bootID() != "" {
		cases = append(cases, struct {
			name   string
			mutate func(*Params)
			want   string
		}{"rebooted", func(p *Params) { p.Machine.BootID = "another-boot" }, StatusCrashed})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			r, err := Start(dir, Info{Command: "finetune"})
			if err != nil {
				t.Fatal(err)
			}
			p := readParams(t, r.Dir())
			c.mutate(&p)
			if err := writeParams(filepath.Join(r.Dir(), ParamsFile), &p); err != nil {
				t.Fatal(err)
			}
			rec, err := Load(dir, r.ID())
			if err != nil {
				t.Fatal(err)
			}
			if rec.Status != c.want {
				t.Errorf("status %q, want %q", rec.Status, c.want)
			}
		})
	}
}

// TestTornMetrics checks that a last line cut short by a crash is
// skipped, while a damaged line before it is an error (and List leaves
// that run out).
func TestTornMetrics(t *testing.T) {
	cases := []struct {
		name  string
		tail  string
		lines int // -1: Load fails
	}{
		{"whole", "", 2},
		{"torn_last_line", `{"step": 2, "lo`, 2},
		{"damaged_middle", "{not json\n" + `{"step": 2}` + "\n", -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			r, err := Start(dir, Info{Command: "finetune"})
			if err != nil {
				t.Fatal(err)
			}
			r.Log(map[string]any{"step": 0, "loss": 1})
			r.Log(map[string]any{"step": 1, "loss": 0.5})
			f, err := os.OpenFile(filepath.Join(r.Dir(), MetricsFile), os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString(c.tail)
			f.Close()
			rec, err := Load(dir, r.ID())
			if c.lines < 0 {
				if err == nil {
					t.Error("Load: no error")
				}
				if list, _ := List(dir); len(list) != 0 {
					t.Errorf("List has %d runs, want the damaged one left out", len(list))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(rec.Metrics) != c.lines {
				t.Errorf("%d lines, want %d", len(rec.Metrics), c.lines)
			}
		})
	}
}

// TestParamsAlwaysParse rewrites params.json (through Artefact) while
// another goroutine reads it: every read must parse, since it is only
// ever replaced by a rename.
func TestParamsAlwaysParse(t *testing.T) {
	dir := t.TempDir()
	art := filepath.Join(t.TempDir(), "a.json")
	writeFile(t, art, strings.Repeat("x", 10000))
	r, err := Start(dir, Info{Command: "finetune", Flags: map[string]string{"long": strings.Repeat("y", 100000)}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			data, err := os.ReadFile(filepath.Join(r.Dir(), ParamsFile))
			if err != nil {
				t.Errorf("read: %v", err)
				return
			}
			var p Params
			if err := json.Unmarshal(data, &p); err != nil {
				t.Errorf("params.json does not parse mid-run: %v", err)
				return
			}
		}
	}()
	for range 50 {
		if err := r.Artefact(art); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Finish(nil); err != nil {
		t.Fatal(err)
	}
	close(done)
	wg.Wait()
	entries, _ := os.ReadDir(r.Dir())
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temporary file %s left in the run folder", e.Name())
		}
	}
}

// TestUniqueIDs starts runs of one command at once: each gets its own
// folder, and a prefix they share is ambiguous for Load.
func TestUniqueIDs(t *testing.T) {
	dir := t.TempDir()
	const n = 20
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := Start(dir, Info{Command: "stitch --fit"})
			if err != nil {
				t.Error(err)
				return
			}
			r.Finish(nil)
		}()
	}
	wg.Wait()
	list, err := List(dir)
	if err != nil || len(list) != n {
		t.Fatalf("List: %d runs, %v; want %d", len(list), err, n)
	}
	if !strings.Contains(list[0].ID, "-stitch-fit-") {
		t.Errorf("id %q: command not made file-name safe", list[0].ID)
	}
	if _, err := Load(dir, list[0].ID[:8]); err == nil || !strings.Contains(err.Error(), "matches") {
		t.Errorf("ambiguous prefix: %v", err)
	}
}

// TestNonFinite checks that NaN and infinities, which JSON cannot hold,
// are written as null instead of failing the record.
func TestNonFinite(t *testing.T) {
	dir := t.TempDir()
	r, err := Start(dir, Info{Command: "eval"})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Log(map[string]any{"step": 0, "r2": math.NaN(), "row": []float64{1, math.Inf(1)}}); err != nil {
		t.Fatal(err)
	}
	r.Summary("r2", math.NaN())
	if err := r.Finish(nil); err != nil {
		t.Fatal(err)
	}
	rec, err := Load(dir, r.ID())
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := rec.Metrics[0]["r2"]; !ok || v != nil {
		t.Errorf("NaN logged as %v", v)
	}
	if row := rec.Metrics[0]["row"].([]any); row[0] != 1.0 || row[1] != nil {
		t.Errorf("row logged as %v", row)
	}
	if v, ok := rec.Summary["r2"]; !ok || v != nil {
		t.Errorf("NaN summary %v", v)
	}
}

// TestCompare checks the differing flags and the side-by-side metrics.
func TestCompare(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(t.TempDir(), "data.npy")
	var recs []*Record
	for _, lr := range []string{"0.1", "0.01"} {
		writeFile(t, data, "samples for lr "+lr) // the data changed between the runs
		r, err := Start(dir, Info{Command: "finetune", Flags: map[string]string{"lr": lr, "batch": "64"}, Inputs: []string{data}})
		if err != nil {
			t.Fatal(err)
		}
		r.Log(map[string]any{"step": 0, "loss": 2.0})
		r.Log(map[string]any{"step": 1, "loss": map[string]float64{"0.1": 1.0, "0.01": 1.5}[lr]})
		r.Summary("test_top1", map[string]float64{"0.1": 0.9, "0.01": 0.8}[lr])
		if err := r.Finish(nil); err != nil {
			t.Fatal(err)
		}
		rec, err := Load(dir, r.ID())
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	c := Compare(recs[0], recs[1])
	if len(c.Flags) != 1 || c.Flags[0] != (Diff{"lr", "0.1", "0.01"}) {
		t.Errorf("flags %+v, want only lr", c.Flags)
	}
	if len(c.Summary) != 1 || c.Summary[0] != (Diff{"test_top1", 0.9, 0.8}) {
		t.Errorf("summary %+v", c.Summary)
	}
	found := false
	for _, d := range c.Metrics {
		if d.Key == "loss" {
			found = d.A == 1.0 && d.B == 1.5
		}
	}
	if !found {
		t.Errorf("metrics %+v lack loss 1 vs 1.5", c.Metrics)
	}
	if len(c.Inputs) != 1 || c.Inputs[0] != (Diff{data, sha("samples for lr 0.1"), sha("samples for lr 0.01")}) {
		t.Errorf("inputs %+v, want the data file with its two hashes", c.Inputs)
	}
}

// TestFolderHashBound checks that a folder past the content limit is
// hashed by names and sizes beyond it, and marked partial, and that its
// hash still changes when a file's size does.
func TestFolderHashBound(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a"), "1234")
	writeFile(t, filepath.Join(root, "b"), "5678")
	var f File
	if err := hashFolder(&f, root, 6); err != nil { // room for a, not b
		t.Fatal(err)
	}
	if !f.Partial || f.Files != 2 || f.Bytes != 8 {
		t.Errorf("%+v, want partial, 2 files, 8 bytes", f)
	}
	writeFile(t, filepath.Join(root, "b"), "56789")
	var g File
	if err := hashFolder(&g, root, 6); err != nil {
		t.Fatal(err)
	}
	if g.SHA256 == f.SHA256 {
		t.Error("hash unchanged after a file grew")
	}
}

// TestExtraCurve checks a curve asked for with AddCurve: loss against
// lr on a log axis, as a learning-rate range test draws it.
func TestExtraCurve(t *testing.T) {
	dir := t.TempDir()
	r, err := Start(dir, Info{Command: "lr-find"})
	if err != nil {
		t.Fatal(err)
	}
	for i, lr := range []float64{1e-5, 1e-4, 1e-3, 1e-2} {
		r.Log(map[string]any{"step": i, "lr": lr, "loss": 2 - float64(i)/4})
	}
	r.AddCurve(Curve{Name: "lr-find", X: "lr", Y: "loss", LogX: true})
	r.AddCurve(Curve{Name: "missing", X: "lr", Y: "nosuchmetric"})
	err = r.Finish(nil)
	if err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("Finish: %v, want an error about the curve with no points", err)
	}
	if p := readParams(t, r.Dir()); p.Status != StatusDone || !strings.Contains(strings.Join(p.Curves, ","), "lr-find.png") {
		t.Errorf("status %q curves %v", p.Status, p.Curves)
	}
}
