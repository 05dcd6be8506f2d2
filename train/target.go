package train

import (
	"fmt"

	"github.com/graft-ml/graft/exec"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Target supplies what a Distill or MSE loss compares the model with,
// batch by batch.
type Target interface {
	// For returns the target for dataset samples idx, whose inputs are x:
	// a float32 tensor whose first dim is len(idx).
	For(idx []int, x *tensor.Dense) (*tensor.Dense, error)
}

// Teacher is a Target computed by running another model (the teacher) on
// the same inputs and reading one of its values: its logits for
// distillation, a hidden value for feature matching.
type Teacher struct {
	prog  *exec.Program
	input string
	value string
}

// NewTeacher compiles m to serve value (a graph output or hidden value;
// empty means the first graph output) as a Target. threads bounds its
// kernels' goroutines (0: all cores).
func NewTeacher(m *onnx.Model, value string, threads int) (*Teacher, error) {
	if err := exec.InferShapes(m); err != nil {
		return nil, fmt.Errorf("teacher: %w", err)
	}
	if value == "" {
		if len(m.Graph.Outputs) == 0 {
			return nil, fmt.Errorf("teacher: the model has no outputs")
		}
		value = m.Graph.Outputs[0].Name
	}
	v, err := m.Graph.Resolve(value)
	if err != nil {
		return nil, fmt.Errorf("teacher: %w", err)
	}
	p, err := exec.Compile(m)
	if err != nil {
		return nil, fmt.Errorf("teacher: %w", err)
	}
	if threads > 0 {
		p.Threads = threads
	}
	in, err := dataInput(m.Graph)
	if err != nil {
		return nil, fmt.Errorf("teacher: %w", err)
	}
	return &Teacher{prog: p, input: in, value: v.Name}, nil
}

// For runs the teacher on x.
func (t *Teacher) For(_ []int, x *tensor.Dense) (*tensor.Dense, error) {
	out, err := t.prog.RunSamples(t.input, map[string]*tensor.Dense{t.input: x}, []string{t.value}, func(string) bool { return true })
	if err != nil {
		return nil, fmt.Errorf("teacher: %w", err)
	}
	return out[t.value], nil
}

// Array is a Target stored with the dataset: row i is the target of
// sample i, as a saved .npy of a teacher's logits is.
type Array struct{ Data *tensor.Dense }

// For gathers the rows idx.
func (a Array) For(idx []int, _ *tensor.Dense) (*tensor.Dense, error) {
	d := a.Data
	if d == nil || d.DType != tensor.Float32 || d.Rank() == 0 {
		return nil, fmt.Errorf("target array %s is not a float32 array of samples", shapeOf(d))
	}
	per := d.Len() / max(d.Shape[0], 1)
	out := tensor.New(tensor.Float32, append([]int{len(idx)}, d.Shape[1:]...)...)
	for i, j := range idx {
		if j < 0 || j >= d.Shape[0] {
			return nil, fmt.Errorf("target array holds %d samples; sample %d asked for", d.Shape[0], j)
		}
		copy(out.F32[i*per:(i+1)*per], d.F32[j*per:(j+1)*per])
	}
	return out, nil
}

// dataInput returns the name of g's one graph input that is not an
// initializer: where samples go.
func dataInput(g *onnx.Graph) (string, error) {
	var names []string
	for _, v := range g.Inputs {
		if v.Const == nil {
			names = append(names, v.Name)
		}
	}
	if len(names) != 1 {
		return "", fmt.Errorf("the model has %d inputs %v; training feeds datasets to models with one", len(names), names)
	}
	return names[0], nil
}
