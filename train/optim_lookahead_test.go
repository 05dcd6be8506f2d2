package train

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"

	"github.com/graft-ml/graft/tensor"
)

// TestOptimResume checks, for every fixture configuration, that saving the
// state after some steps and loading it into a fresh optimizer continues
// bit for bit as if the run had not stopped. The split is at step 13, not
// a multiple of any Lookahead k, so the step count must be restored too.
func TestOptimResume(t *testing.T) {
	const split = 13
	f := loadOptimFixture(t)
	for ci := range f.Configs {
		c := &f.Configs[ci]
		t.Run(c.Name, func(t *testing.T) {
			straight, err := c.newOptimizer()
			if err != nil {
				t.Fatal(err)
			}
			first, err := c.newOptimizer()
			if err != nil {
				t.Fatal(err)
			}
			want, got := c.initParams(), c.initParams()
			for s := range split {
				if err := c.step(straight, want, s); err != nil {
					t.Fatal(err)
				}
				if err := c.step(first, got, s); err != nil {
					t.Fatal(err)
				}
			}
			saved := first.State()
			if saved.Steps != split {
				t.Errorf("State().Steps = %d, want %d", saved.Steps, split)
			}
			second, err := c.newOptimizer()
			if err != nil {
				t.Fatal(err)
			}
			if err := second.Load(saved); err != nil {
				t.Fatal(err)
			}
			// Load must copy: scribbling over the saved state, or stepping
			// the optimizer it came from, must not matter.
			for _, d := range saved.Slots {
				for i := range d.F32 {
					d.F32[i] = float32(math.NaN())
				}
			}
			if err := c.step(first, c.initParams(), split); err != nil {
				t.Fatal(err)
			}
			for s := split; s < len(c.Values); s++ {
				if err := c.step(straight, want, s); err != nil {
					t.Fatal(err)
				}
				if err := c.step(second, got, s); err != nil {
					t.Fatal(err)
				}
				for i := range want {
					if !tensor.Equal(got[i].Value, want[i].Value) {
						t.Fatalf("step %d, parameter %s: resumed run %v, straight run %v", s+1, got[i].Name, got[i].Value.F32, want[i].Value.F32)
					}
				}
			}
		})
	}
}

// TestOptimStateIsCopy checks that State returns a deep copy that later
// steps do not change.
func TestOptimStateIsCopy(t *testing.T) {
	for _, name := range []string{"sgd_momentum_dampening_wd", "adam_wd_amsgrad", "radam", "ranger"} {
		t.Run(name, func(t *testing.T) {
			c := findOptimConfig(t, name)
			opt, err := c.newOptimizer()
			if err != nil {
				t.Fatal(err)
			}
			params := c.initParams()
			if err := c.step(opt, params, 0); err != nil {
				t.Fatal(err)
			}
			s := opt.State()
			before := cloneState(s)
			if err := c.step(opt, params, 1); err != nil {
				t.Fatal(err)
			}
			if !equalStates(s, before) {
				t.Fatal("a step changed the state State returned earlier")
			}
			if equalStates(opt.State(), before) {
				t.Fatal("State after a step equals the state before it")
			}
		})
	}
}

func findOptimConfig(t *testing.T, name string) *optimConfig {
	t.Helper()
	f := loadOptimFixture(t)
	for i := range f.Configs {
		if f.Configs[i].Name == name {
			return &f.Configs[i]
		}
	}
	t.Fatalf("fixtures/train/optim.json has no configuration %q", name)
	return nil
}

func cloneState(s *OptimizerState) *OptimizerState {
	c := &OptimizerState{Steps: s.Steps, Slots: map[string]*tensor.Dense{}}
	for k, d := range s.Slots {
		c.Slots[k] = d.Clone()
	}
	return c
}

func equalStates(a, b *OptimizerState) bool {
	if a.Steps != b.Steps || len(a.Slots) != len(b.Slots) {
		return false
	}
	for k, d := range a.Slots {
		if e, ok := b.Slots[k]; !ok || !tensor.Equal(d, e) {
			return false
		}
	}
	return true
}

// testOptimizers returns one optimizer of every kind, fresh on each call.
func testOptimizers(t *testing.T) map[string]func() Optimizer {
	must := func(o Optimizer, err error) Optimizer {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	return map[string]func() Optimizer{
		"sgd":          func() Optimizer { return must(NewSGD(SGDOptions{})) },
		"sgd_momentum": func() Optimizer { return must(NewSGD(SGDOptions{Momentum: 0.9})) },
		"adam":         func() Optimizer { return must(NewAdam(DefaultAdam())) },
		"adamw":        func() Optimizer { return must(NewAdamW(DefaultAdamW())) },
		"amsgrad":      func() Optimizer { o := DefaultAdam(); o.AMSGrad = true; return must(NewAdam(o)) },
		"radam":        func() Optimizer { return must(NewRAdam(DefaultRAdam())) },
		"ranger":       func() Optimizer { return must(NewRanger(DefaultRanger())) },
		"lookahead_sgd": func() Optimizer {
			return must(NewLookahead(must(NewSGD(SGDOptions{Momentum: 0.5})), 2, 0.5))
		},
	}
}

// sortedKeys returns m's keys in order, for deterministic subtests.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func testParam(name string, shape []int, v float32) *Param {
	n := 1
	for _, d := range shape {
		n *= d
	}
	p := &Param{Name: name, Value: tensor.New(tensor.Float32, shape...), Grad: tensor.New(tensor.Float32, shape...)}
	for i := range n {
		p.Value.F32[i] = v + float32(i)
		p.Grad.F32[i] = 0.5 - float32(i%3)
	}
	return p
}

// TestOptimStepErrors checks that Step rejects bad parameters and learning
// rates with an error, without panicking and without changing any value,
// for every optimizer.
func TestOptimStepErrors(t *testing.T) {
	tests := []struct {
		name   string
		params func() []*Param // taken after one good step on w [3 4] and b [5]
		lr     float64
	}{
		{"nil parameter", func() []*Param { return []*Param{testParam("b", []int{5}, 1), nil} }, 0.1},
		{"no gradient", func() []*Param { p := testParam("b", []int{5}, 1); p.Grad = nil; return []*Param{p} }, 0.1},
		{"float64 gradient", func() []*Param {
			p := testParam("b", []int{5}, 1)
			p.Grad = tensor.New(tensor.Float64, 5)
			return []*Param{p}
		}, 0.1},
		{"gradient of another size", func() []*Param {
			p := testParam("b", []int{5}, 1)
			p.Grad = tensor.New(tensor.Float32, 4)
			return []*Param{p}
		}, 0.1},
		{"same name twice", func() []*Param { return []*Param{testParam("b", []int{5}, 1), testParam("b", []int{5}, 1)} }, 0.1},
		{"transposed", func() []*Param { return []*Param{testParam("b", []int{5}, 1), testParam("w", []int{4, 3}, 1)} }, 0.1},
		{"reshaped", func() []*Param { return []*Param{testParam("w", []int{2, 6}, 1)} }, 0.1},
		{"different size", func() []*Param { return []*Param{testParam("w", []int{3, 5}, 1)} }, 0.1},
		{"negative learning rate", func() []*Param { return []*Param{testParam("w", []int{3, 4}, 1)} }, -0.1},
		{"NaN learning rate", func() []*Param { return []*Param{testParam("w", []int{3, 4}, 1)} }, math.NaN()},
		{"infinite learning rate", func() []*Param { return []*Param{testParam("w", []int{3, 4}, 1)} }, math.Inf(1)},
	}
	opts := testOptimizers(t)
	for _, kind := range sortedKeys(opts) {
		for _, tt := range tests {
			t.Run(kind+"/"+tt.name, func(t *testing.T) {
				opt := opts[kind]()
				if err := opt.Step([]*Param{testParam("w", []int{3, 4}, 1), testParam("b", []int{5}, 2)}, 0.1); err != nil {
					t.Fatal(err)
				}
				before := opt.State()
				params := tt.params()
				var values []*tensor.Dense
				for _, p := range params {
					if p != nil {
						values = append(values, p.Value.Clone())
					}
				}
				err := func() (err error) {
					defer func() {
						if r := recover(); r != nil {
							err = fmt.Errorf("panic: %v", r)
							t.Errorf("Step panicked: %v", r)
						}
					}()
					return opt.Step(params, tt.lr)
				}()
				if err == nil {
					t.Fatal("Step succeeded, want an error")
				}
				t.Logf("error: %v", err)
				if !equalStates(opt.State(), before) {
					t.Error("the failed Step changed the optimizer's state")
				}
				i := 0
				for _, p := range params {
					if p != nil {
						if !tensor.Equal(p.Value, values[i]) {
							t.Errorf("the failed Step changed parameter %s", p.Name)
						}
						i++
					}
				}
			})
		}
	}
}

// TestOptimStateKeys checks the slot names each optimizer saves.
func TestOptimStateKeys(t *testing.T) {
	tests := []struct {
		kind string
		want []string // slot prefixes; each is followed by "/w" and "/b"
	}{
		{"sgd", nil},
		{"sgd_momentum", []string{"momentum_buffer"}},
		{"adam", []string{"exp_avg", "exp_avg_sq", "step"}},
		{"adamw", []string{"exp_avg", "exp_avg_sq", "step"}},
		{"amsgrad", []string{"exp_avg", "exp_avg_sq", "max_exp_avg_sq", "step"}},
		{"radam", []string{"exp_avg", "exp_avg_sq", "step"}},
		{"ranger", []string{"inner/exp_avg", "inner/exp_avg_sq", "inner/step", "slow"}},
		{"lookahead_sgd", []string{"inner/momentum_buffer", "slow"}},
	}
	opts := testOptimizers(t)
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			opt := opts[tt.kind]()
			for range 2 {
				if err := opt.Step([]*Param{testParam("w", []int{3, 4}, 1), testParam("b", []int{5}, 2)}, 0.1); err != nil {
					t.Fatal(err)
				}
			}
			s := opt.State()
			if s.Steps != 2 {
				t.Errorf("Steps = %d, want 2", s.Steps)
			}
			var want []string
			for _, slot := range tt.want {
				want = append(want, slot+"/b", slot+"/w")
			}
			sort.Strings(want)
			if got := sortedKeys(s.Slots); strings.Join(got, " ") != strings.Join(want, " ") {
				t.Fatalf("slots %q, want %q", got, want)
			}
			for key, d := range s.Slots {
				switch {
				case strings.HasSuffix(key, "step/w") || strings.HasSuffix(key, "step/b"):
					if d.Len() != 1 || d.F32[0] != 2 {
						t.Errorf("%s = %v %v, want the scalar 2", key, d.Shape, d.F32)
					}
				case strings.HasSuffix(key, "/w") && !tensor.SameShape(d.Shape, []int{3, 4}),
					strings.HasSuffix(key, "/b") && !tensor.SameShape(d.Shape, []int{5}):
					t.Errorf("%s has shape %v", key, d.Shape)
				}
			}
		})
	}
}

// TestOptimLoadErrors checks that Load rejects malformed states and leaves
// the optimizer as it was.
func TestOptimLoadErrors(t *testing.T) {
	edit := func(f func(s *OptimizerState, prefix string)) func(*OptimizerState, string) { return f }
	tests := []struct {
		name  string
		kinds []string // optimizers the case applies to
		edit  func(s *OptimizerState, prefix string)
	}{
		{"negative steps", nil, edit(func(s *OptimizerState, _ string) { s.Steps = -1 })},
		{"unknown slot", nil, edit(func(s *OptimizerState, p string) { s.Slots[p+"momentum/w"] = tensor.New(tensor.Float32, 3, 4) })},
		{"no slot name", nil, edit(func(s *OptimizerState, p string) { s.Slots[p+"w"] = tensor.New(tensor.Float32, 3, 4) })},
		{"no parameter name", nil, edit(func(s *OptimizerState, p string) { s.Slots[p+"exp_avg/"] = tensor.New(tensor.Float32, 3, 4) })},
		{"missing slot", []string{"adam", "radam", "ranger"}, edit(func(s *OptimizerState, p string) { delete(s.Slots, p+"exp_avg_sq/w") })},
		{"missing step", []string{"adam", "radam", "ranger"}, edit(func(s *OptimizerState, p string) { delete(s.Slots, p+"step/w") })},
		{"slots of different shapes", []string{"adam", "radam", "ranger"}, edit(func(s *OptimizerState, p string) {
			s.Slots[p+"exp_avg/w"] = tensor.New(tensor.Float32, 4, 3)
		})},
		{"float64 slot", []string{"adam", "radam", "ranger"}, edit(func(s *OptimizerState, p string) {
			s.Slots[p+"exp_avg/w"] = tensor.New(tensor.Float64, 3, 4)
		})},
		{"nil slot", []string{"adam", "radam", "ranger"}, edit(func(s *OptimizerState, p string) { s.Slots[p+"exp_avg/w"] = nil })},
		{"shape and data disagree", []string{"adam", "radam", "ranger"}, edit(func(s *OptimizerState, p string) {
			s.Slots[p+"exp_avg/w"] = tensor.FromF32([]int{3, 4}, make([]float32, 11))
		})},
		{"fractional step", []string{"adam", "radam", "ranger"}, edit(func(s *OptimizerState, p string) { s.Slots[p+"step/w"] = tensor.Scalar(1.5) })},
		{"negative step", []string{"adam", "radam", "ranger"}, edit(func(s *OptimizerState, p string) { s.Slots[p+"step/w"] = tensor.Scalar(-1) })},
		{"step of two elements", []string{"adam", "radam", "ranger"}, edit(func(s *OptimizerState, p string) {
			s.Slots[p+"step/w"] = tensor.FromF32([]int{2}, []float32{1, 1})
		})},
		{"slot of SGD without momentum", []string{"sgd"}, edit(func(s *OptimizerState, _ string) {
			s.Slots["momentum_buffer/w"] = tensor.New(tensor.Float32, 3, 4)
		})},
		{"inner slot without prefix", []string{"ranger"}, edit(func(s *OptimizerState, _ string) { s.Slots["exp_avg/w"] = tensor.New(tensor.Float32, 3, 4) })},
	}
	opts := testOptimizers(t)
	for _, tt := range tests {
		kinds := tt.kinds
		if kinds == nil {
			kinds = []string{"sgd_momentum", "adam", "radam", "ranger"}
		}
		for _, kind := range kinds {
			t.Run(kind+"/"+tt.name, func(t *testing.T) {
				opt := opts[kind]()
				if err := opt.Step([]*Param{testParam("w", []int{3, 4}, 1), testParam("b", []int{5}, 2)}, 0.1); err != nil {
					t.Fatal(err)
				}
				before := opt.State()
				s := opt.State()
				prefix := ""
				if kind == "ranger" {
					prefix = innerPrefix
				}
				tt.edit(s, prefix)
				err := opt.Load(s)
				if err == nil {
					t.Fatal("Load succeeded, want an error")
				}
				t.Logf("error: %v", err)
				if !equalStates(opt.State(), before) {
					t.Error("the failed Load changed the optimizer's state")
				}
			})
		}
	}
	for _, kind := range sortedKeys(opts) {
		if err := opts[kind]().Load(nil); err == nil {
			t.Errorf("%s: Load(nil) succeeded", kind)
		}
	}
}

// TestOptimLookahead checks the Lookahead convention on a case worked by
// hand: plain SGD at lr 1 with gradient 1 moves the fast weight by −1 a
// step; k 2 and alpha 0.5.
//
//	step 1: fast −1
//	step 2: fast −2, slow 0 + 0.5·(−2 − 0) = −1, fast ← −1
//	step 3: fast −2
//	step 4: fast −3, slow −1 + 0.5·(−3 + 1) = −2, fast ← −2
func TestOptimLookahead(t *testing.T) {
	inner, err := NewSGD(SGDOptions{})
	if err != nil {
		t.Fatal(err)
	}
	opt, err := NewLookahead(inner, 2, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	p := &Param{Name: "p", Value: tensor.FromF32([]int{1}, []float32{0}), Grad: tensor.FromF32([]int{1}, []float32{1})}
	for i, want := range []float32{-1, -1, -2, -2} {
		if err := opt.Step([]*Param{p}, 1); err != nil {
			t.Fatal(err)
		}
		if got := p.Value.F32[0]; got != want {
			t.Fatalf("step %d: %v, want %v", i+1, got, want)
		}
	}
	// A parameter first seen at step 5 gets slow weights 10, its value then;
	// at step 6: fast 10 − 1 − 1 = 8, slow 10 + 0.5·(8 − 10) = 9.
	q := &Param{Name: "q", Value: tensor.FromF32([]int{1}, []float32{10}), Grad: tensor.FromF32([]int{1}, []float32{1})}
	for range 2 {
		if err := opt.Step([]*Param{p, q}, 1); err != nil {
			t.Fatal(err)
		}
	}
	if got := q.Value.F32[0]; got != 9 {
		t.Fatalf("late parameter after step 6: %v, want 9", got)
	}
}

func TestOptimLookaheadOptions(t *testing.T) {
	sgd, err := NewSGD(SGDOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		inner Optimizer
		k     int
		alpha float64
		ok    bool
	}{
		{"ok", sgd, 5, 0.5, true},
		{"alpha 0 and 1", sgd, 1, 1, true},
		{"nil inner", nil, 5, 0.5, false},
		{"k 0", sgd, 0, 0.5, false},
		{"alpha above 1", sgd, 5, 1.5, false},
		{"negative alpha", sgd, 5, -0.1, false},
		{"NaN alpha", sgd, 5, math.NaN(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewLookahead(tt.inner, tt.k, tt.alpha)
			if (err == nil) != tt.ok {
				t.Fatalf("error %v, want ok=%v", err, tt.ok)
			}
		})
	}
	bad := DefaultRanger()
	bad.Eps = 0 // Ranger requires eps > 0
	if _, err := NewRanger(bad); err == nil {
		t.Error("NewRanger accepted eps 0")
	}
	bad = DefaultRanger()
	bad.K = 0
	if _, err := NewRanger(bad); err == nil {
		t.Error("NewRanger accepted k 0")
	}
}

// ExampleNewRanger trains one weight towards 3 with Ranger's default
// settings and NeRN's betas and weight decay.
func ExampleNewRanger() {
	opts := DefaultRanger()
	opts.Beta1, opts.WeightDecay = 0.5, 1e-3
	opt, err := NewRanger(opts)
	if err != nil {
		panic(err)
	}
	w := &Param{Name: "w", Value: tensor.FromF32([]int{1}, []float32{0}), Grad: tensor.New(tensor.Float32, 1)}
	for range 2000 {
		w.Grad.F32[0] = 2 * (w.Value.F32[0] - 3) // d/dw (w−3)²
		if err := opt.Step([]*Param{w}, 0.05); err != nil {
			panic(err)
		}
	}
	fmt.Printf("w = %.2f after %d steps\n", w.Value.F32[0], opt.State().Steps)
	// Output: w = 3.00 after 2000 steps
}
