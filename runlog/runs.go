package runlog

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/graft-ml/graft/tensor"
)

// The states of a run. Running, Done and Failed are written by the run
// itself; Crashed is what List and Load report for a run that stopped
// without finishing.
const (
	StatusRunning = "running"
	StatusDone    = "done"
	StatusFailed  = "failed"
	StatusCrashed = "crashed"
)

// File names inside a run's folder.
const (
	ParamsFile   = "params.json"
	MetricsFile  = "metrics.jsonl"
	ArtefactsDir = "artefacts"
)

// copyLimit is the largest artefact copied into the run folder: enough
// for curves, reports and small models, while a large model is only
// hashed.
const copyLimit = 1 << 20

// Info describes a run as its command sees it when it starts.
type Info struct {
	Command string            // the subcommand, such as "finetune"
	Args    []string          // the full command line
	Flags   map[string]string // every flag of the command with its value
	Inputs  []string          // models and datasets read: files or folders, hashed with SHA-256
	Seed    int64             // random seed, 0 if the command uses none
	Threads int               // kernel threads
}

// Params is the content of params.json.
type Params struct {
	ID        string            `json:"id"`
	Command   string            `json:"command"`
	Args      []string          `json:"args"`
	Flags     map[string]string `json:"flags"`
	Inputs    []File            `json:"inputs"`
	Seed      int64             `json:"seed"`
	Threads   int               `json:"threads"`
	Status    string            `json:"status"`
	Error     string            `json:"error,omitempty"`
	Start     time.Time         `json:"start"`
	End       time.Time         `json:"end,omitzero"`
	Seconds   float64           `json:"seconds,omitempty"`
	Summary   map[string]any    `json:"summary,omitempty"`
	Artefacts []File            `json:"artefacts,omitempty"`
	Curves    []string          `json:"curves,omitempty"` // PNG files in the run folder
	Build     Build             `json:"graft"`
	Machine   Machine           `json:"machine"`
}

// File is an input or artefact: where it was, and what it held.
type File struct {
	Path    string `json:"path"`
	SHA256  string `json:"sha256,omitempty"`
	Bytes   int64  `json:"bytes"`
	Files   int    `json:"files,omitempty"`   // for a folder: how many files were hashed
	Partial bool   `json:"partial,omitempty"` // for a folder: some files counted by name and size only
	Copy    string `json:"copy,omitempty"`    // for an artefact: its copy, relative to the run folder
	Error   string `json:"error,omitempty"`   // why it could not be hashed
}

// Run is a run being recorded. Its methods may be called from several
// goroutines, and on a nil *Run they do nothing.
type Run struct {
	dir string

	mu       sync.Mutex
	p        Params
	metrics  *os.File
	curves   []Curve
	finished bool
}

// Start creates the folder of a new run under dir (made if missing) and
// writes its params.json with status "running". The inputs are hashed
// here, so Start takes as long as reading them once.
func Start(dir string, info Info) (*Run, error) {
	if info.Command == "" {
		return nil, errors.New("runs: start: no command name")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("runs: %w", err)
	}
	now := time.Now()
	p := Params{
		Command: info.Command,
		Args:    append([]string(nil), info.Args...),
		Flags:   map[string]string{},
		Seed:    info.Seed,
		Threads: info.Threads,
		Status:  StatusRunning,
		Start:   now,
		Build:   build(),
		Machine: machine(),
	}
	for k, v := range info.Flags {
		p.Flags[k] = v
	}
	for _, in := range info.Inputs {
		if in != "" {
			p.Inputs = append(p.Inputs, hashInput(in))
		}
	}
	// Assemble the folder under a hidden name and rename it into place,
	// so that a listed run always has its params.json. Renaming onto an
	// existing run's folder fails, and the next suffix is tried.
	tmp, err := os.MkdirTemp(dir, ".start-*")
	if err != nil {
		return nil, fmt.Errorf("runs: %w", err)
	}
	defer os.RemoveAll(tmp) // empty after a successful rename
	metrics, err := os.OpenFile(filepath.Join(tmp, MetricsFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("runs: %w", err)
	}
	for range 16 {
		p.ID = newID(now, info.Command)
		if err = writeParams(filepath.Join(tmp, ParamsFile), &p); err != nil {
			break
		}
		final := filepath.Join(dir, p.ID)
		if err = os.Rename(tmp, final); err == nil {
			return &Run{dir: final, p: p, metrics: metrics}, nil
		}
		if _, statErr := os.Stat(final); statErr != nil {
			break // not a collision
		}
	}
	metrics.Close()
	return nil, fmt.Errorf("runs: creating a run folder in %s: %w", dir, err)
}

// newID is the start time in UTC, the command made file-name safe, and
// four random hex digits.
func newID(t time.Time, command string) string {
	var b [2]byte
	rand.Read(b[:])
	return t.UTC().Format("20060102-150405") + "-" + safeName(command) + "-" + hex.EncodeToString(b[:])
}

// safeName keeps lower-case letters, digits and '_', and turns each run
// of anything else into one '-' ("stitch --fit" becomes "stitch-fit").
func safeName(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			dash = false
			continue
		}
		dash = true
	}
	if b.Len() == 0 {
		return "run"
	}
	return b.String()
}

// writeParams replaces path with p as indented JSON, atomically.
func writeParams(path string, p *Params) error {
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	return tensor.WriteFileAtomic(path, func(w io.Writer) error {
		_, err := w.Write(append(data, '\n'))
		return err
	})
}

// ID is the run's name, the last element of Dir.
func (r *Run) ID() string {
	if r == nil {
		return ""
	}
	return r.p.ID
}

// Dir is the run's folder.
func (r *Run) Dir() string {
	if r == nil {
		return ""
	}
	return r.dir
}

// Log appends m as one line of metrics.jsonl, with "seconds" since the
// start added unless m has it. A training loop logs "step" or "epoch"
// with its "loss", "lr" and accuracies, and Finish draws them. NaN and
// infinite numbers, which JSON cannot hold, are written as null.
func (r *Run) Log(m map[string]any) error {
	if r == nil {
		return nil
	}
	line := make(map[string]any, len(m)+1)
	for k, v := range m {
		line[k] = jsonSafe(v)
	}
	if _, ok := line["seconds"]; !ok {
		line["seconds"] = math.Round(time.Since(r.p.Start).Seconds()*1e3) / 1e3
	}
	data, err := json.Marshal(line)
	if err != nil {
		return fmt.Errorf("runs: %s: metrics: %w", r.p.ID, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.finished {
		return fmt.Errorf("runs: %s: log after finish", r.p.ID)
	}
	// One write of a whole line: a crash leaves whole lines and at most
	// one torn last line, never two lines interleaved.
	if _, err := r.metrics.Write(append(data, '\n')); err != nil {
		return fmt.Errorf("runs: %s: %w", r.p.ID, err)
	}
	return nil
}

// Summary records one of the run's key results, such as "test_top1",
// shown by List and compared by Compare. It is written at Finish; a
// later value for the same key replaces the earlier one.
func (r *Run) Summary(key string, v any) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.p.Summary == nil {
		r.p.Summary = map[string]any{}
	}
	r.p.Summary[key] = jsonSafe(v)
}

// Artefact records a file the run wrote, with its size and SHA-256, and
// copies it into the run folder's artefacts/ when it is at most 1 MiB.
// params.json is rewritten at once, so the record survives a crash.
func (r *Run) Artefact(path string) error {
	if r == nil {
		return nil
	}
	f := File{Path: path}
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("runs: artefact: %w", err)
	}
	if st.IsDir() {
		return fmt.Errorf("runs: artefact %s is a folder", path)
	}
	f.Bytes = st.Size()
	if f.SHA256, err = hashFile(path); err != nil {
		return fmt.Errorf("runs: artefact: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if f.Bytes <= copyLimit {
		f.Copy = r.copyName(path)
		if err := copyFile(filepath.Join(r.dir, f.Copy), path); err != nil {
			return fmt.Errorf("runs: %s: copying artefact: %w", r.p.ID, err)
		}
	}
	replaced := false
	for i, old := range r.p.Artefacts {
		if old.Path == path {
			r.p.Artefacts[i], replaced = f, true
		}
	}
	if !replaced {
		r.p.Artefacts = append(r.p.Artefacts, f)
	}
	if err := writeParams(filepath.Join(r.dir, ParamsFile), &r.p); err != nil {
		return fmt.Errorf("runs: %s: %w", r.p.ID, err)
	}
	return nil
}

// copyName is where the copy of the artefact at path goes: artefacts/ and
// its base name, numbered when another artefact has that name.
func (r *Run) copyName(path string) string {
	base := filepath.Base(path)
	taken := map[string]bool{}
	for _, a := range r.p.Artefacts {
		if a.Path != path && a.Copy != "" {
			taken[a.Copy] = true
		}
	}
	name := filepath.ToSlash(filepath.Join(ArtefactsDir, base))
	for i := 2; taken[name]; i++ {
		name = filepath.ToSlash(filepath.Join(ArtefactsDir, fmt.Sprintf("%d-%s", i, base)))
	}
	return name
}

func copyFile(dst, src string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return tensor.WriteFileAtomic(dst, func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	})
}

// Finish ends the run: it draws the curves, then rewrites params.json
// with status "done" (err nil) or "failed" and err's text, the end time
// and the duration. It returns what went wrong while recording, not err.
// Later calls do nothing.
func (r *Run) Finish(err error) error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.finished {
		return nil
	}
	r.finished = true
	var errs []error
	if cerr := r.metrics.Close(); cerr != nil {
		errs = append(errs, cerr)
	}
	lines, merr := readMetrics(filepath.Join(r.dir, MetricsFile))
	if merr != nil {
		errs = append(errs, merr)
	}
	curves, cerr := drawCurves(r.dir, lines, r.curves)
	r.p.Curves = curves
	if cerr != nil {
		errs = append(errs, cerr)
	}
	r.p.End = time.Now()
	r.p.Seconds = math.Round(r.p.End.Sub(r.p.Start).Seconds()*1e3) / 1e3
	r.p.Status = StatusDone
	if err != nil {
		r.p.Status, r.p.Error = StatusFailed, err.Error()
	}
	if werr := writeParams(filepath.Join(r.dir, ParamsFile), &r.p); werr != nil {
		errs = append(errs, werr)
	}
	if len(errs) > 0 {
		return fmt.Errorf("runs: %s: %w", r.p.ID, errors.Join(errs...))
	}
	return nil
}

// jsonSafe replaces NaN and infinite floats, at the top level or inside
// slices and maps, by nil, which JSON writes as null.
func jsonSafe(v any) any {
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil
		}
	case float32:
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil
		}
	case *float64:
		if x == nil {
			return nil
		}
		return jsonSafe(*x)
	case []float64:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonSafe(e)
		}
		return out
	case []float32:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonSafe(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonSafe(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = jsonSafe(e)
		}
		return out
	}
	return v
}
