package nern

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"

	"github.com/graft-ml/graft/exec"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Predictor is NeRN's MLP: Linear layers in → h → … → h → 9 with ReLU
// between them (SEEDS §4: num_blocks 5 gives 240 → h → h → h → h → 9).
// Weights[i] is [out, in] and Biases[i] [out], as nn.Linear stores them;
// as ONNX, layer i is Gemm(x, W, B, transB=1).
type Predictor struct {
	Weights, Biases []*tensor.Dense
}

// NewPredictor returns a predictor with inputs inputs, hidden width
// hidden, layers Linear layers (at least 2) and KernelSize² outputs,
// initialised as nn.Linear's default (kaiming_uniform with a = √5: weight
// and bias uniform in ±1/√fan_in), then fmod(p, 2) on the matrices as
// NeRN does (a no-op here, since |p| <= 1/√fan_in < 2; kept to say so).
// The draws come from a PCG seeded with seed, weights of layer 0 first,
// then its bias, then layer 1, each row-major.
func NewPredictor(inputs, hidden, layers int, seed uint64) (*Predictor, error) {
	if inputs < 1 || hidden < 1 || layers < 2 {
		return nil, fmt.Errorf("nern: predictor with %d inputs, width %d and %d layers; want at least 1, 1 and 2", inputs, hidden, layers)
	}
	rng := rand.New(rand.NewPCG(seed, 0x6e65726e)) // "nern"
	p := &Predictor{}
	in := inputs
	for i := 0; i < layers; i++ {
		out := hidden
		if i == layers-1 {
			out = KernelSize * KernelSize
		}
		bound := 1 / math.Sqrt(float64(in))
		w, b := tensor.New(tensor.Float32, out, in), tensor.New(tensor.Float32, out)
		for j := range w.F32 {
			w.F32[j] = float32(math.Mod((2*rng.Float64()-1)*bound, 2))
		}
		for j := range b.F32 {
			b.F32[j] = float32((2*rng.Float64() - 1) * bound)
		}
		p.Weights, p.Biases = append(p.Weights, w), append(p.Biases, b)
		in = out
	}
	return p, nil
}

// Inputs returns the predictor's input width.
func (p *Predictor) Inputs() int { return p.Weights[0].Shape[1] }

// Hidden returns the predictor's hidden width.
func (p *Predictor) Hidden() int { return p.Weights[0].Shape[0] }

// Size returns the number of the predictor's parameters.
func (p *Predictor) Size() int {
	n := 0
	for i := range p.Weights {
		n += p.Weights[i].Len() + p.Biases[i].Len()
	}
	return n
}

// paramNames are the initializer names of the predictor's weights and
// biases in the graphs this package builds, weight then bias per layer.
func (p *Predictor) paramNames() []string {
	var out []string
	for i := range p.Weights {
		out = append(out, weightName(i), biasName(i))
	}
	return out
}

func weightName(i int) string { return "nern.fc" + strconv.Itoa(i) + ".weight" }
func biasName(i int) string   { return "nern.fc" + strconv.Itoa(i) + ".bias" }

// tensors returns the predictor's tensors keyed by paramNames.
func (p *Predictor) tensors() map[string]*tensor.Dense {
	out := map[string]*tensor.Dense{}
	for i := range p.Weights {
		out[weightName(i)], out[biasName(i)] = p.Weights[i], p.Biases[i]
	}
	return out
}

// Clone returns a deep copy of p.
func (p *Predictor) Clone() *Predictor {
	c := &Predictor{}
	for i := range p.Weights {
		c.Weights, c.Biases = append(c.Weights, p.Weights[i].Clone()), append(c.Biases, p.Biases[i].Clone())
	}
	return c
}

// emit adds the predictor's layers to b's graph, reading x ([N, inputs])
// and returning the predicted kernels [N, 9].
func (p *Predictor) emit(b *builder, x *onnx.Value) *onnx.Value {
	for i := range p.Weights {
		w := b.g.AddConst(weightName(i), p.Weights[i].Clone())
		bias := b.g.AddConst(biasName(i), p.Biases[i].Clone())
		x = b.op("Gemm", []*onnx.Value{x, w, bias}, onnx.IntAttr("transB", 1))
		if i < len(p.Weights)-1 {
			x = b.op("Relu", []*onnx.Value{x})
		}
	}
	return x
}

// Predictor model metadata keys: what Rebuild needs besides the weights.
const (
	metaLevels = "nern.levels"
	metaBase   = "nern.base"
	metaPerm   = "nern.perm"
	metaModel  = "nern.model_sha256"
)

// PredictorInput and PredictorOutput name the exported predictor's input
// (embeddings, [N, 6·levels]) and output (kernels, [N, 9]).
const (
	PredictorInput  = "embedding"
	PredictorOutput = "kernels"
)

// Model returns the predictor as an ONNX model (opset 13) from embeddings
// to kernels, with the embedding settings, the permutation kind and the
// represented model's SHA-256 as metadata, which Rebuild reads.
func (p *Predictor) Model(levels int, base float64, perm, modelHash string) (*onnx.Model, error) {
	g := onnx.NewGraph("nern_predictor")
	x, err := g.AddInput(PredictorInput, onnx.Type{DType: tensor.Float32, HasShape: true,
		Dims: []onnx.Dim{{Param: "kernels"}, {Value: int64(p.Inputs())}}})
	if err != nil {
		return nil, err
	}
	b := &builder{g: g, opset: 13}
	y := p.emit(b, x)
	if err := g.Rename(y, PredictorOutput); err != nil {
		return nil, err
	}
	y.Type = onnx.Type{DType: tensor.Float32, HasShape: true, Dims: []onnx.Dim{{Param: "kernels"}, {Value: KernelSize * KernelSize}}}
	g.Outputs = []*onnx.Value{y}
	m := onnx.NewModel(g, 13)
	m.Metadata = []onnx.KV{
		{Key: metaLevels, Value: strconv.Itoa(levels)},
		{Key: metaBase, Value: strconv.FormatFloat(base, 'g', -1, 64)},
		{Key: metaPerm, Value: perm},
		{Key: metaModel, Value: modelHash},
	}
	return m, nil
}

// PredictorFromModel reads a predictor written by Predictor.Model, with
// its embedding levels and base and its permutation kind.
func PredictorFromModel(m *onnx.Model) (p *Predictor, levels int, base float64, perm string, err error) {
	meta := map[string]string{}
	for _, kv := range m.Metadata {
		meta[kv.Key] = kv.Value
	}
	if levels, err = strconv.Atoi(meta[metaLevels]); err != nil {
		return nil, 0, 0, "", fmt.Errorf("nern: predictor metadata %q: %q is not an integer (not a graft nern predictor?)", metaLevels, meta[metaLevels])
	}
	if base, err = strconv.ParseFloat(meta[metaBase], 64); err != nil {
		return nil, 0, 0, "", fmt.Errorf("nern: predictor metadata %q: %q is not a number", metaBase, meta[metaBase])
	}
	perm = meta[metaPerm]
	p = &Predictor{}
	for i := 0; ; i++ {
		w, b := m.Graph.Value(weightName(i)), m.Graph.Value(biasName(i))
		if w == nil || b == nil || w.Const == nil || b.Const == nil {
			break
		}
		wd, err := w.Const.Dense()
		if err != nil {
			return nil, 0, 0, "", err
		}
		bd, err := b.Const.Dense()
		if err != nil {
			return nil, 0, 0, "", err
		}
		p.Weights, p.Biases = append(p.Weights, wd), append(p.Biases, bd)
	}
	if len(p.Weights) < 2 || p.Inputs() != EmbedWidth(levels) {
		return nil, 0, 0, "", fmt.Errorf("nern: predictor has %d layers with %d inputs; want at least 2 layers of nern.fc<i>.weight/bias and %d inputs", len(p.Weights), inputsOf(p), EmbedWidth(levels))
	}
	return p, levels, base, perm, nil
}

func inputsOf(p *Predictor) int {
	if len(p.Weights) == 0 {
		return 0
	}
	return p.Inputs()
}

// builder adds nodes with unique "nern/" names to a graph.
type builder struct {
	g     *onnx.Graph
	opset int64
}

func (b *builder) op(op string, in []*onnx.Value, attrs ...*onnx.Attr) *onnx.Value {
	n := b.g.AddNode(op, "", "nern/"+op, in, []string{"nern/" + op + "_output"}, attrs...)
	return n.Outputs[0]
}

func (b *builder) ints(name string, v ...int64) *onnx.Value {
	return b.g.AddConst("nern/"+name, tensor.FromI64([]int{len(v)}, v))
}

func (b *builder) scalar(name string, v float32) *onnx.Value {
	return b.g.AddConst("nern/"+name, tensor.Scalar(v))
}

// reduce emits a reduction over axes (nil: all), in the form the graph's
// opset wants: ReduceSum takes axes as an input from opset 13, the other
// reductions from opset 18.
func (b *builder) reduce(op string, x *onnx.Value, axes []int64, keep bool) *onnx.Value {
	k := int64(0)
	if keep {
		k = 1
	}
	if axes == nil {
		return b.op(op, []*onnx.Value{x}, onnx.IntAttr("keepdims", k))
	}
	if b.opset >= 18 || op == "ReduceSum" && b.opset >= 13 {
		return b.op(op, []*onnx.Value{x, b.ints("axes", axes...)}, onnx.IntAttr("keepdims", k))
	}
	return b.op(op, []*onnx.Value{x}, onnx.IntsAttr("axes", axes...), onnx.IntAttr("keepdims", k))
}

// batchMean emits the mean of x ([B], B possibly symbolic) as
// ReduceSum(x) / Cast(Shape(x)[0]): exec's ReduceMean gradient needs a
// static size on the reduced axis, and the batch is symbolic.
func (b *builder) batchMean(x *onnx.Value) *onnx.Value {
	n := b.op("Gather", []*onnx.Value{b.op("Shape", []*onnx.Value{x}), b.g.AddConst("nern/zero", tensor.FromI64(nil, []int64{0}))}, onnx.IntAttr("axis", 0))
	nf := b.op("Cast", []*onnx.Value{n}, onnx.IntAttr("to", int64(tensor.Float32)))
	return b.op("Div", []*onnx.Value{b.reduce("ReduceSum", x, nil, false), nf})
}

// Rebuild runs p, exported as a model with the given encoding (levels,
// base), over every kernel position of layers (permuted by perms) and
// returns orig with the predicted kernels in place of its own: the
// network a trained predictor represents, as `graft nern rebuild` writes
// it.
func (p *Predictor) Rebuild(orig *onnx.Model, layers []*Layer, perms [][]int, levels int, base float64) (*onnx.Model, error) {
	pm, err := p.Model(levels, base, "", "")
	if err != nil {
		return nil, err
	}
	prog, err := exec.Compile(pm)
	if err != nil {
		return nil, err
	}
	out, err := prog.Run(map[string]*tensor.Dense{PredictorInput: Embed(Coords(layers), levels, base)}, exec.RunOptions{})
	if err != nil {
		return nil, err
	}
	w, err := Reassemble(layers, perms, out[PredictorOutput])
	if err != nil {
		return nil, err
	}
	return Rebuild(orig, w)
}
