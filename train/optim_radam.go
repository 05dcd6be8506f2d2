package train

import (
	"fmt"
	"math"
)

// RAdamOptions configures RAdam. The fields are used as given; start from
// DefaultRAdam for PyTorch's defaults. NewRanger sets Ranger.
type RAdamOptions struct {
	Beta1       float64 // decay of the gradient average m, in [0, 1)
	Beta2       float64 // decay of the squared-gradient average v, in [0, 1)
	Eps         float64 // added to √v, >= 0
	WeightDecay float64 // weight decay λ, >= 0

	// Ranger selects the RAdam of lessw2020's Ranger: weight decay
	// decoupled from the gradient, and Ranger's arrangement of the step
	// (see RAdam).
	Ranger bool

	// GradCentralization subtracts from the gradient of every parameter of
	// rank 2 or more its mean over all axes but the first, before anything
	// else: Ranger's use_gc with gc_conv_only false (Yong et al. 2020,
	// "Gradient Centralization", arXiv:2004.01461). Param.Grad itself is
	// not changed.
	GradCentralization bool
}

// DefaultRAdam returns torch.optim.RAdam's defaults: betas (0.9, 0.999),
// eps 1e-8, no weight decay.
func DefaultRAdam() RAdamOptions {
	return RAdamOptions{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
}

// RAdam is rectified Adam (Liu et al. 2020, arXiv:1908.03265), following
// torch.optim.RAdam of PyTorch 1.13. For a parameter p with gradient g at
// its t-th step (t from 1), at learning rate lr:
//
//	g ← g + λ·p                              (if λ ≠ 0)
//	m ← β1·m + (1−β1)·g
//	v ← β2·v + (1−β2)·g·g
//	m̂ = m / (1−β1^t)
//	ρ∞ = 2/(1−β2) − 1,   ρt = ρ∞ − 2t·β2^t/(1−β2^t)
//	if ρt > 5:   r = √((ρt−4)(ρt−2)ρ∞ / ((ρ∞−4)(ρ∞−2)ρt))
//	             p ← p − m̂·lr·(√(1−β2^t)/(√v + ε))·r
//	otherwise:   p ← p − m̂·lr
//
// ε is added to √v, not to the bias-corrected √v̂. With Ranger set, the
// update is that of lessw2020's Ranger (version 20.4.11):
//
//	m and v as above, from g without the λ·p term
//	p ← p − (lr·λ)·p                          (if λ ≠ 0)
//	if ρt > 5:   s = √((1−β2^t)(ρt−4)/(ρ∞−4)·(ρt−2)/ρt·ρ∞/(ρ∞−2)) / (1−β1^t)
//	             p ← p − (s·lr)·m/(√v + ε)
//	otherwise:   p ← p − lr/(1−β1^t)·m
//
// which is the same step, since s = √(1−β2^t)·r/(1−β1^t), computed in
// Ranger's order. Tensor operations are rounded to float32 in the order
// shown, with PyTorch's fused multiply-adds (see fma32); scalars are
// float64. GradCentralization, if set, applies to g first. The state is m
// and v (slots "exp_avg", "exp_avg_sq") and the step count t (slot "step").
type RAdam struct {
	opts  RAdamOptions
	steps int64
	state *slotTable
	gc    []float32 // scratch for the centralized gradient
}

// NewRAdam returns a RAdam optimizer. It rejects betas outside [0, 1) and a
// negative eps or weight decay, as PyTorch does.
func NewRAdam(opts RAdamOptions) (*RAdam, error) {
	if err := checkAdamLike(opts.Beta1, opts.Beta2, opts.Eps, opts.WeightDecay); err != nil {
		return nil, fmt.Errorf("train: radam: %w", err)
	}
	return &RAdam{opts: opts, state: newSlotTable(true, "exp_avg", "exp_avg_sq")}, nil
}

// Step applies one update to every parameter. It changes nothing and
// returns an error if lr is negative or not finite, or if a parameter is
// invalid, repeated, or shaped differently from its state.
func (o *RAdam) Step(params []*Param, lr float64) error {
	if err := checkLR(lr); err != nil {
		return fmt.Errorf("train: radam: %w", err)
	}
	entries, isNew, err := o.state.prepare(params)
	if err != nil {
		return err
	}
	o.state.commit(params, entries, isNew)
	for i, p := range params {
		e := entries[i]
		e.step++
		g := p.Grad.F32
		if o.opts.GradCentralization && len(p.Value.Shape) >= 2 {
			g = o.centralize(g, p.Value.Shape[0])
		}
		if o.opts.Ranger {
			o.rangerUpdate(p.Value.F32, g, e, lr)
		} else {
			o.torchUpdate(p.Value.F32, g, e, lr)
		}
	}
	o.steps++
	return nil
}

// torchUpdate is torch.optim.RAdam's update of parameter x with gradient g.
func (o *RAdam) torchUpdate(x, g []float32, e *slotEntry, lr float64) {
	t, b1, b2 := float64(e.step), o.opts.Beta1, o.opts.Beta2
	bc1 := float32(1 - math.Pow(b1, t))
	bc2 := 1 - math.Pow(b2, t)
	rhoInf := 2/(1-b2) - 1
	rhoT := rhoInf - 2*t*math.Pow(b2, t)/bc2
	rectified := rhoT > 5
	var rect, bc2Sqrt float32
	if rectified {
		rect = float32(math.Sqrt((rhoT - 4) * (rhoT - 2) * rhoInf / ((rhoInf - 4) * (rhoInf - 2) * rhoT)))
		bc2Sqrt = float32(math.Sqrt(bc2))
	}
	var (
		beta1, beta2  = float32(b1), float32(b2)
		coef1, coef2  = float32(1 - b1), float32(1 - b2)
		wd, eps, lr32 = float32(o.opts.WeightDecay), float32(o.opts.Eps), float32(lr)
		m, v          = e.bufs[0], e.bufs[1]
	)
	for j := range x {
		d := g[j]
		if wd != 0 {
			d = fma32(wd, x[j], d)
		}
		m[j] = fma32(coef1, d, m[j]*beta1)
		v[j] = fma32(coef2*d, d, v[j]*beta2)
		mHat := m[j] / bc1
		if rectified {
			adaptive := (1 / (sqrt32(v[j]) + eps)) * bc2Sqrt
			x[j] -= float32(mHat * lr32 * adaptive * rect)
		} else {
			x[j] -= float32(mHat * lr32)
		}
	}
}

// rangerUpdate is lessw2020 Ranger's RAdam update of parameter x with
// gradient g, in Ranger's order of operations.
func (o *RAdam) rangerUpdate(x, g []float32, e *slotEntry, lr float64) {
	t, b1, b2 := float64(e.step), o.opts.Beta1, o.opts.Beta2
	beta2T := math.Pow(b2, t)
	nSMAMax := 2/(1-b2) - 1
	nSMA := nSMAMax - 2*t*beta2T/(1-beta2T)
	rectified := nSMA > 5
	var stepSize float64
	if rectified {
		stepSize = math.Sqrt((1-beta2T)*(nSMA-4)/(nSMAMax-4)*(nSMA-2)/nSMA*nSMAMax/(nSMAMax-2)) / (1 - math.Pow(b1, t))
	} else {
		stepSize = 1.0 / (1 - math.Pow(b1, t))
	}
	var (
		beta1, beta2 = float32(b1), float32(b2)
		coef1, coef2 = float32(1 - b1), float32(1 - b2)
		eps          = float32(o.opts.Eps)
		decay        = float32(-o.opts.WeightDecay * lr)
		negStep      = float32(-stepSize * lr)
		m, v         = e.bufs[0], e.bufs[1]
	)
	for j := range x {
		d := g[j]
		v[j] = fma32(coef2*d, d, v[j]*beta2)
		m[j] = fma32(coef1, d, m[j]*beta1)
		if o.opts.WeightDecay != 0 {
			x[j] = fma32(decay, x[j], x[j])
		}
		if rectified {
			x[j] += float32(negStep*m[j]) / (sqrt32(v[j]) + eps)
		} else {
			x[j] = fma32(negStep, m[j], x[j])
		}
	}
}

// centralize returns g minus the mean of each of its rows slices (g seen
// as a rows×(len/rows) matrix), in o's scratch buffer. A mean is the
// float32 sum in index order divided by the count, as PyTorch computes it
// for slices of up to 8 elements; for longer ones PyTorch sums in another
// order, which can differ in the last bit.
func (o *RAdam) centralize(g []float32, rows int) []float32 {
	if cap(o.gc) < len(g) {
		o.gc = make([]float32, len(g))
	}
	out := o.gc[:len(g)]
	if rows == 0 {
		return out
	}
	cols := len(g) / rows
	for r := 0; r < rows; r++ {
		row := g[r*cols : (r+1)*cols]
		var sum float32
		for _, x := range row {
			sum += x
		}
		mean := sum / float32(cols)
		for c, x := range row {
			out[r*cols+c] = x - mean
		}
	}
	return out
}

// State returns a deep copy of the moment averages, the per-parameter step
// counts and the optimizer's step count.
func (o *RAdam) State() *OptimizerState { return o.state.stateOf(o.steps) }

// Load replaces the optimizer's state with a copy of s. It changes nothing
// and returns an error if s has an unknown slot, a slot that is not
// float32, or a parameter with missing or differently shaped slots.
func (o *RAdam) Load(s *OptimizerState) error {
	if err := o.state.load(s); err != nil {
		return fmt.Errorf("train: radam: load state: %w", err)
	}
	o.steps = s.Steps
	return nil
}
