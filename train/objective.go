package train

import (
	"fmt"

	"github.com/graft-ml/graft/exec"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Objective is a model whose graph computes its own scalar loss, compiled
// for training: the chosen initializers became graph inputs, fed from
// Params at every step, and exec.Gradient added the loss's gradient with
// respect to them. Model builds one from a classifier and Loss terms;
// other workflows (NeRN) build the loss nodes themselves and use an
// Objective directly, with this package's optimizers and schedules.
type Objective struct {
	// Params are the trained tensors, in the model's initializer order.
	Params []*Param

	orig       *onnx.Model
	step       *exec.Program
	forward    *exec.Program
	loss, seed string
	grads      []string // grads[i] holds Params[i]'s gradient
}

// NewObjective compiles m, whose value loss is a float32 scalar, for
// training the initializers params (names, as SelectParams returns).
// threads bounds the kernels' goroutines (0: all cores). m is not
// modified.
func NewObjective(m *onnx.Model, loss string, params []string, threads int) (*Objective, error) {
	if err := exec.InferShapes(m); err != nil {
		return nil, err
	}
	o := &Objective{orig: m}
	fm, err := copyModel(m)
	if err != nil {
		return nil, err
	}
	for _, name := range params {
		v := fm.Graph.Value(name)
		if v == nil || v.Const == nil {
			return nil, fmt.Errorf("train: %q is not an initializer of the model", name)
		}
		if v.Type.DType != tensor.Float32 {
			return nil, fmt.Errorf("train: parameter %q is %s; only float32 initializers train", name, v.Type)
		}
		d, err := v.Const.Dense()
		if err != nil {
			return nil, fmt.Errorf("parameter %q: %w", name, err)
		}
		o.Params = append(o.Params, &Param{Name: name, Value: d.Clone()})
		unfreeze(fm.Graph, v)
	}
	if o.forward, err = compile(fm, threads); err != nil {
		return nil, err
	}
	lv, err := fm.Graph.Resolve(loss)
	if err != nil {
		return nil, fmt.Errorf("train: loss: %w", err)
	}
	if lv.Type.DType != tensor.Float32 || (lv.Type.HasShape && lv.Type.Rank() != 0) {
		return nil, fmt.Errorf("train: loss %q is %s; want a float32 scalar", lv.Name, lv.Type)
	}
	gr, err := exec.Gradient(fm, []string{lv.Name}, params)
	if err != nil {
		return nil, err
	}
	o.loss, o.seed, o.grads = lv.Name, gr.Seeds[0], gr.Grads
	if o.step, err = compile(gr.Model, threads); err != nil {
		return nil, err
	}
	return o, nil
}

// Step runs the graph on inputs (every graph input but the parameters),
// sets every parameter's gradient of the loss, and returns the loss with
// the values outputs names (graph outputs or hidden values).
func (o *Objective) Step(inputs map[string]*tensor.Dense, outputs ...string) (float64, map[string]*tensor.Dense, error) {
	in := make(map[string]*tensor.Dense, len(inputs)+len(o.Params)+1)
	for k, v := range inputs {
		in[k] = v
	}
	in[o.seed] = tensor.Scalar(1)
	o.paramInputs(in)
	want := append(append([]string{o.loss}, o.grads...), outputs...)
	out, err := o.step.Run(in, exec.RunOptions{Outputs: want})
	if err != nil {
		return 0, nil, err
	}
	for i, p := range o.Params {
		p.Grad = out[o.grads[i]]
	}
	return float64(out[o.loss].F32[0]), out, nil
}

// Run computes outputs (graph outputs or hidden values, the loss among
// them if its inputs are given) with the parameters' current values,
// without gradients.
func (o *Objective) Run(inputs map[string]*tensor.Dense, outputs ...string) (map[string]*tensor.Dense, error) {
	in := make(map[string]*tensor.Dense, len(inputs)+len(o.Params))
	for k, v := range inputs {
		in[k] = v
	}
	o.paramInputs(in)
	return o.forward.Run(in, exec.RunOptions{Outputs: outputs})
}

func (o *Objective) paramInputs(in map[string]*tensor.Dense) {
	for _, p := range o.Params {
		in[p.Name] = p.Value
	}
}

// Export returns a copy of the model with the parameters' current values
// as its initializers.
func (o *Objective) Export() (*onnx.Model, error) {
	m, err := copyModel(o.orig)
	if err != nil {
		return nil, err
	}
	for _, p := range o.Params {
		v := m.Graph.Value(p.Name)
		if v == nil || v.Const == nil {
			return nil, fmt.Errorf("export: initializer %q missing from the model", p.Name)
		}
		v.SetConst(p.Value.Clone())
	}
	return m, nil
}
