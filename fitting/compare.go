package fitting

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/graft-ml/graft/data"
	"github.com/graft-ml/graft/feed"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// FeatureMode says how Similarity turns activations into samples (rows)
// and features (columns).
type FeatureMode string

const (
	// FeaturesAuto compares two NCHW activations of equal height and width
	// pixel by pixel, and otherwise averages NCHW activations over space
	// (FeaturesPool).
	FeaturesAuto FeatureMode = "auto"
	// FeaturesPixels takes each pixel of an NCHW activation as a sample of
	// C features; both activations must have the same height and width.
	FeaturesPixels FeatureMode = "pixels"
	// FeaturesPool averages NCHW activations over space: one sample of C
	// features per input. Other activations are flattened.
	FeaturesPool FeatureMode = "pool"
	// FeaturesFlatten flattens each input's activation into one sample;
	// the statistics grow with the square of its size.
	FeaturesFlatten FeatureMode = "flatten"
)

// ParseFeatureMode reads auto, pixels, pool or flatten.
func ParseFeatureMode(s string) (FeatureMode, error) {
	switch m := FeatureMode(s); m {
	case FeaturesAuto, FeaturesPixels, FeaturesPool, FeaturesFlatten:
		return m, nil
	}
	return "", fmt.Errorf("%q: want auto, pixels, pool or flatten", s)
}

// SimilarityOptions choose how Similarity compares layers.
type SimilarityOptions struct {
	// Features is how activations become samples; "" means FeaturesAuto.
	Features FeatureMode
	// Feed chooses batches, a sample limit, threads and progress for the
	// pass over the data.
	Feed feed.Options
}

// Score is one measure of a pair of layers, or the reason it is
// undefined (a constant activation, too few samples for a fit).
type Score struct {
	Value     float64 // the measure, when Undefined is ""
	Undefined string  // why there is no value; "" when there is one
}

// Defined reports whether the score has a value.
func (s Score) Defined() bool { return s.Undefined == "" }

// MarshalJSON writes the value, or null when it is undefined.
func (s Score) MarshalJSON() ([]byte, error) {
	if !s.Defined() {
		return []byte("null"), nil
	}
	return json.Marshal(s.Value)
}

// UndefinedScore names an undefined score and says why.
type UndefinedScore struct {
	A       string `json:"a"`
	B       string `json:"b"`
	Measure string `json:"measure"` // "cka", "procrustes_distance" or "r2"
	Reason  string `json:"reason"`
}

// SimilarityResult compares every layer of A with every layer of B:
// entry [i][j] of each matrix is A's layer i against B's layer j.
type SimilarityResult struct {
	A       []string `json:"a"`
	B       []string `json:"b"`
	Samples int      `json:"samples"`
	// Features says how each pair's activations became samples.
	Features [][]FeatureMode `json:"features"`
	// CKA is linear CKA (biased estimator), Procrustes the Procrustes
	// distance, R2 the R² of the affine least-squares fit from A's layer
	// to B's.
	CKA        [][]Score `json:"cka"`
	Procrustes [][]Score `json:"procrustes_distance"`
	R2         [][]Score `json:"r2"`
	// Undefined lists the scores without a value, with the reasons.
	Undefined []UndefinedScore `json:"undefined,omitempty"`
}

// Similarity runs models a and b over the samples of src once and
// compares each layer la[i] of a with each layer lb[j] of b (value names
// or module paths): linear CKA, the Procrustes distance and R² of the
// linear fit (see CKA, ProcrustesDistance, R2). b may be a itself (the
// same pointer), which then runs once.
//
// The cost is one pass over the data and one set of second moments per
// group of layers, not per pair: the features of all the layers that
// share a kind of sample (the inputs, or the pixels of one height and
// width) are accumulated side by side in one Stats, whose sub-blocks
// (Stats.Sub) are every pair's statistics. A layer that appears in
// several pairs is computed and accumulated once.
//
// A score that does not exist — CKA or the distance of a constant
// activation, R² onto a constant one, R² from more features than rows —
// is reported as undefined with the reason, never as NaN.
func Similarity(a *onnx.Model, la []string, b *onnx.Model, lb []string, src data.Source, o SimilarityOptions) (*SimilarityResult, error) {
	mode := o.Features
	if mode == "" {
		mode = FeaturesAuto
	}
	if _, err := ParseFeatureMode(string(mode)); err != nil {
		return nil, fmt.Errorf("fitting: similarity: features %w", err)
	}
	if len(la) == 0 || len(lb) == 0 {
		return nil, fmt.Errorf("fitting: similarity: %d layers of A and %d of B; want at least one of each", len(la), len(lb))
	}
	sim, err := newSimPass(a, la, b, lb, o.Feed.Threads)
	if err != nil {
		return nil, err
	}
	err = feed.Each(src, o.Feed, func(bt data.Batch) error {
		acts, err := sim.run(bt.X)
		if err != nil {
			return err
		}
		if sim.groups == nil {
			if err := sim.layout(acts, mode, nil); err != nil {
				return err
			}
		}
		return sim.add(acts)
	})
	if err != nil {
		return nil, err
	}
	return sim.result(la, lb, o.Feed.Samples(src))
}

// featureKind is how one activation becomes columns.
type featureKind int

const (
	kindPixels featureKind = iota // C columns per pixel
	kindPool                      // C columns per input, averaged over space
	kindFlat                      // every element of an input's activation
)

// feature is one activation in one featureKind: a block of columns of a
// group's joint Stats.
type feature struct {
	act   int // index into simPass.acts
	kind  featureKind
	shape []int // the activation's shape in the first batch
	width int   // columns
	col   int   // first column in its group
	group *simGroup
}

// simGroup is a set of features with the same samples: one row per input
// (hw zero) or one per pixel of an h×w map.
type simGroup struct {
	hw    [2]int
	feats []*feature
	width int
	stats *Stats
	buf   []float32
}

// simAct is an activation a pass computes: a value of one of the models.
type simAct struct {
	model int // 0 for A, 1 for B (0 for both when B is A)
	name  string
	label string // how the caller named it, for messages ("A's pool2")
}

// simPass holds Similarity's state over the pass.
type simPass struct {
	models   []*feed.Model
	acts     []simAct
	actOf    map[simAct]int // by model and name (label cleared)
	idxA     []int          // la[i] → acts
	idxB     []int          // lb[j] → acts
	groups   []*simGroup
	pairs    [][]pairLayout      // [i][j]
	features map[[2]int]*feature // by act and kind
}

type pairLayout struct {
	mode FeatureMode
	fa   *feature
	fb   *feature
}

func newSimPass(a *onnx.Model, la []string, b *onnx.Model, lb []string, threads int) (*simPass, error) {
	s := &simPass{actOf: map[simAct]int{}, features: map[[2]int]*feature{}}
	ma, err := feed.Compile(a, threads)
	if err != nil {
		return nil, fmt.Errorf("model A: %w", err)
	}
	s.models = []*feed.Model{ma}
	bi := 0
	if b != a {
		mb, err := feed.Compile(b, threads)
		if err != nil {
			return nil, fmt.Errorf("model B: %w", err)
		}
		s.models = append(s.models, mb)
		bi = 1
	}
	for side, layers := range [][]string{la, lb} {
		m, mi := a, 0
		if side == 1 {
			m, mi = b, bi
		}
		for _, l := range layers {
			v, err := m.Graph.Resolve(l)
			if err != nil {
				return nil, fmt.Errorf("model %c: %w", 'A'+side, err)
			}
			key := simAct{model: mi, name: v.Name}
			i, ok := s.actOf[key]
			if !ok {
				i = len(s.acts)
				s.actOf[key] = i
				key.label = fmt.Sprintf("%c's %s", 'A'+side, l)
				s.acts = append(s.acts, key)
			}
			if side == 0 {
				s.idxA = append(s.idxA, i)
			} else {
				s.idxB = append(s.idxB, i)
			}
		}
	}
	return s, nil
}

// run computes every activation of the pass on the batch x, each model
// once.
func (s *simPass) run(x *tensor.Dense) ([]*tensor.Dense, error) {
	out := make([]*tensor.Dense, len(s.acts))
	for mi, m := range s.models {
		var names []string
		for _, a := range s.acts {
			if a.model == mi {
				names = append(names, a.name)
			}
		}
		res, err := m.Run(x, names...)
		if err != nil {
			return nil, fmt.Errorf("model %c: %w", 'A'+mi, err)
		}
		for i, a := range s.acts {
			if a.model != mi {
				continue
			}
			d := res[a.name]
			if d == nil || d.DType != tensor.Float32 || d.Rank() < 2 || d.Shape[0] != x.Shape[0] {
				return nil, fmt.Errorf("%s is %v %v: want float32 with a row per sample", a.label, d.DType, d.Shape)
			}
			out[i] = d
		}
	}
	return out, nil
}

// kinds returns how a pair's activations become features in mode.
func kinds(mode FeatureMode, xa, xb *tensor.Dense) (FeatureMode, featureKind, featureKind, error) {
	nchw := func(x *tensor.Dense) bool { return x.Rank() == 4 }
	sameHW := nchw(xa) && nchw(xb) && xa.Shape[2] == xb.Shape[2] && xa.Shape[3] == xb.Shape[3]
	pooled := func(x *tensor.Dense) featureKind {
		if nchw(x) {
			return kindPool
		}
		return kindFlat
	}
	switch mode {
	case FeaturesPixels:
		if !sameHW {
			return "", 0, 0, fmt.Errorf("pixels as samples needs NCHW activations of equal height and width, got %v and %v", xa.Shape, xb.Shape)
		}
		return FeaturesPixels, kindPixels, kindPixels, nil
	case FeaturesFlatten:
		return FeaturesFlatten, kindFlat, kindFlat, nil
	case FeaturesAuto:
		if sameHW {
			return FeaturesPixels, kindPixels, kindPixels, nil
		}
	}
	ka, kb := pooled(xa), pooled(xb)
	if ka == kindFlat && kb == kindFlat {
		return FeaturesFlatten, ka, kb, nil
	}
	return FeaturesPool, ka, kb, nil
}

// layout decides, from the first batch's activations, every pair's
// features and the groups that accumulate them. A pair that skip (when
// not nil) reports is left out of the groups: its scores are the
// caller's, from statistics of its own (Sweep's pairs of pixels).
func (s *simPass) layout(acts []*tensor.Dense, mode FeatureMode, skip func(i, j int, mode FeatureMode) bool) error {
	byHW := map[[2]int]*simGroup{}
	s.pairs = make([][]pairLayout, len(s.idxA))
	for i, ia := range s.idxA {
		s.pairs[i] = make([]pairLayout, len(s.idxB))
		for j, ib := range s.idxB {
			pm, ka, kb, err := kinds(mode, acts[ia], acts[ib])
			if err != nil {
				return fmt.Errorf("%s and %s: %w", s.acts[ia].label, s.acts[ib].label, err)
			}
			if skip != nil && skip(i, j, pm) {
				s.pairs[i][j] = pairLayout{mode: pm}
				continue
			}
			s.pairs[i][j] = pairLayout{mode: pm, fa: s.feature(ia, ka, acts[ia], byHW), fb: s.feature(ib, kb, acts[ib], byHW)}
		}
	}
	for _, g := range s.groups {
		var err error
		if g.stats, err = newJoint(g.width); err != nil {
			return fmt.Errorf("%d features side by side (%s): %w; compare fewer layers, or with --features pool", g.width, g.describe(s), err)
		}
	}
	return nil
}

// feature returns activation act's feature of kind k, adding it to its
// group the first time.
func (s *simPass) feature(act int, k featureKind, x *tensor.Dense, byHW map[[2]int]*simGroup) *feature {
	if f := s.features[[2]int{act, int(k)}]; f != nil {
		return f
	}
	f := &feature{act: act, kind: k, shape: append([]int(nil), x.Shape...)}
	var hw [2]int
	switch k {
	case kindPixels:
		f.width, hw = x.Shape[1], [2]int{x.Shape[2], x.Shape[3]}
	case kindPool:
		f.width = x.Shape[1]
	default:
		f.width = x.Len() / x.Shape[0]
	}
	g := byHW[hw]
	if g == nil {
		g = &simGroup{hw: hw}
		byHW[hw] = g
		s.groups = append(s.groups, g)
	}
	f.col, f.group = g.width, g
	g.width += f.width
	g.feats = append(g.feats, f)
	s.features[[2]int{act, int(k)}] = f
	return f
}

func (g *simGroup) describe(s *simPass) string {
	out := ""
	for i, f := range g.feats {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%s %d", s.acts[f.act].label, f.width)
	}
	return out
}

// add accumulates one batch of activations into every group.
func (s *simPass) add(acts []*tensor.Dense) error {
	for _, g := range s.groups {
		n := acts[g.feats[0].act].Shape[0]
		rows := n * max(1, g.hw[0]*g.hw[1])
		if need := rows * g.width; cap(g.buf) < need {
			g.buf = make([]float32, need)
		}
		buf := g.buf[:rows*g.width]
		for _, f := range g.feats {
			x := acts[f.act]
			if !tensor.SameShape(x.Shape[1:], f.shape[1:]) {
				return fmt.Errorf("%s is %v in this batch but %v in the first", s.acts[f.act].label, x.Shape, f.shape)
			}
			f.fill(buf, x, g.width)
		}
		if err := g.stats.Add(buf, nil); err != nil {
			return fmt.Errorf("%s: %w", g.describe(s), err)
		}
	}
	return nil
}

// fill writes the feature's columns of x into the rows of buf (w
// columns a row).
func (f *feature) fill(buf []float32, x *tensor.Dense, w int) {
	n := x.Shape[0]
	switch f.kind {
	case kindPixels:
		c, hw := x.Shape[1], x.Shape[2]*x.Shape[3]
		for img := range n {
			for ch := range c {
				plane := x.F32[(img*c+ch)*hw : (img*c+ch+1)*hw]
				for pos, v := range plane {
					buf[(img*hw+pos)*w+f.col+ch] = v
				}
			}
		}
	case kindPool:
		c, hw := x.Shape[1], x.Shape[2]*x.Shape[3]
		for img := range n {
			for ch := range c {
				var sum float64
				for _, v := range x.F32[(img*c+ch)*hw : (img*c+ch+1)*hw] {
					sum += float64(v)
				}
				buf[img*w+f.col+ch] = float32(sum / float64(hw))
			}
		}
	default:
		for img := range n {
			copy(buf[img*w+f.col:img*w+f.col+f.width], x.F32[img*f.width:(img+1)*f.width])
		}
	}
}

// result computes every pair's scores from its group's statistics.
func (s *simPass) result(la, lb []string, samples int) (*SimilarityResult, error) {
	r := &SimilarityResult{A: la, B: lb, Samples: samples}
	for i := range la {
		var modes []FeatureMode
		var cka, pd, r2 []Score
		for j := range lb {
			p := s.pairs[i][j]
			var c, d, q Score
			if p.fa != nil { // else skipped: the caller's
				st, err := p.fa.group.stats.Sub(span(p.fa.col, p.fa.width), span(p.fb.col, p.fb.width))
				if err != nil {
					return nil, err
				}
				c, d, q = pairScores(st, "A's "+la[i], "B's "+lb[j])
			}
			modes, cka, pd, r2 = append(modes, p.mode), append(cka, c), append(pd, d), append(r2, q)
			for _, m := range []struct {
				name string
				s    Score
			}{{"cka", c}, {"procrustes_distance", d}, {"r2", q}} {
				if !m.s.Defined() {
					r.Undefined = append(r.Undefined, UndefinedScore{A: la[i], B: lb[j], Measure: m.name, Reason: m.s.Undefined})
				}
			}
		}
		r.Features = append(r.Features, modes)
		r.CKA, r.Procrustes, r.R2 = append(r.CKA, cka), append(r.Procrustes, pd), append(r.R2, r2)
	}
	return r, nil
}

// span returns n column indices from first.
func span(first, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = first + i
	}
	return out
}

// pairScores measures one pair, x named a and y named b in reasons.
func pairScores(s *Stats, a, b string) (cka, dist, r2 Score) {
	score := func(v float64, err error) Score {
		switch {
		case err != nil:
			return Score{Undefined: err.Error()}
		case math.IsNaN(v) || math.IsInf(v, 0):
			return Score{Undefined: fmt.Sprintf("the computation gave %v", v)}
		}
		return Score{Value: v}
	}
	if s.N() < 2 {
		why := Score{Undefined: tooFewRows(s)}
		return why, why, why
	}
	constant, yc := constantReason(s, a, b)
	if constant != "" {
		cka, dist = Score{Undefined: constant}, Score{Undefined: constant}
	} else {
		cka, dist = score(CKA(s)), score(ProcrustesDistance(s))
	}
	switch {
	case yc:
		r2 = Score{Undefined: fmt.Sprintf("%s is constant over the data: it has no variance to explain", b)}
	case s.N() < s.In()+1:
		r2 = Score{Undefined: fmt.Sprintf("%d sample rows for the %d features of %s: the fit needs at least %d", s.N(), s.In(), a, s.In()+1)}
	default:
		r2 = score(R2(s))
	}
	return cka, dist, r2
}

// ckaScore is pairScores's CKA alone.
func ckaScore(s *Stats, a, b string) Score {
	if s.N() < 2 {
		return Score{Undefined: tooFewRows(s)}
	}
	if constant, _ := constantReason(s, a, b); constant != "" {
		return Score{Undefined: constant}
	}
	v, err := CKA(s)
	switch {
	case err != nil:
		return Score{Undefined: err.Error()}
	case math.IsNaN(v) || math.IsInf(v, 0):
		return Score{Undefined: fmt.Sprintf("the computation gave %v", v)}
	}
	return Score{Value: v}
}

func tooFewRows(s *Stats) string { return fmt.Sprintf("%d sample row(s); need at least 2", s.N()) }

// constantReason says which of x (named a) and y (b) are constant over
// the samples of s, "" when neither; yc reports y alone.
func constantReason(s *Stats, a, b string) (why string, yc bool) {
	xc, yc := s.constant()
	switch {
	case xc && yc:
		why = fmt.Sprintf("%s and %s are constant over the data", a, b)
	case xc:
		why = fmt.Sprintf("%s is constant over the data", a)
	case yc:
		why = fmt.Sprintf("%s is constant over the data", b)
	}
	return why, yc
}
