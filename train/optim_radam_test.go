package train

import (
	"math"
	"testing"
)

// TestOptimRAdamRegimes checks that every RAdam and Ranger fixture covers
// both of RAdam's regimes: steps with ρt <= 5, which take an unrectified
// momentum step, and rectified steps.
func TestOptimRAdamRegimes(t *testing.T) {
	f := loadOptimFixture(t)
	n := 0
	for _, c := range f.Configs {
		if c.Optimizer != "radam" && c.Optimizer != "ranger" {
			continue
		}
		n++
		b2 := c.Options.Beta2
		rhoInf := 2/(1-b2) - 1
		var plain, rectified int
		for step := 1; step <= len(c.Values); step++ {
			t := float64(step)
			if rhoInf-2*t*math.Pow(b2, t)/(1-math.Pow(b2, t)) > 5 {
				rectified++
			} else {
				plain++
			}
		}
		if plain < 3 || rectified < 10 {
			t.Errorf("%s: %d unrectified and %d rectified steps, want at least 3 and 10", c.Name, plain, rectified)
		}
	}
	if n < 4 {
		t.Errorf("%d RAdam and Ranger configurations, want at least 4", n)
	}
}

// TestOptimRAdamThreshold pins where RAdam starts rectifying for β2 0.999
// (ρt crosses 5 between steps 5 and 6), checking the step a parameter
// takes: unrectified, the first step is lr·m̂ = lr·g exactly.
func TestOptimRAdamThreshold(t *testing.T) {
	for _, ranger := range []bool{false, true} {
		opts := DefaultRAdam()
		opts.Ranger = ranger
		opt, err := NewRAdam(opts)
		if err != nil {
			t.Fatal(err)
		}
		p := testParam("p", []int{1}, 0)
		p.Grad.F32[0] = 2
		// With a constant gradient, m̂ = g at every step, so unrectified
		// steps move p by exactly −lr·g = −0.5 (up to rounding).
		for step := 1; step <= 6; step++ {
			before := p.Value.F32[0]
			if err := opt.Step([]*Param{p}, 0.25); err != nil {
				t.Fatal(err)
			}
			moved := float64(before - p.Value.F32[0])
			unrectified := math.Abs(moved-0.5) < 1e-5
			if unrectified != (step <= 5) {
				t.Errorf("Ranger %v, step %d: moved %v; want an unrectified step (0.5) exactly for steps 1 to 5", ranger, step, moved)
			}
		}
	}
}
