package runlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Record is a run read back from its folder.
type Record struct {
	Dir string `json:"dir"`
	Params
	Metrics []map[string]any `json:"metrics"` // the lines of metrics.jsonl
}

// List reads every run under dir, oldest first. A folder whose
// params.json is missing or cannot be read is left out, as is anything
// hidden (runs being created). A missing dir has no runs.
func List(dir string) ([]*Record, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("runs: %w", err)
	}
	var out []*Record
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		r, err := read(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		out = append(out, r)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Start.Equal(out[j].Start) {
			return out[i].Start.Before(out[j].Start)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// Load reads one run under dir: the one named id, else the one whose
// name starts with id, else the one whose name contains id (its random
// suffix, say); more than one match is an error naming them. id may also
// be the path of a run folder.
func Load(dir, id string) (*Record, error) {
	if id == "" {
		return nil, errors.New("runs: no run id")
	}
	if st, err := os.Stat(filepath.Join(dir, id, ParamsFile)); err == nil && !st.IsDir() {
		return read(filepath.Join(dir, id))
	}
	if st, err := os.Stat(filepath.Join(id, ParamsFile)); err == nil && !st.IsDir() {
		return read(id)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("runs: %w", err)
	}
	for _, match := range []func(name string) bool{
		func(name string) bool { return strings.HasPrefix(name, id) },
		func(name string) bool { return strings.Contains(name, id) },
	} {
		var found []string
		for _, e := range entries {
			if e.IsDir() && !strings.HasPrefix(e.Name(), ".") && match(e.Name()) {
				found = append(found, e.Name())
			}
		}
		switch {
		case len(found) == 1:
			return read(filepath.Join(dir, found[0]))
		case len(found) > 1:
			if len(found) > 5 {
				found = append(found[:5], "...")
			}
			return nil, fmt.Errorf("runs: %q matches %d runs in %s: %s", id, len(found), dir, strings.Join(found, ", "))
		}
	}
	return nil, fmt.Errorf("runs: no run %q in %s", id, dir)
}

// read loads the run in folder dir, reporting an unfinished run of a
// process that is gone as crashed.
func read(dir string) (*Record, error) {
	data, err := os.ReadFile(filepath.Join(dir, ParamsFile))
	if err != nil {
		return nil, fmt.Errorf("runs: %w", err)
	}
	r := &Record{Dir: dir}
	if err := json.Unmarshal(data, &r.Params); err != nil {
		return nil, fmt.Errorf("runs: %s: %w", filepath.Join(dir, ParamsFile), err)
	}
	if r.Metrics, err = readMetrics(filepath.Join(dir, MetricsFile)); err != nil {
		return nil, err
	}
	if r.Status == StatusRunning && crashed(r.Machine) {
		r.Status = StatusCrashed
	}
	return r, nil
}

// crashed tells whether the process m describes is gone: same host, and
// either another boot or no process with its pid.
func crashed(m Machine) bool {
	host, _ := os.Hostname()
	if host == "" || m.Hostname != host {
		return false
	}
	if b := bootID(); b != "" && m.BootID != "" && b != m.BootID {
		return true
	}
	return !alive(m.PID)
}

// readMetrics reads metrics.jsonl. A last line without its newline is a
// write cut short by a crash and is skipped; any other line that is not
// a JSON object is an error. A missing file has no lines.
func readMetrics(path string) ([]map[string]any, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("runs: %w", err)
	}
	if i := bytes.LastIndexByte(data, '\n'); i+1 < len(data) {
		data = data[:i+1] // torn last line
	}
	var out []map[string]any
	for n, line := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			return nil, fmt.Errorf("runs: %s:%d: %w", path, n+1, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// Last is the last logged value of each metric.
func (r *Record) Last() map[string]any {
	out := map[string]any{}
	for _, l := range r.Metrics {
		for k, v := range l {
			out[k] = v
		}
	}
	return out
}

// Diff is one row of a Comparison: a key and its value in each run, nil
// where a run has none.
type Diff struct {
	Key string `json:"key"`
	A   any    `json:"a"`
	B   any    `json:"b"`
}

// Comparison sets two runs side by side.
type Comparison struct {
	A       string     `json:"a"` // the runs' ids
	B       string     `json:"b"`
	Flags   []Diff     `json:"flags"`   // flags whose values differ
	Inputs  []Diff     `json:"inputs"`  // inputs by path, read by one run only or with other contents: SHA-256 or nil
	Summary []Diff     `json:"summary"` // every summary key of either run
	Metrics []Diff     `json:"metrics"` // the last value of every metric of either run
	Seconds [2]float64 `json:"seconds"` // each run's duration
}

// Compare sets a and b side by side: the flags and inputs in which they
// differ, and all their summaries and last metric values.
func Compare(a, b *Record) *Comparison {
	c := &Comparison{A: a.ID, B: b.ID, Seconds: [2]float64{a.Seconds, b.Seconds}}
	for _, k := range unionKeys(a.Flags, b.Flags) {
		va, oka := a.Flags[k]
		vb, okb := b.Flags[k]
		if va != vb || oka != okb {
			c.Flags = append(c.Flags, Diff{k, orNil(va, oka), orNil(vb, okb)})
		}
	}
	ha, hb := inputHashes(a), inputHashes(b)
	for _, k := range unionKeys(ha, hb) {
		va, oka := ha[k]
		vb, okb := hb[k]
		if va != vb || oka != okb {
			c.Inputs = append(c.Inputs, Diff{k, orNil(va, oka), orNil(vb, okb)})
		}
	}
	side := func(ma, mb map[string]any) []Diff {
		var out []Diff
		for _, k := range unionKeys(ma, mb) {
			out = append(out, Diff{k, ma[k], mb[k]})
		}
		return out
	}
	c.Summary = side(a.Summary, b.Summary)
	c.Metrics = side(a.Last(), b.Last())
	return c
}

// inputHashes maps each input's path to its SHA-256 (or its error).
func inputHashes(r *Record) map[string]string {
	m := map[string]string{}
	for _, f := range r.Inputs {
		if f.Error != "" {
			m[f.Path] = "unreadable: " + f.Error
		} else {
			m[f.Path] = f.SHA256
		}
	}
	return m
}

func orNil(v string, ok bool) any {
	if !ok {
		return nil
	}
	return v
}

// unionKeys is the sorted union of two maps' keys.
func unionKeys[V any](a, b map[string]V) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range []map[string]V{a, b} {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	sort.Strings(out)
	return out
}
