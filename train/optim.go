package train

import (
	"fmt"

	"github.com/graft-ml/graft/tensor"
)

// Param is one tensor being trained: its current value and the gradient
// of the loss with respect to it from the last backward pass. Both are
// float32 of the same shape. Name is the initializer's name; optimizers
// key their state by it.
type Param struct {
	Name  string
	Value *tensor.Dense
	Grad  *tensor.Dense
}

// Optimizer updates parameters in place from their gradients.
type Optimizer interface {
	// Step applies one update to every parameter at learning rate lr
	// (the schedule's value for this step).
	Step(params []*Param, lr float64) error
	// State returns a copy of the optimizer's state for a checkpoint.
	State() *OptimizerState
	// Load replaces the optimizer's state with s (from State).
	Load(s *OptimizerState) error
}

// OptimizerState is what an optimizer must save for a run to resume
// exactly: its step count and named per-parameter buffers, keyed
// "<slot>/<param name>" (for example "exp_avg/fc.weight"). Slots hold
// float32 tensors, as PyTorch keeps them for float32 parameters.
type OptimizerState struct {
	Steps int64
	Slots map[string]*tensor.Dense
}

// checkParam reports a parameter whose value and gradient disagree.
func checkParam(p *Param) error {
	if p.Value == nil || p.Grad == nil {
		return fmt.Errorf("train: parameter %q has no value or no gradient", p.Name)
	}
	if p.Value.DType != tensor.Float32 || p.Grad.DType != tensor.Float32 {
		return fmt.Errorf("train: parameter %q: want float32 value and gradient, got %s and %s", p.Name, p.Value.DType, p.Grad.DType)
	}
	if len(p.Value.F32) != len(p.Grad.F32) {
		return fmt.Errorf("train: parameter %q: value has %d elements, gradient %d", p.Name, len(p.Value.F32), len(p.Grad.F32))
	}
	return nil
}
