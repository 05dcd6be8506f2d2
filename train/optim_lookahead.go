package train

import (
	"fmt"
	"strings"

	"github.com/graft-ml/graft/tensor"
)

// Lookahead wraps an inner ("fast") optimizer and keeps a slow copy of the
// weights (Zhang et al. 2019, "Lookahead Optimizer: k steps forward, 1 step
// back", arXiv:1907.08610), with the conventions of lessw2020's Ranger:
//
//   - a parameter's slow weights are its values on entry to the first Step
//     that sees it, before the inner update;
//   - after the inner update of every k-th Step (the Step count, from 1, is
//     a multiple of k), each parameter passed to that Step is synchronised:
//     slow ← slow + α·(fast − slow), with one float32 rounding for the
//     difference and one for the fused multiply-add, then fast ← slow.
//
// Ranger counts steps per parameter; Lookahead counts its own Step calls,
// which is the same when every Step sees the same parameters. The state is
// the slow weights (slot "slow") and the inner optimizer's state, whose
// slot names get the prefix "inner/" (for example "inner/exp_avg/fc.weight").
type Lookahead struct {
	inner Optimizer
	k     int
	alpha float64
	steps int64
	slow  *slotTable
}

// innerPrefix starts the keys of the inner optimizer's slots in a
// Lookahead's state.
const innerPrefix = "inner/"

// NewLookahead wraps inner, synchronising every k steps with slow-weight
// step size alpha. It needs k >= 1 and alpha in [0, 1], as the Lookahead
// paper's and Ranger's implementations do.
func NewLookahead(inner Optimizer, k int, alpha float64) (*Lookahead, error) {
	switch {
	case inner == nil:
		return nil, fmt.Errorf("train: lookahead: nil inner optimizer")
	case k < 1:
		return nil, fmt.Errorf("train: lookahead: invalid k %d, want >= 1", k)
	case !(alpha >= 0 && alpha <= 1):
		return nil, fmt.Errorf("train: lookahead: invalid alpha %v, want it in [0, 1]", alpha)
	}
	return &Lookahead{inner: inner, k: k, alpha: alpha, slow: newSlotTable(false, "slow")}, nil
}

// RangerOptions configures NewRanger: the options of Ranger's RAdam and
// Lookahead's K and Alpha. The fields are used as given; start from
// DefaultRanger.
type RangerOptions struct {
	Beta1, Beta2       float64 // as RAdamOptions
	Eps                float64 // added to √v, > 0
	WeightDecay        float64 // decoupled weight decay, >= 0
	K                  int     // Lookahead synchronisation period, >= 1
	Alpha              float64 // Lookahead slow-weight step, in [0, 1]
	GradCentralization bool    // as RAdamOptions
}

// DefaultRanger returns the defaults of lessw2020's Ranger (version
// 20.4.11): betas (0.95, 0.999), eps 1e-5, no weight decay, k 6, alpha 0.5,
// gradient centralization on. NeRN (github.com/maorash/NeRN) uses betas
// (0.5, 0.999) and weight decay 1e-3, and turns gradient centralization on
// or off with its config's ranger_use_gc (default on).
func DefaultRanger() RangerOptions {
	return RangerOptions{Beta1: 0.95, Beta2: 0.999, Eps: 1e-5, K: 6, Alpha: 0.5, GradCentralization: true}
}

// NewRanger returns lessw2020's Ranger optimizer
// (github.com/lessw2020/Ranger-Deep-Learning-Optimizer, version 20.4.11):
// Lookahead (k, alpha) around RAdam with RAdamOptions.Ranger set (decoupled
// weight decay) and optional gradient centralization; see RAdam and
// Lookahead.
func NewRanger(opts RangerOptions) (*Lookahead, error) {
	if !(opts.Eps > 0) {
		return nil, fmt.Errorf("train: ranger: invalid eps %v, want > 0", opts.Eps)
	}
	inner, err := NewRAdam(RAdamOptions{
		Beta1:              opts.Beta1,
		Beta2:              opts.Beta2,
		Eps:                opts.Eps,
		WeightDecay:        opts.WeightDecay,
		Ranger:             true,
		GradCentralization: opts.GradCentralization,
	})
	if err != nil {
		return nil, err
	}
	return NewLookahead(inner, opts.K, opts.Alpha)
}

// Step takes one inner step and, every k steps, synchronises the slow and
// fast weights. It changes nothing and returns an error if the inner step
// fails or a parameter is invalid, repeated, or shaped differently from its
// slow weights.
func (l *Lookahead) Step(params []*Param, lr float64) error {
	entries, isNew, err := l.slow.prepare(params)
	if err != nil {
		return err
	}
	for i, p := range params {
		if isNew[i] {
			copy(entries[i].bufs[0], p.Value.F32)
		}
	}
	if err := l.inner.Step(params, lr); err != nil {
		return err
	}
	l.slow.commit(params, entries, isNew)
	l.steps++
	if l.steps%int64(l.k) != 0 {
		return nil
	}
	alpha := float32(l.alpha)
	for i, p := range params {
		slow, fast := entries[i].bufs[0], p.Value.F32
		for j := range fast {
			slow[j] = fma32(alpha, fast[j]-slow[j], slow[j])
			fast[j] = slow[j]
		}
	}
	return nil
}

// State returns a deep copy of the slow weights, the inner optimizer's
// state (keys prefixed "inner/") and the step count.
func (l *Lookahead) State() *OptimizerState {
	s := l.slow.stateOf(l.steps)
	for key, d := range l.inner.State().Slots {
		s.Slots[innerPrefix+key] = d
	}
	return s
}

// Load replaces the slow weights and the inner optimizer's state with a
// copy of those in s. It changes nothing and returns an error if a slot is
// neither "slow/<name>" nor "inner/…", or if either part fails to load.
func (l *Lookahead) Load(s *OptimizerState) error {
	if s == nil {
		return fmt.Errorf("train: lookahead: load state: nil state")
	}
	own := map[string]*tensor.Dense{}
	inner := &OptimizerState{Steps: s.Steps, Slots: map[string]*tensor.Dense{}}
	for key, d := range s.Slots {
		if rest, ok := strings.CutPrefix(key, innerPrefix); ok {
			inner.Slots[rest] = d
		} else {
			own[key] = d
		}
	}
	if s.Steps < 0 {
		return fmt.Errorf("train: lookahead: load state: negative step count %d", s.Steps)
	}
	entries, err := l.slow.parse(own)
	if err != nil {
		return fmt.Errorf("train: lookahead: load state: %w", err)
	}
	if err := l.inner.Load(inner); err != nil {
		return fmt.Errorf("train: lookahead: load state: %w", err)
	}
	l.slow.entries = entries
	l.steps = s.Steps
	return nil
}
