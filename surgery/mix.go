package surgery

import (
	"fmt"
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
}

// MixReport counts what Mix changed.
type MixReport struct {
	Mixed    int // float initializers interpolated
	Kept     int // integer initializers, which must agree and are kept
	Override int // initializers whose weights came from a Layers entry
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
	out := tensor.New(ds[0].DType, ds[0].Shape...)
	switch {
	case out.F64 != nil:
		copy(out.F64, acc)
	default:
		for j, x := range acc {
			out.F32[j] = float32(x)
		}
		out.RoundToDType()
	}
	return out
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
