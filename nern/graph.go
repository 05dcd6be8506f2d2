package nern

import (
	"fmt"
	"strconv"

	"github.com/graft-ml/graft/exec"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Names of the inputs and outputs of the training graphs.
const (
	inPos    = "nern_pos"         // int64 [S]: sampled kernel positions
	inTarget = "nern_target"      // float32 [S, 9]: their original kernels
	inMask   = "nern_mask"        // float32 [S, 9]: which of the 9 values count
	inRecW   = "nern_rec_weight"  // float32 [positions, 9], kernel order: how often each value is sampled
	inLogits = "nern_orig_logits" // float32 [B, classes]: the original's logits
	inFM     = "nern_orig_fm"     // + i: the original's block output i
	outPred  = "nern_pred"        // predicted kernels of the positions fed
	outRec   = "nern_l_rec"
	outFM    = "nern_l_fm"
	outKD    = "nern_l_kd"
	outLoss  = "nern_loss"
)

// Loss constants from NeRN (SEEDS §4): the feature maps' normaliser and
// the softmax offset inside the KL divergence's logarithm.
const (
	fmEps = 1e-3
	kdEps = 1e-4
)

func copyModel(m *onnx.Model) (*onnx.Model, error) {
	b, err := m.Encode()
	if err != nil {
		return nil, fmt.Errorf("nern: copy model: %w", err)
	}
	c, err := onnx.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("nern: copy model: %w", err)
	}
	return c, nil
}

func sampleInputs(g *onnx.Graph) (pos, target, mask *onnx.Value, err error) {
	s := onnx.Dim{Param: "nern_samples"}
	k := onnx.Dim{Value: KernelSize * KernelSize}
	if pos, err = g.AddInput(inPos, onnx.Type{DType: tensor.Int64, HasShape: true, Dims: []onnx.Dim{s}}); err != nil {
		return
	}
	if target, err = g.AddInput(inTarget, onnx.Type{DType: tensor.Float32, HasShape: true, Dims: []onnx.Dim{s, k}}); err != nil {
		return
	}
	mask, err = g.AddInput(inMask, onnx.Type{DType: tensor.Float32, HasShape: true, Dims: []onnx.Dim{s, k}})
	return
}

// recLoss emits L_rec = √(Σ mask·(pred − target)² / Σ mask).
func recLoss(b *builder, pred, target, mask *onnx.Value) *onnx.Value {
	d := b.op("Sub", []*onnx.Value{pred, target})
	se := b.reduce("ReduceSum", b.op("Mul", []*onnx.Value{b.op("Mul", []*onnx.Value{d, d}), mask}), nil, false)
	n := b.reduce("ReduceSum", mask, nil, false)
	return b.op("Sqrt", []*onnx.Value{b.op("Div", []*onnx.Value{se, n})})
}

// recModel is the reconstruction-only objective: the predictor applied to
// the embeddings of the sampled positions, and L_rec. Its outputs are
// outRec and outPred.
func recModel(p *Predictor, emb *tensor.Dense) (*onnx.Model, error) {
	g := onnx.NewGraph("nern_rec")
	b := &builder{g: g, opset: 13}
	pos, target, mask, err := sampleInputs(g)
	if err != nil {
		return nil, err
	}
	e := g.AddConst("nern/embedding", emb)
	pred := p.emit(b, b.op("Gather", []*onnx.Value{e, pos}, onnx.IntAttr("axis", 0)))
	rec := recLoss(b, pred, target, mask)
	if err := g.Rename(rec, outRec); err != nil {
		return nil, err
	}
	if err := g.Rename(pred, outPred); err != nil {
		return nil, err
	}
	g.Outputs = []*onnx.Value{rec, pred}
	return onnx.NewModel(g, 13), nil
}

// kernelRows returns, for each position p (in position order), the row
// of the kernel it predicts in kernel order: the represented layers'
// kernels in their original order, layer after layer (row l.Offset + k
// for kernel k of layer l).
func kernelRows(layers []*Layer, perms [][]int) []int {
	rows := make([]int, countKernels(layers))
	for _, l := range represented(layers) {
		for i, k := range perms[l.Index] {
			rows[l.Offset+i] = l.Offset + k
		}
	}
	return rows
}

// fullModel is the whole objective: the predictor over every position's
// embedding, the original network with each represented Conv weight
// replaced by its predicted kernels, and
//
//	L = L_rec + λ_fm·L_fm + λ_kd·L_kd
//	L_fm = Σ_blocks mean_b ‖F/(‖F‖+1e-3) − F̂/(‖F̂‖+1e-3)‖²   (‖·‖ per sample)
//	L_kd = mean_b Σ_c p·(log p − log(q + 1e-4))
//
// with p = softmax of the original's logits (fed as inputs, with its block
// outputs) and q that of the rebuilt network. L_kd is PyTorch's
// F.kl_div(log(softmax(ẑ) + 1e-4), softmax(z), reduction="batchmean"); log p
// is LogSoftmax of the original's logits. The first output of orig is the
// logits. Outputs: the logits, outLoss, outRec, outFM, outKD.
//
// The permutation is applied to the constant embeddings once, here,
// rather than to the predictions at every step: the predictor runs over
// the embeddings in kernel order (row l.Offset + k embeds position
// perms[l][k]'s inverse), so each layer's weight is a contiguous block of
// the predictions (one Split, whose gradient is a Concat), and L_rec is
// the dense weighted form √(Σ w·(Ŵ − W)² / Σ w) with w (input inRecW, in
// kernel order) the number of times each kernel was sampled times its
// mask: the same value as over the gathered samples, without a Gather
// whose gradient scatters into a zero tensor of every prediction.
func fullModel(orig *onnx.Model, layers []*Layer, perms [][]int, p *Predictor, emb *tensor.Dense, blocks []string, lamFM, lamKD float64) (*onnx.Model, error) {
	m, err := copyModel(orig)
	if err != nil {
		return nil, err
	}
	if err := exec.InferShapes(m); err != nil {
		return nil, fmt.Errorf("nern: %w", err)
	}
	g := m.Graph
	opset := m.Opset("")
	if opset < 13 {
		return nil, fmt.Errorf("nern: model imports opset %d; the training graph needs 13 or later (Slice, Split, Softmax)", opset)
	}
	if len(g.Outputs) == 0 {
		return nil, fmt.Errorf("nern: model has no outputs")
	}
	logits := g.Outputs[0]
	b := &builder{g: g, opset: opset}

	n, width := emb.Shape[0], emb.Shape[1]
	rows := kernelRows(layers, perms)
	embK := tensor.New(tensor.Float32, n, width)
	for p, row := range rows {
		copy(embK.F32[row*width:(row+1)*width], emb.F32[p*width:(p+1)*width])
	}
	ident := make([][]int, len(perms))
	for _, l := range represented(layers) {
		ident[l.Index] = make([]int, l.Kernels())
		for i := range ident[l.Index] {
			ident[l.Index][i] = i
		}
	}
	targetK, _ := Targets(layers, ident)
	s := onnx.Dim{Param: "nern_positions"}
	recW, err := g.AddInput(inRecW, onnx.Type{DType: tensor.Float32, HasShape: true, Dims: []onnx.Dim{s, {Value: KernelSize * KernelSize}}})
	if err != nil {
		return nil, err
	}

	pred := p.emit(b, g.AddConst("nern/embedding", embK))
	if err := g.Rename(pred, outPred); err != nil {
		return nil, err
	}
	if err := substitute(b, layers, pred); err != nil {
		return nil, err
	}
	d := b.op("Sub", []*onnx.Value{pred, g.AddConst("nern/target", targetK)})
	se := b.reduce("ReduceSum", b.op("Mul", []*onnx.Value{b.op("Mul", []*onnx.Value{d, d}), recW}), nil, false)
	rec := b.op("Sqrt", []*onnx.Value{b.op("Div", []*onnx.Value{se, b.reduce("ReduceSum", recW, nil, false)})})

	var fm *onnx.Value
	for i, name := range blocks {
		v, err := g.Resolve(name)
		if err != nil {
			return nil, fmt.Errorf("nern: block output: %w", err)
		}
		r := v.Type.Rank()
		if r < 2 {
			return nil, fmt.Errorf("nern: block output %q (%s) has rank %d; want a batch of feature maps", name, v.Name, r)
		}
		in, err := g.AddInput(inFM+strconv.Itoa(i), v.Type)
		if err != nil {
			return nil, err
		}
		var axes []int64
		for a := 1; a < r; a++ {
			axes = append(axes, int64(a))
		}
		norm := func(x *onnx.Value) *onnx.Value {
			n := b.op("Add", []*onnx.Value{b.reduce("ReduceL2", x, axes, true), b.scalar("fm_eps", fmEps)})
			return b.op("Div", []*onnx.Value{x, n})
		}
		d := b.op("Sub", []*onnx.Value{norm(v), norm(in)})
		t := b.batchMean(b.reduce("ReduceSumSquare", d, axes, false))
		if fm == nil {
			fm = t
		} else {
			fm = b.op("Add", []*onnx.Value{fm, t})
		}
	}
	if fm == nil {
		fm = b.scalar("no_blocks", 0)
	}

	zin, err := g.AddInput(inLogits, logits.Type)
	if err != nil {
		return nil, err
	}
	pr := b.op("Softmax", []*onnx.Value{zin}, onnx.IntAttr("axis", -1))
	logP := b.op("LogSoftmax", []*onnx.Value{zin}, onnx.IntAttr("axis", -1))
	q := b.op("Softmax", []*onnx.Value{logits}, onnx.IntAttr("axis", -1))
	logQ := b.op("Log", []*onnx.Value{b.op("Add", []*onnx.Value{q, b.scalar("kd_eps", kdEps)})})
	kl := b.op("Mul", []*onnx.Value{pr, b.op("Sub", []*onnx.Value{logP, logQ})})
	kd := b.batchMean(b.reduce("ReduceSum", kl, []int64{-1}, false))

	loss := b.op("Add", []*onnx.Value{rec, b.op("Add", []*onnx.Value{
		b.op("Mul", []*onnx.Value{fm, b.scalar("lambda_fm", float32(lamFM))}),
		b.op("Mul", []*onnx.Value{kd, b.scalar("lambda_kd", float32(lamKD))}),
	})})
	for v, name := range map[*onnx.Value]string{rec: outRec, fm: outFM, kd: outKD, loss: outLoss} {
		if err := g.Rename(v, name); err != nil {
			return nil, err
		}
	}
	g.Outputs = []*onnx.Value{logits, loss, rec, fm, kd}
	g.Cleanup()
	return m, nil
}

// substitute makes every Conv that reads a represented layer's weight
// read its prediction instead: pred ([positions, 9], kernel order) split
// into the layers' blocks of rows, reshaped to [F, C, 3, 3] or, for 1×1
// layers, their centres to [F, C, 1, 1].
func substitute(b *builder, layers []*Layer, pred *onnx.Value) error {
	rep := represented(layers)
	sizes := make([]int64, len(rep))
	names := make([]string, len(rep))
	for i, l := range rep {
		sizes[i] = int64(l.Kernels())
		names[i] = "nern/split_" + strconv.Itoa(i)
	}
	var parts []*onnx.Value
	if len(rep) == 1 {
		parts = []*onnx.Value{pred}
	} else {
		parts = b.g.AddNode("Split", "", "nern/Split", []*onnx.Value{pred, b.ints("split", sizes...)}, names, onnx.IntAttr("axis", 0)).Outputs
	}
	for i, l := range rep {
		w := b.g.Value(l.Name)
		if w == nil {
			return fmt.Errorf("nern: conv weight %q missing from the model", l.Name)
		}
		rows := parts[i]
		if l.Pointwise() {
			rows = b.op("Slice", []*onnx.Value{rows, b.ints("starts", centre), b.ints("ends", centre+1), b.ints("axes", 1)})
		}
		shape := make([]int64, len(l.Shape))
		for i, d := range l.Shape {
			shape[i] = int64(d)
		}
		nw := b.op("Reshape", []*onnx.Value{rows, b.ints("shape", shape...)})
		for _, u := range append([]onnx.Use(nil), w.Uses()...) {
			u.Node.SetInput(u.Index, nw)
		}
	}
	return nil
}

// Reassemble returns the Conv weights that pred ([positions, 9], all
// represented positions in order) predicts, keyed by initializer name.
func Reassemble(layers []*Layer, perms [][]int, pred *tensor.Dense) (map[string]*tensor.Dense, error) {
	n := countKernels(layers)
	if pred.DType != tensor.Float32 || pred.Rank() != 2 || pred.Shape[0] != n || pred.Shape[1] != KernelSize*KernelSize {
		return nil, fmt.Errorf("nern: predicted kernels are %s%v; want float32 [%d 9]", pred.DType, pred.Shape, n)
	}
	out := map[string]*tensor.Dense{}
	for _, l := range represented(layers) {
		w := tensor.New(tensor.Float32, l.Shape...)
		for i, k := range perms[l.Index] {
			row := pred.F32[(l.Offset+i)*9 : (l.Offset+i+1)*9]
			if l.Pointwise() {
				w.F32[k] = row[centre]
			} else {
				copy(w.F32[k*9:(k+1)*9], row)
			}
		}
		out[l.Name] = w
	}
	return out, nil
}

// Rebuild returns a copy of orig with each represented Conv weight
// replaced by its predicted value (from Reassemble); every other
// initializer is the original's.
func Rebuild(orig *onnx.Model, weights map[string]*tensor.Dense) (*onnx.Model, error) {
	m, err := copyModel(orig)
	if err != nil {
		return nil, err
	}
	for name, w := range weights {
		v := m.Graph.Value(name)
		if v == nil || v.Const == nil {
			return nil, fmt.Errorf("nern: rebuild: initializer %q missing from the model", name)
		}
		v.SetConst(w)
	}
	return m, nil
}
