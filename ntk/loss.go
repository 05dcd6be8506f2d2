package ntk

import (
	"errors"
	"fmt"

	"github.com/graft-ml/graft/exec"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// CrossEntropy makes Compute return the task NTK of the per-sample
// cross-entropy loss instead of the kernel of the model's outputs:
//
//	Θ(x_i, x_j) = ⟨∇θ ℓ(x_i, y_i), ∇θ ℓ(x_j, y_j)⟩,  ℓ(x, y) = −Σ_k t_k·log softmax(z(x))_k
//
// with z the model's first output, read as logits (N, K), and t the
// target distribution (1−S)·onehot(y) + S/K (PyTorch's
// cross_entropy(z, y, label_smoothing=S)). By the chain rule
// ∇θ ℓ = J_zᵀ·(softmax(z) − t), so the task kernel is
// (p_i − t_i)ᵀ·Θ_ij·(p_j − t_j) of the full output kernel Θ_ij; Compute
// gets it without forming Θ_ij, by differentiating the loss itself.
type CrossEntropy struct {
	// Labels holds the class of each sample, in [0, K).
	Labels []int64
	// Smoothing is the label smoothing S, in [0, 1].
	Smoothing float64
}

// targets returns t (n, k) as float32, checking the labels against the
// n samples and the k classes of output out.
func (ce *CrossEntropy) targets(n, k int, out string) (*tensor.Dense, error) {
	if len(ce.Labels) != n {
		return nil, fmt.Errorf("ntk: cross-entropy: %d labels for %d samples", len(ce.Labels), n)
	}
	if !(ce.Smoothing >= 0 && ce.Smoothing <= 1) { // NaN too
		return nil, fmt.Errorf("ntk: cross-entropy: label smoothing %g is outside [0, 1]", ce.Smoothing)
	}
	t := tensor.New(tensor.Float32, n, k)
	off := ce.Smoothing / float64(k)
	on := 1 - ce.Smoothing + off
	for i, y := range ce.Labels {
		if y < 0 || y >= int64(k) {
			return nil, fmt.Errorf("ntk: cross-entropy: label %d of sample %d is outside the %d classes of output %q", y, i, k, out)
		}
		row := t.F32[i*k : (i+1)*k]
		for c := range row {
			row[c] = float32(off)
		}
		row[y] = float32(on)
	}
	return t, nil
}

// withLoss returns a copy of m whose only output is the per-sample loss
// (N, 1) = −ReduceSum(LogSoftmax(z)·t, axis 1), t a new graph input, and
// points the plan at it: p.output becomes the loss, and the targets join
// the per-sample inputs fed with x. z is p.output, whose
// value for one sample is out. The loss adds no float initializer, so
// the parameters to select stay those of m.
func (p *plan) withLoss(m *onnx.Model, out *tensor.Dense, n int) (*onnx.Model, error) {
	ce := p.opt.Loss
	if out.Rank() != 2 {
		return nil, fmt.Errorf("ntk: cross-entropy needs logits (N, K) as the first output; %q has shape %v for one sample", p.output, out.Shape)
	}
	k := out.Shape[1]
	t, err := ce.targets(n, k, p.output)
	if err != nil {
		return nil, err
	}
	data, err := m.Encode()
	if err != nil {
		return nil, fmt.Errorf("ntk: copy model: %w", err)
	}
	lm, err := onnx.Decode(data)
	if err != nil {
		return nil, fmt.Errorf("ntk: copy model: %w", err)
	}
	g := lm.Graph
	z := g.Value(p.output)
	if z == nil {
		return nil, errors.New("ntk: copy model: output lost")
	}
	// The targets share x's batch dim, so that a fixed batch pads both.
	batch := onnx.Dim{Param: "N"}
	if xt := g.Value(p.input).Type; xt.HasShape && len(xt.Dims) > 0 {
		batch = xt.Dims[0]
	}
	tv, err := g.AddInput(g.UniqueName("ntk_targets"), onnx.Type{DType: tensor.Float32, HasShape: true, Dims: []onnx.Dim{batch, {Value: int64(k)}}})
	if err != nil {
		return nil, fmt.Errorf("ntk: %w", err)
	}
	// Both LogSoftmax conventions (axis 1 flattening before opset 13, one
	// axis from 13) agree on a rank-2 input.
	logp := g.AddNode("LogSoftmax", "", "ntk_loss/LogSoftmax", []*onnx.Value{z}, []string{"ntk_loss/log_probs"}, onnx.IntAttr("axis", 1)).Outputs[0]
	prod := g.AddNode("Mul", "", "ntk_loss/Mul", []*onnx.Value{logp, tv}, []string{"ntk_loss/weighted"}).Outputs[0]
	var sum *onnx.Value
	if lm.Opset("") >= 13 { // axes became an input in opset 13
		axes := g.AddConst("ntk_loss/axes", tensor.FromI64([]int{1}, []int64{1}))
		sum = g.AddNode("ReduceSum", "", "ntk_loss/ReduceSum", []*onnx.Value{prod, axes}, []string{"ntk_loss/sum"}, onnx.IntAttr("keepdims", 1)).Outputs[0]
	} else {
		sum = g.AddNode("ReduceSum", "", "ntk_loss/ReduceSum", []*onnx.Value{prod}, []string{"ntk_loss/sum"}, onnx.IntsAttr("axes", 1), onnx.IntAttr("keepdims", 1)).Outputs[0]
	}
	loss := g.AddNode("Neg", "", "ntk_loss/Neg", []*onnx.Value{sum}, []string{"ntk_loss"}).Outputs[0]
	g.Outputs = []*onnx.Value{loss}
	if err := exec.InferShapes(lm); err != nil {
		return nil, fmt.Errorf("ntk: cross-entropy: %w", err)
	}
	p.output = loss.Name
	p.extra = map[string]*tensor.Dense{tv.Name: t}
	return lm, nil
}
