package train

import (
	"fmt"
	"math"
)

// OptimizerConfig names an optimizer and the settings a command line
// gives it; zero values (and a NaN WeightDecay) leave PyTorch's defaults.
type OptimizerConfig struct {
	// Name is sgd, adam, adamw, radam or ranger.
	Name string
	// Momentum and Nesterov are SGD's.
	Momentum float64
	Nesterov bool
	// Beta1, Beta2 and Eps are the Adam family's (0: the default).
	Beta1, Beta2, Eps float64
	// WeightDecay is the L2 penalty or, for adamw and ranger, the
	// decoupled decay; NaN means the optimizer's default (0.01 for adamw,
	// 0 for the others).
	WeightDecay float64
}

// OptimizerNames lists the names NewOptimizer accepts.
var OptimizerNames = []string{"sgd", "adam", "adamw", "radam", "ranger"}

// NewOptimizer builds the optimizer c names.
func NewOptimizer(c OptimizerConfig) (Optimizer, error) {
	wd := func(def float64) float64 {
		if math.IsNaN(c.WeightDecay) {
			return def
		}
		return c.WeightDecay
	}
	betas := func(b1, b2, eps *float64) {
		if c.Beta1 != 0 {
			*b1 = c.Beta1
		}
		if c.Beta2 != 0 {
			*b2 = c.Beta2
		}
		if c.Eps != 0 {
			*eps = c.Eps
		}
	}
	if c.Name != "sgd" && (c.Momentum != 0 || c.Nesterov) {
		return nil, fmt.Errorf("momentum and nesterov are sgd's settings, not %s's (the Adam family's are betas)", c.Name)
	}
	if c.Name == "sgd" && (c.Beta1 != 0 || c.Beta2 != 0 || c.Eps != 0) {
		return nil, fmt.Errorf("betas and eps are the Adam family's settings, not sgd's")
	}
	switch c.Name {
	case "sgd":
		return NewSGD(SGDOptions{Momentum: c.Momentum, Nesterov: c.Nesterov, WeightDecay: wd(0)})
	case "adam", "adamw":
		o := DefaultAdam()
		if c.Name == "adamw" {
			o = DefaultAdamW()
		}
		betas(&o.Beta1, &o.Beta2, &o.Eps)
		o.WeightDecay = wd(o.WeightDecay)
		if c.Name == "adamw" {
			return NewAdamW(o)
		}
		return NewAdam(o)
	case "radam":
		o := DefaultRAdam()
		betas(&o.Beta1, &o.Beta2, &o.Eps)
		o.WeightDecay = wd(o.WeightDecay)
		return NewRAdam(o)
	case "ranger":
		o := DefaultRanger()
		betas(&o.Beta1, &o.Beta2, &o.Eps)
		o.WeightDecay = wd(o.WeightDecay)
		return NewRanger(o)
	}
	return nil, fmt.Errorf("unknown optimizer %q: want one of %v", c.Name, OptimizerNames)
}

// ScheduleConfig names a learning-rate schedule and its settings.
type ScheduleConfig struct {
	// Name is constant, step, cosine or onecycle.
	Name string
	// LR is the base (constant, step, cosine) or peak (onecycle) rate.
	LR float64
	// Total is the number of optimizer steps of the whole run.
	Total int
	// Warmup is cosine's linear warm-up, in steps.
	Warmup int
	// MinLR is where cosine ends.
	MinLR float64
	// StepSize and Gamma: step multiplies the rate by Gamma every
	// StepSize steps (0: every StepsPerEpoch steps, once an epoch).
	StepSize      int
	Gamma         float64
	StepsPerEpoch int
}

// ScheduleNames lists the names NewSchedule accepts.
var ScheduleNames = []string{"constant", "step", "cosine", "onecycle"}

// NewSchedule builds the schedule c names.
func NewSchedule(c ScheduleConfig) (Schedule, error) {
	if !(c.LR > 0) || math.IsInf(c.LR, 0) {
		return nil, fmt.Errorf("learning rate %v: want a positive number", c.LR)
	}
	if c.Warmup != 0 && c.Name != "cosine" {
		return nil, fmt.Errorf("warm-up is the cosine schedule's setting, not %s's", c.Name)
	}
	var (
		s   Schedule
		err error
	)
	switch c.Name {
	case "constant", "":
		s = Constant(c.LR)
	case "step":
		size := c.StepSize
		if size == 0 {
			size = max(c.StepsPerEpoch, 1)
		}
		if !(c.Gamma > 0) {
			return nil, fmt.Errorf("step schedule: gamma %v; want a positive factor", c.Gamma)
		}
		s, err = NewStepLR(c.LR, size, c.Gamma)
	case "cosine":
		if c.Warmup < 0 || c.Warmup >= c.Total {
			return nil, fmt.Errorf("cosine schedule: %d warm-up steps of %d in all; want fewer", c.Warmup, c.Total)
		}
		if c.MinLR < 0 || c.MinLR > c.LR {
			return nil, fmt.Errorf("cosine schedule: final rate %v outside [0, %v]", c.MinLR, c.LR)
		}
		s, err = NewCosine(c.LR, c.Total, c.Warmup, c.MinLR)
	case "onecycle":
		// PyTorch's OneCycleLR defaults: 30 % rising, from lr/25 to lr/25e4.
		if 0.3*float64(c.Total) <= 1 {
			return nil, fmt.Errorf("onecycle schedule: %d steps are too few (it needs at least 4)", c.Total)
		}
		s, err = NewOneCycle(c.LR, c.Total, 0.3, 25, 1e4)
	default:
		return nil, fmt.Errorf("unknown schedule %q: want one of %v", c.Name, ScheduleNames)
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}
