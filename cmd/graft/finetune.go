package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/graft-ml/graft/data"
	"github.com/graft-ml/graft/feed"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/runlog"
	"github.com/graft-ml/graft/tensor"
	"github.com/graft-ml/graft/track"
	"github.com/graft-ml/graft/train"
)

// trainFlags are the options finetune and lr-find share: what to train,
// against which loss, with which optimizer.
func trainFlags() []cli.Flag {
	var flags []cli.Flag
	for _, f := range dataFlags() {
		if f.Names()[0] != "batch" {
			flags = append(flags, f)
		}
	}
	return append(flags,
		&cli.IntFlag{Name: "batch", Value: 64, Usage: "samples per training step"},
		&cli.StringFlag{Name: "train", Required: true, Usage: "initializers to train: names or module-path globs, comma-separated (adapter, layer4.*, fc.weight)"},
		&cli.StringFlag{Name: "loss", Value: "ce", Usage: "loss: ce, kd or mse, or a weighted sum such as ce=0.5,kd=0.5"},
		&cli.StringFlag{Name: "logits", Usage: "value the ce and kd losses read (default: the first graph output)"},
		&cli.Float64Flag{Name: "label-smoothing", Usage: "cross-entropy label smoothing ε"},
		&cli.StringFlag{Name: "teacher", Usage: "teacher model for kd (its first output) and mse (--teacher-value)"},
		&cli.StringFlag{Name: "teacher-logits", Usage: "kd: .npy of the teacher's logits, one row per training sample, instead of --teacher"},
		&cli.Float64Flag{Name: "temperature", Value: 4, Usage: "kd temperature T"},
		&cli.StringFlag{Name: "feature", Usage: "mse: the value of the trained model to match"},
		&cli.StringFlag{Name: "teacher-value", Usage: "mse: the teacher's value to match (default: --feature); or --targets"},
		&cli.StringFlag{Name: "targets", Usage: "mse: .npy of target activations, one row per training sample, instead of --teacher"},
		&cli.StringFlag{Name: "optimizer", Value: "adam", Usage: "sgd, adam, adamw, radam or ranger"},
		&cli.Float64Flag{Name: "lr", Value: 1e-3, Usage: "learning rate (the peak, with a schedule)"},
		&cli.Float64Flag{Name: "momentum", Usage: "sgd momentum (0.9 is usual)", DefaultText: "0"},
		&cli.BoolFlag{Name: "nesterov", Usage: "sgd: Nesterov momentum"},
		&cli.StringFlag{Name: "betas", Usage: "adam/adamw/radam/ranger β1,β2 (default 0.9,0.999; ranger 0.95,0.999)"},
		&cli.Float64Flag{Name: "eps", Usage: "adam-family ε", DefaultText: "1e-8; ranger 1e-5"},
		&cli.Float64Flag{Name: "weight-decay", Usage: "weight decay (adamw default 0.01, others 0)"},
		&cli.IntFlag{Name: "seed", Usage: "seed of the sample order"},
		threadsFlag(),
	)
}

func newFinetuneCmd() *cli.Command {
	return &cli.Command{
		Name:      "finetune",
		Usage:     "train chosen parameters of a model on a dataset (a stitched adapter, the last layers, everything)",
		ArgsUsage: "<model.onnx> --data <X> --train <glob>[,<glob>...] -o <out.onnx>",
		Description: "Trains the initializers named by --train (names, or PyTorch module paths with * globs)\n" +
			"and keeps every other one frozen, on the ONNX graph itself: losses and gradients are\n" +
			"graph nodes (exec.Gradient), the optimizers follow torch.optim's update rules. Each\n" +
			"epoch visits the training samples in a fresh order drawn from --seed; the last batch\n" +
			"takes what is left. BatchNormalization uses its stored statistics and Dropout is off\n" +
			"(the model is trained as exported, in inference mode).\n\n" +
			"Losses: ce (cross-entropy with the labels), kd (T²·KL from a --teacher model's or saved\n" +
			"--teacher-logits' softmax at --temperature), mse (a --feature value against a teacher's\n" +
			"value or saved --targets); weighted sums like --loss ce=0.5,kd=0.5.\n" +
			"Schedules (per step): constant, step (--step-size steps, --gamma), cosine (to --min-lr,\n" +
			"after --warmup linear steps), onecycle. --clip bounds the gradients' global norm.\n\n" +
			"After every epoch it evaluates --val-data (loss, top-1) and writes a checkpoint\n" +
			"(--checkpoint, default OUT.ckpt.onnx, with its optimizer state and data position in\n" +
			"OUT.ckpt.onnx.state); --resume continues one exactly. Ctrl-C writes a checkpoint and\n" +
			"stops. The trained model is written to -o with the new weights in place.\n\n" +
			"--track LAYERS (or all: every Conv, Gemm and MatMul) measures after every epoch the cosine\n" +
			"distance between each layer's activations and those of the previous epoch and of the\n" +
			"start, on the first --track-limit samples of --track-data (as graft track does), prints\n" +
			"them and records them in the run record (track/LAYER/previous, track/LAYER/start).\n\n" +
			"Examples:\n" +
			"  $ graft stitch a.onnx --at pool1 b.onnx --from pool1 --fit linear --data train.gz -o ab.onnx\n" +
			"  $ graft finetune ab.onnx --train adapter --data fixtures/fmnist/train-images-2k-idx3-ubyte.gz \\\n" +
			"      --mean 0.2860 --std 0.3530 --epochs 5 --val-data fixtures/fmnist/t10k-images-1k-idx3-ubyte.gz -o ab_ft.onnx\n" +
			"  $ graft finetune student.onnx --train '*' --loss kd --teacher teacher.onnx --data x.npy --schedule cosine --warmup 100 -o s.onnx\n" +
			"  $ graft finetune ab.onnx --train adapter --data train.gz --epochs 5 --resume ab_ft.onnx.ckpt.onnx -o ab_ft.onnx\n" +
			"  $ graft finetune a.onnx --train 'fc*' --data train.gz --val-data test.gz --track conv1,fc1,fc2 -o a_ft.onnx",
		Flags: append(append(trainFlags(),
			&cli.IntFlag{Name: "epochs", Value: 5, Usage: "training epochs (in all, when resuming)"},
			&cli.StringFlag{Name: "schedule", Value: "constant", Usage: "learning-rate schedule: constant, step, cosine or onecycle"},
			&cli.IntFlag{Name: "warmup", Usage: "cosine: linear warm-up steps"},
			&cli.Float64Flag{Name: "min-lr", Usage: "cosine: the final learning rate"},
			&cli.IntFlag{Name: "step-size", Usage: "step: steps between decays", DefaultText: "one epoch"},
			&cli.Float64Flag{Name: "gamma", Value: 0.1, Usage: "step: decay factor"},
			&cli.Float64Flag{Name: "clip", Usage: "clip gradients to this global L2 norm (0: off)"},
			&cli.StringFlag{Name: "val-data", Usage: "validation dataset, evaluated after every epoch"},
			&cli.StringFlag{Name: "val-labels", Usage: "labels of --val-data when it carries none"},
			&cli.BoolFlag{Name: "keep-best", Usage: "write the weights of the epoch with the best validation top-1"},
			&cli.IntFlag{Name: "patience", Usage: "stop after this many epochs without a better validation top-1"},
			&cli.StringFlag{Name: "checkpoint", Usage: "checkpoint path (default: OUT.ckpt.onnx; \"none\" for none)"},
			&cli.StringFlag{Name: "resume", Usage: "checkpoint to continue from"},
			&cli.StringFlag{Name: "track", Usage: "after every epoch, record how far these layers' activations moved from the previous epoch and from the start (cosine distance; comma-separated, or all)"},
			&cli.StringFlag{Name: "track-data", Usage: "samples for --track", DefaultText: "--val-data, else --data"},
			&cli.IntFlag{Name: "track-limit", Value: 256, Usage: "samples of --track-data used"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Required: true, Usage: "where to write the trained model"},
		), recordFlags()...),
		Action: runFinetune,
	}
}

// trainSetup is what finetune and lr-find build from their flags.
type trainSetup struct {
	path  string
	model *train.Model
	src   data.Source
	opt   train.Optimizer
	batch int
	seed  uint64
}

func setupTraining(c *cli.Context) (*trainSetup, error) {
	path, m, err := loadModelArg(c)
	if err != nil {
		return nil, err
	}
	src, err := openData(c, "data")
	if err != nil {
		return nil, err
	}
	if n := c.Int("limit"); n > 0 && n < src.Len() {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		if src, err = data.Subset(src, idx); err != nil {
			return nil, err
		}
	}
	if c.Int("batch") < 1 {
		return nil, usagef("--batch %d: want at least 1", c.Int("batch"))
	}
	if c.Int("seed") < 0 {
		return nil, usagef("--seed %d: want 0 or more", c.Int("seed"))
	}
	losses, err := parseLosses(c, src.Len())
	if err != nil {
		return nil, err
	}
	tm, err := train.Prepare(m, train.Config{Params: splitList(c.String("train")), Losses: losses, Threads: c.Int("threads")})
	if err != nil {
		return nil, err
	}
	opt, err := optimizerFromFlags(c)
	if err != nil {
		return nil, err
	}
	return &trainSetup{path: path, model: tm, src: src, opt: opt, batch: c.Int("batch"), seed: uint64(c.Int("seed"))}, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// parseLosses reads --loss and the flags of each kind of loss.
func parseLosses(c *cli.Context, samples int) ([]train.Loss, error) {
	var losses []train.Loss
	for _, term := range splitList(c.String("loss")) {
		name, weight, hasWeight := strings.Cut(term, "=")
		kind, err := train.ParseLossKind(strings.TrimSpace(name))
		if err != nil {
			return nil, usagef("--loss: %v", err)
		}
		l := train.Loss{Kind: kind, Weight: 1}
		if hasWeight {
			if l.Weight, err = strconv.ParseFloat(strings.TrimSpace(weight), 64); err != nil {
				return nil, usagef("--loss %q: weight %q is not a number", term, weight)
			}
		}
		switch kind {
		case train.CrossEntropy:
			l.Output, l.LabelSmoothing = c.String("logits"), c.Float64("label-smoothing")
		case train.Distill:
			l.Output, l.Temperature = c.String("logits"), c.Float64("temperature")
			if l.Target, err = teacherTarget(c, "", c.String("teacher-logits"), samples); err != nil {
				return nil, err
			}
		case train.MSE:
			l.Output = c.String("feature")
			if l.Output == "" {
				return nil, usagef("--loss mse needs --feature, the value to match")
			}
			tv := c.String("teacher-value")
			if tv == "" {
				tv = l.Output
			}
			if l.Target, err = teacherTarget(c, tv, c.String("targets"), samples); err != nil {
				return nil, err
			}
		}
		losses = append(losses, l)
	}
	if len(losses) == 0 {
		return nil, usagef("--loss: no loss given")
	}
	return losses, nil
}

// teacherTarget is the --teacher model's value, or a saved array.
func teacherTarget(c *cli.Context, value, array string, samples int) (train.Target, error) {
	switch {
	case array != "" && c.String("teacher") != "":
		return nil, usagef("give --teacher or a saved array (%s), not both", array)
	case array != "":
		d, err := tensor.LoadNPY(array)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", array, err)
		}
		if d.DType == tensor.Float64 {
			f := tensor.New(tensor.Float32, d.Shape...)
			for i, v := range d.F64 {
				f.F32[i] = float32(v)
			}
			d = f
		}
		if d.DType != tensor.Float32 || d.Rank() == 0 || d.Shape[0] != samples {
			return nil, fmt.Errorf("%s: %s%v; want float rows, one per training sample (%d)", array, d.DType, d.Shape, samples)
		}
		return train.Array{Data: d}, nil
	case c.String("teacher") != "":
		tm, err := onnx.Load(c.String("teacher"))
		if err != nil {
			return nil, err
		}
		return train.NewTeacher(tm, value, c.Int("threads"))
	}
	return nil, usagef("this loss needs a --teacher model or a saved array of targets")
}

// optimizerFromFlags builds the --optimizer with its flags.
func optimizerFromFlags(c *cli.Context) (train.Optimizer, error) {
	cfg := train.OptimizerConfig{
		Name:        c.String("optimizer"),
		Momentum:    c.Float64("momentum"),
		Nesterov:    c.Bool("nesterov"),
		Eps:         c.Float64("eps"),
		WeightDecay: math.NaN(),
	}
	if c.IsSet("weight-decay") {
		cfg.WeightDecay = c.Float64("weight-decay")
	}
	if s := c.String("betas"); s != "" {
		b, err := data.ParseFloats(s)
		if err != nil || len(b) != 2 {
			return nil, usagef("--betas %q: want two numbers, e.g. 0.9,0.999", s)
		}
		cfg.Beta1, cfg.Beta2 = b[0], b[1]
	}
	o, err := train.NewOptimizer(cfg)
	if err != nil {
		return nil, usagef("%v", err)
	}
	return o, nil
}

func runFinetune(c *cli.Context) error {
	if c.Int("epochs") < 1 {
		return usagef("--epochs %d: want at least 1", c.Int("epochs"))
	}
	s, err := setupTraining(c)
	if err != nil {
		return err
	}
	out := c.String("output")
	steps := (s.src.Len() + s.batch - 1) / s.batch
	total := steps * c.Int("epochs")
	sched, err := train.NewSchedule(train.ScheduleConfig{
		Name: c.String("schedule"), LR: c.Float64("lr"), Total: total, Warmup: c.Int("warmup"),
		MinLR: c.Float64("min-lr"), StepSize: max(c.Int("step-size"), 0), Gamma: c.Float64("gamma"), StepsPerEpoch: steps,
	})
	if err != nil {
		return usagef("%v", err)
	}
	opts := train.Options{
		Epochs: c.Int("epochs"), Batch: s.batch, Seed: s.seed,
		Optimizer: s.opt, Schedule: sched, ClipNorm: c.Float64("clip"),
		KeepBest: c.Bool("keep-best"), Patience: c.Int("patience"),
		Checkpoint: c.String("checkpoint"), Resume: c.String("resume"),
	}
	switch opts.Checkpoint {
	case "":
		opts.Checkpoint = out + ".ckpt.onnx"
	case "none":
		opts.Checkpoint = ""
	}
	if p := c.String("val-data"); p != "" {
		if opts.Val, err = openDataPath(c, p, c.String("val-labels")); err != nil {
			return err
		}
	} else if opts.KeepBest || opts.Patience > 0 {
		return usagef("--keep-best and --patience need --val-data")
	}
	inputs := []string{s.path, c.String("data")}
	for _, f := range []string{"val-data", "teacher", "teacher-logits", "targets", "resume"} {
		if p := c.String(f); p != "" {
			inputs = append(inputs, p)
		}
	}
	rec, err := startRecord(c, "finetune", inputs, int64(s.seed))
	warnRecord(c, err)
	res, err := finetune(c, s, opts, rec)
	if err == nil && res.Interrupted {
		err = errInterrupted
	}
	finishRecord(c, rec, err)
	return err
}

// errInterrupted ends a run stopped by Ctrl-C after its checkpoint.
var errInterrupted = errors.New("interrupted")

func finetune(c *cli.Context, s *trainSetup, opts train.Options, rec *runlog.Run) (*train.FinetuneResult, error) {
	w, ew := c.App.Writer, c.App.ErrWriter
	out := c.String("output")
	n := 0
	for _, p := range s.model.Params {
		n += p.Value.Len()
	}
	started := false
	header := func() {
		if !started {
			started = true
			fmt.Fprintf(w, "training %d tensors (%d parameters) of %s on %d samples: %s, lr %g, batch %d, %d epochs\n",
				len(s.model.Params), n, s.path, s.src.Len(), c.String("optimizer"), c.Float64("lr"), s.batch, opts.Epochs)
		}
	}

	follow, err := startTracking(c, s, opts.Val)
	if err != nil {
		return nil, err
	}
	var trackErr error
	bar := newTrainProgress(ew)
	opts.Progress = func(e train.Event) {
		bar.event(e)
		switch e.Kind {
		case train.Evaluated:
			fmt.Fprintf(w, "before: validation loss %.4f  top-1 %.2f %% (%d samples)\n", e.Val.Loss, 100*e.Val.Top1, e.Val.Samples)
			rec.Log(map[string]any{"epoch": 0, "step": 0, "val_loss": e.Val.Loss, "val_top1": e.Val.Top1})
			rec.Summary("val_top1_before", e.Val.Top1)
		case train.StepDone:
			header()
			rec.Log(map[string]any{"step": e.GlobalStep, "epoch": e.Epoch, "loss": e.Loss, "top1": finite(e.Top1), "lr": e.LR, "seconds": e.Elapsed.Seconds()})
		case train.EpochDone:
			m := map[string]any{"epoch": e.Epoch, "step": e.GlobalStep, "train_loss": e.Loss, "train_top1": finite(e.Top1), "lr": e.LR, "seconds": e.Elapsed.Seconds()}
			line := fmt.Sprintf("epoch %d/%d  loss %.4f", e.Epoch, opts.Epochs, e.Loss)
			if !math.IsNaN(e.Top1) {
				line += fmt.Sprintf("  top-1 %.2f %%", 100*e.Top1)
			}
			if e.Val.Samples > 0 {
				m["val_loss"], m["val_top1"] = e.Val.Loss, e.Val.Top1
				line += fmt.Sprintf("  val loss %.4f  val top-1 %.2f %%", e.Val.Loss, 100*e.Val.Top1)
			}
			moved := ""
			if follow != nil && trackErr == nil {
				moved, trackErr = trackEpoch(follow, s.model, m)
			}
			rec.Log(m)
			fmt.Fprintf(w, "%s  lr %.3g  %s\n", line, e.LR, e.Elapsed.Round(100*time.Millisecond))
			if moved != "" {
				fmt.Fprintf(w, "  moved %s\n", moved)
			}
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := train.Finetune(ctx, s.model, s.src, opts)
	bar.clear()
	header()
	if err == nil && trackErr != nil {
		err = fmt.Errorf("--track: %w", trackErr)
	}
	if err != nil {
		return res, err
	}
	if res.Interrupted {
		if opts.Checkpoint != "" {
			fmt.Fprintf(w, "interrupted after %d steps; checkpoint %s (resume with --resume %s)\n", res.Steps, opts.Checkpoint, opts.Checkpoint)
			rec.Artefact(opts.Checkpoint)
		}
		return res, nil
	}
	m, err := s.model.Export()
	if err != nil {
		return res, err
	}
	if err := m.Save(out); err != nil {
		return res, err
	}
	rec.Artefact(out)
	if opts.Checkpoint != "" {
		rec.Artefact(opts.Checkpoint)
	}
	if res.EarlyStopped {
		fmt.Fprintf(w, "stopped early: no better validation top-1 for %d epochs\n", opts.Patience)
	}
	rec.Summary("train_loss", res.Epochs[len(res.Epochs)-1].Loss)
	if res.After.Samples > 0 {
		if opts.KeepBest && res.BestEpoch > 0 {
			fmt.Fprintf(w, "kept epoch %d, the best on validation\n", res.Kept)
		}
		rec.Summary("val_top1", res.After.Top1)
		fmt.Fprintf(w, "after:  validation loss %.4f  top-1 %.2f %%", res.After.Loss, 100*res.After.Top1)
		if res.Before.Samples > 0 {
			fmt.Fprintf(w, " (before %.2f %%)", 100*res.Before.Top1)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "wrote %s\n", out)
	return res, nil
}

// finite maps NaN to nil, which JSON writes as null.
func finite(v float64) any {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return v
}

// trainProgress draws "epoch e/E  step s/S  loss  top-1  ETA" on one
// line of a terminal; elsewhere it draws nothing (finetune prints a line
// per epoch either way).
type trainProgress struct {
	w     io.Writer
	tty   bool
	drawn time.Time
	shown bool
}

func newTrainProgress(w io.Writer) *trainProgress {
	return &trainProgress{w: w, tty: isTerminal(w)}
}

func (p *trainProgress) event(e train.Event) {
	if !p.tty || e.Kind != train.StepDone {
		return
	}
	now := time.Now()
	if now.Sub(p.drawn) < 200*time.Millisecond && e.GlobalStep != e.TotalSteps {
		return
	}
	p.drawn, p.shown = now, true
	eta := "?"
	if e.GlobalStep > 0 {
		eta = (time.Duration(float64(e.Elapsed) / float64(e.GlobalStep) * float64(e.TotalSteps-e.GlobalStep))).Round(time.Second).String()
	}
	line := fmt.Sprintf("epoch %d  step %d/%d  loss %.4f", e.Epoch, e.Step, e.Steps, e.Loss)
	if !math.IsNaN(e.Top1) {
		line += fmt.Sprintf("  top-1 %.1f %%", 100*e.Top1)
	}
	fmt.Fprintf(p.w, "\r\033[K%s  lr %.3g  ETA %s", line, e.LR, eta)
}

func (p *trainProgress) clear() {
	if p.shown {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// startTracking sets up --track: a follower from the model before
// training, on --track-data (else the validation data, else the training
// data). nil when --track is not given.
func startTracking(c *cli.Context, s *trainSetup, val data.Source) (*track.Follower, error) {
	spec := c.String("track")
	if spec == "" {
		return nil, nil
	}
	var layers []string
	if spec != "all" {
		layers = splitList(spec)
	}
	src := val
	if p := c.String("track-data"); p != "" {
		var err error
		if src, err = openDataPath(c, p, ""); err != nil {
			return nil, err
		}
	} else if src == nil {
		src = s.src
	}
	first, err := s.model.Export()
	if err != nil {
		return nil, err
	}
	return track.NewFollower(first, src, track.Options{Layers: layers,
		Feed: feed.Options{Batch: 100, Limit: c.Int("track-limit"), Threads: c.Int("threads")}})
}

// trackEpoch measures the model after an epoch, adds the distances to
// the epoch's record line m, and returns them for printing.
func trackEpoch(f *track.Follower, tm *train.Model, m map[string]any) (string, error) {
	now, err := tm.Export()
	if err != nil {
		return "", err
	}
	mv, err := f.Next(now)
	if err != nil {
		return "", err
	}
	var parts []string
	for l, name := range mv.Layers {
		prev, start := mv.FromPrevious[l], mv.FromFirst[l]
		if prev.Undefined != "" || start.Undefined != "" {
			parts = append(parts, name+" undefined")
			continue
		}
		m["track/"+name+"/previous"], m["track/"+name+"/start"] = prev.Value, start.Value
		parts = append(parts, fmt.Sprintf("%s %.4f (%.4f from start)", name, prev.Value, start.Value))
	}
	return strings.Join(parts, ", "), nil
}
