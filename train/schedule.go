package train

import (
	"fmt"
	"math"
)

// Schedule gives the learning rate of each optimizer step.
//
// NewStepLR, NewCosine and NewOneCycle check their arguments and return an
// error for invalid ones. Constant and Exponential cannot fail: invalid
// arguments give NaN rates, which every optimizer here rejects with an
// error at its first Step.
type Schedule interface {
	// LR returns the learning rate of the step with 0-based index step,
	// the one about to be taken. A negative step counts as 0.
	LR(step int) float64
}

// scheduleFunc adapts a function to Schedule.
type scheduleFunc func(step int) float64

func (f scheduleFunc) LR(step int) float64 { return f(max(step, 0)) }

// finite reports whether every x is a finite number.
func finite(xs ...float64) bool {
	for _, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

// Constant returns lr at every step.
func Constant(lr float64) Schedule {
	return scheduleFunc(func(int) float64 { return lr })
}

// NewStepLR decays lr by gamma every stepSize steps,
// lr·gamma^⌊step/stepSize⌋, as torch.optim.lr_scheduler.StepLR's closed
// form. (StepLR itself multiplies by gamma at each boundary, which can
// differ in the last bit.) It needs stepSize >= 1 and finite lr and gamma.
func NewStepLR(lr float64, stepSize int, gamma float64) (Schedule, error) {
	switch {
	case stepSize < 1:
		return nil, fmt.Errorf("train: step schedule: step size %d, want at least 1", stepSize)
	case !finite(lr, gamma):
		return nil, fmt.Errorf("train: step schedule: learning rate %v and gamma %v, want finite numbers", lr, gamma)
	}
	return scheduleFunc(func(step int) float64 {
		return lr * math.Pow(gamma, float64(step/stepSize))
	}), nil
}

// NewCosine is cosine annealing from lr to minLR over total steps, after an
// optional linear warm-up over the first warmup steps. With w = warmup and
// T = total − w:
//
//	step < w:            lr·(1/w + (1 − 1/w)·step/w)
//	w <= step < total:   minLR + (lr − minLR)·(1 + cos(π·(step−w)/T))/2
//	step >= total:       minLR
//
// This is PyTorch's SequentialLR([LinearLR(start_factor=1/w,
// total_iters=w), CosineAnnealingLR(T_max=T, eta_min=minLR)],
// milestones=[w]), or CosineAnnealingLR(T_max=total, eta_min=minLR) alone
// when warmup is 0, in closed form: the warm-up starts at lr/w and reaches
// lr at step w. Unlike CosineAnnealingLR, which keeps following the cosine
// and rises again after T_max, it stays at minLR. It needs
// 0 <= warmup < total and finite lr and minLR.
func NewCosine(lr float64, total, warmup int, minLR float64) (Schedule, error) {
	switch {
	case warmup < 0 || warmup >= total:
		return nil, fmt.Errorf("train: cosine schedule: %d warm-up steps of %d, want 0 <= warm-up < steps", warmup, total)
	case !finite(lr, minLR):
		return nil, fmt.Errorf("train: cosine schedule: learning rate %v and minimum %v, want finite numbers", lr, minLR)
	}
	w, T := float64(warmup), float64(total-warmup)
	return scheduleFunc(func(step int) float64 {
		switch {
		case step < warmup:
			return lr * (1/w + (1-1/w)*float64(step)/w)
		case step >= total:
			return minLR
		}
		return minLR + (lr-minLR)*(1+math.Cos(math.Pi*float64(step-warmup)/T))/2
	}), nil
}

// NewOneCycle is the one-cycle policy of torch.optim.lr_scheduler.OneCycleLR
// with anneal_strategy "cos" and three_phase false: the rate rises from
// maxLR/divFactor at step 0 to maxLR at step pctStart·total − 1, then falls
// to maxLR/(divFactor·finalDivFactor) at step total − 1, each phase along
// half a cosine. Later steps keep the final rate (torch raises an error
// after step total). OneCycleLR by default also cycles the momentum (SGD's
// momentum, Adam's β1) inversely to the rate; this schedule gives only the
// rate. PyTorch's defaults are pctStart 0.3, divFactor 25 and
// finalDivFactor 1e4. It needs 1 < pctStart·total < total and positive
// finite maxLR, divFactor and finalDivFactor.
func NewOneCycle(maxLR float64, total int, pctStart, divFactor, finalDivFactor float64) (Schedule, error) {
	end1 := pctStart*float64(total) - 1 // the last step of the rising phase
	end2 := float64(total - 1)
	switch {
	case !(end1 > 0 && end1 < end2):
		return nil, fmt.Errorf("train: one-cycle schedule: rising fraction %v of %d steps, want 1 < fraction·steps < steps", pctStart, total)
	case !finite(maxLR, divFactor, finalDivFactor) || !(maxLR > 0 && divFactor > 0 && finalDivFactor > 0):
		return nil, fmt.Errorf("train: one-cycle schedule: maximum %v, div factor %v and final div factor %v, want positive numbers", maxLR, divFactor, finalDivFactor)
	}
	initial := maxLR / divFactor
	final := initial / finalDivFactor
	// anneal is OneCycleLR._annealing_cos, in its order of operations.
	anneal := func(start, end, pct float64) float64 {
		return end + (start-end)/2.0*(math.Cos(math.Pi*pct)+1)
	}
	return scheduleFunc(func(step int) float64 {
		s := math.Min(float64(step), end2)
		if s <= end1 {
			return anneal(initial, maxLR, s/end1)
		}
		return anneal(maxLR, final, (s-end1)/(end2-end1))
	}), nil
}

// Exponential grows the rate geometrically from lr0 at step 0 to lr1 at
// step steps−1, lr0·(lr1/lr0)^(step/(steps−1)), for a learning-rate range
// test (Smith 2017, arXiv:1506.01186), and stays at lr1 afterwards. It is
// PyTorch's ExponentialLR with gamma (lr1/lr0)^(1/(steps−1)), in closed
// form. It needs steps >= 2 and positive finite lr0 and lr1; otherwise every
// rate is NaN.
func Exponential(lr0, lr1 float64, steps int) Schedule {
	if steps < 2 || !finite(lr0, lr1) || !(lr0 > 0 && lr1 > 0) {
		return scheduleFunc(func(int) float64 { return math.NaN() })
	}
	last := steps - 1
	return scheduleFunc(func(step int) float64 {
		if step >= last {
			return lr1
		}
		return lr0 * math.Pow(lr1/lr0, float64(step)/float64(last))
	})
}
