package feed

import (
	"errors"
	"fmt"

	"github.com/graft-ml/graft/data"
	"github.com/graft-ml/graft/exec"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// DefaultBatch is the batch size of Options with Batch 0.
const DefaultBatch = 100

// Options choose how a pass over a dataset goes. The zero value reads
// every sample in batches of DefaultBatch, on all cores, silently.
type Options struct {
	// Batch is the number of samples per batch; 0 means DefaultBatch.
	Batch int
	// Limit uses only the first Limit samples; 0 means all of them.
	Limit int
	// Threads is the number of kernel threads of each model compiled for
	// the pass; 0 means all cores.
	Threads int
	// Progress, when not nil, is called with (0, total) before the first
	// batch and with (done, total) after each batch has been used.
	Progress func(done, total int)
}

// check rejects negative sizes.
func (o Options) check() error {
	if o.Batch < 0 {
		return fmt.Errorf("batch %d: want at least 1 (or 0 for %d)", o.Batch, DefaultBatch)
	}
	if o.Limit < 0 {
		return fmt.Errorf("limit %d: want 0 (all) or more", o.Limit)
	}
	if o.Threads < 0 {
		return fmt.Errorf("threads %d: want 0 (all cores) or more", o.Threads)
	}
	return nil
}

// BatchSize returns the batch size a pass uses.
func (o Options) BatchSize() int {
	if o.Batch == 0 {
		return DefaultBatch
	}
	return o.Batch
}

// Samples returns how many samples of src a pass reads.
func (o Options) Samples(src data.Source) int {
	n := src.Len()
	if o.Limit > 0 {
		n = min(n, o.Limit)
	}
	return n
}

// ErrNoSamples is returned, wrapped, by Each for a pass over no samples.
var ErrNoSamples = errors.New("the dataset has no samples")

// Each reads the samples of src that o selects in consecutive batches
// (data.Batches) and calls fn with each, reporting progress through
// o.Progress. It stops at the first error, from reading or from fn, and
// returns it wrapped with the batch's samples.
func Each(src data.Source, o Options, fn func(b data.Batch) error) error {
	if err := o.check(); err != nil {
		return err
	}
	if o.Samples(src) == 0 {
		return ErrNoSamples
	}
	for b, err := range data.Batches(src, o.BatchSize(), o.Limit, o.Progress) {
		if err != nil {
			return err
		}
		if err := fn(b); err != nil {
			return fmt.Errorf("samples %d–%d: %w", b.Start, b.Start+b.X.Shape[0]-1, err)
		}
	}
	return nil
}

// First reads the first batch a pass with o would read: callers use it
// to learn the shapes of activations before the pass.
func First(src data.Source, o Options) (data.Batch, error) {
	if err := o.check(); err != nil {
		return data.Batch{}, err
	}
	n := min(o.Samples(src), o.BatchSize())
	if n == 0 {
		return data.Batch{}, ErrNoSamples
	}
	x, y, err := src.Batch(0, n)
	if err != nil {
		return data.Batch{}, err
	}
	return data.Batch{X: x, Labels: y}, nil
}

// Model is a compiled model with the name of its one data input, the
// graph input that is not an initializer, which a pass feeds.
type Model struct {
	Program *exec.Program
	Input   string
}

// Compile compiles m for the CPU with threads kernel threads (0: all
// cores) and finds its data input. A model with more or fewer than one
// such input is an error: a dataset feeds one.
func Compile(m *onnx.Model, threads int) (*Model, error) {
	p, err := exec.Compile(m)
	if err != nil {
		return nil, err
	}
	if threads > 0 {
		p.Threads = threads
	}
	input, err := DataInput(p.Graph())
	if err != nil {
		return nil, err
	}
	return &Model{Program: p, Input: input}, nil
}

// DataInput returns the name of g's one input that is not an
// initializer.
func DataInput(g *onnx.Graph) (string, error) {
	var names []string
	for _, v := range g.Inputs {
		if v.Const == nil {
			names = append(names, v.Name)
		}
	}
	if len(names) != 1 {
		return "", fmt.Errorf("the model has %d inputs %v; graft feeds datasets to models with one", len(names), names)
	}
	return names[0], nil
}

// Run runs the model on the samples x and returns the named values for
// those samples, in slices of the model's fixed batch size if it has one
// (exec.Program.RunSamples). The map is keyed by value name: resolve a
// module path with Graph.Resolve first.
func (m *Model) Run(x *tensor.Dense, names ...string) (map[string]*tensor.Dense, error) {
	return m.Program.RunSamples(m.Input, map[string]*tensor.Dense{m.Input: x}, names, exec.AllSamples)
}

// Value runs the model on x and returns the one value name.
func (m *Model) Value(x *tensor.Dense, name string) (*tensor.Dense, error) {
	res, err := m.Run(x, name)
	if err != nil {
		return nil, err
	}
	return res[name], nil
}
