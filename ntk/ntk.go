package ntk

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// ModeKind says which part of the kernel to compute.
type ModeKind int

const (
	// Full is Θ[n, m, a, b] over every pair of outputs a, b.
	Full ModeKind = iota
	// Trace is Σ_a Θ[n, m, a, a].
	Trace
	// Output is Θ[n, m, k, k] for one output k.
	Output
)

// Mode selects the kernel: Full, Trace, or Output with index K.
type Mode struct {
	Kind ModeKind
	K    int
}

// Range is the sample range [Lo, Hi); the zero Range is every sample.
type Range struct{ Lo, Hi int }

// Options choose what Compute computes.
type Options struct {
	// Mode picks the part of the output kernel; it does not apply with
	// Loss, whose kernel is one number per pair of samples.
	Mode Mode
	// Loss, if set, makes the kernel the task NTK of the per-sample
	// cross-entropy loss, ⟨∇θ ℓ(x_i, y_i), ∇θ ℓ(x_j, y_j)⟩, over the same
	// parameters, components and blocks (see CrossEntropy).
	Loss *CrossEntropy
	// Params selects parameter tensors (float initializers) by name or
	// module path: an entry matches a parameter whose name equals it,
	// starts with it followed by "." or "/", or matches it as a path.Match
	// glob; a module path (layer4, layer4.0.conv1) matches the parameters
	// of the nodes inside that module. Empty selects every parameter.
	Params []string
	// Components also returns the kernel of each parameter tensor alone;
	// they sum to the kernel.
	Components bool
	// Rows and Cols pick the block Θ[Rows, Cols] of the N×N kernel, so
	// that a large kernel can be computed in pieces and assembled.
	Rows, Cols Range
	// Shard, if Count is set, computes part Index of Count of the whole
	// kernel for an array job: Result.Tiles instead of Result.Kernel,
	// which MergeBlocks assembles bit for bit into the kernel one run with
	// the same Chunk gives (see Shard). It excludes Rows and Cols.
	Shard Shard
	// Chunk is how many samples' gradients are held at once (0: chosen
	// from MaxBytes). Memory grows with Chunk, not with N.
	Chunk int
	// MaxBytes bounds the per-sample factors and gradients held at once
	// (0: 512 MiB).
	MaxBytes int64
	// Threads for the executor and the contractions (0: all cores).
	Threads int
	// Progress, if set, is called with the samples done and to do.
	Progress func(done, total int)
}

// Result is a computed kernel block.
type Result struct {
	// Kernel is float64, (R, C, K, K) for Full and (R, C) otherwise
	// (always with Options.Loss).
	Kernel *tensor.Dense
	// Components maps each parameter tensor to its own kernel (with
	// Options.Components).
	Components map[string]*tensor.Dense
	// Params lists the parameter tensors included.
	Params []string
	// Paths says how each parameter's contribution was computed:
	// "gemm" (per-sample outer-product factors, no Jacobian formed),
	// "conv" (per-sample weight gradients of the layer alone: products of
	// output gradients and unfolded inputs, formed a layer at a time) or
	// "jacobian" (per-sample backward passes through the whole model).
	Paths map[string]string
	// Outputs is K, the number of model outputs per sample (1 with
	// Options.Loss: the loss).
	Outputs int
	// Chunk is the number of samples whose gradients were held at once,
	// and PeakBytes the most bytes of per-sample factors and gradients
	// held at one time.
	Chunk     int
	PeakBytes int64
	// OutputGroup is how many outputs' gradients were held at once (all
	// of them unless memory was short).
	OutputGroup int
	// Samples is N, the number of samples the kernel is over.
	Samples int
	// Shard and Tiles are set with Options.Shard: the part computed and
	// its blocks of the kernel (Kernel and Components are then nil).
	Shard Shard
	Tiles []Tile
}

// Compute returns the empirical NTK of m over the samples x (N, ...) with
// respect to the selected parameters. m's first graph output, (N, K),
// is the function whose Jacobian is taken, or with opt.Loss the logits
// whose per-sample loss is.
func Compute(m *onnx.Model, x *tensor.Dense, opt Options) (*Result, error) {
	if x == nil || x.Rank() < 1 || x.Shape[0] == 0 {
		return nil, errors.New("ntk: no samples")
	}
	if x.DType != tensor.Float32 {
		return nil, fmt.Errorf("ntk: samples are %s, want float32", x.DType)
	}
	n := x.Shape[0]
	if opt.Loss != nil {
		opt.Mode = Mode{Kind: Trace} // of the one output, the loss
	}
	if opt.Shard != (Shard{}) {
		if opt.Rows != (Range{}) || opt.Cols != (Range{}) {
			return nil, errors.New("ntk: a shard is part of the whole kernel; it does not combine with rows and cols")
		}
		if err := opt.Shard.check(); err != nil {
			return nil, err
		}
		p, err := newPlan(m, x, opt)
		if err != nil {
			return nil, err
		}
		return p.computeShard(x, opt.Shard)
	}
	rows, err := opt.Rows.resolve(n, "rows")
	if err != nil {
		return nil, err
	}
	cols, err := opt.Cols.resolve(n, "cols")
	if err != nil {
		return nil, err
	}
	p, err := newPlan(m, x, opt)
	if err != nil {
		return nil, err
	}
	return p.compute(x, rows, cols)
}

func (r Range) resolve(n int, what string) (Range, error) {
	if r == (Range{}) {
		return Range{0, n}, nil
	}
	if r.Lo < 0 || r.Hi > n || r.Lo >= r.Hi {
		return r, fmt.Errorf("ntk: %s %d:%d is not a non-empty range inside the %d samples", what, r.Lo, r.Hi, n)
	}
	return r, nil
}

// ParseRange reads "a:b" (either side may be empty: ":b", "a:").
func ParseRange(s string, n int) (Range, error) {
	lo, hi, ok := strings.Cut(s, ":")
	if !ok {
		return Range{}, fmt.Errorf("range %q: want a:b", s)
	}
	r := Range{0, n}
	if lo != "" {
		if _, err := fmt.Sscan(lo, &r.Lo); err != nil {
			return Range{}, fmt.Errorf("range %q: %v", s, err)
		}
	}
	if hi != "" {
		if _, err := fmt.Sscan(hi, &r.Hi); err != nil {
			return Range{}, fmt.Errorf("range %q: %v", s, err)
		}
	}
	return r.resolve(n, "range")
}

// selectParams returns the float initializers of g that the patterns
// select, in graph order.
func selectParams(g *onnx.Graph, patterns []string) ([]*onnx.Value, error) {
	var all []*onnx.Value
	for _, v := range g.Initializers {
		if v.Const != nil && v.Const.DType.IsFloat() && len(v.Uses()) > 0 {
			all = append(all, v)
		}
	}
	if len(patterns) == 0 {
		if len(all) == 0 {
			return nil, errors.New("ntk: the model has no float parameters")
		}
		return all, nil
	}
	var out []*onnx.Value
	for _, v := range all {
		for _, pat := range patterns {
			if paramMatches(v, pat) {
				out = append(out, v)
				break
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("ntk: no parameter matches %q", strings.Join(patterns, ", "))
	}
	return out, nil
}

func paramMatches(v *onnx.Value, pat string) bool {
	name := v.Name
	if name == pat || strings.HasPrefix(name, pat+".") || strings.HasPrefix(name, pat+"/") {
		return true
	}
	if ok, _ := path.Match(pat, name); ok {
		return true
	}
	for _, u := range v.Uses() {
		mod := onnx.ModulePath(u.Node.Name)
		if mod == pat || strings.HasPrefix(mod, pat+".") {
			return true
		}
	}
	return false
}
