package train

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/graft-ml/graft/tensor"
)

// The optimizer tests replay fixtures/train/optim.json, written by
// fixtures/gen_train.py from PyTorch 1.13: for each configuration, two
// parameters, the gradient and learning rate of each of 30 steps, and
// PyTorch's parameter values after every step.

// fixtureF32 is a JSON array of float32 values, each written as the
// shortest decimal that reads back as that float32. Parsing it as float64
// first could round twice, so it is parsed as float32 directly.
type fixtureF32 []float32

func (f *fixtureF32) UnmarshalJSON(b []byte) error {
	var nums []json.Number
	if err := json.Unmarshal(b, &nums); err != nil {
		return err
	}
	*f = make([]float32, len(nums))
	for i, n := range nums {
		v, err := strconv.ParseFloat(string(n), 32)
		if err != nil {
			return err
		}
		(*f)[i] = float32(v)
	}
	return nil
}

type optimFixture struct {
	Producer string        `json:"producer"`
	Steps    int           `json:"steps"`
	Configs  []optimConfig `json:"configs"`
}

type optimConfig struct {
	Name      string `json:"name"`
	Optimizer string `json:"optimizer"` // sgd adam adamw radam ranger lookahead_adam
	Options   struct {
		Momentum    float64 `json:"momentum"`
		Dampening   float64 `json:"dampening"`
		WeightDecay float64 `json:"weight_decay"`
		Nesterov    bool    `json:"nesterov"`
		Beta1       float64 `json:"beta1"`
		Beta2       float64 `json:"beta2"`
		Eps         float64 `json:"eps"`
		AMSGrad     bool    `json:"amsgrad"`
		Ranger      bool    `json:"ranger"`
		GC          bool    `json:"gc"`
		K           int     `json:"k"`
		Alpha       float64 `json:"alpha"`
	} `json:"options"`
	Params []struct {
		Name  string     `json:"name"`
		Shape []int      `json:"shape"`
		Init  fixtureF32 `json:"init"`
	} `json:"params"`
	LR     []float64      `json:"lr"`
	Grads  [][]fixtureF32 `json:"grads"`  // [step][param]
	Values [][]fixtureF32 `json:"values"` // [step][param], after the step
}

// readTrainFixture decodes fixtures/train/name into v.
func readTrainFixture(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "fixtures", "train", name))
	if err != nil {
		t.Fatalf("%v (regenerate with /usr/bin/python3 fixtures/gen_train.py)", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("fixtures/train/%s: %v", name, err)
	}
}

func loadOptimFixture(t *testing.T) *optimFixture {
	t.Helper()
	var f optimFixture
	readTrainFixture(t, "optim.json", &f)
	if len(f.Configs) == 0 {
		t.Fatal("fixtures/train/optim.json: no configurations")
	}
	return &f
}

// newOptimizer builds the optimizer a fixture configuration describes.
func (c *optimConfig) newOptimizer() (Optimizer, error) {
	o := c.Options
	adam := AdamOptions{Beta1: o.Beta1, Beta2: o.Beta2, Eps: o.Eps, WeightDecay: o.WeightDecay, AMSGrad: o.AMSGrad}
	switch c.Optimizer {
	case "sgd":
		return NewSGD(SGDOptions{Momentum: o.Momentum, Dampening: o.Dampening, WeightDecay: o.WeightDecay, Nesterov: o.Nesterov})
	case "adam":
		return NewAdam(adam)
	case "adamw":
		return NewAdamW(adam)
	case "radam":
		return NewRAdam(RAdamOptions{Beta1: o.Beta1, Beta2: o.Beta2, Eps: o.Eps, WeightDecay: o.WeightDecay,
			Ranger: o.Ranger, GradCentralization: o.GC})
	case "ranger":
		return NewRanger(RangerOptions{Beta1: o.Beta1, Beta2: o.Beta2, Eps: o.Eps, WeightDecay: o.WeightDecay,
			K: o.K, Alpha: o.Alpha, GradCentralization: o.GC})
	case "lookahead_adam":
		inner, err := NewAdam(adam)
		if err != nil {
			return nil, err
		}
		return NewLookahead(inner, o.K, o.Alpha)
	}
	return nil, fmt.Errorf("unknown optimizer %q", c.Optimizer)
}

// initParams returns the configuration's parameters at their initial
// values, with zero gradients.
func (c *optimConfig) initParams() []*Param {
	ps := make([]*Param, len(c.Params))
	for i, p := range c.Params {
		ps[i] = &Param{
			Name:  p.Name,
			Value: tensor.FromF32(p.Shape, append([]float32{}, p.Init...)),
			Grad:  tensor.New(tensor.Float32, p.Shape...),
		}
	}
	return ps
}

// step loads step s's gradients into params and takes the optimizer step.
func (c *optimConfig) step(opt Optimizer, params []*Param, s int) error {
	for i, p := range params {
		copy(p.Grad.F32, c.Grads[s][i])
	}
	return opt.Step(params, c.LR[s])
}

// optimTol is the tolerance on a parameter after a step: element i of a
// tensor may differ from PyTorch's by 1e-6·max(|want[i]|, max_j |want[j]|/10).
// The optimizers repeat PyTorch's float32 operations in PyTorch's order,
// fused multiply-adds included, so on the x86-64 machine that wrote the
// fixtures every value matches exactly. The tolerance is for fixtures
// written elsewhere: a PyTorch build without FMA rounds a+c·b twice, glibc's
// pow may differ from Go's math.Pow in the last bit, and a reduction may
// sum in another order. Such a 1-ulp difference (6e-8 relative) can recur
// on each of the 30 steps, so 1e-6 allows about 16 ulps. An element near
// zero carries the absolute error of the larger values it was computed
// from, hence the floor relative to the tensor's largest element. Real
// mistakes show far above it: adding Adam's ε before the bias correction
// instead of after, for one, moves values by 3e-6 to 2e-4.
const optimTol = 1e-6

// maxRelErr returns the largest error of got against want, relative to
// the tolerance scale of optimTol, and its index.
func maxRelErr(got, want []float32) (worst float64, at int) {
	var scale float64
	for _, w := range want {
		scale = math.Max(scale, math.Abs(float64(w)))
	}
	for i := range want {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		r := d / math.Max(math.Abs(float64(want[i])), scale/10)
		if d == 0 {
			r = 0
		}
		if r > worst || math.IsNaN(r) {
			worst, at = r, i
		}
	}
	return worst, at
}

func TestOptimFixtures(t *testing.T) {
	f := loadOptimFixture(t)
	kinds := map[string]bool{}
	for ci := range f.Configs {
		c := &f.Configs[ci]
		kinds[c.Optimizer] = true
		t.Run(c.Name, func(t *testing.T) {
			opt, err := c.newOptimizer()
			if err != nil {
				t.Fatal(err)
			}
			params := c.initParams()
			var worst float64
			for s := range c.Values {
				if err := c.step(opt, params, s); err != nil {
					t.Fatalf("step %d: %v", s+1, err)
				}
				for i, p := range params {
					r, at := maxRelErr(p.Value.F32, c.Values[s][i])
					worst = math.Max(worst, r)
					if !(r <= optimTol) {
						t.Fatalf("step %d, parameter %s[%d]: got %v, PyTorch %v (relative error %.3g > %g)",
							s+1, p.Name, at, p.Value.F32[at], c.Values[s][i][at], r, optimTol)
					}
				}
			}
			t.Logf("%d steps, largest relative error %.3g", len(c.Values), worst)
		})
	}
	for _, k := range []string{"sgd", "adam", "adamw", "radam", "ranger", "lookahead_adam"} {
		if !kinds[k] {
			t.Errorf("fixtures/train/optim.json has no %s configuration", k)
		}
	}
}

func TestOptimSGDOptions(t *testing.T) {
	tests := []struct {
		name string
		opts SGDOptions
		ok   bool
	}{
		{"zero value", SGDOptions{}, true},
		{"momentum", SGDOptions{Momentum: 0.9, Dampening: 0.1, WeightDecay: 1e-4}, true},
		{"nesterov", SGDOptions{Momentum: 0.9, Nesterov: true}, true},
		{"nesterov without momentum", SGDOptions{Nesterov: true}, false},
		{"nesterov with dampening", SGDOptions{Momentum: 0.9, Dampening: 0.1, Nesterov: true}, false},
		{"negative momentum", SGDOptions{Momentum: -0.1}, false},
		{"negative weight decay", SGDOptions{WeightDecay: -1e-4}, false},
		{"NaN momentum", SGDOptions{Momentum: math.NaN()}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewSGD(tt.opts)
			if (err == nil) != tt.ok {
				t.Fatalf("NewSGD(%+v): error %v, want ok=%v", tt.opts, err, tt.ok)
			}
		})
	}
}

// TestOptimSGDFirstStep checks by hand the rule PyTorch applies at the
// first momentum step (the buffer is the gradient, undampened) and after.
func TestOptimSGDFirstStep(t *testing.T) {
	opt, err := NewSGD(SGDOptions{Momentum: 0.5, Dampening: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	p := &Param{Name: "p", Value: tensor.FromF32([]int{1}, []float32{1}), Grad: tensor.FromF32([]int{1}, []float32{2})}
	// Step 1: b = g = 2, p = 1 − 0.25·2 = 0.5.
	// Step 2: b = 0.5·2 + 0.5·2 = 2, p = 0.5 − 0.25·2 = 0.
	for i, want := range []float32{0.5, 0} {
		if err := opt.Step([]*Param{p}, 0.25); err != nil {
			t.Fatal(err)
		}
		if got := p.Value.F32[0]; got != want {
			t.Fatalf("step %d: p = %v, want %v", i+1, got, want)
		}
	}
}
