package train

import (
	"fmt"
	"math"

	"github.com/graft-ml/graft/data"
	"github.com/graft-ml/graft/exec"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Config chooses what a Model trains and against what.
type Config struct {
	// Params are the patterns of the initializers to train (SelectParams).
	// Every other initializer stays a constant.
	Params []string
	// Losses are the objective's terms, summed. Empty means cross-entropy
	// on the first graph output.
	Losses []Loss
	// Threads bounds the kernels' goroutines; 0 means all cores.
	Threads int
}

// Model is a classifier (or any model) prepared for training against
// Loss terms: the terms are appended to its graph and the whole compiled
// as an Objective, so that the chosen initializers are inputs whose
// current values a step passes in and no frozen weight is ever copied. The original model is not modified; Export writes the
// trained values into a copy of it.
type Model struct {
	// Params are the trained tensors, in the model's initializer order.
	// Step fills their gradients; an Optimizer updates their values.
	Params []*Param

	orig       *onnx.Model
	obj        *Objective // the model with its loss terms
	input      string     // the data input
	fixedBatch int        // the batch size the model declares, or 0
	terms      []*lossTerm
	logits     string // the value top-1 accuracy reads, or ""
}

// Prepare builds the training graphs of m for cfg. BatchNormalization
// runs with its stored statistics (inference mode) and Dropout is the
// identity: the graph is the one PyTorch exported in eval mode, so a step
// trains exactly the function that is exported afterwards.
func Prepare(m *onnx.Model, cfg Config) (*Model, error) {
	g0 := m.Graph
	if err := exec.InferShapes(m); err != nil {
		return nil, err
	}
	input, err := dataInput(g0)
	if err != nil {
		return nil, err
	}
	names, err := SelectParams(g0, cfg.Params)
	if err != nil {
		return nil, err
	}
	losses := cfg.Losses
	if len(losses) == 0 {
		losses = []Loss{{Kind: CrossEntropy}}
	}
	for _, l := range losses {
		if err := l.check(); err != nil {
			return nil, err
		}
	}
	tm := &Model{orig: m, input: input}
	if v := g0.Value(input); v.Type.HasShape && len(v.Type.Dims) > 0 && v.Type.Dims[0].Known() {
		tm.fixedBatch = int(v.Type.Dims[0].Value)
	}

	// The loss terms and their sum, appended to a copy; the Objective
	// makes the parameters inputs and adds the gradient.
	sm, err := copyModel(m)
	if err != nil {
		return nil, err
	}
	g := sm.Graph
	var parts []*onnx.Value
	for i, l := range losses {
		out := l.Output
		if out == "" {
			if len(g.Outputs) == 0 {
				return nil, fmt.Errorf("the model has no outputs for the loss to read")
			}
			out = g.Outputs[0].Name
		}
		v, err := g.Resolve(out)
		if err != nil {
			return nil, fmt.Errorf("loss %s: %w", l.Kind, err)
		}
		t, part, err := appendLoss(g, l, v, i)
		if err != nil {
			return nil, err
		}
		if tm.logits == "" && (l.Kind == CrossEntropy || l.Kind == Distill) {
			tm.logits = v.Name
		}
		tm.terms = append(tm.terms, t)
		parts = append(parts, part)
	}
	total := parts[0]
	if len(parts) > 1 {
		total = g.AddNode("Sum", "", "train/Sum", parts, []string{g.UniqueName("train/loss")}).Outputs[0]
	}
	total.Type = onnx.Type{DType: tensor.Float32, HasShape: true}
	g.Outputs = append(g.Outputs, total)
	if tm.logits == "" && len(g0.Outputs) > 0 && g0.Outputs[0].Type.Rank() == 2 {
		tm.logits = g0.Outputs[0].Name
	}
	if tm.obj, err = NewObjective(sm, total.Name, names, cfg.Threads); err != nil {
		return nil, err
	}
	tm.Params = tm.obj.Params
	return tm, nil
}

// unfreeze turns initializer v into a graph input.
func unfreeze(g *onnx.Graph, v *onnx.Value) {
	inits := g.Initializers[:0]
	for _, w := range g.Initializers {
		if w != v {
			inits = append(inits, w)
		}
	}
	g.Initializers = inits
	v.Const = nil
	for _, w := range g.Inputs {
		if w == v {
			return
		}
	}
	g.Inputs = append(g.Inputs, v)
}

func copyModel(m *onnx.Model) (*onnx.Model, error) {
	b, err := m.Encode()
	if err != nil {
		return nil, fmt.Errorf("copy model: %w", err)
	}
	c, err := onnx.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("copy model: %w", err)
	}
	return c, nil
}

func compile(m *onnx.Model, threads int) (*exec.Program, error) {
	p, err := exec.Compile(m)
	if err != nil {
		return nil, err
	}
	if threads > 0 {
		p.Threads = threads
	}
	return p, nil
}

// Input returns the name of the graph input samples go to.
func (tm *Model) Input() string { return tm.input }

// StepResult is what one forward and backward pass measured.
type StepResult struct {
	Loss float64
	// Correct counts the samples whose top-1 prediction equals the label
	// (0 without labels or logits).
	Correct int
}

// Step runs the model on the batch x (dataset samples idx, with labels or
// nil) and sets every parameter's gradient of the loss. The parameters'
// values are not changed.
func (tm *Model) Step(x *tensor.Dense, idx []int, labels []int64) (StepResult, error) {
	var r StepResult
	n := x.Shape[0]
	rows := n
	if tm.fixedBatch > 0 {
		if n > tm.fixedBatch {
			return r, fmt.Errorf("a batch of %d does not fit the model's fixed batch size %d", n, tm.fixedBatch)
		}
		rows = tm.fixedBatch
	}
	in := map[string]*tensor.Dense{tm.input: padRows(x, rows)}
	for _, t := range tm.terms {
		var target *tensor.Dense
		if t.Target != nil {
			var err error
			if target, err = t.Target.For(idx, x); err != nil {
				return r, err
			}
		}
		if err := t.feed(in, n, rows, labels, target); err != nil {
			return r, err
		}
	}
	var want []string
	if tm.logits != "" && labels != nil {
		want = append(want, tm.logits)
	}
	loss, out, err := tm.obj.Step(in, want...)
	if err != nil {
		return r, err
	}
	r.Loss = loss
	if tm.logits != "" && labels != nil {
		r.Correct = correct(out[tm.logits], labels[:n])
	}
	return r, nil
}

// padRows returns x with zero rows appended up to rows samples.
func padRows(x *tensor.Dense, rows int) *tensor.Dense {
	if x.Shape[0] == rows {
		return x
	}
	p := tensor.New(x.DType, append([]int{rows}, x.Shape[1:]...)...)
	copy(p.F32, x.F32)
	return p
}

// correct counts rows of logits whose largest entry is at the label.
func correct(logits *tensor.Dense, labels []int64) int {
	if logits == nil || logits.Rank() != 2 || logits.DType != tensor.Float32 {
		return 0
	}
	k := logits.Shape[1]
	c := 0
	for i, y := range labels {
		if argmax(logits.F32[i*k:(i+1)*k]) == int(y) {
			c++
		}
	}
	return c
}

func argmax(row []float32) int {
	best := 0
	for j, v := range row {
		if v > row[best] {
			best = j
		}
	}
	return best
}

// Eval is a model's loss and accuracy over a labelled dataset.
type Eval struct {
	Samples int
	// Loss is the mean cross-entropy of the logits (NaN without logits).
	Loss float64
	// Top1 is the fraction of samples whose top-1 prediction is right.
	Top1 float64
}

// Evaluate runs the model with the parameters' current values over src
// (which must have labels), batch samples at a time.
func (tm *Model) Evaluate(src data.Source, batch int) (Eval, error) {
	e := Eval{Loss: math.NaN(), Top1: math.NaN()}
	if tm.logits == "" {
		return e, fmt.Errorf("evaluate: the model has no (batch, classes) logits to score")
	}
	if tm.fixedBatch > 0 {
		batch = tm.fixedBatch
	}
	var loss float64
	right := 0
	for b, err := range data.Batches(src, max(1, batch), 0, nil) {
		if err != nil {
			return e, err
		}
		if b.Labels == nil {
			return e, fmt.Errorf("evaluate: %d samples without labels", src.Len())
		}
		n := b.X.Shape[0]
		out, err := tm.obj.Run(map[string]*tensor.Dense{tm.input: padRows(b.X, max(n, tm.fixedBatch))}, tm.logits)
		if err != nil {
			return e, err
		}
		z := out[tm.logits]
		if z.Rank() != 2 {
			return e, fmt.Errorf("evaluate: logits %q are %v, not (batch, classes)", tm.logits, z.Shape)
		}
		k := z.Shape[1]
		p := make([]float64, k)
		for i := 0; i < n; i++ {
			y := b.Labels[i]
			if y < 0 || int(y) >= k {
				return e, fmt.Errorf("evaluate: label %d outside the %d classes", y, k)
			}
			softmax(p, z.F32[i*k:(i+1)*k], 1)
			loss -= math.Log(max(p[y], math.SmallestNonzeroFloat64))
		}
		right += correct(z, b.Labels[:n])
		e.Samples += n
	}
	if e.Samples == 0 {
		return e, fmt.Errorf("evaluate: the dataset has no samples")
	}
	e.Loss = loss / float64(e.Samples)
	e.Top1 = float64(right) / float64(e.Samples)
	return e, nil
}

// Export returns a copy of the original model with the parameters'
// current values as its initializers.
func (tm *Model) Export() (*onnx.Model, error) {
	m, err := copyModel(tm.orig)
	if err != nil {
		return nil, err
	}
	for _, p := range tm.Params {
		v := m.Graph.Value(p.Name)
		if v == nil || v.Const == nil {
			return nil, fmt.Errorf("export: initializer %q missing from the model", p.Name)
		}
		v.SetConst(p.Value.Clone())
	}
	return m, nil
}
