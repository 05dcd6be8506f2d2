package nern

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/graft-ml/graft/data"
	"github.com/graft-ml/graft/exec"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
	"github.com/graft-ml/graft/train"
)

// Options are the settings of a NeRN run. DefaultOptions gives NeRN's
// ResNet20 settings (SEEDS §4) except where a field says otherwise.
type Options struct {
	Steps       int     `yaml:"steps" json:"steps"`               // optimizer steps in all
	Batch       int     `yaml:"batch" json:"batch"`               // data samples per step (256)
	KernelBatch int     `yaml:"kernel_batch" json:"kernel_batch"` // kernels in L_rec per step (4096)
	UniformProb float64 `yaml:"uniform_prob" json:"uniform_prob"` // probability of a uniform kernel sample (0.8); else by norm

	Hidden int     `yaml:"hidden" json:"hidden"` // predictor width h (180)
	Layers int     `yaml:"layers" json:"layers"` // predictor Linear layers (5 = NeRN's num_blocks)
	Levels int     `yaml:"levels" json:"levels"` // embedding levels L (40)
	Base   float64 `yaml:"base" json:"base"`     // embedding base b (0.76)
	Perm   string  `yaml:"perm" json:"perm"`     // crossfilter, infilter or none

	LambdaFM float64 `yaml:"lambda_fm" json:"lambda_fm"` // 1e-4
	LambdaKD float64 `yaml:"lambda_kd" json:"lambda_kd"` // 1e-4
	// WarmupRecSteps trains on L_rec alone for the first steps. The
	// original's default is 10,000 (of ~68,000); the default here is 0,
	// since short runs would spend their whole budget on it.
	WarmupRecSteps int `yaml:"warmup_rec_steps" json:"warmup_rec_steps"`
	// Blocks are the values (module paths, node or value names) whose
	// feature maps L_fm compares; empty: DefaultBlocks.
	Blocks []string `yaml:"blocks" json:"blocks"`

	Optimizer   string  `yaml:"optimizer" json:"optimizer"` // ranger or adam
	LR          float64 `yaml:"lr" json:"lr"`               // 5e-3, cosine-annealed
	MinLR       float64 `yaml:"min_lr" json:"min_lr"`       // 1e-6
	Beta1       float64 `yaml:"beta1" json:"beta1"`         // 0.5
	Beta2       float64 `yaml:"beta2" json:"beta2"`         // 0.999
	Eps         float64 `yaml:"eps" json:"eps"`             // 1e-5
	WeightDecay float64 `yaml:"weight_decay" json:"weight_decay"`
	// GradCentralization turns on Ranger's gradient centralisation. Off,
	// as in NeRN's ResNet20 config (SEEDS §4; its code's default is on).
	GradCentralization bool `yaml:"grad_centralization" json:"grad_centralization"`

	EvalEvery       int    `yaml:"eval_every" json:"eval_every"`             // steps between evaluations (0: only at the end)
	KeepBest        bool   `yaml:"keep_best" json:"keep_best"`               // keep the predictor of the best evaluation
	CheckpointEvery int    `yaml:"checkpoint_every" json:"checkpoint_every"` // steps between checkpoints (0: at the end and on cancel)
	Seed            uint64 `yaml:"seed" json:"seed"`
	Threads         int    `yaml:"threads" json:"threads"` // kernel goroutines (0: all cores)
}

// DefaultOptions returns NeRN's settings for ResNet20 on CIFAR-10 with a
// 2,000-step budget (the original trains ~68,000).
func DefaultOptions() Options {
	return Options{
		Steps: 2000, Batch: 256, KernelBatch: 4096, UniformProb: 0.8,
		Hidden: 180, Layers: 5, Levels: 40, Base: 0.76, Perm: PermCrossfilter,
		LambdaFM: 1e-4, LambdaKD: 1e-4,
		Optimizer: "ranger", LR: 5e-3, MinLR: 1e-6, Beta1: 0.5, Beta2: 0.999, Eps: 1e-5, WeightDecay: 1e-3,
		EvalEvery: 500, KeepBest: true,
	}
}

func (o *Options) check() error {
	switch {
	case o.Steps < 1:
		return fmt.Errorf("nern: %d steps; want at least 1", o.Steps)
	case o.Batch < 1 || o.KernelBatch < 1:
		return fmt.Errorf("nern: batch %d and kernel batch %d; want at least 1", o.Batch, o.KernelBatch)
	case o.Hidden < 1 || o.Layers < 2 || o.Levels < 1:
		return fmt.Errorf("nern: hidden %d, layers %d, levels %d; want at least 1, 2, 1", o.Hidden, o.Layers, o.Levels)
	case o.UniformProb < 0 || o.UniformProb > 1:
		return fmt.Errorf("nern: uniform_prob %v; want it in [0, 1]", o.UniformProb)
	case o.Optimizer != "ranger" && o.Optimizer != "adam":
		return fmt.Errorf("nern: optimizer %q; want ranger or adam", o.Optimizer)
	case o.WarmupRecSteps < 0 || o.EvalEvery < 0 || o.CheckpointEvery < 0:
		return fmt.Errorf("nern: warmup_rec_steps, eval_every and checkpoint_every must be >= 0")
	}
	return nil
}

// NewOptimizer returns the optimizer o names with o's settings.
func (o *Options) NewOptimizer() (train.Optimizer, error) {
	if o.Optimizer == "adam" {
		return train.NewAdam(train.AdamOptions{Beta1: o.Beta1, Beta2: o.Beta2, Eps: o.Eps, WeightDecay: o.WeightDecay})
	}
	r := train.DefaultRanger()
	r.Beta1, r.Beta2, r.Eps, r.WeightDecay, r.GradCentralization = o.Beta1, o.Beta2, o.Eps, o.WeightDecay, o.GradCentralization
	return train.NewRanger(r)
}

// DefaultBlocks returns the values whose feature maps L_fm compares by
// default: the output of each module path with two components
// ("layer1.0", … for a torchvision or CIFAR ResNet: each residual block),
// or, when there is none, of each top-level module but the last (the
// classifier, which L_kd covers).
func DefaultBlocks(m *onnx.Model) []string {
	var two, top []string
	for _, p := range m.Graph.ModulePaths() {
		switch strings.Count(p, ".") {
		case 0:
			top = append(top, p)
		case 1:
			if _, err := strconv.Atoi(p[strings.IndexByte(p, '.')+1:]); err == nil {
				two = append(two, p)
			}
		}
	}
	order := func(paths []string) []string {
		first := map[string]int{}
		for i, n := range m.Graph.Nodes {
			mp := onnx.ModulePath(n.Name)
			for _, p := range paths {
				if _, ok := first[p]; !ok && (mp == p || strings.HasPrefix(mp, p+".")) {
					first[p] = i
				}
			}
		}
		sort.SliceStable(paths, func(a, b int) bool { return first[paths[a]] < first[paths[b]] })
		return paths
	}
	if len(two) > 0 {
		return order(two)
	}
	top = order(top)
	if len(top) > 1 {
		top = top[:len(top)-1]
	}
	return top
}

// Event reports progress: after every step, and with Eval set after each
// evaluation.
type Event struct {
	Step, Steps         int // steps done, in all
	Loss, Rec, FM, KD   float64
	LR                  float64
	RecOnly             bool // the step trained on L_rec alone (warm-up)
	Eval                *Eval
	CheckpointWritten   string
	ElapsedSinceResumed time.Duration
}

// Eval is one evaluation of the predictor.
type Eval struct {
	Step        int     `json:"step"`
	RMSE        float64 `json:"rmse"`         // over all represented weights
	RelRMSE     float64 `json:"rel_rmse"`     // RMSE / RMS of the represented weights
	Top1        float64 `json:"top1"`         // rebuilt network's top-1 on the validation data (NaN: no labels)
	Top1Orig    float64 `json:"top1_orig"`    // the original's
	Agreement   float64 `json:"agreement"`    // fraction of validation samples where both predict the same class
	ValSamples  int     `json:"val_samples"`  // validation samples evaluated
	WallSeconds float64 `json:"wall_seconds"` // since the run (or resume) started
}

// Run is a NeRN training run on one model: build it with NewRun, then
// call Train.
type Run struct {
	Opts   Options
	Orig   *onnx.Model
	Layers []*Layer
	Perms  [][]int
	Blocks []string // value names of the block outputs
	// Pred is the predictor being trained; its tensors are the ones the
	// optimizer updates.
	Pred *Predictor
	Step int // steps done

	Progress func(Event)

	data, val     data.Source
	emb           *tensor.Dense
	target, mask  *tensor.Dense // [positions, 9] in position order
	cum           []float64     // cumulative kernel norms, for magnitude sampling
	rows          []int         // kernelRows: position → row in kernel order
	weightsRMS    float64
	rec, full     *train.Objective
	origProg      *exec.Program
	opt           train.Optimizer
	sched         train.Schedule
	best          *Eval
	bestPred      *Predictor
	history       []Eval
	modelHash     string
	origTop1      float64
	origTop1Known bool
	start         time.Time // when Train started (Eval.WallSeconds)
}

// NewRun prepares a run: finds the layers, computes (or reads the cache
// of) the permutation, the embeddings and targets, and the initial
// predictor from opts.Seed. modelPath, if not empty, is where m was read
// from: the permutation cache goes beside it, keyed by its SHA-256. src
// gives the data batches (labels unused); val, if not nil, is evaluated
// (top-1 needs its labels).
func NewRun(m *onnx.Model, modelPath string, src, val data.Source, opts Options) (*Run, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	layers, err := FindLayers(m)
	if err != nil {
		return nil, err
	}
	r := &Run{Opts: opts, Orig: m, Layers: layers, data: src, val: val}
	if modelPath != "" {
		if r.modelHash, err = ModelHash(modelPath); err != nil {
			return nil, err
		}
		r.Perms, err = CachedPermute(layers, opts.Perm, modelPath, r.modelHash)
	} else {
		r.Perms, err = Permute(layers, opts.Perm)
	}
	if err != nil {
		return nil, err
	}
	blocks := opts.Blocks
	if len(blocks) == 0 {
		blocks = DefaultBlocks(m)
	}
	for _, b := range blocks {
		v, err := m.Graph.Resolve(b)
		if err != nil {
			return nil, fmt.Errorf("nern: block output: %w", err)
		}
		r.Blocks = append(r.Blocks, v.Name)
	}
	r.emb = Embed(Coords(layers), opts.Levels, opts.Base)
	r.target, r.mask = Targets(layers, r.Perms)
	var sumSq, count float64
	n := r.target.Shape[0]
	r.cum = make([]float64, n)
	for i := 0; i < n; i++ {
		var ss float64
		for j := 0; j < 9; j++ {
			v := float64(r.target.F32[i*9+j]) * float64(r.mask.F32[i*9+j])
			ss += v * v
			count += float64(r.mask.F32[i*9+j])
		}
		sumSq += ss
		r.cum[i] = math.Sqrt(ss)
		if i > 0 {
			r.cum[i] += r.cum[i-1]
		}
	}
	r.weightsRMS = math.Sqrt(sumSq / count)
	if r.Pred, err = NewPredictor(EmbedWidth(opts.Levels), opts.Hidden, opts.Layers, opts.Seed); err != nil {
		return nil, err
	}
	if r.opt, err = opts.NewOptimizer(); err != nil {
		return nil, err
	}
	if r.sched, err = train.NewCosine(opts.LR, opts.Steps, 0, opts.MinLR); err != nil {
		return nil, err
	}
	return r, nil
}

// Targets returns the original kernels in position order ([positions, 9])
// and the masks of the values that count (the centre of a 1×1 kernel).
func Targets(layers []*Layer, perms [][]int) (target, mask *tensor.Dense) {
	n := countKernels(layers)
	target, mask = tensor.New(tensor.Float32, n, 9), tensor.New(tensor.Float32, n, 9)
	for _, l := range represented(layers) {
		for i, k := range perms[l.Index] {
			p := l.Offset + i
			kernelValues(l, k, target.F32[p*9:(p+1)*9], mask.F32[p*9:(p+1)*9])
		}
	}
	return target, mask
}

// Positions returns the number of represented kernels.
func (r *Run) Positions() int { return r.target.Shape[0] }

// WeightsRMS returns the RMS of the represented weights.
func (r *Run) WeightsRMS() float64 { return r.weightsRMS }

// History returns the evaluations so far.
func (r *Run) History() []Eval { return r.history }

// SetPredictor replaces the initial predictor (before the first step),
// for example with one a reference implementation starts from.
func (r *Run) SetPredictor(p *Predictor) error {
	if r.rec != nil || r.Step != 0 {
		return fmt.Errorf("nern: the predictor can only be set before training")
	}
	if len(p.Weights) != r.Opts.Layers || p.Inputs() != EmbedWidth(r.Opts.Levels) || p.Hidden() != r.Opts.Hidden {
		return fmt.Errorf("nern: predictor has %d layers, %d inputs, width %d; the run wants %d, %d, %d",
			len(p.Weights), p.Inputs(), p.Hidden(), r.Opts.Layers, EmbedWidth(r.Opts.Levels), r.Opts.Hidden)
	}
	r.Pred = p
	return nil
}

// compile builds the objectives (the full one only if some step needs
// it) and shares the predictor's tensors with them.
func (r *Run) compile() error {
	if r.rec != nil {
		return nil
	}
	rm, err := recModel(r.Pred, r.emb)
	if err != nil {
		return err
	}
	names := r.Pred.paramNames()
	if r.rec, err = train.NewObjective(rm, outRec, names, r.Opts.Threads); err != nil {
		return err
	}
	r.share(r.rec)
	if r.Opts.WarmupRecSteps < r.Opts.Steps {
		fm, err := fullModel(r.Orig, r.Layers, r.Perms, r.Pred, r.emb, r.Blocks, r.Opts.LambdaFM, r.Opts.LambdaKD)
		if err != nil {
			return err
		}
		if r.full, err = train.NewObjective(fm, outLoss, names, r.Opts.Threads); err != nil {
			return err
		}
		r.share(r.full)
		if r.origProg, err = exec.Compile(r.Orig); err != nil {
			return err
		}
	}
	return nil
}

// share points o's parameters at the predictor's tensors.
func (r *Run) share(o *train.Objective) {
	t := r.Pred.tensors()
	for _, p := range o.Params {
		p.Value = t[p.Name]
	}
}

// StepInputs are what one step reads: the data batch's sample indices and
// the sampled kernel positions. Sample returns those of a step.
type StepInputs struct {
	Samples   []int
	Positions []int64
}

// Sample returns the inputs of step t (from 0), which depend only on the
// seed and t, so a resumed run draws what an uninterrupted one would: a
// PCG seeded (seed, t) draws the batch (distinct samples, uniformly), then
// a number u in [0, 1): if u < UniformProb, KernelBatch distinct positions
// uniformly, else KernelBatch positions with replacement, each with
// probability proportional to its kernel's L2 norm (NeRN's
// "magnitude-oriented" batches).
func (r *Run) Sample(t int) StepInputs {
	rng := rand.New(rand.NewPCG(r.Opts.Seed, uint64(t)))
	in := StepInputs{Samples: distinct(rng, r.data.Len(), r.Opts.Batch)}
	n := r.Positions()
	s := min(r.Opts.KernelBatch, n)
	if rng.Float64() < r.Opts.UniformProb || r.cum[n-1] == 0 {
		for _, p := range distinct(rng, n, s) {
			in.Positions = append(in.Positions, int64(p))
		}
		return in
	}
	total := r.cum[n-1]
	for i := 0; i < s; i++ {
		u := rng.Float64() * total
		in.Positions = append(in.Positions, int64(min(sort.SearchFloat64s(r.cum, u), n-1)))
	}
	return in
}

// distinct draws k distinct integers of [0, n) (all of them if k >= n)
// by Floyd's algorithm, in the order drawn.
func distinct(rng *rand.Rand, n, k int) []int {
	if k >= n {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out
	}
	chosen := make(map[int]bool, k)
	out := make([]int, 0, k)
	for j := n - k; j < n; j++ {
		t := rng.IntN(j + 1)
		if chosen[t] {
			t = j
		}
		chosen[t] = true
		out = append(out, t)
	}
	return out
}

// inputs returns the full objective's inputs of a step: the data batch
// and, in kernel order, how often each predicted value is sampled
// (inRecW: the count of each sampled position times its mask).
func (r *Run) inputs(in StepInputs) (x *tensor.Dense, feeds map[string]*tensor.Dense, err error) {
	sub, err := data.Subset(r.data, in.Samples)
	if err != nil {
		return nil, nil, err
	}
	if x, _, err = sub.Batch(0, len(in.Samples)); err != nil {
		return nil, nil, err
	}
	if r.rows == nil {
		r.rows = kernelRows(r.Layers, r.Perms)
	}
	w := tensor.New(tensor.Float32, r.Positions(), 9)
	for _, p := range in.Positions {
		row := r.rows[p]
		for j, m := range r.mask.F32[p*9 : (p+1)*9] {
			w.F32[row*9+j] += m
		}
	}
	return x, map[string]*tensor.Dense{inRecW: w}, nil
}

func (r *Run) sampleFeeds(pos []int64) map[string]*tensor.Dense {
	s := len(pos)
	t, m := tensor.New(tensor.Float32, s, 9), tensor.New(tensor.Float32, s, 9)
	for i, p := range pos {
		copy(t.F32[i*9:(i+1)*9], r.target.F32[p*9:(p+1)*9])
		copy(m.F32[i*9:(i+1)*9], r.mask.F32[p*9:(p+1)*9])
	}
	return map[string]*tensor.Dense{inPos: tensor.FromI64([]int{s}, slices.Clone(pos)), inTarget: t, inMask: m}
}

// Losses are the terms of one step's loss.
type Losses struct{ Loss, Rec, FM, KD float64 }

// Gradients runs forward and backward for the given inputs: the full
// objective, or L_rec alone if recOnly. It leaves the gradients in the
// objective's Params and returns the loss terms.
func (r *Run) Gradients(in StepInputs, recOnly bool) (Losses, []*train.Param, error) {
	if err := r.compile(); err != nil {
		return Losses{}, nil, err
	}
	if recOnly || r.full == nil {
		loss, _, err := r.rec.Step(r.sampleFeeds(in.Positions))
		return Losses{Loss: loss, Rec: loss}, r.rec.Params, err
	}
	x, feeds, err := r.inputs(in)
	if err != nil {
		return Losses{}, nil, err
	}
	inName := r.Orig.Graph.Inputs[0].Name
	for _, v := range r.Orig.Graph.Inputs {
		if v.Const == nil {
			inName = v.Name
			break
		}
	}
	want := append([]string{r.Orig.Graph.Outputs[0].Name}, r.Blocks...)
	orig, err := r.origProg.Run(map[string]*tensor.Dense{inName: x}, exec.RunOptions{Outputs: want})
	if err != nil {
		return Losses{}, nil, fmt.Errorf("nern: original network: %w", err)
	}
	feeds[inName] = x
	feeds[inLogits] = orig[want[0]]
	for i, b := range r.Blocks {
		feeds[inFM+strconv.Itoa(i)] = orig[b]
	}
	loss, out, err := r.full.Step(feeds, outRec, outFM, outKD)
	if err != nil {
		return Losses{}, nil, err
	}
	return Losses{Loss: loss, Rec: scalar(out[outRec]), FM: scalar(out[outFM]), KD: scalar(out[outKD])}, r.full.Params, nil
}

func scalar(d *tensor.Dense) float64 {
	if d == nil || d.Len() == 0 {
		return math.NaN()
	}
	return d.Float64s()[0]
}

// Predict returns the predicted kernels of every position, [positions, 9],
// and the reconstruction RMSE over all represented weights.
func (r *Run) Predict() (*tensor.Dense, float64, error) {
	if err := r.compile(); err != nil {
		return nil, 0, err
	}
	all := make([]int64, r.Positions())
	for i := range all {
		all[i] = int64(i)
	}
	out, err := r.rec.Run(r.sampleFeeds(all), outPred, outRec)
	if err != nil {
		return nil, 0, err
	}
	return out[outPred], scalar(out[outRec]), nil
}

// Rebuilt returns the network with the current predictor's kernels.
func (r *Run) Rebuilt() (*onnx.Model, float64, error) {
	pred, rmse, err := r.Predict()
	if err != nil {
		return nil, 0, err
	}
	w, err := Reassemble(r.Layers, r.Perms, pred)
	if err != nil {
		return nil, 0, err
	}
	m, err := Rebuild(r.Orig, w)
	return m, rmse, err
}

// Train runs the remaining steps, evaluating every EvalEvery steps and at
// the end, and writing a checkpoint to ckpt (if not empty) every
// CheckpointEvery steps, at the end, and when ctx is cancelled, in which
// case it returns ctx's error after writing it.
func (r *Run) Train(ctx context.Context, ckpt string) error {
	if err := r.compile(); err != nil {
		return err
	}
	start := time.Now()
	r.start = start
	for r.Step < r.Opts.Steps {
		if err := ctx.Err(); err != nil {
			if ckpt != "" {
				if cerr := r.SaveCheckpoint(ckpt); cerr != nil {
					return errors.Join(err, cerr)
				}
			}
			return err
		}
		t := r.Step
		recOnly := t < r.Opts.WarmupRecSteps
		losses, params, err := r.Gradients(r.Sample(t), recOnly)
		if err != nil {
			return fmt.Errorf("nern: step %d: %w", t+1, err)
		}
		if math.IsNaN(losses.Loss) || math.IsInf(losses.Loss, 0) {
			return fmt.Errorf("nern: step %d: loss is %v (L_rec %v, L_fm %v, L_kd %v)", t+1, losses.Loss, losses.Rec, losses.FM, losses.KD)
		}
		lr := r.sched.LR(t)
		if err := r.opt.Step(params, lr); err != nil {
			return fmt.Errorf("nern: step %d: %w", t+1, err)
		}
		r.Step++
		ev := Event{Step: r.Step, Steps: r.Opts.Steps, Loss: losses.Loss, Rec: losses.Rec, FM: losses.FM, KD: losses.KD,
			LR: lr, RecOnly: recOnly, ElapsedSinceResumed: time.Since(start)}
		if r.Step == r.Opts.Steps || r.Opts.EvalEvery > 0 && r.Step%r.Opts.EvalEvery == 0 {
			e, err := r.Evaluate()
			if err != nil {
				return err
			}
			ev.Eval = e
		}
		if ckpt != "" && (r.Step == r.Opts.Steps || r.Opts.CheckpointEvery > 0 && r.Step%r.Opts.CheckpointEvery == 0) {
			if err := r.SaveCheckpoint(ckpt); err != nil {
				return err
			}
			ev.CheckpointWritten = ckpt
		}
		if r.Progress != nil {
			r.Progress(ev)
		}
	}
	return nil
}

// Evaluate measures the current predictor: the reconstruction RMSE and,
// with validation data, the rebuilt network's top-1 and the original's.
// It records the evaluation and, with KeepBest, the best predictor (by
// top-1 when known, else by RMSE).
func (r *Run) Evaluate() (*Eval, error) {
	m, rmse, err := r.Rebuilt()
	if err != nil {
		return nil, err
	}
	e := &Eval{Step: r.Step, RMSE: rmse, RelRMSE: rmse / r.weightsRMS, Top1: math.NaN(), Top1Orig: math.NaN(), Agreement: math.NaN()}
	if !r.start.IsZero() {
		e.WallSeconds = time.Since(r.start).Seconds()
	}
	if r.val != nil {
		if err := r.accuracy(m, e); err != nil {
			return nil, err
		}
	}
	r.history = append(r.history, *e)
	if r.best == nil || better(e, r.best) {
		r.best = e
		r.bestPred = r.Pred.Clone()
	}
	return e, nil
}

func better(a, b *Eval) bool {
	if !math.IsNaN(a.Top1) && !math.IsNaN(b.Top1) && a.Top1 != b.Top1 {
		return a.Top1 > b.Top1
	}
	return a.RMSE < b.RMSE
}

// Best returns the best evaluation and its predictor (with KeepBest), or
// the current predictor and the last evaluation.
func (r *Run) Best() (*Predictor, *Eval) {
	if r.Opts.KeepBest && r.best != nil {
		return r.bestPred, r.best
	}
	if len(r.history) == 0 {
		return r.Pred, nil
	}
	last := r.history[len(r.history)-1]
	return r.Pred, &last
}

// Accuracy returns the top-1 of m on src (which needs labels), and the
// fraction of samples where m and ref agree (NaN if ref is nil).
func Accuracy(m, ref *onnx.Model, src data.Source, threads int) (top1, agree float64, err error) {
	p, err := exec.Compile(m)
	if err != nil {
		return 0, 0, err
	}
	var rp *exec.Program
	if ref != nil {
		if rp, err = exec.Compile(ref); err != nil {
			return 0, 0, err
		}
	}
	inName := firstInput(m)
	var correct, same, n int
	for b, err := range data.Batches(src, 250, 0, nil) {
		if err != nil {
			return 0, 0, err
		}
		if b.Labels == nil {
			return 0, 0, fmt.Errorf("nern: validation data has no labels")
		}
		out, err := p.Run(map[string]*tensor.Dense{inName: b.X}, exec.RunOptions{})
		if err != nil {
			return 0, 0, err
		}
		pred := argmax(out[m.Graph.Outputs[0].Name])
		var rpred []int
		if rp != nil {
			ro, err := rp.Run(map[string]*tensor.Dense{inName: b.X}, exec.RunOptions{})
			if err != nil {
				return 0, 0, err
			}
			rpred = argmax(ro[ref.Graph.Outputs[0].Name])
		}
		for i, c := range pred {
			if int64(c) == b.Labels[i] {
				correct++
			}
			if rpred != nil && rpred[i] == c {
				same++
			}
		}
		n += len(pred)
	}
	if n == 0 {
		return 0, 0, fmt.Errorf("nern: validation data is empty")
	}
	agree = math.NaN()
	if rp != nil {
		agree = float64(same) / float64(n)
	}
	return float64(correct) / float64(n), agree, nil
}

func (r *Run) accuracy(m *onnx.Model, e *Eval) error {
	top1, agree, err := Accuracy(m, r.Orig, r.val, r.Opts.Threads)
	if err != nil {
		return err
	}
	if !r.origTop1Known {
		if r.origTop1, _, err = Accuracy(r.Orig, nil, r.val, r.Opts.Threads); err != nil {
			return err
		}
		r.origTop1Known = true
	}
	e.Top1, e.Agreement, e.Top1Orig, e.ValSamples = top1, agree, r.origTop1, r.val.Len()
	return nil
}

func firstInput(m *onnx.Model) string {
	for _, v := range m.Graph.Inputs {
		if v.Const == nil {
			return v.Name
		}
	}
	return ""
}

func argmax(d *tensor.Dense) []int {
	rows := d.Shape[0]
	cols := d.Len() / max(rows, 1)
	out := make([]int, rows)
	for i := range out {
		row := d.F32[i*cols : (i+1)*cols]
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		out[i] = best
	}
	return out
}
