package exec

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// BenchOptions choose how Bench times a program.
type BenchOptions struct {
	// Warmup untimed runs come first (caches, packed weights, the
	// tensor pool), then Iters timed ones; Iters must be at least 1.
	Warmup, Iters int
	// Profile, if not nil, accumulates every kernel's time over the
	// timed runs (see RunOptions.Profile).
	Profile *Profile
	// Progress, if not nil, is called after each timed run with the
	// number done and the number to do.
	Progress func(done, total int)
}

// BenchResult holds the wall time of each timed run, shortest first.
type BenchResult struct {
	Times []time.Duration
}

// Median returns the middle run's time (the mean of the two middle ones
// for an even count).
func (r BenchResult) Median() time.Duration {
	n := len(r.Times)
	if n == 0 {
		return 0
	}
	if n%2 == 0 {
		return (r.Times[n/2-1] + r.Times[n/2]) / 2
	}
	return r.Times[n/2]
}

// Min returns the shortest run's time.
func (r BenchResult) Min() time.Duration {
	if len(r.Times) == 0 {
		return 0
	}
	return r.Times[0]
}

// Bench runs p on inputs opts.Warmup times untimed, then opts.Iters times
// timed, one after another, and returns the timed runs' wall times.
func Bench(p *Program, inputs map[string]*tensor.Dense, opts BenchOptions) (BenchResult, error) {
	if opts.Iters < 1 {
		return BenchResult{}, errors.New("bench: at least one timed run is needed")
	}
	for range opts.Warmup {
		if _, err := p.Run(inputs, RunOptions{}); err != nil {
			return BenchResult{}, err
		}
	}
	times := make([]time.Duration, opts.Iters)
	for i := range times {
		start := time.Now()
		if _, err := p.Run(inputs, RunOptions{Profile: opts.Profile}); err != nil {
			return BenchResult{}, err
		}
		times[i] = time.Since(start)
		if opts.Progress != nil {
			opts.Progress(i+1, len(times))
		}
	}
	slices.Sort(times)
	return BenchResult{Times: times}, nil
}

// RandomInputs returns standard normal values (a fixed sequence for each
// seed) for every input of g that is not an initializer, its symbolic
// dims (such as the batch) set to batch. An input without a declared
// shape, or with a dim that has neither a size nor a name, is an error
// naming it.
func RandomInputs(g *onnx.Graph, batch int, seed uint64) (map[string]*tensor.Dense, error) {
	rng := rand.New(rand.NewPCG(seed, seed))
	inputs := map[string]*tensor.Dense{}
	for _, v := range g.Inputs {
		if v.Const != nil {
			continue
		}
		if !v.Type.HasShape {
			return nil, fmt.Errorf("input %q has no declared shape", v.Name)
		}
		shape := make([]int, len(v.Type.Dims))
		for i, d := range v.Type.Dims {
			switch {
			case d.Known():
				shape[i] = int(d.Value)
			case d.Param != "":
				shape[i] = batch
			default:
				return nil, fmt.Errorf("input %q: dim %d has no size", v.Name, i)
			}
		}
		dt := v.Type.DType
		if !dt.Supported() {
			return nil, fmt.Errorf("input %q: dtype %s is not supported", v.Name, dt)
		}
		if err := tensor.CheckAlloc(dt, shape); err != nil {
			return nil, fmt.Errorf("input %q at batch %d: %w", v.Name, batch, err)
		}
		t := tensor.New(dt, shape...)
		for i := range t.F32 {
			t.F32[i] = float32(rng.NormFloat64())
		}
		for i := range t.F64 {
			t.F64[i] = rng.NormFloat64()
		}
		inputs[v.Name] = t
	}
	return inputs, nil
}
