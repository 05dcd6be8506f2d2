package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"strings"

	"github.com/graft-ml/graft/tensor"
)

// StatePath returns the side file of checkpoint ckpt: an .npz archive
// holding the parameters' values ("param/<name>"), the optimizer's state
// ("opt/<slot>/<name>"), the best epoch's values with KeepBest
// ("best/<name>"), and "meta", the position in the data and the history
// as JSON bytes. The side file is what a resumption reads; the model at
// ckpt is the same weights as an ONNX file any runtime loads.
func StatePath(ckpt string) string { return ckpt + ".state" }

// runState is a run's position: everything a resumed run needs besides
// the parameters and the optimizer.
type runState struct {
	Version    int          `json:"version"`
	Seed       uint64       `json:"seed"`
	Batch      int          `json:"batch"`
	Samples    int          `json:"samples"`
	Params     []string     `json:"params"`
	OptSteps   int64        `json:"optimizer_steps"`
	Epoch      int          `json:"epoch"` // epochs completed
	Step       int          `json:"step"`  // steps done in the current epoch
	GlobalStep int          `json:"global_step"`
	LossSum    float64      `json:"loss_sum"` // the current epoch's running sums
	Correct    int          `json:"correct"`
	Seen       int          `json:"seen"`
	BestEpoch  int          `json:"best_epoch"`
	BestTop1   jsonFloat    `json:"best_top1"`
	SinceBest  int          `json:"since_best"`
	History    []EpochStats `json:"history"`

	best []*tensor.Dense
}

const stateVersion = 1

// save writes the checkpoint: the model first, then the state that names
// it, each atomically.
func (st *runState) save(path string, tm *Model, o Optimizer) error {
	m, err := tm.Export()
	if err != nil {
		return err
	}
	if err := m.Save(path); err != nil {
		return err
	}
	arrays := map[string]*tensor.Dense{}
	st.Version, st.Params = stateVersion, nil
	for _, p := range tm.Params {
		arrays["param/"+p.Name] = p.Value
		st.Params = append(st.Params, p.Name)
	}
	for i, d := range st.best {
		arrays["best/"+tm.Params[i].Name] = d
	}
	os := o.State()
	st.OptSteps = os.Steps
	for k, d := range os.Slots {
		arrays["opt/"+k] = d
	}
	meta, err := json.Marshal(st)
	if err != nil {
		return err
	}
	arrays["meta"] = bytesTensor(meta)
	if err := tensor.SaveNPZ(StatePath(path), arrays); err != nil {
		return fmt.Errorf("checkpoint state: %w", err)
	}
	return nil
}

// load restores a checkpoint into st, tm's parameters and o, checking that
// it was made by the same kind of run: the same parameters, seed, batch
// size and number of samples, so that the data order carries on exactly.
func (st *runState) load(path string, tm *Model, o Optimizer) error {
	sp := StatePath(path)
	arrays, err := tensor.LoadNPZ(sp)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("resume: %s has no state file %s (written beside every checkpoint)", path, sp)
		}
		return fmt.Errorf("resume: %w", err)
	}
	meta := arrays["meta"]
	if meta == nil || meta.DType != tensor.Uint8 {
		return fmt.Errorf("resume: %s holds no run state", sp)
	}
	var saved runState
	if err := json.Unmarshal(bytesOf(meta), &saved); err != nil {
		return fmt.Errorf("resume: %s: run state: %w", sp, err)
	}
	if saved.Version != stateVersion {
		return fmt.Errorf("resume: %s: state version %d, this graft reads %d", sp, saved.Version, stateVersion)
	}
	var names []string
	for _, p := range tm.Params {
		names = append(names, p.Name)
	}
	switch {
	case strings.Join(saved.Params, "\x00") != strings.Join(names, "\x00"):
		return fmt.Errorf("resume: %s trained %v; this run trains %v", path, saved.Params, names)
	case saved.Seed != st.Seed, saved.Batch != st.Batch, saved.Samples != st.Samples:
		return fmt.Errorf("resume: %s was made with seed %d, batch %d over %d samples; this run has seed %d, batch %d over %d samples: the data order would not carry on",
			path, saved.Seed, saved.Batch, saved.Samples, st.Seed, st.Batch, st.Samples)
	}
	for _, p := range tm.Params {
		d := arrays["param/"+p.Name]
		if d == nil || !tensor.SameShape(d.Shape, p.Value.Shape) || d.DType != tensor.Float32 {
			return fmt.Errorf("resume: %s: parameter %q is missing or of another shape", sp, p.Name)
		}
		copy(p.Value.F32, d.F32)
		if b := arrays["best/"+p.Name]; b != nil {
			saved.best = append(saved.best, b)
		}
	}
	if len(saved.best) != 0 && len(saved.best) != len(tm.Params) {
		return fmt.Errorf("resume: %s: the best epoch's values are incomplete", sp)
	}
	os := &OptimizerState{Steps: saved.OptSteps, Slots: map[string]*tensor.Dense{}}
	for k, d := range arrays {
		if s, ok := strings.CutPrefix(k, "opt/"); ok {
			os.Slots[s] = d
		}
	}
	if err := o.Load(os); err != nil {
		return fmt.Errorf("resume: %s: %w", sp, err)
	}
	*st = saved
	return nil
}

// bytesTensor stores b as a uint8 array, how the JSON travels in .npz.
func bytesTensor(b []byte) *tensor.Dense {
	d := tensor.New(tensor.Uint8, len(b))
	for i, c := range b {
		d.I64[i] = int64(c)
	}
	return d
}

func bytesOf(d *tensor.Dense) []byte {
	b := make([]byte, len(d.I64))
	for i, c := range d.I64 {
		b[i] = byte(c)
	}
	return b
}

// jsonFloat is a float64 that survives JSON as null when not finite.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
		return []byte("null"), nil
	}
	return json.Marshal(float64(f))
}

func (f *jsonFloat) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = jsonFloat(math.NaN())
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*f = jsonFloat(v)
	return nil
}

// epochJSON is EpochStats as JSON, with null for NaN.
type epochJSON struct {
	Epoch   int       `json:"epoch"`
	Loss    jsonFloat `json:"loss"`
	Top1    jsonFloat `json:"top1"`
	ValLoss jsonFloat `json:"val_loss"`
	ValTop1 jsonFloat `json:"val_top1"`
	LR      jsonFloat `json:"lr"`
	Seconds jsonFloat `json:"seconds"`
}

// MarshalJSON writes e with snake_case keys and null for a NaN.
func (e EpochStats) MarshalJSON() ([]byte, error) {
	return json.Marshal(epochJSON{e.Epoch, jsonFloat(e.Loss), jsonFloat(e.Top1), jsonFloat(e.ValLoss), jsonFloat(e.ValTop1), jsonFloat(e.LR), jsonFloat(e.Seconds)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (e *EpochStats) UnmarshalJSON(b []byte) error {
	var j epochJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*e = EpochStats{j.Epoch, float64(j.Loss), float64(j.Top1), float64(j.ValLoss), float64(j.ValTop1), float64(j.LR), float64(j.Seconds)}
	return nil
}
