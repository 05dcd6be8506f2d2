package nern

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/graft-ml/graft/tensor"
	"github.com/graft-ml/graft/train"
)

// A checkpoint is one .npz file: the predictor ("param/<name>"), the
// optimizer's state ("opt/<slot>"), the best predictor so far
// ("best/<name>"), and "meta": the JSON of checkpointMeta as int64 bytes.
// Nothing else is needed to resume exactly: each step's batch and kernel
// sample depend only on the seed and the step (Run.Sample).
type checkpointMeta struct {
	Step     int     `json:"step"`
	OptSteps int64   `json:"opt_steps"`
	Options  Options `json:"options"`
	History  []Eval  `json:"history"`
	Best     *Eval   `json:"best,omitempty"`
}

// SaveCheckpoint writes the run's state to path atomically.
func (r *Run) SaveCheckpoint(path string) error {
	st := r.opt.State()
	meta := checkpointMeta{Step: r.Step, OptSteps: st.Steps, Options: r.Opts, History: r.history, Best: r.best}
	js, err := json.Marshal(jsonSafe(meta))
	if err != nil {
		return fmt.Errorf("nern: checkpoint: %w", err)
	}
	arrs := map[string]*tensor.Dense{"meta": bytesTensor(js)}
	for name, d := range r.Pred.tensors() {
		arrs["param/"+name] = d
	}
	if r.bestPred != nil {
		for name, d := range r.bestPred.tensors() {
			arrs["best/"+name] = d
		}
	}
	for k, d := range st.Slots {
		arrs["opt/"+k] = d
	}
	if err := tensor.SaveNPZ(path, arrs); err != nil {
		return fmt.Errorf("nern: checkpoint: %w", err)
	}
	return nil
}

// LoadCheckpoint restores a run's state from a checkpoint written by
// SaveCheckpoint for a run with the same settings (Steps and EvalEvery may
// differ, to extend a run).
func (r *Run) LoadCheckpoint(path string) error {
	arrs, err := tensor.LoadNPZ(path)
	if err != nil {
		return fmt.Errorf("nern: resume: %w", err)
	}
	md := arrs["meta"]
	if md == nil {
		return fmt.Errorf("nern: resume %s: no meta array (not a nern checkpoint?)", path)
	}
	var meta checkpointMeta
	if err := json.Unmarshal(bytesOf(md), &meta); err != nil {
		return fmt.Errorf("nern: resume %s: meta: %w", path, err)
	}
	a, b := meta.Options, r.Opts
	a.Steps, a.EvalEvery, a.CheckpointEvery, a.Threads, a.KeepBest = b.Steps, b.EvalEvery, b.CheckpointEvery, b.Threads, b.KeepBest
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		return fmt.Errorf("nern: resume %s: the checkpoint's settings %s differ from this run's %s", path, ja, jb)
	}
	load := func(prefix string, p *Predictor) error {
		for name, d := range p.tensors() {
			src := arrs[prefix+name]
			if src == nil || src.DType != tensor.Float32 || !tensor.SameShape(src.Shape, d.Shape) {
				return fmt.Errorf("nern: resume %s: %s%s missing or of another shape", path, prefix, name)
			}
			copy(d.F32, src.F32)
		}
		return nil
	}
	if err := load("param/", r.Pred); err != nil {
		return err
	}
	if meta.Best != nil && arrs["best/"+weightName(0)] != nil {
		r.bestPred = r.Pred.Clone()
		if err := load("best/", r.bestPred); err != nil {
			return err
		}
		r.best = meta.Best
	}
	st := &train.OptimizerState{Steps: meta.OptSteps, Slots: map[string]*tensor.Dense{}}
	for k, d := range arrs {
		if rest, ok := strings.CutPrefix(k, "opt/"); ok {
			st.Slots[rest] = d
		}
	}
	if err := r.opt.Load(st); err != nil {
		return fmt.Errorf("nern: resume %s: %w", path, err)
	}
	for i := range meta.History {
		unfix(&meta.History[i])
	}
	if r.best != nil {
		unfix(r.best)
	}
	r.Step, r.history = meta.Step, meta.History
	return nil
}

// unfix undoes jsonSafe: -1 (never a valid value of these) back to NaN.
func unfix(e *Eval) {
	for _, f := range []*float64{&e.RMSE, &e.RelRMSE, &e.Top1, &e.Top1Orig, &e.Agreement} {
		if *f == -1 {
			*f = math.NaN()
		}
	}
}

func bytesTensor(b []byte) *tensor.Dense {
	d := tensor.New(tensor.Int64, len(b))
	for i, c := range b {
		d.I64[i] = int64(c)
	}
	return d
}

func bytesOf(d *tensor.Dense) []byte {
	out := make([]byte, d.Len())
	for i, v := range d.I64 {
		out[i] = byte(v)
	}
	return out
}

// jsonSafe replaces the NaNs of evaluations (JSON has none) with -1.
func jsonSafe(m checkpointMeta) checkpointMeta {
	fix := func(e Eval) Eval {
		for _, f := range []*float64{&e.RMSE, &e.RelRMSE, &e.Top1, &e.Top1Orig, &e.Agreement} {
			if *f != *f {
				*f = -1
			}
		}
		return e
	}
	h := make([]Eval, len(m.History))
	for i, e := range m.History {
		h[i] = fix(e)
	}
	m.History = h
	if m.Best != nil {
		b := fix(*m.Best)
		m.Best = &b
	}
	return m
}
