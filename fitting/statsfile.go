package fitting

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/graft-ml/graft/data"
	"github.com/graft-ml/graft/feed"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Shard is part Index (from 0) of Count of a dataset, for array jobs: the
// samples a pass would read (after feed.Options.Limit) are cut into Count
// consecutive runs of ⌊n/Count⌋ or ⌈n/Count⌉, and shard I reads run I.
// The zero Shard is the whole dataset.
type Shard struct{ Index, Count int }

func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// IsZero reports whether s is the whole dataset.
func (s Shard) IsZero() bool { return s == Shard{} }

// Range returns the samples [lo, hi) of n that shard s reads.
func (s Shard) Range(n int) (lo, hi int) {
	if s.IsZero() {
		return 0, n
	}
	return s.Index * n / s.Count, (s.Index + 1) * n / s.Count
}

func (s Shard) check() error {
	if s.IsZero() {
		return nil
	}
	if s.Count < 1 || s.Index < 0 || s.Index >= s.Count {
		return fmt.Errorf("fitting: shard %d/%d: want 0 <= index < count", s.Index, s.Count)
	}
	return nil
}

// shardSource returns the samples of src that a pass with o reads for
// shard s, and o with its limit spent (the shard is already cut), or src
// and o as they are for the zero Shard.
func shardSource(src data.Source, o feed.Options, s Shard) (data.Source, feed.Options, error) {
	if err := s.check(); err != nil {
		return nil, o, err
	}
	if s.IsZero() {
		return src, o, nil
	}
	lo, hi := s.Range(o.Samples(src))
	if lo == hi {
		return nil, o, fmt.Errorf("fitting: shard %s of %d samples is empty: use fewer shards", s, o.Samples(src))
	}
	idx := make([]int, hi-lo)
	for i := range idx {
		idx[i] = lo + i
	}
	sub, err := data.Subset(src, idx)
	if err != nil {
		return nil, o, err
	}
	o.Limit = 0
	return sub, o, nil
}

// StatsFile is the sufficient statistics of a pass over (a shard of) a
// dataset, as an array-job task writes them: each entry's float64 sample
// count, means and centred sums of products (a Stats), with what they are
// statistics of. MergeStatsFiles adds the shards' entries into those of
// the whole dataset, which then finish the fit as one run would.
//
// On disk it is an uncompressed .npz (WriteStatsFile): header.json (the
// fields below, and per entry its count, widths and arrays) and, per
// entry K, entry_K_mean.npy (p+q) and entry_K_sums.npy ((p+q)×(p+q), the
// upper triangle of Σ(z−μ)(z−μ)ᵀ for z = [x; y]).
type StatsFile struct {
	// Kind is the pass: "stitch", "lowrank" or "sweep".
	Kind string
	// Identity says what the statistics are of (models, layers, data,
	// options); files of one job have the same.
	Identity map[string]string
	// Shard is the part of the data; Shards lists the shards merged into
	// it (just Shard.Index for one task's file).
	Shard  Shard
	Shards []int
	// Samples is the number of samples read; Total those of the whole
	// dataset (after the limit).
	Samples, Total int
	// Entries are the statistics, by name.
	Entries []StatsEntry
}

// StatsEntry is one named set of statistics, with the facts about it a
// fit needs besides the sums (activation shapes, rows per sample).
type StatsEntry struct {
	Name  string
	Info  map[string]string
	Stats *Stats
}

// Entry returns the entry named name, or nil.
func (f *StatsFile) Entry(name string) *StatsEntry {
	for i := range f.Entries {
		if f.Entries[i].Name == name {
			return &f.Entries[i]
		}
	}
	return nil
}

// statsFormat and statsVersion identify a statistics file.
const (
	statsFormat  = "graft-fit-stats"
	statsVersion = 1
)

type statsHeader struct {
	Format   string            `json:"format"`
	Version  int               `json:"version"`
	Kind     string            `json:"kind"`
	Shard    int               `json:"shard"`
	Count    int               `json:"shards"`
	Merged   []int             `json:"merged"`
	Samples  int               `json:"samples"`
	Total    int               `json:"total"`
	Identity map[string]string `json:"identity"`
	Entries  []entryHeader     `json:"entries"`
}

type entryHeader struct {
	Name string            `json:"name"`
	Info map[string]string `json:"info,omitempty"`
	N    int               `json:"n"`
	P    int               `json:"p"`
	Q    int               `json:"q"`
}

// WriteStatsFile writes f to path (an .npz, see StatsFile), atomically,
// making its folder if needed (each task of an array job may be first).
func WriteStatsFile(path string, f *StatsFile) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	h := statsHeader{Format: statsFormat, Version: statsVersion, Kind: f.Kind, Shard: f.Shard.Index, Count: f.Shard.Count,
		Merged: f.Shards, Samples: f.Samples, Total: f.Total, Identity: f.Identity}
	for _, e := range f.Entries {
		h.Entries = append(h.Entries, entryHeader{Name: e.Name, Info: e.Info, N: e.Stats.n, P: e.Stats.p, Q: e.Stats.q})
	}
	hdr, err := json.MarshalIndent(h, "", " ")
	if err != nil {
		return err
	}
	return tensor.WriteFileAtomic(path, func(w io.Writer) error {
		zw := zip.NewWriter(w)
		put := func(name string, write func(io.Writer) error) error {
			fw, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
			if err != nil {
				return err
			}
			return write(fw)
		}
		if err := put("header.json", func(w io.Writer) error { _, err := w.Write(append(hdr, '\n')); return err }); err != nil {
			return err
		}
		for k, e := range f.Entries {
			s := e.Stats
			wd := s.p + s.q
			for _, a := range []struct {
				name string
				d    *tensor.Dense
			}{{fmt.Sprintf("entry_%d_mean.npy", k), tensor.FromF64([]int{wd}, s.mean)}, {fmt.Sprintf("entry_%d_sums.npy", k), tensor.FromF64([]int{wd, wd}, s.m)}} {
				if err := put(a.name, func(w io.Writer) error { return tensor.WriteNPY(w, a.d) }); err != nil {
					return err
				}
			}
		}
		return zw.Close()
	})
}

// ReadStatsFile reads a file WriteStatsFile wrote.
func ReadStatsFile(path string) (*StatsFile, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, fmt.Errorf("%s: not a statistics file: %w", path, err)
	}
	defer zr.Close()
	files := map[string]*zip.File{}
	for _, f := range zr.File {
		files[f.Name] = f
	}
	open := func(name string) (io.ReadCloser, error) {
		f := files[name]
		if f == nil {
			return nil, fmt.Errorf("%s: no %s in the archive", path, name)
		}
		return f.Open()
	}
	rc, err := open("header.json")
	if err != nil {
		return nil, fmt.Errorf("%s: not a graft statistics file: %w", path, err)
	}
	raw, err := io.ReadAll(io.LimitReader(rc, 16<<20))
	rc.Close()
	if err != nil {
		return nil, fmt.Errorf("%s: header.json: %w", path, err)
	}
	var h statsHeader
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, fmt.Errorf("%s: header.json: %w", path, err)
	}
	if h.Format != statsFormat || h.Version != statsVersion {
		return nil, fmt.Errorf("%s: header.json says format %q version %d; want %q version %d", path, h.Format, h.Version, statsFormat, statsVersion)
	}
	f := &StatsFile{Kind: h.Kind, Identity: h.Identity, Shard: Shard{h.Shard, h.Count}, Shards: h.Merged, Samples: h.Samples, Total: h.Total}
	if err := f.Shard.check(); err != nil || f.Shard.IsZero() {
		return nil, fmt.Errorf("%s: header.json: shard %d/%d", path, h.Shard, h.Count)
	}
	for k, eh := range h.Entries {
		s, err := emptyStats(eh.P, eh.Q)
		if err != nil {
			return nil, fmt.Errorf("%s: entry %s: %w", path, eh.Name, err)
		}
		s.n = eh.N
		wd := eh.P + eh.Q
		for _, a := range []struct {
			name string
			dst  []float64
		}{{fmt.Sprintf("entry_%d_mean.npy", k), s.mean}, {fmt.Sprintf("entry_%d_sums.npy", k), s.m}} {
			rc, err := open(a.name)
			if err != nil {
				return nil, err
			}
			d, err := tensor.ReadNPY(rc)
			rc.Close()
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", path, a.name, err)
			}
			if d.DType != tensor.Float64 || d.Len() != len(a.dst) || d.Shape[0] != wd {
				return nil, fmt.Errorf("%s: %s is %v %v, want float64 of %d×… for %d+%d columns", path, a.name, d.DType, d.Shape, wd, eh.P, eh.Q)
			}
			copy(a.dst, d.F64)
		}
		f.Entries = append(f.Entries, StatsEntry{Name: eh.Name, Info: eh.Info, Stats: s})
	}
	return f, nil
}

// MergeStatsFiles adds the statistics of the shards of one job (each
// task's file, or files already merged from some of them) into those of
// the whole dataset, in the order of the shards. Files of another job
// (kind, identity or number of shards), a missing shard, a shard given
// twice and entries that do not match are errors naming them; names
// labels the files in messages (their paths).
func MergeStatsFiles(files []*StatsFile, names []string) (*StatsFile, error) {
	if len(files) == 0 {
		return nil, fmt.Errorf("fitting: merge: no statistics files")
	}
	label := func(i int) string {
		if i < len(names) {
			return names[i]
		}
		return fmt.Sprintf("file %d", i+1)
	}
	first := files[0]
	owner := map[int]int{} // shard → file
	for i, f := range files {
		switch {
		case f.Kind != first.Kind:
			return nil, fmt.Errorf("fitting: merge: %s holds %s statistics, %s %s", label(i), f.Kind, label(0), first.Kind)
		case f.Shard.Count != first.Shard.Count:
			return nil, fmt.Errorf("fitting: merge: %s is of %d shards, %s of %d", label(i), f.Shard.Count, label(0), first.Shard.Count)
		case !maps.Equal(f.Identity, first.Identity):
			return nil, fmt.Errorf("fitting: merge: %s and %s are not of the same job: %s", label(0), label(i), identityDiff(first.Identity, f.Identity))
		case f.Total != first.Total:
			return nil, fmt.Errorf("fitting: merge: %s is of a dataset of %d samples, %s of %d", label(i), f.Total, label(0), first.Total)
		case len(f.Entries) != len(first.Entries):
			return nil, fmt.Errorf("fitting: merge: %s has %d entries, %s %d", label(i), len(f.Entries), label(0), len(first.Entries))
		}
		for _, sh := range f.Shards {
			if j, ok := owner[sh]; ok {
				return nil, fmt.Errorf("fitting: merge: shard %d/%d is given twice, in %s and %s", sh, f.Shard.Count, label(j), label(i))
			}
			owner[sh] = i
		}
	}
	var missing []string
	for sh := range first.Shard.Count {
		if _, ok := owner[sh]; !ok {
			missing = append(missing, fmt.Sprint(sh))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("fitting: merge: shard(s) %s of %d missing", strings.Join(missing, ", "), first.Shard.Count)
	}
	// Merge in the order of the shards, whichever order the files came in.
	order := slices.Sorted(maps.Keys(owner))
	out := &StatsFile{Kind: first.Kind, Identity: first.Identity, Shard: Shard{0, first.Shard.Count}, Total: first.Total}
	for _, e := range first.Entries {
		s, err := emptyStats(e.Stats.p, e.Stats.q)
		if err != nil {
			return nil, err
		}
		out.Entries = append(out.Entries, StatsEntry{Name: e.Name, Info: e.Info, Stats: s})
	}
	done := map[int]bool{}
	for _, sh := range order {
		i := owner[sh]
		if done[i] {
			continue // a merged file holding several shards, added once
		}
		done[i] = true
		f := files[i]
		for k := range out.Entries {
			e, fe := &out.Entries[k], f.Entries[k]
			if fe.Name != e.Name || !maps.Equal(fe.Info, e.Info) {
				return nil, fmt.Errorf("fitting: merge: %s entry %d is %s %v, %s's is %s %v", label(i), k, fe.Name, fe.Info, label(0), e.Name, e.Info)
			}
			if err := e.Stats.Merge(fe.Stats); err != nil {
				return nil, fmt.Errorf("fitting: merge: %s entry %s: %w", label(i), e.Name, err)
			}
		}
		out.Samples += f.Samples
		out.Shards = append(out.Shards, f.Shards...)
	}
	slices.Sort(out.Shards)
	if out.Samples != out.Total {
		return nil, fmt.Errorf("fitting: merge: the shards hold %d samples, the dataset %d", out.Samples, out.Total)
	}
	return out, nil
}

// complete checks that f holds kind's statistics of every shard, and
// names the missing ones.
func (f *StatsFile) complete(kind string) error {
	if f.Kind != kind {
		return fmt.Errorf("fitting: the statistics are of a %s pass, not %s", f.Kind, kind)
	}
	if len(f.Shards) != f.Shard.Count || f.Samples != f.Total {
		var missing []string
		for sh := range f.Shard.Count {
			if !slices.Contains(f.Shards, sh) {
				missing = append(missing, fmt.Sprint(sh))
			}
		}
		return fmt.Errorf("fitting: the statistics lack shard(s) %s of %d: merge every shard's file", strings.Join(missing, ", "), f.Shard.Count)
	}
	return nil
}

// checkIdentity compares what a file says it is of with what a caller
// wants to finish; a difference names the keys.
func (f *StatsFile) checkIdentity(want map[string]string) error {
	if maps.Equal(f.Identity, want) {
		return nil
	}
	return fmt.Errorf("fitting: the statistics are not of this job: %s", identityDiff(f.Identity, want))
}

func identityDiff(a, b map[string]string) string {
	var diffs []string
	for _, k := range slices.Sorted(maps.Keys(a)) {
		if a[k] != b[k] {
			diffs = append(diffs, fmt.Sprintf("%s %q vs %q", k, a[k], b[k]))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(b)) {
		if _, ok := a[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s missing vs %q", k, b[k]))
		}
	}
	return strings.Join(diffs, "; ")
}

// modelHash returns the SHA-256 of m's encoding, which names a model in
// an identity.
func modelHash(m *onnx.Model) (string, error) {
	b, err := m.Encode()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// emptyStats is NewStats, or for q = 0 a joint accumulator (newJoint) of
// p columns, as Similarity and Sweep keep for CKA.
func emptyStats(p, q int) (*Stats, error) {
	if q == 0 {
		return newJoint(p)
	}
	return NewStats(p, q)
}
