package fitting

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/graft-ml/graft/data"
	"github.com/graft-ml/graft/eval"
	"github.com/graft-ml/graft/exec"
	"github.com/graft-ml/graft/feed"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/surgery"
	"github.com/graft-ml/graft/tensor"
)

// SweepOptions choose the pairs of layers a Sweep stitches and how.
type SweepOptions struct {
	// LayersA and LayersB are the layers of A (the heatmap's rows) and of
	// B (its columns), value names or module paths. Empty means the
	// model's top-level module boundaries (DefaultLayers).
	LayersA, LayersB []string
	// Diagonal stitches layer i of A to layer i of B only, instead of
	// every pair; the lists must then be as long as each other.
	Diagonal bool
	// Methods are the fits, each of every pair; empty means linear.
	Methods []Method
	// Kernel, Ridge and NoBias are as in StitchOptions.
	Kernel int
	Ridge  float64
	NoBias bool
	// Feed chooses batches, a sample limit and threads for the pass over
	// the fitting data; its Progress is not used (see Progress).
	Feed feed.Options
	// Test is the data the stitched models' top-1 accuracy is measured on,
	// read with TestFeed; nil means the fitting data with Feed. It must
	// carry labels.
	Test     data.Source
	TestFeed feed.Options
	// Dir, when not empty, is the folder Sweep writes sweep.csv,
	// sweep.json and heatmap.png to (see Sweep). Cells already in
	// Dir/sweep.csv are read back, not recomputed.
	Dir string
	// Progress, when not nil, is called as each stage goes: "fit pass"
	// and "test pass" in samples, "fits" in cells.
	Progress func(stage string, done, total int)
	// Shard, when not zero, makes Sweep an array-job task: it runs the
	// pass over shard Shard of the fitting data and returns its statistics
	// (SweepResult.Stats) for the cells still to compute, without fitting,
	// testing or writing anything.
	Shard Shard
	// FromStats, when not nil, is the statistics of every shard merged
	// (MergeStatsFiles): Sweep fits from them instead of passing over the
	// fitting data, of which it reads one batch, for the shapes.
	FromStats *StatsFile
}

// SweepCell is one pair of layers stitched with one method: A up to
// layer A, an adapter fitted by Fit, B from layer B on.
type SweepCell struct {
	A      string `json:"a"`
	B      string `json:"b"`
	Fit    string `json:"fit"`
	Kernel int    `json:"kernel"`
	// Ridge and NoBias are the fit's options, kept so that a resumed
	// sweep can tell whether a cell was made as it would make it.
	Ridge  float64 `json:"ridge"`
	NoBias bool    `json:"no_bias"`
	// AShape and BShape are the activations' shapes, without the batch
	// ("64x7x7"); Resized is A's height and width resized to B's
	// ("14x14->7x7"), empty when none.
	AShape  string `json:"a_shape"`
	BShape  string `json:"b_shape"`
	Resized string `json:"resized,omitempty"`
	// Samples and Rows are as in StitchResult.
	Samples int `json:"samples"`
	Rows    int `json:"rows"`
	// R2, RelResidual and EffectiveRank describe the fit on the fitting
	// data (Quality, Fit.EffectiveRank).
	R2            Score `json:"r2"`
	RelResidual   Score `json:"rel_residual"`
	EffectiveRank int   `json:"effective_rank"`
	// CKA is the pair's linear CKA on the fitting data, as Similarity
	// computes it with FeaturesAuto (Features says how).
	CKA      Score       `json:"cka"`
	Features FeatureMode `json:"features"`
	// Top1 is the stitched model's top-1 accuracy on TestSamples samples.
	Top1        Score `json:"top1"`
	TestSamples int   `json:"test_samples"`
	// Note says why a cell has no fit or no accuracy: shapes no adapter
	// joins, a failed fit.
	Note string `json:"note,omitempty"`
}

// SweepResult is every cell of a sweep, with each model's own accuracy.
type SweepResult struct {
	// A and B are the layers, the matrix's rows and columns; Methods the
	// fits.
	A       []string `json:"a"`
	B       []string `json:"b"`
	Methods []string `json:"methods"`
	// Top1A and Top1B are A's and B's own top-1 accuracy on the test
	// data; B, whose tail makes the prediction, is the receiving model.
	Top1A       float64 `json:"top1_a"`
	Top1B       float64 `json:"top1_b"`
	TestSamples int     `json:"test_samples"`
	// Cells are the pairs in row-major order (A's layer, then B's), each
	// with every method in turn; with Diagonal only i = j.
	Cells []SweepCell `json:"cells"`
	// Computed counts the cells this call computed; the others were read
	// from Dir/sweep.csv.
	Computed int `json:"computed"`
	// Files are the files written to Dir.
	Files []string `json:"files,omitempty"`
	// Stats is a shard's statistics (SweepOptions.Shard); nil otherwise.
	Stats *StatsFile `json:"-"`
}

// Cell returns the cell of layers a and b fitted by method, or nil.
func (r *SweepResult) Cell(a, b string, method Method) *SweepCell {
	for i := range r.Cells {
		c := &r.Cells[i]
		if c.A == a && c.B == b && c.Fit == method.String() {
			return c
		}
	}
	return nil
}

// Sweep stitches A to B at every pair of the layers (SweepOptions), fits
// an adapter for each with each method, and measures the stitched
// model's top-1 accuracy on the test data and the pair's CKA.
//
// Every pair is fitted and scored exactly as Stitch (FitAdapter) and
// eval.Accuracy do it for that pair alone, but the models run once per
// batch for all pairs: one pass over the fitting data runs A and B once,
// computing every layer's activation, and feeds each pair's statistics
// (and Similarity's joint statistics for CKA); the fits follow; one pass
// over the test data runs A once for all its layers and B alone, and for
// each cell only the adapter and B's tail from the cell's layer on (the
// stitched model past A's layer, as surgery.Stitch builds it).
//
// A pair whose activations no adapter joins (an (N, C) activation and an
// NCHW one), or whose fit fails, is a cell with a Note and undefined
// scores; the others still run.
//
// With Dir, Sweep writes sweep.csv (one row per cell), sweep.json (the
// SweepResult) and heatmap.png (top-1 of the first method as an A × B
// matrix, the values in the cells, B's own accuracy in the title), and
// heatmap_METHOD.png for each further method. Cells already in
// Dir/sweep.csv are kept and skipped, so an interrupted or extended sweep
// computes only what is missing; a row made with another kernel, ridge,
// bias setting or number of fitting samples is an error.
func Sweep(a, b *onnx.Model, train data.Source, o SweepOptions) (*SweepResult, error) {
	if o.Kernel < 0 {
		return nil, fmt.Errorf("fitting: sweep: kernel %d: want a positive odd size", o.Kernel)
	}
	if !o.Shard.IsZero() && o.FromStats != nil {
		return nil, errors.New("fitting: sweep: a shard collects statistics and FromStats fits from them; give one")
	}
	var hashes [2]string // the models', before anything fills in their shapes
	if !o.Shard.IsZero() || o.FromStats != nil {
		for i, m := range []*onnx.Model{a, b} {
			h, err := modelHash(m)
			if err != nil {
				return nil, err
			}
			hashes[i] = h
		}
	}
	methods := o.Methods
	if len(methods) == 0 {
		methods = []Method{{Kind: FitLinear}}
	}
	la, lb, err := sweepLayers(a, b, o.LayersA, o.LayersB)
	if err != nil {
		return nil, err
	}
	if o.Diagonal && len(la) != len(lb) {
		return nil, fmt.Errorf("fitting: sweep: the diagonal pairs layer i with layer i, but A has %d layers and B %d", len(la), len(lb))
	}
	test, testFeed := o.Test, o.TestFeed
	if test == nil {
		test, testFeed = train, o.Feed
	}
	testFeed.Progress = stage(o.Progress, "test pass")
	fitFeed := o.Feed
	fitFeed.Progress = stage(o.Progress, "fit pass")

	r := &SweepResult{A: la, B: lb}
	for _, m := range methods {
		r.Methods = append(r.Methods, m.String())
	}
	var saved []SweepCell
	if o.Dir != "" {
		if saved, err = readSweepCSV(o.Dir, o, fitFeed.Samples(train), testFeed.Samples(test)); err != nil {
			return nil, err
		}
	}
	old := map[cellKey]SweepCell{}
	for _, c := range saved {
		old[cellKey{c.A, c.B, c.Fit}] = c
	}
	used := map[cellKey]bool{}
	s := &sweep{a: a, b: b, o: o, methods: methods}
	for i, x := range la {
		for j, y := range lb {
			if o.Diagonal && i != j {
				continue
			}
			p := &sweepPair{i: i, j: j}
			for _, m := range methods {
				key := cellKey{x, y, m.String()}
				if c, ok := old[key]; ok {
					p.cells = append(p.cells, c)
					used[key] = true
					continue
				}
				p.cells = append(p.cells, SweepCell{A: x, B: y, Fit: m.String(), Kernel: max(o.Kernel, 1), Ridge: o.Ridge, NoBias: o.NoBias})
				p.pending = append(p.pending, len(p.cells)-1)
			}
			s.pairs = append(s.pairs, p)
		}
	}
	s.identity = map[string]string{"model_a": hashes[0], "model_b": hashes[1], "kernel": fmt.Sprint(max(o.Kernel, 1)), "pairs": s.pendingNames()}
	pass, passFeed, err := shardSource(train, fitFeed, o.Shard)
	if err != nil {
		return nil, err
	}
	if err := s.fit(train, fitFeed, pass, passFeed); err != nil {
		return nil, err
	}
	if !o.Shard.IsZero() {
		if s.stats == nil {
			return nil, fmt.Errorf("fitting: sweep: every cell is already in %s: no statistics to collect", filepath.Join(o.Dir, SweepCSV))
		}
		r.Stats = s.stats
		return r, nil
	}
	if err := s.test(test, testFeed, r); err != nil {
		return nil, err
	}
	for _, p := range s.pairs {
		r.Cells = append(r.Cells, p.cells...)
		r.Computed += len(p.pending)
	}
	if o.Dir != "" {
		var extra []SweepCell // rows of an earlier sweep outside this one
		for _, c := range saved {
			if !used[cellKey{c.A, c.B, c.Fit}] {
				extra = append(extra, c)
			}
		}
		if r.Files, err = writeSweep(o.Dir, r, extra); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// stage returns progress for one stage of a sweep, or nil.
func stage(p func(string, int, int), name string) func(int, int) {
	if p == nil {
		return nil
	}
	return func(done, total int) { p(name, done, total) }
}

type cellKey struct{ a, b, fit string }

// sweep is Sweep's state.
type sweep struct {
	a, b    *onnx.Model
	o       SweepOptions
	methods []Method
	pairs   []*sweepPair
	sim     *simPass // the pending pairs' layers: la[idxA], lb[idxB]
	fitted  []*sweepFit
	// identity names the statistics of a sharded sweep; stats are a
	// shard's (SweepOptions.Shard).
	identity map[string]string
	stats    *StatsFile
}

// pendingNames lists the pairs with cells to compute, for an identity.
func (s *sweep) pendingNames() string {
	var names []string
	for _, p := range s.pending() {
		x, y := p.layers()
		names = append(names, x+">"+y)
	}
	return strings.Join(names, ",")
}

// sweepPair is one pair of layers with its cells, one per method.
type sweepPair struct {
	i, j    int         // into SweepResult.A and B
	cells   []SweepCell // one per method
	pending []int       // the cells to compute
	af      *adapterFit // nil when no adapter joins the pair
	ia, ib  int         // the pair's activations in the sim pass
}

// sweepFit is a fitted cell on its way to the test pass.
type sweepFit struct {
	cell *SweepCell
	ia   int // A's activation
	tail *feed.Model
	out  string
	hits int
}

// pending returns the pairs with cells to compute.
func (s *sweep) pending() []*sweepPair {
	var out []*sweepPair
	for _, p := range s.pairs {
		if len(p.pending) > 0 {
			out = append(out, p)
		}
	}
	return out
}

// fit runs the pass over the fitting data (pass, read with po: train or
// a shard of it) and fits every pending cell, or, for a shard, keeps the
// statistics in s.stats.
func (s *sweep) fit(train data.Source, fo feed.Options, pass data.Source, po feed.Options) error {
	pending := s.pending()
	if len(pending) == 0 {
		return nil
	}
	var la, lb []string
	for _, p := range pending {
		x, y := p.layers()
		if !slices.Contains(la, x) {
			la = append(la, x)
		}
		if !slices.Contains(lb, y) {
			lb = append(lb, y)
		}
	}
	for _, m := range []*onnx.Model{s.a, s.b} {
		if err := exec.InferShapes(m); err != nil {
			return err
		}
	}
	sim, err := newSimPass(s.a, la, s.b, lb, fo.Threads)
	if err != nil {
		return fmt.Errorf("fitting: sweep: %w", err)
	}
	s.sim = sim
	first, err := feed.First(train, fo)
	if err != nil {
		return err
	}
	acts, err := sim.run(first.X)
	if err != nil {
		return err
	}
	for _, p := range pending {
		x, y := p.layers()
		p.ia, p.ib = sim.idxA[slices.Index(la, x)], sim.idxB[slices.Index(lb, y)]
		xa, xb := acts[p.ia].Shape, acts[p.ib].Shape
		for _, k := range p.pending {
			c := &p.cells[k]
			c.AShape, c.BShape = shapeString(xa[1:]), shapeString(xb[1:])
		}
		av, bv := s.value(0, p.ia), s.value(1, p.ib)
		af, err := newAdapterFit(av, bv, xa, xb, s.o.Kernel, s.a.Opset(""))
		if err != nil {
			p.note("no adapter: " + err.Error())
			continue
		}
		p.af = af
	}
	// A pair whose own statistics are its CKA's samples (pixels of equal
	// height and width with a 1x1 adapter, or (N, C) against (N, C)) takes
	// its CKA from them; the others, and only they, share Similarity's
	// joint statistics.
	ownCKA := map[[2]int]*sweepPair{}
	for _, p := range pending {
		x, y := p.layers()
		ownCKA[[2]int{slices.Index(la, x), slices.Index(lb, y)}] = p
	}
	skip := func(i, j int, mode FeatureMode) bool {
		p := ownCKA[[2]int{i, j}]
		if p == nil {
			return true // not a pair of this sweep
		}
		own := p.af != nil && p.af.resizeModel == nil && ((mode == FeaturesPixels && p.af.pt.K == 1) || (mode == FeaturesFlatten && !p.af.conv))
		if !own {
			delete(ownCKA, [2]int{i, j})
		}
		return own
	}
	if err := sim.layout(acts, FeaturesAuto, skip); err != nil {
		return err
	}
	if s.o.FromStats != nil {
		if err := s.load(pending, s.o.FromStats); err != nil {
			return err
		}
	} else if err := s.pass(pending, pass, po); err != nil {
		return err
	}
	if !s.o.Shard.IsZero() {
		s.stats = s.shardStats(pending, po.Samples(pass), fo.Samples(train))
		return nil
	}
	simr, err := sim.result(la, lb, fo.Samples(train))
	if err != nil {
		return err
	}
	total, done := 0, 0
	for _, p := range pending {
		total += len(p.pending)
	}
	progress := stage(s.o.Progress, "fits")
	if progress != nil {
		progress(0, total)
	}
	lo := LinearOptions{NoBias: s.o.NoBias, Ridge: s.o.Ridge}
	for _, p := range pending {
		x, y := p.layers()
		i, j := slices.Index(la, x), slices.Index(lb, y)
		for _, k := range p.pending {
			c := &p.cells[k]
			c.CKA, c.Features = simr.CKA[i][j], simr.Features[i][j]
			if ownCKA[[2]int{i, j}] != nil {
				c.CKA = Score{Undefined: c.Note}
				if p.af != nil {
					c.CKA = ckaScore(p.af.stats, "A's "+x, "B's "+y)
				}
			}
			if p.af != nil {
				s.finish(p, c, s.methods[k], lo)
			}
			if c.Top1.Undefined == "" && c.Note != "" {
				c.Top1 = Score{Undefined: c.Note}
			}
			done++
			if progress != nil {
				progress(done, total)
			}
		}
		p.af = nil // the statistics are no longer needed
	}
	return nil
}

// pass feeds every pending pair's statistics, and the joint ones of CKA,
// from one pass over src.
func (s *sweep) pass(pending []*sweepPair, src data.Source, o feed.Options) error {
	sim := s.sim
	resized := map[resizeKey]*tensor.Dense{}
	return feed.Each(src, o, func(bt data.Batch) error {
		acts, err := sim.run(bt.X)
		if err != nil {
			return err
		}
		if err := sim.add(acts); err != nil {
			return err
		}
		clear(resized)
		for _, p := range pending {
			if p.af == nil {
				continue
			}
			key := resizeKey{p.ia, p.af.r.ResizedTo}
			ya, ok := resized[key]
			if !ok {
				if ya, err = p.af.resize(acts[p.ia]); err != nil {
					return fmt.Errorf("%s: %w", s.label(p), err)
				}
				resized[key] = ya
			}
			if err := p.af.add(ya, acts[p.ib]); err != nil {
				p.note("fit failed: " + err.Error())
				p.af = nil
			}
		}
		return nil
	})
}

// pairEntry and groupEntry name a pair's and a CKA group's statistics
// in a sharded sweep's file.
func pairEntry(p *sweepPair) string {
	x, y := p.layers()
	return "pair:" + x + ">" + y
}

func groupEntry(k int) string { return fmt.Sprintf("cka:%d", k) }

// shardStats returns the statistics a shard's pass collected.
func (s *sweep) shardStats(pending []*sweepPair, samples, total int) *StatsFile {
	f := &StatsFile{Kind: "sweep", Identity: s.identity, Shard: s.o.Shard, Shards: []int{s.o.Shard.Index}, Samples: samples, Total: total}
	for _, p := range pending {
		if p.af != nil {
			f.Entries = append(f.Entries, StatsEntry{Name: pairEntry(p), Stats: p.af.stats})
		}
	}
	for k, g := range s.sim.groups {
		f.Entries = append(f.Entries, StatsEntry{Name: groupEntry(k), Stats: g.stats})
	}
	return f
}

// load takes the pairs' and the CKA groups' statistics from the merged
// statistics of every shard, in place of a pass.
func (s *sweep) load(pending []*sweepPair, f *StatsFile) error {
	if err := f.complete("sweep"); err != nil {
		return err
	}
	if err := f.checkIdentity(s.identity); err != nil {
		return err
	}
	take := func(name string, dst **Stats) error {
		e := f.Entry(name)
		if e == nil {
			return fmt.Errorf("fitting: sweep: the statistics have no entry %s", name)
		}
		if e.Stats.p != (*dst).p || e.Stats.q != (*dst).q {
			return fmt.Errorf("fitting: sweep: the statistics' %s is of %d+%d columns, this sweep's %d+%d", name, e.Stats.p, e.Stats.q, (*dst).p, (*dst).q)
		}
		*dst = e.Stats
		return nil
	}
	for _, p := range pending {
		if p.af == nil {
			continue
		}
		if err := take(pairEntry(p), &p.af.stats); err != nil {
			return err
		}
		p.af.r.Samples, p.af.r.Rows = f.Samples, p.af.stats.N()
	}
	for k, g := range s.sim.groups {
		if err := take(groupEntry(k), &g.stats); err != nil {
			return err
		}
	}
	return nil
}

// finish fits one cell and builds its stitched tail for the test pass.
func (s *sweep) finish(p *sweepPair, c *SweepCell, m Method, lo LinearOptions) {
	r, err := p.af.finish(m, lo)
	if err != nil {
		c.Note = "fit failed: " + err.Error()
		c.R2, c.RelResidual = Score{Undefined: c.Note}, Score{Undefined: c.Note}
		return
	}
	c.Samples, c.Rows, c.EffectiveRank = r.Samples, r.Rows, r.Fit.EffectiveRank
	c.R2, c.RelResidual = finite(r.Fit.R2, "B's activation is constant"), finite(r.Fit.RelResidual, "undefined")
	if r.ResizedFrom != r.ResizedTo {
		c.Resized = fmt.Sprintf("%dx%d->%dx%d", r.ResizedFrom[0], r.ResizedFrom[1], r.ResizedTo[0], r.ResizedTo[1])
	}
	_, from := p.layers()
	tail, out, err := s.tail(r.Adapter, from)
	if err != nil {
		c.Note = "stitching failed: " + err.Error()
		return
	}
	s.fitted = append(s.fitted, &sweepFit{cell: c, ia: p.ia, tail: tail, out: out})
}

// tail returns the stitched model past A's layer: the adapter, then B
// from layer from on, compiled, and the value holding its logits.
func (s *sweep) tail(adapter *onnx.Model, from string) (*feed.Model, string, error) {
	enc, err := s.b.Encode()
	if err != nil {
		return nil, "", fmt.Errorf("copying model B: %w", err)
	}
	b, err := onnx.Decode(enc)
	if err != nil {
		return nil, "", fmt.Errorf("copying model B: %w", err)
	}
	if _, err := surgery.Stitch(adapter, adapter.Graph.Outputs[0].Name, b, from, nil); err != nil {
		return nil, "", err
	}
	fm, err := feed.Compile(adapter, s.o.Feed.Threads)
	if err != nil {
		return nil, "", err
	}
	return fm, fm.Program.Graph().Outputs[0].Name, nil
}

// test runs the pass over the test data: A's and B's own accuracy and
// every fitted cell's.
func (s *sweep) test(src data.Source, fo feed.Options, r *SweepResult) error {
	ma, err := feed.Compile(s.a, fo.Threads)
	if err != nil {
		return fmt.Errorf("model A: %w", err)
	}
	mb := ma
	if s.b != s.a {
		if mb, err = feed.Compile(s.b, fo.Threads); err != nil {
			return fmt.Errorf("model B: %w", err)
		}
	}
	outA, outB := ma.Program.Graph().Outputs[0].Name, mb.Program.Graph().Outputs[0].Name
	names := []string{outA}
	for _, f := range s.fitted {
		if n := s.sim.acts[f.ia].name; !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	hitsA, hitsB := 0, 0
	err = feed.Each(src, fo, func(bt data.Batch) error {
		if bt.Labels == nil {
			return errors.New("the test data has no labels")
		}
		res, err := ma.Run(bt.X, names...)
		if err != nil {
			return fmt.Errorf("model A: %w", err)
		}
		logitsB := res[outB]
		if mb != ma {
			if logitsB, err = mb.Value(bt.X, outB); err != nil {
				return fmt.Errorf("model B: %w", err)
			}
		}
		count := func(logits *tensor.Dense) (int, error) {
			top, err := eval.TopK(logits, 1)
			if err != nil {
				return 0, err
			}
			if len(top) != len(bt.Labels) {
				return 0, fmt.Errorf("%d predictions for %d samples", len(top), len(bt.Labels))
			}
			hits := 0
			for k, l := range bt.Labels {
				if len(top[k]) > 0 && top[k][0] == int(l) {
					hits++
				}
			}
			return hits, nil
		}
		h, err := count(res[outA])
		if err != nil {
			return fmt.Errorf("model A: %w", err)
		}
		hitsA += h
		if h, err = count(logitsB); err != nil {
			return fmt.Errorf("model B: %w", err)
		}
		hitsB += h
		for _, f := range s.fitted {
			logits, err := f.tail.Value(res[s.sim.acts[f.ia].name], f.out)
			if err != nil {
				return fmt.Errorf("stitched A's %s → B's %s: %w", f.cell.A, f.cell.B, err)
			}
			if h, err = count(logits); err != nil {
				return fmt.Errorf("stitched A's %s → B's %s: %w", f.cell.A, f.cell.B, err)
			}
			f.hits += h
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("test data: %w", err)
	}
	n := fo.Samples(src)
	r.TestSamples = n
	r.Top1A, r.Top1B = float64(hitsA)/float64(n), float64(hitsB)/float64(n)
	for _, f := range s.fitted {
		f.cell.Top1 = Score{Value: float64(f.hits) / float64(n)}
		f.cell.TestSamples = n
	}
	return nil
}

// note marks every pending cell of p with why it has no scores.
func (p *sweepPair) note(why string) {
	for _, k := range p.pending {
		c := &p.cells[k]
		c.Note = why
		c.R2, c.RelResidual, c.Top1 = Score{Undefined: why}, Score{Undefined: why}, Score{Undefined: why}
	}
}

// layers returns the pair's layers of A and B.
func (p *sweepPair) layers() (string, string) { return p.cells[0].A, p.cells[0].B }

// value returns the graph value of an activation of the sim pass; side 0
// is A, 1 is B.
func (s *sweep) value(side, act int) *onnx.Value {
	m := s.a
	if side == 1 {
		m = s.b
	}
	return m.Graph.Value(s.sim.acts[act].name)
}

func (s *sweep) label(p *sweepPair) string {
	x, y := p.layers()
	return fmt.Sprintf("A's %s → B's %s", x, y)
}

type resizeKey struct {
	act int
	hw  [2]int
}

// finite is v as a Score, undefined with why when v is NaN or infinite.
func finite(v float64, why string) Score {
	if v != v || v > 1e308 || v < -1e308 {
		return Score{Undefined: why}
	}
	return Score{Value: v}
}

func shapeString(s []int) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = fmt.Sprint(d)
	}
	return strings.Join(parts, "x")
}

// sweepLayers returns the layers of a sweep: the given ones, or each
// model's DefaultLayers.
func sweepLayers(a, b *onnx.Model, la, lb []string) ([]string, []string, error) {
	var err error
	if len(la) == 0 {
		if la, err = DefaultLayers(a); err != nil {
			return nil, nil, fmt.Errorf("fitting: sweep: model A: %w", err)
		}
	}
	if len(lb) == 0 {
		if lb, err = DefaultLayers(b); err != nil {
			return nil, nil, fmt.Errorf("fitting: sweep: model B: %w", err)
		}
	}
	for _, l := range [][]string{la, lb} {
		seen := map[string]bool{}
		for _, x := range l {
			if seen[x] {
				return nil, nil, fmt.Errorf("fitting: sweep: layer %q is listed twice", x)
			}
			seen[x] = true
		}
	}
	return la, lb, nil
}

// DefaultLayers returns the layers a Sweep stitches at by default: the
// boundaries of m's top-level modules (the output of each module whose
// path has no dot: conv1, layer1, …, fc), in graph order, that an
// adapter can read or feed: float32 activations of rank 2, (N, C), or 4,
// NCHW, other than the model's outputs. Two models of one architecture
// have the same list, so a sweep between them has each layer's own
// counterpart on its diagonal. A model without module scopes in its node
// names (not exported by torch.onnx) is an error: name its layers.
func DefaultLayers(m *onnx.Model) ([]string, error) {
	if err := exec.InferShapes(m); err != nil {
		return nil, err
	}
	var tops []string
	for _, n := range m.Graph.Nodes {
		top, _, _ := strings.Cut(onnx.ModulePath(n.Name), ".")
		if top != "" && !slices.Contains(tops, top) {
			tops = append(tops, top)
		}
	}
	if len(tops) == 0 {
		return nil, errors.New("no node carries a module path (torch.onnx names nodes /module/Op): name the layers")
	}
	var out []string
	for _, top := range tops {
		v, err := m.Graph.Resolve(top)
		if err != nil {
			return nil, err
		}
		r := v.Type.Rank()
		if v.IsGraphOutput() || v.Type.DType != tensor.Float32 || (r != 2 && r != 4) {
			continue
		}
		out = append(out, top)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("none of the top-level modules %s ends in an (N, C) or NCHW activation that is not an output", strings.Join(tops, ", "))
	}
	return out, nil
}
