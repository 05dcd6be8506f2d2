package surgery

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/graft-ml/graft/exec"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Pruning criteria for structured pruning.
const (
	ByL1      = "l1"      // L1 norm of the unit's incoming weights
	ByL2      = "l2"      // L2 norm of the unit's incoming weights
	ByMean    = "mean"    // mean activation over data (needs Stats)
	ByMeanAbs = "meanabs" // mean absolute activation over data (needs Stats)
)

// PruneOptions says what Prune removes.
type PruneOptions struct {
	// Sparsity is the fraction to prune, in [0, 1): of weights
	// (unstructured) or of each layer's units (structured).
	Sparsity float64
	// Global ranks all layers' weights together (unstructured only);
	// otherwise each layer loses the same fraction.
	Global bool
	// Structured prunes whole output channels of Conv and units of Gemm
	// and MatMul, ranked by Criterion, instead of single weights.
	Structured bool
	// Criterion ranks units (structured: l1, l2, mean, meanabs) or single
	// weights (unstructured: magnitude, the default, mav or maav; see
	// ByMagnitude).
	Criterion string
	// Inputs holds, for the mav and maav criteria, each layer's input
	// statistics, keyed by weight name (see MeasureInputStats).
	Inputs map[string]InputStats
	// IncludeLast prunes, unstructured, the final layers too: those from
	// which no other prunable layer is reached (the classifier). By
	// default they keep every weight.
	IncludeLast bool
	// Stats holds, for the activation criteria, each prunable layer's mean
	// and mean absolute activation per unit, keyed by the value the unit
	// chain ends in (see PruneTargets and ActivationStats).
	Stats map[string]UnitStats
	// Layers restricts pruning to these module paths (and their
	// submodules); empty means every Conv, Gemm and MatMul with constant
	// weights.
	Layers []string
}

// UnitStats are per-unit activation statistics over a dataset.
type UnitStats struct {
	Mean, MeanAbs []float64
}

// PruneReport summarises a pruning pass.
type PruneReport struct {
	ParamsBefore, ParamsAfter   int // elements of float initializers
	NonzeroBefore, NonzeroAfter int
	UnitsZeroed, UnitsRemoved   int
	UnitsKept                   int      // dead units that could not be removed exactly
	KeptReasons                 []string // why, one line per layer
	// FinalSkipped names the final layers unstructured pruning left
	// whole (see PruneOptions.IncludeLast).
	FinalSkipped []string
}

// prunable is a layer whose weights Prune may zero: a Conv, Gemm or
// MatMul reading a constant weight.
type prunable struct {
	node   *onnx.Node
	weight *onnx.Value
	unit   int // weight axis indexing output units
	// grouped convolutions tie output channels to input channels, so
	// their units are not pruned or removed one by one.
	grouped bool
}

// prunableLayers lists the graph's prunable layers in graph order,
// restricted to the given module paths if any.
func prunableLayers(g *onnx.Graph, layers []string) []prunable {
	var out []prunable
	for _, n := range g.Nodes {
		w := n.Input(1)
		if w == nil || w.Const == nil || isInput(g, w) || !w.Const.DType.IsFloat() || len(w.Const.Shape) < 2 {
			continue
		}
		if len(layers) > 0 && !inModules(onnx.ModulePath(n.Name), layers) && !inModules(n.Name, layers) {
			continue
		}
		switch n.OpType {
		case "Conv":
			out = append(out, prunable{n, w, 0, n.AttrInt("group", 1) != 1})
		case "Gemm":
			if n.AttrInt("transB", 0) != 0 {
				out = append(out, prunable{node: n, weight: w, unit: 0})
			} else {
				out = append(out, prunable{node: n, weight: w, unit: 1})
			}
		case "MatMul":
			if len(w.Const.Shape) == 2 {
				out = append(out, prunable{node: n, weight: w, unit: 1})
			}
		}
	}
	return out
}

func inModules(path string, layers []string) bool {
	for _, l := range layers {
		if path == l || strings.HasPrefix(path, l+".") {
			return true
		}
	}
	return false
}

// Prune zeroes weights or whole units by magnitude or by activation
// statistics, then removes the units left dead (see RemoveDeadUnits), so
// that structured pruning really shrinks the model.
func Prune(m *onnx.Model, opt PruneOptions) (PruneReport, error) {
	var r PruneReport
	g := m.Graph
	if !(opt.Sparsity >= 0 && opt.Sparsity < 1) {
		return r, fmt.Errorf("prune: sparsity %g is outside [0, 1)", opt.Sparsity)
	}
	if err := g.Toposort(); err != nil {
		return r, fmt.Errorf("prune: %w", err)
	}
	if err := exec.InferShapes(m); err != nil {
		return r, fmt.Errorf("prune: %w", err)
	}
	r.ParamsBefore, r.NonzeroBefore = countParams(g)
	layers := prunableLayers(g, opt.Layers)
	if len(layers) == 0 {
		return r, fmt.Errorf("prune: no Conv, Gemm or MatMul with constant weights found%s", layersNote(opt.Layers))
	}
	var err error
	if opt.Structured {
		err = pruneUnits(g, layers, opt, &r)
	} else {
		r.FinalSkipped, err = pruneWeights(g, layers, opt)
	}
	if err != nil {
		return r, fmt.Errorf("prune: %w", err)
	}
	dr, err := RemoveDeadUnits(m)
	if err != nil {
		return r, fmt.Errorf("prune: %w", err)
	}
	r.UnitsRemoved, r.UnitsKept, r.KeptReasons = dr.Removed, dr.Kept, dr.Reasons
	r.ParamsAfter, r.NonzeroAfter = countParams(g)
	return r, nil
}

func layersNote(layers []string) string {
	if len(layers) == 0 {
		return ""
	}
	return " in " + strings.Join(layers, ", ")
}

// countParams counts the elements, and the nonzero ones, of the graph's
// float initializers.
func countParams(g *onnx.Graph) (total, nonzero int) {
	for _, v := range g.Initializers {
		if !v.Const.DType.IsFloat() {
			continue
		}
		d, err := v.Const.Dense()
		if err != nil {
			continue
		}
		for _, x := range d.Float64s() {
			total++
			if x != 0 {
				nonzero++
			}
		}
	}
	return total, nonzero
}

// pruneWeights zeroes the lowest-scored weights (see ByMagnitude): the
// same fraction of each layer, or a fraction of all layers' weights
// together. Exactly that many are zeroed, ties broken by layer and
// position. It returns the final layers it left whole.
func pruneWeights(g *onnx.Graph, layers []prunable, opt PruneOptions) ([]string, error) {
	var skipped []string
	if !opt.IncludeLast {
		final := finalLayers(g, layers)
		var keep []prunable
		for _, l := range layers {
			if final[l.node] {
				skipped = append(skipped, layerName(l.node))
			} else {
				keep = append(keep, l)
			}
		}
		if len(keep) == 0 {
			return nil, fmt.Errorf("every prunable layer is a final layer (%s); prune it with IncludeLast (--include-last)", strings.Join(skipped, ", "))
		}
		layers = keep
	}
	ws := make([]*tensor.Dense, len(layers))
	scores := make([][]float64, len(layers))
	for i, l := range layers {
		d, err := l.weight.Const.Dense()
		if err != nil {
			return nil, err
		}
		ws[i] = d.Clone()
		if scores[i], err = layerScores(l, d, opt.Criterion, opt.Inputs); err != nil {
			return nil, err
		}
	}
	type ref struct{ layer, i int }
	lowest := func(ls ...int) []ref {
		var all []ref
		for _, l := range ls {
			for i := range scores[l] {
				all = append(all, ref{l, i})
			}
		}
		k := int(opt.Sparsity * float64(len(all)))
		sort.SliceStable(all, func(a, b int) bool { return scores[all[a].layer][all[a].i] < scores[all[b].layer][all[b].i] })
		return all[:k]
	}
	var zero []ref
	if opt.Global {
		all := make([]int, len(layers))
		for i := range all {
			all[i] = i
		}
		zero = lowest(all...)
	} else {
		for l := range layers {
			zero = append(zero, lowest(l)...)
		}
	}
	for _, z := range zero {
		setZero(ws[z.layer], z.i)
	}
	for i, l := range layers {
		l.weight.SetConst(ws[i])
	}
	return skipped, nil
}

// layerName is a node's module path, or its name.
func layerName(n *onnx.Node) string {
	if p := onnx.ModulePath(n.Name); p != "" {
		return p
	}
	return n.Name
}

// setZero zeroes element i of d.
func setZero(d *tensor.Dense, i int) {
	switch {
	case d.F32 != nil:
		d.F32[i] = 0
	case d.F64 != nil:
		d.F64[i] = 0
	}
}

// pruneUnits zeroes the incoming weights of each layer's lowest-ranked
// units. Biases stay, so a zeroed unit outputs a constant, which
// RemoveDeadUnits folds into the next layer.
func pruneUnits(g *onnx.Graph, layers []prunable, opt PruneOptions, r *PruneReport) error {
	for _, l := range layers {
		// A layer whose units are the model's outputs (the classifier)
		// keeps them all: removing one would remove a class.
		if l.grouped || chainFrom(g, l.node).end.IsGraphOutput() {
			continue
		}
		d, err := l.weight.Const.Dense()
		if err != nil {
			return err
		}
		units := d.Shape[l.unit]
		k := int(opt.Sparsity * float64(units))
		if k == 0 {
			continue
		}
		if k >= units {
			k = units - 1 // never empty a layer
		}
		score, err := unitScores(g, l, d, opt)
		if err != nil {
			return err
		}
		order := make([]int, units)
		for i := range order {
			order[i] = i
		}
		sort.SliceStable(order, func(a, b int) bool { return score[order[a]] < score[order[b]] })
		w := d.Clone()
		for _, u := range order[:k] {
			forUnit(w.Shape, l.unit, u, func(i int) { w.F32[i] = 0 })
		}
		l.weight.SetConst(w)
		r.UnitsZeroed += k
	}
	return nil
}

// unitScores ranks a layer's units: by weight norm, or by activation
// statistics measured after the unit's chain (see unitChain).
func unitScores(g *onnx.Graph, l prunable, w *tensor.Dense, opt PruneOptions) ([]float64, error) {
	units := w.Shape[l.unit]
	score := make([]float64, units)
	switch opt.Criterion {
	case ByL1, ByL2, "":
		for u := range score {
			s := 0.0
			forUnit(w.Shape, l.unit, u, func(i int) {
				x := float64(w.F32[i])
				if opt.Criterion == ByL1 {
					s += math.Abs(x)
				} else {
					s += x * x
				}
			})
			score[u] = s
		}
		return score, nil
	case ByMean, ByMeanAbs:
		end := chainFrom(g, l.node).end
		st, ok := opt.Stats[end.Name]
		if !ok {
			return nil, fmt.Errorf("no activation statistics for %s (value %q)", l.node, end.Name)
		}
		src := st.Mean
		if opt.Criterion == ByMeanAbs {
			src = st.MeanAbs
		}
		if len(src) != units {
			return nil, fmt.Errorf("%s: statistics for %d units, layer has %d", l.node, len(src), units)
		}
		for u := range score {
			score[u] = src[u]
			if opt.Criterion == ByMean {
				score[u] = math.Abs(src[u])
			}
		}
		return score, nil
	}
	return nil, fmt.Errorf("unknown criterion %q (want l1, l2, mean or meanabs)", opt.Criterion)
}

// forUnit calls f with the flat index of every element of a row-major
// tensor of shape whose index along axis is u.
func forUnit(shape []int, axis, u int, f func(i int)) {
	outer, inner := 1, 1
	for _, d := range shape[:axis] {
		outer *= d
	}
	for _, d := range shape[axis+1:] {
		inner *= d
	}
	n := shape[axis]
	for o := range outer {
		base := (o*n + u) * inner
		for i := range inner {
			f(base + i)
		}
	}
}

// PruneTargets returns the values whose per-unit activation statistics the
// activation criteria need, one per prunable layer: where each layer's
// unit chain (normalisation and activation after it) ends.
func PruneTargets(m *onnx.Model, layers []string) ([]string, error) {
	g := m.Graph
	// Chains run through a Flatten only where shapes are known.
	if err := exec.InferShapes(m); err != nil {
		return nil, err
	}
	var out []string
	for _, l := range prunableLayers(g, layers) {
		out = append(out, chainFrom(g, l.node).end.Name)
	}
	return out, nil
}

// StatsAccumulator sums batches of activations (N×units×...) per unit, to
// give the activation criteria their statistics.
type StatsAccumulator struct {
	sum, sumAbs map[string][]float64
	count       map[string]int
}

// NewStatsAccumulator returns an empty accumulator.
func NewStatsAccumulator() *StatsAccumulator {
	return &StatsAccumulator{sum: map[string][]float64{}, sumAbs: map[string][]float64{}, count: map[string]int{}}
}

// Add adds one batch of the activation called name; axis 1 indexes units.
func (a *StatsAccumulator) Add(name string, d *tensor.Dense) error {
	if d.Rank() < 2 {
		return fmt.Errorf("activation %q has shape %v; want N×units×...", name, d.Shape)
	}
	units := d.Shape[1]
	if s := a.sum[name]; s != nil && len(s) != units {
		return fmt.Errorf("activation %q: %d units, earlier batches had %d", name, units, len(s))
	}
	if a.sum[name] == nil {
		a.sum[name], a.sumAbs[name] = make([]float64, units), make([]float64, units)
	}
	inner := 1
	for _, x := range d.Shape[2:] {
		inner *= x
	}
	f := d.Float64s()
	for i, x := range f {
		u := (i / inner) % units
		a.sum[name][u] += x
		a.sumAbs[name][u] += math.Abs(x)
	}
	a.count[name] += d.Shape[0] * inner
	return nil
}

// Stats returns the means accumulated so far.
func (a *StatsAccumulator) Stats() map[string]UnitStats {
	out := map[string]UnitStats{}
	for name, s := range a.sum {
		n := float64(a.count[name])
		st := UnitStats{Mean: make([]float64, len(s)), MeanAbs: make([]float64, len(s))}
		for u := range s {
			st.Mean[u] = s[u] / n
			st.MeanAbs[u] = a.sumAbs[name][u] / n
		}
		out[name] = st
	}
	return out
}

// MeasureUnitStats runs the model over data (samples along axis 0, fed to
// its first input) in batches, and returns the activation statistics the
// mean and meanabs criteria need for the layers Prune would consider.
// progress, if not nil, is called after each batch with samples done.
func MeasureUnitStats(m *onnx.Model, data *tensor.Dense, layers []string, batch int, progress func(done, total int)) (map[string]UnitStats, error) {
	ins := nonConstInputs(m.Graph)
	if len(ins) == 0 {
		return nil, fmt.Errorf("the model has no input to feed data to")
	}
	if data.Rank() < 1 || data.Shape[0] == 0 {
		return nil, fmt.Errorf("data of shape %v holds no samples", data.Shape)
	}
	targets, err := PruneTargets(m, layers)
	if err != nil {
		return nil, err
	}
	if len(targets) == 0 {
		return nil, fmt.Errorf("no prunable layers%s", layersNote(layers))
	}
	p, err := exec.Compile(m)
	if err != nil {
		return nil, err
	}
	acc := NewStatsAccumulator()
	n := data.Shape[0]
	batch = max(batch, 1)
	fixed := false
	if t := ins[0].Type; t.HasShape && len(t.Dims) > 0 && t.Dims[0].Known() {
		// A model exported with a fixed batch takes exactly that many
		// samples; the last batch is padded and the padding ignored.
		batch, fixed = int(t.Dims[0].Value), true
	}
	for lo := 0; lo < n; lo += batch {
		hi := min(lo+batch, n)
		x := sliceRows(data, lo, hi)
		if fixed && hi-lo < batch {
			x = padRows(x, batch)
		}
		res, err := p.Run(map[string]*tensor.Dense{ins[0].Name: x}, exec.RunOptions{Outputs: targets})
		if err != nil {
			return nil, fmt.Errorf("samples %d-%d: %w", lo, hi-1, err)
		}
		for _, t := range targets {
			if err := acc.Add(t, sliceRows(res[t], 0, hi-lo)); err != nil {
				return nil, err
			}
		}
		if progress != nil {
			progress(min(lo+batch, n), n)
		}
	}
	return acc.Stats(), nil
}

// padRows returns d with rows appended, copies of its first, up to n rows.
func padRows(d *tensor.Dense, n int) *tensor.Dense {
	row := d.Len() / d.Shape[0]
	out := tensor.New(d.DType, append([]int{n}, d.Shape[1:]...)...)
	for r := range n {
		src := (r % d.Shape[0]) * row
		switch {
		case out.F32 != nil:
			copy(out.F32[r*row:(r+1)*row], d.F32[src:src+row])
		case out.F64 != nil:
			copy(out.F64[r*row:(r+1)*row], d.F64[src:src+row])
		default:
			copy(out.I64[r*row:(r+1)*row], d.I64[src:src+row])
		}
	}
	return out
}

// sliceRows returns rows [lo, hi) of d along axis 0, sharing storage.
func sliceRows(d *tensor.Dense, lo, hi int) *tensor.Dense {
	row := 1
	for _, x := range d.Shape[1:] {
		row *= x
	}
	out := &tensor.Dense{DType: d.DType, Shape: append([]int{hi - lo}, d.Shape[1:]...)}
	switch {
	case d.F32 != nil:
		out.F32 = d.F32[lo*row : hi*row]
	case d.F64 != nil:
		out.F64 = d.F64[lo*row : hi*row]
	default:
		out.I64 = d.I64[lo*row : hi*row]
	}
	return out
}
