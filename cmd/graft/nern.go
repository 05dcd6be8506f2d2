package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"
	"gopkg.in/yaml.v3"

	"github.com/graft-ml/graft/data"
	"github.com/graft-ml/graft/nern"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

func newNernCmd() *cli.Command {
	return &cli.Command{
		Name:  "nern",
		Usage: "learn a neural representation (NeRN) of a CNN's conv kernels and rebuild the network from it",
		Subcommands: []*cli.Command{
			newNernTrainCmd(), newNernEvalCmd(), newNernRebuildCmd(),
			{
				Name:        "config",
				Usage:       "print the default settings as YAML (a starting --config)",
				Description: "Examples:\n  $ graft nern config > nern.yaml",
				Action: func(c *cli.Context) error {
					b, err := yaml.Marshal(nern.DefaultOptions())
					if err != nil {
						return err
					}
					_, err = c.App.Writer.Write(b)
					return err
				},
			},
		},
	}
}

func newNernTrainCmd() *cli.Command {
	flags := append(withoutFlags(dataFlags(), "batch", "limit"),
		&cli.StringFlag{Name: "val-data", Usage: "validation dataset with labels: the rebuilt network's top-1 is measured on it"},
		&cli.StringFlag{Name: "val-labels", Usage: "labels of --val-data when it carries none"},
		&cli.StringFlag{Name: "config", Usage: "YAML settings (`graft nern config` prints every one); flags override it"},
		&cli.IntFlag{Name: "steps", Usage: "training steps", DefaultText: "2000"},
		&cli.IntFlag{Name: "batch", Usage: "data samples per step", DefaultText: "256"},
		&cli.IntFlag{Name: "kernel-batch", Usage: "kernels in the reconstruction loss per step", DefaultText: "4096"},
		&cli.IntFlag{Name: "hidden", Usage: "predictor width h", DefaultText: "180"},
		&cli.StringFlag{Name: "perm", Usage: "kernel permutation: crossfilter (default), infilter or none"},
		&cli.IntFlag{Name: "warmup-rec", Usage: "reconstruction-only steps first (NeRN's 10000)", DefaultText: "0"},
		&cli.StringFlag{Name: "optimizer", Usage: "ranger (default) or adam"},
		&cli.Float64Flag{Name: "lr", Usage: "peak learning rate, cosine-annealed", DefaultText: "5e-3"},
		&cli.IntFlag{Name: "eval-every", Usage: "steps between evaluations", DefaultText: "500"},
		&cli.IntFlag{Name: "checkpoint-every", Usage: "steps between checkpoints", DefaultText: "at the end and on Ctrl-C"},
		&cli.BoolFlag{Name: "resume", Usage: "continue from DIR/checkpoint.npz"},
		&cli.IntFlag{Name: "stop-after", Usage: "stop after this step (of --steps), writing DIR/checkpoint.npz; --resume continues the same run"},
		&cli.IntFlag{Name: "seed", Usage: "seed of the predictor's initialisation and the batches"},
		threadsFlag(),
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Required: true, Usage: "where to write the checkpoint, predictor, rebuilt model and summary (a folder)"},
	)
	return &cli.Command{
		Name:      "train",
		Usage:     "train a NeRN predictor for a model's conv kernels",
		ArgsUsage: "<model.onnx> --data <X> [--val-data <Y>] [--config <nern.yaml>] -o <dir>",
		Description: "Trains an MLP that predicts every 3x3 (and, as a 3x3's centre, 1x1) Conv kernel of the\n" +
			"model from the positional embedding of its (layer, filter, channel) coordinates, with\n" +
			"the reconstruction, feature-map and KL distillation losses of NeRN (Ashkenazi et al.,\n" +
			"ICLR 2023). Other Conv layers (5x5, grouped) are copied and listed in the summary.\n" +
			"The data's labels are unused. Writes DIR/predictor.onnx, DIR/rebuilt.onnx (the model\n" +
			"with the predicted kernels), DIR/summary.json and DIR/checkpoint.npz; the permutation\n" +
			"is cached beside the model. Ctrl-C writes the checkpoint; --resume continues it.\n\n" +
			"Examples:\n" +
			"  $ graft nern train fixtures/nern/resnet20.onnx --data fixtures/fmnist/train-images-2k-idx3-ubyte.gz \\\n" +
			"      --mean 0.2860 --std 0.3530 --val-data fixtures/fmnist/t10k-images-1k-idx3-ubyte.gz --steps 2000 -o nern_out\n" +
			"  $ graft nern train resnet20.onnx --data train.gz --config nern.yaml --hidden 180 --perm infilter -o out\n" +
			"  $ graft nern train resnet20.onnx --data train.gz --steps 10000 --stop-after 5000 -o out\n" +
			"  $ graft nern train resnet20.onnx --data train.gz --steps 10000 --resume -o out",
		Flags:  append(flags, recordFlags()...),
		Action: runNernTrain,
	}
}

// nernOptions reads --config and the flags that override it.
func nernOptions(c *cli.Context) (nern.Options, error) {
	o := nern.DefaultOptions()
	if path := c.String("config"); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return o, err
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&o); err != nil {
			return o, fmt.Errorf("%s: %w", path, err)
		}
	}
	ints := map[string]*int{"steps": &o.Steps, "batch": &o.Batch, "kernel-batch": &o.KernelBatch, "hidden": &o.Hidden,
		"warmup-rec": &o.WarmupRecSteps, "eval-every": &o.EvalEvery, "checkpoint-every": &o.CheckpointEvery, "threads": &o.Threads}
	for name, p := range ints {
		if c.IsSet(name) {
			*p = c.Int(name)
		}
	}
	if c.IsSet("perm") {
		o.Perm = c.String("perm")
	}
	if c.IsSet("optimizer") {
		o.Optimizer = c.String("optimizer")
	}
	if c.IsSet("lr") {
		o.LR = c.Float64("lr")
	}
	if c.IsSet("seed") {
		if c.Int("seed") < 0 {
			return o, usagef("--seed %d: want 0 or more", c.Int("seed"))
		}
		o.Seed = uint64(c.Int("seed"))
	}
	return o, nil
}

// nernSummary is DIR/summary.json.
type nernSummary struct {
	Model           string       `json:"model"`
	Steps           int          `json:"steps"`
	WallSeconds     float64      `json:"wall_seconds"`
	Top1Orig        *float64     `json:"top1_original,omitempty"`
	Top1Rebuilt     *float64     `json:"top1_rebuilt,omitempty"`
	RMSE            float64      `json:"rmse"`
	RelRMSE         float64      `json:"rmse_relative_to_weights_rms"`
	WeightsRMS      float64      `json:"weights_rms"`
	PredictorParams int          `json:"predictor_params"`
	Represented     int          `json:"represented_weights"`
	SizeRatio       float64      `json:"predictor_to_represented_ratio"`
	Copied          []copiedConv `json:"copied_conv_layers"`
	BestStep        int          `json:"best_step"`
	History         []nernPoint  `json:"history"`
	Options         nern.Options `json:"options"`
}

type copiedConv struct {
	Name, Module, Reason string
}

type nernPoint struct {
	Step    int      `json:"step"`
	RMSE    float64  `json:"rmse"`
	RelRMSE float64  `json:"rel_rmse"`
	Top1    *float64 `json:"top1,omitempty"`
	Seconds float64  `json:"seconds"`
}

func finitePtr(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func runNernTrain(c *cli.Context) (err error) {
	path, m, err := loadModelArg(c)
	if err != nil {
		return err
	}
	opts, err := nernOptions(c)
	if err != nil {
		return err
	}
	src, err := openData(c, "data")
	if err != nil {
		return err
	}
	var val data.Source
	if v := c.String("val-data"); v != "" {
		if val, err = openDataPath(c, v, c.String("val-labels")); err != nil {
			return err
		}
	}
	dir := c.String("output")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	r, err := nern.NewRun(m, path, src, val, opts)
	if err != nil {
		return err
	}
	ckpt := filepath.Join(dir, "checkpoint.npz")
	if c.Bool("resume") {
		if err := r.LoadCheckpoint(ckpt); err != nil {
			return err
		}
	}
	rec, rerr := startRecord(c, "nern", []string{path, c.String("data"), c.String("val-data")}, int64(opts.Seed))
	warnRecord(c, rerr)
	defer func() { finishRecord(c, rec, err) }()

	stderr := c.App.ErrWriter
	rep := 0
	for _, l := range r.Layers {
		if l.Represented() {
			rep += len(l.Weight.F32)
		} else {
			fmt.Fprintf(stderr, "nern: copying %s (%s): %s\n", l.Name, l.Module, l.Copied)
		}
	}
	fmt.Fprintf(stderr, "nern: %d kernels in %d layers, predictor %d params (%.2fx the %d represented weights), weights RMS %.4g\n",
		r.Positions(), len(r.Perms), r.Pred.Size(), float64(r.Pred.Size())/float64(rep), rep, r.WeightsRMS())
	start := time.Now()
	r.Progress = func(e nern.Event) {
		rec.Log(map[string]any{"step": e.Step, "loss": e.Loss, "l_rec": e.Rec, "l_fm": e.FM, "l_kd": e.KD, "lr": e.LR})
		if e.Step%10 == 0 || e.Eval != nil {
			fmt.Fprintf(stderr, "step %d/%d  loss %.5f  rec %.5f  fm %.4f  kd %.4f  lr %.3g  %.1fs\n",
				e.Step, e.Steps, e.Loss, e.Rec, e.FM, e.KD, e.LR, time.Since(start).Seconds())
		}
		if ev := e.Eval; ev != nil {
			fmt.Fprintf(stderr, "  eval: rmse %.5g (%.3f of the weights' RMS)  top-1 rebuilt %.4f  original %.4f\n", ev.RMSE, ev.RelRMSE, ev.Top1, ev.Top1Orig)
			rec.Log(map[string]any{"step": e.Step, "rmse": ev.RMSE, "rel_rmse": ev.RelRMSE, "val_top1": finite(ev.Top1)})
		}
	}
	sig, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithCancel(sig)
	defer cancel()
	stopAfter := c.Int("stop-after")
	if stopAfter > 0 {
		progress := r.Progress
		r.Progress = func(e nern.Event) {
			progress(e)
			if e.Step == stopAfter {
				cancel()
			}
		}
	}
	if err := r.Train(ctx, ckpt); err != nil {
		if errors.Is(err, context.Canceled) && stopAfter > 0 && r.Step == stopAfter && sig.Err() == nil {
			fmt.Fprintf(stderr, "nern: stopped after step %d of %d; checkpoint %s (--resume continues)\n", r.Step, opts.Steps, ckpt)
			return nil
		}
		if errors.Is(err, context.Canceled) {
			fmt.Fprintf(stderr, "nern: interrupted at step %d; checkpoint %s (--resume continues)\n", r.Step, ckpt)
			return errInterrupted
		}
		return err
	}
	hash, err := nern.ModelHash(path)
	if err != nil {
		return err
	}
	pred, best := r.Best()
	pm, err := pred.Model(opts.Levels, opts.Base, opts.Perm, hash)
	if err != nil {
		return err
	}
	predPath, rebuiltPath := filepath.Join(dir, "predictor.onnx"), filepath.Join(dir, "rebuilt.onnx")
	if err := pm.Save(predPath); err != nil {
		return err
	}
	rebuilt, err := pred.Rebuild(m, r.Layers, r.Perms, opts.Levels, opts.Base)
	if err != nil {
		return err
	}
	if err := rebuilt.Save(rebuiltPath); err != nil {
		return err
	}
	s := nernSummary{Model: path, Steps: r.Step, WallSeconds: time.Since(start).Seconds(), RMSE: best.RMSE, RelRMSE: best.RelRMSE,
		WeightsRMS: r.WeightsRMS(), PredictorParams: pred.Size(), Represented: rep, SizeRatio: float64(pred.Size()) / float64(rep),
		BestStep: best.Step, Options: opts, Top1Orig: finitePtr(best.Top1Orig), Top1Rebuilt: finitePtr(best.Top1), Copied: []copiedConv{}}
	for _, l := range r.Layers {
		if !l.Represented() {
			s.Copied = append(s.Copied, copiedConv{l.Name, l.Module, l.Copied})
		}
	}
	for _, e := range r.History() {
		s.History = append(s.History, nernPoint{e.Step, e.RMSE, e.RelRMSE, finitePtr(e.Top1), e.WallSeconds})
	}
	js, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	sumPath := filepath.Join(dir, "summary.json")
	if err := tensor.WriteFileAtomic(sumPath, func(w io.Writer) error { _, err := w.Write(append(js, '\n')); return err }); err != nil {
		return err
	}
	for _, a := range []string{predPath, rebuiltPath, sumPath} {
		rec.Artefact(a)
	}
	rec.Summary("rmse", best.RMSE)
	rec.Summary("rel_rmse", best.RelRMSE)
	if s.Top1Rebuilt != nil {
		rec.Summary("val_top1", *s.Top1Rebuilt)
		rec.Summary("val_top1_original", best.Top1Orig)
	}
	fmt.Fprintf(c.App.Writer, "%s\n", js)
	return nil
}

func newNernRebuildCmd() *cli.Command {
	return &cli.Command{
		Name:      "rebuild",
		Usage:     "rebuild a model from a NeRN predictor",
		ArgsUsage: "<predictor.onnx> --model <model.onnx> -o <rebuilt.onnx>",
		Description: "Runs the predictor over the embeddings of every kernel of --model (the settings and\n" +
			"the permutation kind are in the predictor's metadata; the permutation is read from its\n" +
			"cache beside the model or recomputed) and writes the model with the predicted kernels.\n\n" +
			"Examples:\n  $ graft nern rebuild out/predictor.onnx --model resnet20.onnx -o rebuilt.onnx",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Required: true, Usage: "the model the predictor represents"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Required: true, Usage: "where to write the rebuilt model"},
		},
		Action: func(c *cli.Context) error {
			ppath, err := oneArg(c, "predictor")
			if err != nil {
				return err
			}
			pm, err := onnx.Load(ppath)
			if err != nil {
				return err
			}
			p, levels, base, perm, err := nern.PredictorFromModel(pm)
			if err != nil {
				return fmt.Errorf("%s: %w", ppath, err)
			}
			mpath := c.String("model")
			m, err := onnx.Load(mpath)
			if err != nil {
				return err
			}
			layers, err := nern.FindLayers(m)
			if err != nil {
				return err
			}
			hash, err := nern.ModelHash(mpath)
			if err != nil {
				return err
			}
			for _, kv := range pm.Metadata {
				if kv.Key == "nern.model_sha256" && kv.Value != "" && kv.Value != hash {
					fmt.Fprintf(c.App.ErrWriter, "nern: warning: %s was trained on a model with SHA-256 %s; %s has %s\n", ppath, kv.Value[:12], mpath, hash[:12])
				}
			}
			perms, err := nern.CachedPermute(layers, perm, mpath, hash)
			if err != nil {
				return err
			}
			rebuilt, err := p.Rebuild(m, layers, perms, levels, base)
			if err != nil {
				return err
			}
			return rebuilt.Save(c.String("output"))
		},
	}
}

func newNernEvalCmd() *cli.Command {
	flags := dataFlags()
	flags = append(flags, &cli.StringFlag{Name: "model", Usage: "the original model, to compare with (default: summary.json's)"})
	return &cli.Command{
		Name:      "eval",
		Usage:     "top-1 of a rebuilt network and of its original",
		ArgsUsage: "<dir|rebuilt.onnx> --data <Y> [--model <model.onnx>]",
		Description: "Evaluates DIR/rebuilt.onnx (or the given rebuilt model) and the original on labelled\n" +
			"data, and prints their top-1 and agreement as JSON.\n\n" +
			"Examples:\n  $ graft nern eval nern_out --data fixtures/fmnist/t10k-images-1k-idx3-ubyte.gz --mean 0.2860 --std 0.3530",
		Flags: flags,
		Action: func(c *cli.Context) error {
			arg, err := oneArg(c, "dir")
			if err != nil {
				return err
			}
			rpath, orig := arg, c.String("model")
			if st, err := os.Stat(arg); err == nil && st.IsDir() {
				rpath = filepath.Join(arg, "rebuilt.onnx")
				if orig == "" {
					var s nernSummary
					if b, err := os.ReadFile(filepath.Join(arg, "summary.json")); err == nil && json.Unmarshal(b, &s) == nil {
						orig = s.Model
					}
				}
			}
			rm, err := onnx.Load(rpath)
			if err != nil {
				return err
			}
			src, err := openData(c, "data")
			if err != nil {
				return err
			}
			res := map[string]any{"rebuilt": rpath}
			var om *onnx.Model
			if orig != "" {
				if om, err = onnx.Load(orig); err != nil {
					return err
				}
				top1, _, err := nern.Accuracy(om, nil, src, 0)
				if err != nil {
					return err
				}
				res["original"], res["top1_original"] = orig, top1
			}
			top1, agree, err := nern.Accuracy(rm, om, src, 0)
			if err != nil {
				return err
			}
			res["top1_rebuilt"] = top1
			if om != nil {
				res["agreement"] = agree
			}
			js, err := json.MarshalIndent(res, "", "  ")
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(c.App.Writer, "%s\n", js)
			return err
		},
	}
}

// nernHash is nern.ModelHash (for the tests).
func nernHash(path string) (string, error) { return nern.ModelHash(path) }
