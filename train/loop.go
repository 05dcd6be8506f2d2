package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/graft-ml/graft/data"
	"github.com/graft-ml/graft/tensor"
)

// Options configure Fit.
type Options struct {
	// Epochs is how many passes over the training data the run ends after
	// (counting those a resumed run already made).
	Epochs int
	// Batch is the number of samples per step; the last step of an epoch
	// takes what is left. A model exported with a fixed batch size gets
	// its batches zero-padded to it, the padding weighing nothing.
	Batch int
	// Seed fixes the order of the samples: epoch e visits them in the
	// permutation Order(Seed, e, n), a fresh one every epoch.
	Seed uint64
	// Optimizer updates the parameters; Schedule gives its learning rate
	// at every step.
	Optimizer Optimizer
	Schedule  Schedule
	// ClipNorm, when positive, scales the gradients down so that their
	// global L2 norm is at most ClipNorm (ClipGradNorm).
	ClipNorm float64

	// Val, when not nil, is evaluated after every epoch (loss and top-1).
	Val data.Source
	// KeepBest leaves the parameters at the epoch with the best validation
	// top-1 at the end, instead of the last epoch's.
	KeepBest bool
	// Patience, when positive, stops the run after that many epochs
	// without a better validation top-1.
	Patience int

	// Checkpoint, when not empty, is the path of an ONNX model written
	// after every epoch and when the run is interrupted, with the
	// parameters' values; the optimizer state and the position in the data
	// go to Checkpoint+".state" (see StatePath).
	Checkpoint string
	// Resume, when not empty, is a checkpoint to continue from.
	Resume string

	// Progress, when not nil, is called after every step and every epoch.
	Progress func(Event)
}

// EventKind says what an Event reports.
type EventKind int

const (
	// StepDone follows every optimizer step.
	StepDone EventKind = iota
	// EpochDone follows every epoch, after validation.
	EpochDone
	// Evaluated reports, in Val, the validation score Finetune measured
	// before the first step.
	Evaluated
)

// Event reports a training run's progress.
type Event struct {
	Kind EventKind
	// Epoch counts from 1; Step is the step within the epoch (from 1),
	// Steps the epoch's step count, GlobalStep the steps since the start.
	Epoch, Step, Steps, GlobalStep, TotalSteps int
	// Loss is the step's loss (StepDone) or the epoch's mean (EpochDone);
	// Top1 the step's or epoch's training accuracy (NaN without labels).
	Loss, Top1 float64
	// LR is the learning rate of the step (of the epoch's last step).
	LR float64
	// GradNorm is the step's global gradient norm before clipping (only
	// computed when ClipNorm is set; NaN otherwise).
	GradNorm float64
	// Val is the validation result at EpochDone (Samples 0 when none).
	Val Eval
	// Elapsed is the time since the run (or its resumption) started.
	Elapsed time.Duration
}

// EpochStats summarises one epoch of a run.
type EpochStats struct {
	Epoch            int
	Loss, Top1       float64 // training means over the epoch
	ValLoss, ValTop1 float64 // NaN without validation data
	LR               float64 // the learning rate of the epoch's last step
	Seconds          float64
}

// Result is what Fit did.
type Result struct {
	// Epochs holds every completed epoch, those before a resumption too.
	Epochs []EpochStats
	// Steps counts optimizer steps, those before a resumption too.
	Steps int
	// BestEpoch is the epoch with the best validation top-1 (0 without
	// validation data); with KeepBest the parameters hold its values.
	BestEpoch int
	// Interrupted is set when the context was cancelled: the run stopped
	// between two steps and, with Options.Checkpoint, saved a checkpoint.
	Interrupted bool
	// EarlyStopped is set when Patience ran out.
	EarlyStopped bool
}

// Order returns the order in which epoch e (counting from 0) visits n
// samples under seed: a permutation from a PCG generator seeded with
// (seed, e), so that any epoch's order is known without replaying the
// epochs before it.
func Order(seed uint64, e, n int) []int {
	return rand.New(rand.NewPCG(seed, uint64(e))).Perm(n)
}

// Fit trains tm's parameters on src (which needs labels for a
// cross-entropy loss) as opt says, and returns what happened. Cancelling
// ctx stops it between steps, after writing a checkpoint when
// opt.Checkpoint is set; the result then says Interrupted and the error is
// nil.
func Fit(ctx context.Context, tm *Model, src data.Source, opt Options) (*Result, error) {
	if err := opt.check(); err != nil {
		return nil, err
	}
	n := src.Len()
	if n == 0 {
		return nil, errors.New("train: the training set has no samples")
	}
	batch := opt.Batch
	if tm.fixedBatch > 0 && batch > tm.fixedBatch {
		return nil, fmt.Errorf("train: batch %d exceeds the model's fixed batch size %d", batch, tm.fixedBatch)
	}
	steps := (n + batch - 1) / batch
	total := steps * opt.Epochs
	st := &runState{Seed: opt.Seed, Batch: batch, Samples: n, BestTop1: jsonFloat(math.Inf(-1))}
	res := &Result{}
	if opt.Resume != "" {
		if err := st.load(opt.Resume, tm, opt.Optimizer); err != nil {
			return nil, err
		}
		res.Epochs = st.History
		res.Steps = st.GlobalStep
		res.BestEpoch = st.BestEpoch
	}
	reader, err := newSampleReader(src)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	emit := func(e Event) {
		if opt.Progress != nil {
			e.Elapsed = time.Since(start)
			e.TotalSteps = total
			opt.Progress(e)
		}
	}
	interrupt := func() (*Result, error) {
		res.Interrupted = true
		if opt.Checkpoint != "" {
			if err := st.save(opt.Checkpoint, tm, opt.Optimizer); err != nil {
				return res, fmt.Errorf("train: interrupted, and the checkpoint failed: %w", err)
			}
		}
		return res, nil
	}

	for st.Epoch < opt.Epochs {
		order := Order(opt.Seed, st.Epoch, n)
		epochStart := time.Now()
		var lr float64
		for st.Step < steps {
			if ctx.Err() != nil {
				return interrupt()
			}
			lo := st.Step * batch
			idx := order[lo:min(lo+batch, n)]
			x, labels, err := reader.read(idx)
			if err != nil {
				return res, fmt.Errorf("train: epoch %d: %w", st.Epoch+1, err)
			}
			r, err := tm.Step(x, idx, labels)
			if err != nil {
				return res, fmt.Errorf("train: epoch %d step %d: %w", st.Epoch+1, st.Step+1, err)
			}
			if math.IsNaN(r.Loss) || math.IsInf(r.Loss, 0) {
				return res, fmt.Errorf("train: epoch %d step %d: the loss is %v; lower the learning rate or clip gradients (--clip)", st.Epoch+1, st.Step+1, r.Loss)
			}
			gradNorm := math.NaN()
			if opt.ClipNorm > 0 {
				gradNorm = ClipGradNorm(tm.Params, opt.ClipNorm)
			}
			lr = opt.Schedule.LR(st.GlobalStep)
			if err := opt.Optimizer.Step(tm.Params, lr); err != nil {
				return res, fmt.Errorf("train: %w", err)
			}
			st.Step++
			st.GlobalStep++
			res.Steps = st.GlobalStep
			st.LossSum += r.Loss * float64(len(idx))
			st.Correct += r.Correct
			st.Seen += len(idx)
			top1 := math.NaN()
			if labels != nil && tm.logits != "" {
				top1 = float64(r.Correct) / float64(len(idx))
			}
			emit(Event{Kind: StepDone, Epoch: st.Epoch + 1, Step: st.Step, Steps: steps, GlobalStep: st.GlobalStep, Loss: r.Loss, Top1: top1, LR: lr, GradNorm: gradNorm})
		}
		es := EpochStats{Epoch: st.Epoch + 1, Loss: st.LossSum / float64(max(st.Seen, 1)), Top1: math.NaN(), ValLoss: math.NaN(), ValTop1: math.NaN(), LR: lr, Seconds: time.Since(epochStart).Seconds()}
		if tm.logits != "" && st.Seen > 0 && reader.labelled {
			es.Top1 = float64(st.Correct) / float64(st.Seen)
		}
		var val Eval
		if opt.Val != nil {
			if val, err = tm.Evaluate(opt.Val, batch); err != nil {
				return res, fmt.Errorf("train: validation after epoch %d: %w", st.Epoch+1, err)
			}
			es.ValLoss, es.ValTop1 = val.Loss, val.Top1
			if val.Top1 > float64(st.BestTop1) {
				st.BestTop1, st.BestEpoch, st.SinceBest = jsonFloat(val.Top1), st.Epoch+1, 0
				res.BestEpoch = st.BestEpoch
				if opt.KeepBest {
					st.best = cloneValues(tm.Params)
				}
			} else {
				st.SinceBest++
			}
		}
		st.History = append(st.History, es)
		res.Epochs = st.History
		st.Epoch++
		st.Step, st.LossSum, st.Correct, st.Seen = 0, 0, 0, 0
		emit(Event{Kind: EpochDone, Epoch: es.Epoch, Step: steps, Steps: steps, GlobalStep: st.GlobalStep, Loss: es.Loss, Top1: es.Top1, LR: lr, Val: val, GradNorm: math.NaN()})
		if opt.Checkpoint != "" {
			if err := st.save(opt.Checkpoint, tm, opt.Optimizer); err != nil {
				return res, fmt.Errorf("train: checkpoint after epoch %d: %w", es.Epoch, err)
			}
		}
		if opt.Patience > 0 && st.SinceBest >= opt.Patience && st.Epoch < opt.Epochs {
			res.EarlyStopped = true
			break
		}
	}
	if opt.KeepBest && st.best != nil {
		for i, p := range tm.Params {
			copy(p.Value.F32, st.best[i].F32)
		}
	}
	return res, nil
}

func (opt *Options) check() error {
	switch {
	case opt.Epochs < 1:
		return fmt.Errorf("train: %d epochs; want at least 1", opt.Epochs)
	case opt.Batch < 1:
		return fmt.Errorf("train: batch %d; want at least 1", opt.Batch)
	case opt.Optimizer == nil:
		return errors.New("train: no optimizer")
	case opt.Schedule == nil:
		return errors.New("train: no learning-rate schedule")
	case opt.ClipNorm < 0 || math.IsNaN(opt.ClipNorm):
		return fmt.Errorf("train: gradient clipping norm %v; want a positive number or 0 for none", opt.ClipNorm)
	case (opt.KeepBest || opt.Patience > 0) && opt.Val == nil:
		return errors.New("train: keep-best and early stopping need validation data")
	}
	return nil
}

func cloneValues(ps []*Param) []*tensor.Dense {
	out := make([]*tensor.Dense, len(ps))
	for i, p := range ps {
		out[i] = p.Value.Clone()
	}
	return out
}

// sampleReader reads samples by index. A dataset that fits in memoryLimit
// bytes is read once and kept; a larger one is read sample by sample.
type sampleReader struct {
	src      data.Source
	all      *tensor.Dense
	labels   []int64
	labelled bool
}

const memoryLimit = 2 << 30

func newSampleReader(src data.Source) (*sampleReader, error) {
	r := &sampleReader{src: src}
	per, err := tensor.NumElems(src.SampleShape())
	if err != nil {
		return nil, fmt.Errorf("train: sample shape %v: %w", src.SampleShape(), err)
	}
	if int64(per)*int64(src.Len())*4 > memoryLimit {
		_, l, err := src.Batch(0, 1)
		if err != nil {
			return nil, err
		}
		r.labelled = l != nil
		return r, nil
	}
	r.all, r.labels, err = readAll(src, per)
	if err != nil {
		return nil, err
	}
	r.labelled = r.labels != nil
	return r, nil
}

func (r *sampleReader) read(idx []int) (*tensor.Dense, []int64, error) {
	if r.all == nil {
		sub, err := data.Subset(r.src, idx)
		if err != nil {
			return nil, nil, err
		}
		return sub.Batch(0, len(idx))
	}
	per := r.all.Len() / r.all.Shape[0]
	x := tensor.NewUninit(tensor.Float32, append([]int{len(idx)}, r.all.Shape[1:]...)...)
	var labels []int64
	if r.labels != nil {
		labels = make([]int64, len(idx))
	}
	for i, j := range idx {
		copy(x.F32[i*per:(i+1)*per], r.all.F32[j*per:(j+1)*per])
		if labels != nil {
			labels[i] = r.labels[j]
		}
	}
	return x, labels, nil
}

// readAll reads every sample of src into one tensor, 4096 at a time.
func readAll(src data.Source, per int) (*tensor.Dense, []int64, error) {
	n := src.Len()
	all := tensor.NewUninit(tensor.Float32, append([]int{n}, src.SampleShape()...)...)
	var labels []int64
	for b, err := range data.Batches(src, 4096, 0, nil) {
		if err != nil {
			return nil, nil, err
		}
		copy(all.F32[b.Start*per:], b.X.F32)
		if b.Labels != nil {
			if labels == nil {
				labels = make([]int64, n)
			}
			copy(labels[b.Start:], b.Labels)
		}
	}
	return all, labels, nil
}
