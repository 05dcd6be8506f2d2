package train

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/graft-ml/graft/tensor"
)

// SGDOptions configures SGD. The zero value is plain SGD, which is also
// PyTorch's default.
type SGDOptions struct {
	Momentum    float64 // momentum factor μ, >= 0
	Dampening   float64 // dampening τ of the momentum
	WeightDecay float64 // L2 penalty λ, added to the gradient; >= 0
	Nesterov    bool    // Nesterov momentum; needs Momentum > 0 and Dampening 0
}

// SGD is stochastic gradient descent with optional momentum, following
// torch.optim.SGD of PyTorch 1.13. For a parameter p with gradient g, at
// learning rate lr:
//
//	g ← g + λ·p           (if λ ≠ 0)
//	b ← g                 (if μ ≠ 0, at p's first step: no dampening)
//	b ← μ·b + (1−τ)·g     (if μ ≠ 0, at later steps)
//	g ← g + μ·b           (Nesterov)   or   g ← b   (if μ ≠ 0)
//	p ← p − lr·g
//
// Every operation is rounded to float32 in this order, as PyTorch does;
// each a + c·b is one fused multiply-add (see fma32). The state is the momentum buffer b, slot "momentum_buffer" (none when μ = 0).
type SGD struct {
	opts  SGDOptions
	steps int64
	state *slotTable
}

// NewSGD returns an SGD optimizer. Like PyTorch, it rejects a negative
// momentum or weight decay, and Nesterov momentum without a positive
// momentum and zero dampening.
func NewSGD(opts SGDOptions) (*SGD, error) {
	switch {
	case !(opts.Momentum >= 0) || math.IsInf(opts.Momentum, 0):
		return nil, fmt.Errorf("train: sgd: invalid momentum %v", opts.Momentum)
	case math.IsNaN(opts.Dampening) || math.IsInf(opts.Dampening, 0):
		return nil, fmt.Errorf("train: sgd: invalid dampening %v", opts.Dampening)
	case !(opts.WeightDecay >= 0) || math.IsInf(opts.WeightDecay, 0):
		return nil, fmt.Errorf("train: sgd: invalid weight decay %v", opts.WeightDecay)
	case opts.Nesterov && (opts.Momentum <= 0 || opts.Dampening != 0):
		return nil, fmt.Errorf("train: sgd: nesterov momentum needs momentum > 0 and dampening 0, got momentum %v and dampening %v", opts.Momentum, opts.Dampening)
	}
	var slots []string
	if opts.Momentum != 0 {
		slots = []string{"momentum_buffer"}
	}
	return &SGD{opts: opts, state: newSlotTable(false, slots...)}, nil
}

// Step applies one SGD update to every parameter. It changes nothing and
// returns an error if lr is negative or not finite, or if a parameter is
// invalid, repeated, or shaped differently from its state.
func (o *SGD) Step(params []*Param, lr float64) error {
	if err := checkLR(lr); err != nil {
		return fmt.Errorf("train: sgd: %w", err)
	}
	entries, isNew, err := o.state.prepare(params)
	if err != nil {
		return err
	}
	o.state.commit(params, entries, isNew)
	var (
		mom    = float32(o.opts.Momentum)
		damp   = float32(1 - o.opts.Dampening)
		wd     = float32(o.opts.WeightDecay)
		negLR  = float32(-lr)
		useMom = o.opts.Momentum != 0
	)
	for i, p := range params {
		x, g := p.Value.F32, p.Grad.F32
		var buf []float32
		if useMom {
			buf = entries[i].bufs[0]
		}
		for j := range x {
			d := g[j]
			if wd != 0 {
				d = fma32(wd, x[j], d)
			}
			if useMom {
				if isNew[i] {
					buf[j] = d
				} else {
					buf[j] = fma32(damp, d, buf[j]*mom)
				}
				if o.opts.Nesterov {
					d = fma32(mom, buf[j], d)
				} else {
					d = buf[j]
				}
			}
			x[j] = fma32(negLR, d, x[j])
		}
	}
	o.steps++
	return nil
}

// State returns a deep copy of the momentum buffers and the step count.
func (o *SGD) State() *OptimizerState { return o.state.stateOf(o.steps) }

// Load replaces the optimizer's state with a copy of s. It changes nothing
// and returns an error if s has an unknown slot, a slot that is not
// float32, or a parameter with missing or differently shaped slots.
func (o *SGD) Load(s *OptimizerState) error {
	if err := o.state.load(s); err != nil {
		return fmt.Errorf("train: sgd: load state: %w", err)
	}
	o.steps = s.Steps
	return nil
}

// checkLR rejects a learning rate that no optimizer here accepts.
func checkLR(lr float64) error {
	if !(lr >= 0) || math.IsInf(lr, 0) {
		return fmt.Errorf("invalid learning rate %v", lr)
	}
	return nil
}

// fma32 returns a·b + c rounded once, as PyTorch's CPU kernels compute
// add(c, b, alpha=a), c + a·b·t (addcmul) and the like when built for AVX2
// with FMA, as its x86-64 builds are. (Rounding the float64 result to
// float32 rounds twice, which differs from a float32 FMA in rare ties only.)
func fma32(a, b, c float32) float32 {
	return float32(math.FMA(float64(a), float64(b), float64(c)))
}

// The per-parameter state shared by the optimizers in this package.

// stepSlot names the per-parameter update count of optimizers that keep
// one (Adam, RAdam), as PyTorch's state["step"]. It is stored as a float32
// scalar, as PyTorch 1.13 stores it, so counts above 2^24 are not exact in
// a saved state.
const stepSlot = "step"

// slotTable holds an optimizer's state for each parameter, by parameter
// name: one buffer shaped like the parameter per slot name, and, if counted,
// the number of updates applied to that parameter.
type slotTable struct {
	slots   []string
	counted bool
	entries map[string]*slotEntry
}

// slotEntry is one parameter's state in a slotTable.
type slotEntry struct {
	shape []int
	step  int64
	bufs  [][]float32 // one per slot, in slotTable.slots order
}

func newSlotTable(counted bool, slots ...string) *slotTable {
	return &slotTable{slots: slots, counted: counted, entries: map[string]*slotEntry{}}
}

// prepare checks params and returns each one's state: its entry in t, or a
// new zeroed entry (isNew[i]) that is not stored until commit. It fails,
// changing nothing, if a parameter is invalid (checkParam), if two
// parameters share a name, or if a parameter's shape differs from the shape
// its state was created with.
func (t *slotTable) prepare(params []*Param) (entries []*slotEntry, isNew []bool, err error) {
	entries = make([]*slotEntry, len(params))
	isNew = make([]bool, len(params))
	seen := make(map[string]bool, len(params))
	for i, p := range params {
		if p == nil {
			return nil, nil, fmt.Errorf("train: parameter %d is nil", i)
		}
		if err := checkParam(p); err != nil {
			return nil, nil, err
		}
		if seen[p.Name] {
			return nil, nil, fmt.Errorf("train: parameter %q appears twice", p.Name)
		}
		seen[p.Name] = true
		if e, ok := t.entries[p.Name]; ok {
			if !tensor.SameShape(e.shape, p.Value.Shape) {
				return nil, nil, fmt.Errorf("train: parameter %q: shape %v differs from the shape %v of its optimizer state", p.Name, p.Value.Shape, e.shape)
			}
			entries[i] = e
			continue
		}
		e := &slotEntry{shape: append([]int{}, p.Value.Shape...), bufs: make([][]float32, len(t.slots))}
		for k := range e.bufs {
			e.bufs[k] = make([]float32, len(p.Value.F32))
		}
		entries[i], isNew[i] = e, true
	}
	return entries, isNew, nil
}

// commit stores the new entries returned by prepare.
func (t *slotTable) commit(params []*Param, entries []*slotEntry, isNew []bool) {
	for i, p := range params {
		if isNew[i] {
			t.entries[p.Name] = entries[i]
		}
	}
}

// stateOf returns a deep copy of t as an OptimizerState with step count steps.
func (t *slotTable) stateOf(steps int64) *OptimizerState {
	s := &OptimizerState{Steps: steps, Slots: map[string]*tensor.Dense{}}
	t.save(s.Slots, "")
	return s
}

// save adds a copy of every buffer to slots, keyed prefix+"<slot>/<name>".
func (t *slotTable) save(slots map[string]*tensor.Dense, prefix string) {
	for name, e := range t.entries {
		for k, slot := range t.slots {
			slots[prefix+slot+"/"+name] = tensor.FromF32(e.shape, append([]float32{}, e.bufs[k]...))
		}
		if t.counted {
			slots[prefix+stepSlot+"/"+name] = tensor.Scalar(float32(e.step))
		}
	}
}

// load replaces t's entries with a copy of those in s, after checking them;
// on error t is unchanged.
func (t *slotTable) load(s *OptimizerState) error {
	if s == nil {
		return fmt.Errorf("nil state")
	}
	if s.Steps < 0 {
		return fmt.Errorf("negative step count %d", s.Steps)
	}
	entries, err := t.parse(s.Slots)
	if err != nil {
		return err
	}
	t.entries = entries
	return nil
}

// parse checks slots (keys "<slot>/<name>") and returns copies of the
// entries they hold. Every parameter must have all of t's slots, all
// float32 and of one shape, and a step count if t is counted.
func (t *slotTable) parse(slots map[string]*tensor.Dense) (map[string]*slotEntry, error) {
	index := make(map[string]int, len(t.slots))
	for k, slot := range t.slots {
		index[slot] = k
	}
	type found struct {
		bufs  []*tensor.Dense
		step  *tensor.Dense
		first string // first key seen, for messages
	}
	byName := map[string]*found{}
	keys := make([]string, 0, len(slots))
	for key := range slots {
		keys = append(keys, key)
	}
	sort.Strings(keys) // deterministic error messages
	for _, key := range keys {
		d := slots[key]
		slot, name, ok := strings.Cut(key, "/")
		if !ok || name == "" {
			return nil, fmt.Errorf("slot %q: want \"<slot>/<parameter name>\"", key)
		}
		k, known := index[slot]
		if !known && !(t.counted && slot == stepSlot) {
			return nil, fmt.Errorf("slot %q: unknown slot %q (want one of %s)", key, slot, strings.Join(t.slotNames(), ", "))
		}
		if d == nil || d.DType != tensor.Float32 {
			return nil, fmt.Errorf("slot %q: want a float32 tensor, got %v", key, d)
		}
		if n, err := tensor.NumElems(d.Shape); err != nil || n != len(d.F32) {
			return nil, fmt.Errorf("slot %q: shape %v does not match its %d elements", key, d.Shape, len(d.F32))
		}
		f := byName[name]
		if f == nil {
			f = &found{bufs: make([]*tensor.Dense, len(t.slots)), first: key}
			byName[name] = f
		}
		if !known {
			v := d.F32
			if len(v) != 1 || !(v[0] >= 0) || v[0] != float32(math.Trunc(float64(v[0]))) || math.IsInf(float64(v[0]), 0) {
				return nil, fmt.Errorf("slot %q: want a scalar holding a step count, got %v with values %v", key, d.Shape, v)
			}
			f.step = d
			continue
		}
		f.bufs[k] = d
	}
	entries := make(map[string]*slotEntry, len(byName))
	for name, f := range byName {
		if t.counted && f.step == nil {
			return nil, fmt.Errorf("parameter %q: slot %q is missing", name, stepSlot+"/"+name)
		}
		e := &slotEntry{bufs: make([][]float32, len(t.slots))}
		for k, d := range f.bufs {
			if d == nil {
				return nil, fmt.Errorf("parameter %q: slot %q is missing", name, t.slots[k]+"/"+name)
			}
			if k == 0 {
				e.shape = append([]int{}, d.Shape...)
			} else if !tensor.SameShape(d.Shape, e.shape) {
				return nil, fmt.Errorf("parameter %q: slot %q has shape %v, slot %q has %v", name, t.slots[k]+"/"+name, d.Shape, t.slots[0]+"/"+name, e.shape)
			}
			e.bufs[k] = append([]float32{}, d.F32...)
		}
		if f.step != nil {
			e.step = int64(f.step.F32[0])
		}
		entries[name] = e
	}
	return entries, nil
}

// slotNames lists the slot names t accepts.
func (t *slotTable) slotNames() []string {
	names := append([]string{}, t.slots...)
	if t.counted {
		names = append(names, stepSlot)
	}
	if len(names) == 0 {
		return []string{"none"}
	}
	return names
}
