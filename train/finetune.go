package train

import (
	"context"
	"fmt"

	"github.com/graft-ml/graft/data"
)

// FinetuneResult is Finetune's report: Fit's result, and the validation
// scores of the model before training and of the weights it ends with.
type FinetuneResult struct {
	*Result
	// Before is the score before the first step (Samples 0 without
	// validation data, or when the run resumes a checkpoint).
	Before Eval
	// After is the score of the parameters' final values: the last
	// epoch's, or with KeepBest the best epoch's (Kept). Samples is 0
	// without validation data or when the run was interrupted.
	After Eval
	// Kept is the epoch whose values the parameters hold (0 when no
	// epoch completed).
	Kept int
}

// Finetune is a fine-tuning run: Fit, with the validation score before
// it (sent to opts.Progress as an Evaluated event before the first step)
// and of the weights kept after it. The validation batch is opts.Batch,
// at least 100.
func Finetune(ctx context.Context, m *Model, src data.Source, opts Options) (*FinetuneResult, error) {
	fr := &FinetuneResult{}
	if opts.Val != nil && opts.Resume == "" {
		before, err := m.Evaluate(opts.Val, max(opts.Batch, 100))
		if err != nil {
			return nil, fmt.Errorf("validation before training: %w", err)
		}
		fr.Before = before
		if opts.Progress != nil {
			opts.Progress(Event{Kind: Evaluated, Val: before})
		}
	}
	res, err := Fit(ctx, m, src, opts)
	fr.Result = res
	if err != nil || res == nil || len(res.Epochs) == 0 {
		return fr, err
	}
	fr.Kept = len(res.Epochs)
	if opts.KeepBest && res.BestEpoch > 0 {
		fr.Kept = res.BestEpoch
	}
	if opts.Val != nil && !res.Interrupted {
		e := res.Epochs[fr.Kept-1]
		fr.After = Eval{Samples: opts.Val.Len(), Loss: e.ValLoss, Top1: e.ValTop1}
	}
	return fr, nil
}
