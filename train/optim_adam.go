package train

import (
	"fmt"
	"math"
)

// AdamOptions configures Adam and AdamW. The fields are used as given, so
// a zero Beta1 means no momentum. Start from DefaultAdam or DefaultAdamW for
// PyTorch's defaults.
type AdamOptions struct {
	Beta1       float64 // decay of the gradient average m, in [0, 1)
	Beta2       float64 // decay of the squared-gradient average v, in [0, 1)
	Eps         float64 // added to the denominator, >= 0
	WeightDecay float64 // L2 penalty (Adam) or decoupled decay (AdamW), >= 0
	AMSGrad     bool    // divide by the running maximum of v instead of v
}

// DefaultAdam returns torch.optim.Adam's defaults: betas (0.9, 0.999), eps
// 1e-8, no weight decay, no AMSGrad.
func DefaultAdam() AdamOptions {
	return AdamOptions{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
}

// DefaultAdamW returns torch.optim.AdamW's defaults: those of DefaultAdam
// with weight decay 1e-2.
func DefaultAdamW() AdamOptions {
	o := DefaultAdam()
	o.WeightDecay = 1e-2
	return o
}

// Adam is the Adam optimizer (NewAdam) or AdamW (NewAdamW), following
// torch.optim.Adam and torch.optim.AdamW of PyTorch 1.13. For a parameter
// p with gradient g at its t-th step (t from 1), at learning rate lr:
//
//	p ← p·(1 − lr·λ)         (AdamW: decoupled weight decay)
//	g ← g + λ·p              (Adam, if λ ≠ 0: L2 penalty)
//	m ← β1·m + (1−β1)·g
//	v ← β2·v + (1−β2)·g·g
//	v̂ ← max(v̂, v)            (AMSGrad; then v̂ replaces v below)
//	p ← p − lr/(1−β1^t) · m / (√v / √(1−β2^t) + ε)
//
// Every tensor operation is rounded to float32 in this order, as PyTorch
// does, with its fused multiply-adds (see fma32); the bias corrections are
// float64. The state is m, v and v̂ (slots
// "exp_avg", "exp_avg_sq", "max_exp_avg_sq") and the step count t (slot
// "step"), each per parameter, as in PyTorch.
type Adam struct {
	opts      AdamOptions
	decoupled bool // AdamW
	steps     int64
	state     *slotTable
}

// NewAdam returns an Adam optimizer with L2 weight decay. It rejects betas
// outside [0, 1) and a negative eps or weight decay, as PyTorch does.
func NewAdam(opts AdamOptions) (*Adam, error) { return newAdam(opts, false) }

// NewAdamW returns an AdamW optimizer: Adam with decoupled weight decay. The
// options are used as given; PyTorch's default weight decay for AdamW is
// 1e-2 (DefaultAdamW), not Adam's 0.
func NewAdamW(opts AdamOptions) (*Adam, error) { return newAdam(opts, true) }

func newAdam(opts AdamOptions, decoupled bool) (*Adam, error) {
	o := &Adam{opts: opts, decoupled: decoupled}
	if err := checkAdamLike(opts.Beta1, opts.Beta2, opts.Eps, opts.WeightDecay); err != nil {
		return nil, fmt.Errorf("train: %s: %w", o.name(), err)
	}
	slots := []string{"exp_avg", "exp_avg_sq"}
	if opts.AMSGrad {
		slots = append(slots, "max_exp_avg_sq")
	}
	o.state = newSlotTable(true, slots...)
	return o, nil
}

func (o *Adam) name() string {
	if o.decoupled {
		return "adamw"
	}
	return "adam"
}

// checkAdamLike checks the options shared by Adam and RAdam.
func checkAdamLike(beta1, beta2, eps, weightDecay float64) error {
	switch {
	case !(beta1 >= 0 && beta1 < 1):
		return fmt.Errorf("invalid beta1 %v, want it in [0, 1)", beta1)
	case !(beta2 >= 0 && beta2 < 1):
		return fmt.Errorf("invalid beta2 %v, want it in [0, 1)", beta2)
	case !(eps >= 0) || math.IsInf(eps, 0):
		return fmt.Errorf("invalid eps %v", eps)
	case !(weightDecay >= 0) || math.IsInf(weightDecay, 0):
		return fmt.Errorf("invalid weight decay %v", weightDecay)
	}
	return nil
}

// Step applies one update to every parameter. It changes nothing and
// returns an error if lr is negative or not finite, or if a parameter is
// invalid, repeated, or shaped differently from its state.
func (o *Adam) Step(params []*Param, lr float64) error {
	if err := checkLR(lr); err != nil {
		return fmt.Errorf("train: %s: %w", o.name(), err)
	}
	entries, isNew, err := o.state.prepare(params)
	if err != nil {
		return err
	}
	o.state.commit(params, entries, isNew)
	var (
		beta1    = float32(o.opts.Beta1)
		beta2    = float32(o.opts.Beta2)
		oneMinB1 = float32(1 - o.opts.Beta1)
		oneMinB2 = float32(1 - o.opts.Beta2)
		eps      = float32(o.opts.Eps)
		wd       = float32(o.opts.WeightDecay)
		decay    = float32(1 - lr*o.opts.WeightDecay) // AdamW
	)
	for i, p := range params {
		e := entries[i]
		e.step++
		t := float64(e.step)
		bc1 := 1 - math.Pow(o.opts.Beta1, t)
		bc2 := 1 - math.Pow(o.opts.Beta2, t)
		negStepSize := float32(-(lr / bc1))
		bc2Sqrt := float32(math.Sqrt(bc2))
		m, v := e.bufs[0], e.bufs[1]
		var vMax []float32
		if o.opts.AMSGrad {
			vMax = e.bufs[2]
		}
		x, g := p.Value.F32, p.Grad.F32
		for j := range x {
			d := g[j]
			if o.decoupled {
				x[j] *= decay
			} else if wd != 0 {
				d = fma32(wd, x[j], d)
			}
			m[j] = fma32(oneMinB1, d, m[j]*beta1)
			v[j] = fma32(oneMinB2*d, d, v[j]*beta2)
			vj := v[j]
			if vMax != nil {
				vMax[j] = max(vMax[j], vj)
				vj = vMax[j]
			}
			denom := float32(sqrt32(vj)/bc2Sqrt) + eps
			x[j] += float32(float32(negStepSize*m[j]) / denom)
		}
	}
	o.steps++
	return nil
}

// State returns a deep copy of the moment averages, the per-parameter step
// counts and the optimizer's step count.
func (o *Adam) State() *OptimizerState { return o.state.stateOf(o.steps) }

// Load replaces the optimizer's state with a copy of s. It changes nothing
// and returns an error if s has an unknown slot, a slot that is not
// float32, or a parameter with missing or differently shaped slots.
func (o *Adam) Load(s *OptimizerState) error {
	if err := o.state.load(s); err != nil {
		return fmt.Errorf("train: %s: load state: %w", o.name(), err)
	}
	o.steps = s.Steps
	return nil
}

// sqrt32 is the correctly rounded float32 square root (rounding the float64
// root once more is exact for float32 arguments).
func sqrt32(x float32) float32 { return float32(math.Sqrt(float64(x))) }
