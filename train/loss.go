package train

import (
	"fmt"
	"math"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// LossKind names a loss function.
type LossKind int

// The losses. Each is appended to the graph as ordinary ONNX nodes
// (LogSoftmax, Mul, Sub, ReduceSum), so exec.Gradient derives its
// gradient from the op table's rules like any other node's.
const (
	// CrossEntropy is the mean over the batch of −Σ_k q_k·log softmax(z)_k
	// with q the one-hot label, or with label smoothing ε the distribution
	// (1−ε)·onehot + ε/K: torch.nn.CrossEntropyLoss(label_smoothing=ε).
	CrossEntropy LossKind = iota
	// Distill is T²·KL(softmax(t/T) ‖ softmax(z/T)) averaged over the
	// batch, t the teacher's logits (Hinton et al., 2015): PyTorch's
	// KLDivLoss(reduction="batchmean") of log_softmax(z/T) against
	// softmax(t/T), times T².
	Distill
	// MSE is the mean over all elements of (a − target)²: feature
	// matching against a teacher's hidden value, torch.nn.MSELoss().
	MSE
)

// String returns the loss's command-line name.
func (k LossKind) String() string {
	switch k {
	case CrossEntropy:
		return "ce"
	case Distill:
		return "kd"
	case MSE:
		return "mse"
	}
	return fmt.Sprintf("LossKind(%d)", int(k))
}

// ParseLossKind reads a loss's command-line name: ce, kd or mse.
func ParseLossKind(s string) (LossKind, error) {
	for _, k := range []LossKind{CrossEntropy, Distill, MSE} {
		if s == k.String() {
			return k, nil
		}
	}
	return 0, fmt.Errorf("unknown loss %q: want ce, kd or mse", s)
}

// Loss is one term of the training objective, attached to a value of the
// model. The objective is the sum of its terms, each times its weight.
type Loss struct {
	Kind LossKind
	// Output names the model value the loss reads (a graph output or a
	// hidden value, as Graph.Resolve accepts); empty means the first graph
	// output. CrossEntropy and Distill need (N, K) logits.
	Output string
	// Weight multiplies the term; 0 means 1.
	Weight float64
	// LabelSmoothing is CrossEntropy's ε in [0, 1).
	LabelSmoothing float64
	// Temperature is Distill's T; 0 means 1.
	Temperature float64
	// Target gives Distill the teacher's logits and MSE the target
	// activations for each batch. CrossEntropy reads the dataset's labels
	// and ignores it.
	Target Target
}

func (l Loss) weight() float64 {
	if l.Weight == 0 {
		return 1
	}
	return l.Weight
}

func (l Loss) temperature() float64 {
	if l.Temperature == 0 {
		return 1
	}
	return l.Temperature
}

func (l Loss) check() error {
	if math.IsNaN(l.Weight) || math.IsInf(l.Weight, 0) {
		return fmt.Errorf("loss %s: weight %v is not a number", l.Kind, l.Weight)
	}
	switch l.Kind {
	case CrossEntropy:
		if l.LabelSmoothing < 0 || l.LabelSmoothing >= 1 || math.IsNaN(l.LabelSmoothing) {
			return fmt.Errorf("loss ce: label smoothing %v outside [0, 1)", l.LabelSmoothing)
		}
	case Distill:
		if t := l.temperature(); !(t > 0) || math.IsInf(t, 0) {
			return fmt.Errorf("loss kd: temperature %v must be positive", l.Temperature)
		}
		if l.Target == nil {
			return fmt.Errorf("loss kd: no teacher logits (a teacher model or an array of its logits)")
		}
	case MSE:
		if l.Target == nil {
			return fmt.Errorf("loss mse: no target activations (a teacher's value or an array)")
		}
	default:
		return fmt.Errorf("unknown loss kind %d", int(l.Kind))
	}
	return nil
}

// lossTerm is one Loss as built into the training graph: the inputs a
// step feeds it and how to compute them from a batch.
type lossTerm struct {
	Loss
	value   *onnx.Value // the model value it reads
	target  string      // input: CE/KD the scaled target distribution, MSE the target
	scale   string      // input: scalar factor (MSE) or constant offset (KD)
	classes int         // CE/KD: K
}

// appendLoss adds l's nodes to g, reading v, and returns the scalar value
// holding the term (weight included).
func appendLoss(g *onnx.Graph, l Loss, v *onnx.Value, i int) (*lossTerm, *onnx.Value, error) {
	t := &lossTerm{Loss: l, value: v}
	prefix := fmt.Sprintf("train/loss%d_%s", i, l.Kind)
	scalar := onnx.Type{DType: tensor.Float32, HasShape: true}
	input := func(name string, typ onnx.Type) (*onnx.Value, error) {
		return g.AddInput(g.UniqueName(prefix+"/"+name), typ)
	}
	node := func(op string, in []*onnx.Value, attrs ...*onnx.Attr) *onnx.Value {
		return g.AddNode(op, "", prefix+"/"+op, in, []string{g.UniqueName(prefix + "/" + op + "_output_0")}, attrs...).Outputs[0]
	}
	if v.Type.DType != tensor.Float32 {
		return nil, nil, fmt.Errorf("loss %s reads %q, which is %s; losses read float32 values", l.Kind, v.Name, v.Type)
	}
	switch l.Kind {
	case CrossEntropy, Distill:
		if v.Type.HasShape && v.Type.Rank() != 2 {
			return nil, nil, fmt.Errorf("loss %s reads %q of shape %s; it needs (batch, classes) logits", l.Kind, v.Name, v.Type.ShapeString())
		}
		if !v.Type.HasShape || !v.Type.Dims[1].Known() {
			return nil, nil, fmt.Errorf("loss %s reads %q, whose class count is not known", l.Kind, v.Name)
		}
		t.classes = int(v.Type.Dims[1].Value)
		// Σ over batch and classes of q'·log_softmax(z/T), where the step
		// folds −weight·T²/N (or −weight/N) into q'.
		q, err := input("target", v.Type)
		if err != nil {
			return nil, nil, err
		}
		t.target = q.Name
		z := v
		if l.Kind == Distill && l.temperature() != 1 {
			temp := g.AddConst(prefix+"/temperature", tensor.Scalar(float32(l.temperature())))
			z = node("Div", []*onnx.Value{z, temp})
		}
		ls := node("LogSoftmax", []*onnx.Value{z}, onnx.IntAttr("axis", 1))
		sum := node("ReduceSum", []*onnx.Value{node("Mul", []*onnx.Value{ls, q})}, onnx.IntAttr("keepdims", 0))
		if l.Kind == CrossEntropy {
			return t, sum, nil
		}
		// KL adds the teacher's own Σ p·log p, a constant the step
		// computes and feeds, so the reported value is the divergence.
		c, err := input("entropy", scalar)
		if err != nil {
			return nil, nil, err
		}
		t.scale = c.Name
		return t, node("Add", []*onnx.Value{sum, c}), nil
	case MSE:
		target, err := input("target", v.Type)
		if err != nil {
			return nil, nil, err
		}
		t.target = target.Name
		d := node("Sub", []*onnx.Value{v, target})
		sum := node("ReduceSum", []*onnx.Value{node("Mul", []*onnx.Value{d, d})}, onnx.IntAttr("keepdims", 0))
		s, err := input("scale", scalar)
		if err != nil {
			return nil, nil, err
		}
		t.scale = s.Name
		return t, node("Mul", []*onnx.Value{sum, s}), nil
	}
	return nil, nil, fmt.Errorf("unknown loss kind %d", int(l.Kind))
}

// feed computes the inputs of term t for a batch of n real samples padded
// to rows (a fixed-batch model): labels for CrossEntropy, the target for
// the others. Padding rows get zero weight.
func (t *lossTerm) feed(in map[string]*tensor.Dense, n, rows int, labels []int64, target *tensor.Dense) error {
	w := t.weight()
	switch t.Kind {
	case CrossEntropy:
		if labels == nil {
			return fmt.Errorf("loss ce: the dataset has no labels")
		}
		k := t.classes
		q := tensor.New(tensor.Float32, rows, k)
		eps := t.LabelSmoothing
		scale := -w / float64(n)
		for i := 0; i < n; i++ {
			y := labels[i]
			if y < 0 || int(y) >= k {
				return fmt.Errorf("loss ce: label %d outside the %d classes of %q", y, k, t.value.Name)
			}
			row := q.F32[i*k : (i+1)*k]
			for j := range row {
				row[j] = float32(scale * eps / float64(k))
			}
			row[y] = float32(scale * (1 - eps + eps/float64(k)))
		}
		in[t.target] = q
	case Distill:
		k := t.classes
		if target == nil || target.Rank() != 2 || target.Shape[0] != n || target.Shape[1] != k {
			return fmt.Errorf("loss kd: teacher logits %v do not match %d samples of %d classes", shapeOf(target), n, k)
		}
		temp := t.temperature()
		q := tensor.New(tensor.Float32, rows, k)
		scale := -w * temp * temp / float64(n)
		var entropy float64 // Σ p·log p over the batch
		p := make([]float64, k)
		for i := 0; i < n; i++ {
			softmax(p, target.F32[i*k:(i+1)*k], temp)
			for j, pj := range p {
				q.F32[i*k+j] = float32(scale * pj)
				if pj > 0 {
					entropy += pj * math.Log(pj)
				}
			}
		}
		in[t.target] = q
		in[t.scale] = tensor.Scalar(float32(w * temp * temp * entropy / float64(n)))
	case MSE:
		if target == nil || target.DType != tensor.Float32 || target.Rank() == 0 || target.Shape[0] != n {
			return fmt.Errorf("loss mse: target %v does not hold the batch's %d samples", shapeOf(target), n)
		}
		if rows != n {
			return fmt.Errorf("loss mse: a fixed-batch model cannot take a partial batch of %d (its batch is %d)", n, rows)
		}
		in[t.target] = target
		in[t.scale] = tensor.Scalar(float32(w / float64(target.Len())))
	}
	return nil
}

// softmax writes softmax(z/temp) to p in float64.
func softmax(p []float64, z []float32, temp float64) {
	hi := math.Inf(-1)
	for _, v := range z {
		hi = max(hi, float64(v)/temp)
	}
	var s float64
	for j, v := range z {
		p[j] = math.Exp(float64(v)/temp - hi)
		s += p[j]
	}
	for j := range p {
		p[j] /= s
	}
}

func shapeOf(d *tensor.Dense) string {
	if d == nil {
		return "(none)"
	}
	return fmt.Sprintf("%s%v", d.DType, d.Shape)
}
