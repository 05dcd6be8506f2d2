package train

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/graft-ml/graft/data"
)

// RangeTestOptions configure RangeTest.
type RangeTestOptions struct {
	// MinLR and MaxLR bound the learning rates tried; Steps is how many:
	// step i uses MinLR·(MaxLR/MinLR)^(i/(Steps−1)). Defaults 1e-7, 10
	// and 100.
	MinLR, MaxLR float64
	Steps        int
	// Batch and Seed choose the batches as Fit would (Order(Seed, e, n)).
	Batch int
	Seed  uint64
	// Smoothing is the factor of the exponential moving average of the
	// loss that the suggestion reads (default 0.98, as fastai's finder).
	Smoothing float64
	// StopFactor stops the test once the smoothed loss exceeds this many
	// times its minimum: the rate has diverged (default 4; <0: never).
	StopFactor float64
	// Optimizer takes the steps; its state and the parameters are put
	// back as they were when the test ends.
	Optimizer Optimizer
	// Progress, when not nil, is called after every step with the step
	// count and the planned total.
	Progress func(done, total int)
}

// RangeTest is the result of an LR range test (Smith, 2017).
type RangeTestResult struct {
	LRs, Losses, Smoothed []float64
	// Suggested is the learning rate where the smoothed loss falls
	// fastest against log(LR): the steepest descent point.
	Suggested float64
	// Diverged is set when the test stopped on StopFactor.
	Diverged bool
}

// RangeTest trains tm with a learning rate growing exponentially from
// MinLR to MaxLR, one step each, records the loss of every step, and
// suggests the rate at the steepest descent of the smoothed loss. The
// parameters and the optimizer are restored afterwards, so a Fit can
// follow from the same start.
func RangeTest(ctx context.Context, tm *Model, src data.Source, opt RangeTestOptions) (*RangeTestResult, error) {
	if opt.MinLR == 0 {
		opt.MinLR = 1e-7
	}
	if opt.MaxLR == 0 {
		opt.MaxLR = 10
	}
	if opt.Steps == 0 {
		opt.Steps = 100
	}
	if opt.Smoothing == 0 {
		opt.Smoothing = 0.98
	}
	if opt.StopFactor == 0 {
		opt.StopFactor = 4
	}
	switch {
	case !(opt.MinLR > 0) || !(opt.MaxLR > opt.MinLR) || math.IsInf(opt.MaxLR, 0):
		return nil, fmt.Errorf("lr range test: want 0 < min %v < max %v", opt.MinLR, opt.MaxLR)
	case opt.Steps < 3:
		return nil, fmt.Errorf("lr range test: %d steps; want at least 3", opt.Steps)
	case opt.Batch < 1:
		return nil, fmt.Errorf("lr range test: batch %d; want at least 1", opt.Batch)
	case opt.Smoothing < 0 || opt.Smoothing >= 1:
		return nil, fmt.Errorf("lr range test: smoothing %v outside [0, 1)", opt.Smoothing)
	case opt.Optimizer == nil:
		return nil, errors.New("lr range test: no optimizer")
	}
	n := src.Len()
	if n == 0 {
		return nil, errors.New("lr range test: the dataset has no samples")
	}
	reader, err := newSampleReader(src)
	if err != nil {
		return nil, err
	}
	saved := cloneValues(tm.Params)
	savedOpt := opt.Optimizer.State()
	defer func() {
		for i, p := range tm.Params {
			copy(p.Value.F32, saved[i].F32)
		}
		opt.Optimizer.Load(savedOpt)
	}()

	res := &RangeTestResult{}
	sched := Exponential(opt.MinLR, opt.MaxLR, opt.Steps)
	var avg float64
	best := math.Inf(1)
	var order []int
	for i := 0; i < opt.Steps; i++ {
		if ctx.Err() != nil {
			break
		}
		steps := (n + opt.Batch - 1) / opt.Batch
		e, s := i/steps, i%steps
		if s == 0 {
			order = Order(opt.Seed, e, n)
		}
		idx := order[s*opt.Batch : min((s+1)*opt.Batch, n)]
		x, labels, err := reader.read(idx)
		if err != nil {
			return nil, err
		}
		r, err := tm.Step(x, idx, labels)
		if err != nil {
			return nil, fmt.Errorf("lr range test: step %d: %w", i+1, err)
		}
		lr := sched.LR(i)
		res.LRs = append(res.LRs, lr)
		res.Losses = append(res.Losses, r.Loss)
		if math.IsNaN(r.Loss) || math.IsInf(r.Loss, 0) {
			res.Smoothed = append(res.Smoothed, math.Inf(1))
			res.Diverged = true
			break
		}
		avg = opt.Smoothing*avg + (1-opt.Smoothing)*r.Loss
		smooth := avg / (1 - math.Pow(opt.Smoothing, float64(i+1))) // bias-corrected
		res.Smoothed = append(res.Smoothed, smooth)
		best = min(best, smooth)
		if opt.Progress != nil {
			opt.Progress(i+1, opt.Steps)
		}
		if opt.StopFactor > 0 && smooth > opt.StopFactor*best {
			res.Diverged = true
			break
		}
		if err := opt.Optimizer.Step(tm.Params, lr); err != nil {
			return nil, fmt.Errorf("lr range test: %w", err)
		}
	}
	res.Suggested = steepest(res.LRs, res.Smoothed)
	if math.IsNaN(res.Suggested) {
		return res, fmt.Errorf("lr range test: %d steps are too few to suggest a rate", len(res.LRs))
	}
	return res, nil
}

// steepest returns the rate at which the loss falls fastest per unit of
// log(lr), by central differences, ignoring non-finite losses, the first
// tenth of the points (at most 10: the moving average is still settling
// there) and the last 5 (where divergence starts), as fastai's finder
// skips them.
func steepest(lrs, loss []float64) float64 {
	bestSlope, at := math.Inf(1), math.NaN()
	first := max(1, min(10, len(loss)/10))
	last := len(loss) - 1
	if len(loss) > 10 {
		last = len(loss) - 5
	}
	for i := first; i < last; i++ {
		if math.IsInf(loss[i-1], 0) || math.IsInf(loss[i+1], 0) {
			continue
		}
		slope := (loss[i+1] - loss[i-1]) / (math.Log(lrs[i+1]) - math.Log(lrs[i-1]))
		if slope < bestSlope {
			bestSlope, at = slope, lrs[i]
		}
	}
	return at
}
