package train

import (
	"fmt"
	"math"
	"testing"

	"github.com/graft-ml/graft/tensor"
)

func TestOptimAdamOptions(t *testing.T) {
	tests := []struct {
		name string
		edit func(o *AdamOptions)
		ok   bool
	}{
		{"defaults", func(o *AdamOptions) {}, true},
		{"beta1 0", func(o *AdamOptions) { o.Beta1 = 0 }, true},
		{"eps 0", func(o *AdamOptions) { o.Eps = 0 }, true},
		{"amsgrad", func(o *AdamOptions) { o.AMSGrad = true }, true},
		{"beta1 1", func(o *AdamOptions) { o.Beta1 = 1 }, false},
		{"negative beta2", func(o *AdamOptions) { o.Beta2 = -0.1 }, false},
		{"NaN beta2", func(o *AdamOptions) { o.Beta2 = math.NaN() }, false},
		{"negative eps", func(o *AdamOptions) { o.Eps = -1e-8 }, false},
		{"negative weight decay", func(o *AdamOptions) { o.WeightDecay = -1e-2 }, false},
		{"infinite weight decay", func(o *AdamOptions) { o.WeightDecay = math.Inf(1) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := DefaultAdam()
			tt.edit(&o)
			if _, err := NewAdam(o); (err == nil) != tt.ok {
				t.Errorf("NewAdam(%+v): error %v, want ok=%v", o, err, tt.ok)
			}
			if _, err := NewAdamW(o); (err == nil) != tt.ok {
				t.Errorf("NewAdamW(%+v): error %v, want ok=%v", o, err, tt.ok)
			}
			r := RAdamOptions{Beta1: o.Beta1, Beta2: o.Beta2, Eps: o.Eps, WeightDecay: o.WeightDecay}
			if _, err := NewRAdam(r); (err == nil) != tt.ok {
				t.Errorf("NewRAdam(%+v): error %v, want ok=%v", r, err, tt.ok)
			}
		})
	}
}

// TestOptimDefaults pins the defaults to PyTorch 1.13's and lessw2020
// Ranger's constructor arguments.
func TestOptimDefaults(t *testing.T) {
	if got, want := DefaultAdam(), (AdamOptions{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}); got != want {
		t.Errorf("DefaultAdam() = %+v, want %+v", got, want)
	}
	if got, want := DefaultAdamW(), (AdamOptions{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 1e-2}); got != want {
		t.Errorf("DefaultAdamW() = %+v, want %+v", got, want)
	}
	if got, want := DefaultRAdam(), (RAdamOptions{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}); got != want {
		t.Errorf("DefaultRAdam() = %+v, want %+v", got, want)
	}
	want := RangerOptions{Beta1: 0.95, Beta2: 0.999, Eps: 1e-5, K: 6, Alpha: 0.5, GradCentralization: true}
	if got := DefaultRanger(); got != want {
		t.Errorf("DefaultRanger() = %+v, want %+v", got, want)
	}
}

// TestOptimAdamPerParameterSteps checks that a parameter first seen at a
// later step starts its own bias correction at t = 1, as PyTorch's
// per-parameter state["step"] does: its first Adam step moves it by lr·sign(g)
// (up to ε), whatever the optimizer's step count.
func TestOptimAdamPerParameterSteps(t *testing.T) {
	opt, err := NewAdam(DefaultAdam())
	if err != nil {
		t.Fatal(err)
	}
	a := &Param{Name: "a", Value: tensor.FromF32([]int{1}, []float32{0}), Grad: tensor.FromF32([]int{1}, []float32{1})}
	for range 5 {
		if err := opt.Step([]*Param{a}, 0.1); err != nil {
			t.Fatal(err)
		}
	}
	b := &Param{Name: "b", Value: tensor.FromF32([]int{1}, []float32{0}), Grad: tensor.FromF32([]int{1}, []float32{-4})}
	if err := opt.Step([]*Param{a, b}, 0.1); err != nil {
		t.Fatal(err)
	}
	if got := b.Value.F32[0]; math.Abs(float64(got)-0.1) > 1e-6 {
		t.Errorf("new parameter after its first step: %v, want 0.1", got)
	}
	if got := opt.State().Slots["step/b"].F32[0]; got != 1 {
		t.Errorf("step/b = %v, want 1", got)
	}
}

// ExampleNewAdamW fits w to minimise (w − 3)² with AdamW under a cosine
// schedule; the weight decay holds it slightly below 3.
func ExampleNewAdamW() {
	opt, err := NewAdamW(DefaultAdamW())
	if err != nil {
		panic(err)
	}
	const steps = 500
	sched, err := NewCosine(0.1, steps, 50, 1e-3)
	if err != nil {
		panic(err)
	}
	w := &Param{Name: "w", Value: tensor.FromF32([]int{1}, []float32{0}), Grad: tensor.New(tensor.Float32, 1)}
	for step := range steps {
		w.Grad.F32[0] = 2 * (w.Value.F32[0] - 3)
		if err := opt.Step([]*Param{w}, sched.LR(step)); err != nil {
			panic(err)
		}
	}
	fmt.Printf("w = %.2f\n", w.Value.F32[0])
	// Output: w = 2.98
}
