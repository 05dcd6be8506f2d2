package surgery

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// MixOptions says how Mix weighs the models.
type MixOptions struct {
	// Weights holds one coefficient per model; nil averages uniformly.
	// Coefficients need not sum to 1 (extrapolation is allowed), but a sum
	// far from 1 rescales every weight, so Mix rejects sums outside
	// [0.5, 2] as a likely mistake.
	Weights []float64
	// Layers overrides the interpolation for two models, layer by layer:
	// module path prefix → alpha, giving weights (1-alpha, alpha) to the
	// parameters of that module. The longest matching prefix wins.
	Layers map[string]float64
	// Scores, when not nil, holds one map per model from initializer name
	// to a score tensor of the initializer's shape (ImportanceScores): an
	// initializer scored in every model is mixed weight by weight as
	// W = Σ Wᵢ·sᵢ / Σ sᵢ, or as the plain mean Σ Wᵢ / n where Σ sᵢ = 0.
	// The others are mixed with Weights. The scores only weigh: they are
	// never written into the weights (the defect of one of Sparana's
	// modes). Scores excludes Layers.
	Scores []map[string]*tensor.Dense
}

// MixReport counts what Mix changed.
type MixReport struct {
	Mixed    int // float initializers interpolated
	Kept     int // integer initializers, which must agree and are kept
	Override int // initializers whose weights came from a Layers entry
	Scored   int // initializers mixed by Scores
}

// Mix interpolates the float parameters of models of the same
// architecture, writing the result into models[0]. The models must have
// the same initializers (names, types, shapes) and the same nodes in the
// same order; integer constants (shapes, indices) must be equal.
func Mix(models []*onnx.Model, opt MixOptions) (MixReport, error) {
	var r MixReport
	if len(models) < 2 {
		return r, fmt.Errorf("mix: need at least two models, have %d", len(models))
	}
	w := opt.Weights
	if w == nil {
		w = make([]float64, len(models))
		for i := range w {
			w[i] = 1 / float64(len(models))
		}
	}
	if len(w) != len(models) {
		return r, fmt.Errorf("mix: %d weights for %d models", len(w), len(models))
	}
	sum := 0.0
	for _, x := range w {
		sum += x
	}
	if !(sum >= 0.5 && sum <= 2) {
		return r, fmt.Errorf("mix: weights %v sum to %g; they should sum to 1", w, sum)
	}
	if len(opt.Layers) > 0 && len(models) != 2 {
		return r, fmt.Errorf("mix: per-layer alphas need exactly two models, have %d", len(models))
	}
	if opt.Scores != nil {
		if len(opt.Scores) != len(models) {
			return r, fmt.Errorf("mix: scores for %d models, have %d models", len(opt.Scores), len(models))
		}
		if len(opt.Layers) > 0 {
			return r, fmt.Errorf("mix: importance scores and per-layer alphas exclude each other")
		}
	}
	for i, m := range models[1:] {
		if err := sameArchitecture(models[0].Graph, m.Graph); err != nil {
			return r, fmt.Errorf("mix: model %d differs from model 1: %w", i+2, err)
		}
	}
	g := models[0].Graph
	if err := checkLayers(g, opt.Layers); err != nil {
		return r, fmt.Errorf("mix: %w", err)
	}
	for _, v := range g.Initializers {
		ds := make([]*tensor.Dense, len(models))
		for i, m := range models {
			d, err := m.Graph.Value(v.Name).Const.Dense()
			if err != nil {
				return r, fmt.Errorf("mix: model %d: %w", i+1, err)
			}
			ds[i] = d
		}
		if !ds[0].DType.IsFloat() {
			for i := 1; i < len(ds); i++ {
				if !tensor.Equal(ds[0], ds[i]) {
					return r, fmt.Errorf("mix: integer constant %q differs between model 1 and model %d; the architectures do not match", v.Name, i+1)
				}
			}
			r.Kept++
			continue
		}
		ss, err := scoresOf(opt.Scores, v.Name, ds[0].Shape)
		if err != nil {
			return r, fmt.Errorf("mix: %w", err)
		}
		if ss != nil {
			v.SetConst(importanceSum(ds, ss))
			r.Scored++
			r.Mixed++
			continue
		}
		vw := w
		if alpha, ok := layerAlpha(opt.Layers, initializerModule(v)); ok {
			vw = []float64{1 - alpha, alpha}
			r.Override++
		}
		v.SetConst(weightedSum(ds, vw))
		r.Mixed++
	}
	return r, nil
}

// weightedSum returns Σ w[i]·ds[i], accumulated in float64, with ds[0]'s
// dtype (half precisions rounded on store).
func weightedSum(ds []*tensor.Dense, w []float64) *tensor.Dense {
	acc := make([]float64, ds[0].Len())
	for i, d := range ds {
		for j, x := range d.Float64s() {
			acc[j] += w[i] * x
		}
	}
	return fromFloat64s(ds[0], acc)
}

// scoresOf returns every model's scores of the initializer name, or nil
// if some model has none; a score of the wrong shape, negative or not a
// number is an error.
func scoresOf(scores []map[string]*tensor.Dense, name string, shape []int) ([]*tensor.Dense, error) {
	if scores == nil {
		return nil, nil
	}
	out := make([]*tensor.Dense, len(scores))
	for i, m := range scores {
		s := m[name]
		if s == nil {
			return nil, nil
		}
		if !tensor.SameShape(s.Shape, shape) {
			return nil, fmt.Errorf("model %d: scores of %q have shape %v, the initializer %v", i+1, name, s.Shape, shape)
		}
		for _, x := range s.Float64s() {
			if !(x >= 0) || math.IsInf(x, 1) {
				return nil, fmt.Errorf("model %d: scores of %q hold %g; want finite scores ≥ 0", i+1, name, x)
			}
		}
		out[i] = s
	}
	return out, nil
}

// importanceSum returns Σ ds[i]·ss[i] / Σ ss[i] element by element, and
// the plain mean Σ ds[i] / n where Σ ss[i] = 0, accumulated in float64
// in model order, with ds[0]'s dtype. Each product is rounded on its own
// (no fused multiply-add), so the result is the formula's bit for bit.
func importanceSum(ds, ss []*tensor.Dense) *tensor.Dense {
	n := ds[0].Len()
	num, den, plain := make([]float64, n), make([]float64, n), make([]float64, n)
	for i, d := range ds {
		s := ss[i].Float64s()
		for j, x := range d.Float64s() {
			num[j] += float64(x * s[j])
			den[j] += s[j]
			plain[j] += x
		}
	}
	inv := 1 / float64(len(ds))
	acc := make([]float64, n)
	for j := range acc {
		if den[j] != 0 {
			acc[j] = num[j] / den[j]
		} else {
			acc[j] = float64(plain[j] * inv)
		}
	}
	return fromFloat64s(ds[0], acc)
}

// initializerModule returns the module path of the first node that reads
// v ("layer1.0.conv1" for its weight), or "".
func initializerModule(v *onnx.Value) string {
	for _, u := range v.Uses() {
		if p := onnx.ModulePath(u.Node.Name); p != "" {
			return p
		}
	}
	return ""
}

// layerAlpha returns the alpha of the longest prefix in layers that is
// module or one of its ancestors.
func layerAlpha(layers map[string]float64, module string) (float64, bool) {
	best, alpha := -1, 0.0
	for prefix, a := range layers {
		if (module == prefix || strings.HasPrefix(module, prefix+".")) && len(prefix) > best {
			best, alpha = len(prefix), a
		}
	}
	return alpha, best >= 0
}

// sameArchitecture compares two graphs' nodes and initializers and names
// the first difference.
func sameArchitecture(a, b *onnx.Graph) error {
	if len(a.Nodes) != len(b.Nodes) {
		return fmt.Errorf("%d nodes vs %d", len(a.Nodes), len(b.Nodes))
	}
	for i := range a.Nodes {
		if a.Nodes[i].OpType != b.Nodes[i].OpType {
			return fmt.Errorf("node %d is %s in one and %s in the other", i, a.Nodes[i], b.Nodes[i])
		}
	}
	if len(a.Initializers) != len(b.Initializers) {
		return fmt.Errorf("%d initializers vs %d", len(a.Initializers), len(b.Initializers))
	}
	var missing []string
	for _, v := range a.Initializers {
		u := b.Value(v.Name)
		switch {
		case u == nil || u.Const == nil:
			missing = append(missing, v.Name)
		case u.Const.DType != v.Const.DType || !tensor.SameShape(u.Const.Shape, v.Const.Shape):
			return fmt.Errorf("initializer %q is %s%v in one and %s%v in the other", v.Name, v.Const.DType, v.Const.Shape, u.Const.DType, u.Const.Shape)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("initializers missing from the other model: %s", strings.Join(missing[:min(5, len(missing))], ", "))
	}
	return nil
}

// checkLayers reports a per-layer entry that matches no parameter.
func checkLayers(g *onnx.Graph, layers map[string]float64) error {
	used := map[string]bool{}
	for _, v := range g.Initializers {
		m := initializerModule(v)
		for prefix := range layers {
			if m == prefix || strings.HasPrefix(m, prefix+".") {
				used[prefix] = true
			}
		}
	}
	for prefix := range layers {
		if !used[prefix] {
			_, err := g.Resolve(prefix)
			if err == nil {
				err = fmt.Errorf("%q holds no parameters", prefix)
			}
			return fmt.Errorf("--layer %s: %w", prefix, err)
		}
	}
	return nil
}

// fromFloat64s returns a tensor of like's dtype and shape holding acc,
// rounded once to the dtype.
func fromFloat64s(like *tensor.Dense, acc []float64) *tensor.Dense {
	out := tensor.New(like.DType, like.Shape...)
	if out.F64 != nil {
		copy(out.F64, acc)
		return out
	}
	for j, x := range acc {
		out.F32[j] = float32(x)
	}
	out.RoundToDType()
	return out
}
