package eval

import (
	"fmt"
	"math"

	"github.com/graft-ml/graft/data"
	"github.com/graft-ml/graft/feed"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Options choose what Accuracy measures and how it reads the data.
type Options struct {
	// Output names the value holding the model's logits: a value name or
	// module path. Empty means the first graph output.
	Output string
	// Compare, when not nil, is a second classifier run on the same
	// samples (its first graph output) for Result.Agreement.
	Compare *onnx.Model
	// Feed chooses batches, a sample limit, threads and progress.
	Feed feed.Options
}

// Result is what Accuracy measures, as fractions of Samples. The
// accuracies are nil when the data carries no labels; Agreement and
// CompareTop1 are nil without Options.Compare.
type Result struct {
	Samples     int      `json:"samples"`
	Top1        *float64 `json:"top1,omitempty"`
	Top5        *float64 `json:"top5,omitempty"`
	Agreement   *float64 `json:"agreement,omitempty"`
	CompareTop1 *float64 `json:"compare_top1,omitempty"`
}

// classifier is a compiled model and the value holding its logits.
type classifier struct {
	m      *feed.Model
	logits string
}

func compile(m *onnx.Model, output string, threads int) (classifier, error) {
	fm, err := feed.Compile(m, threads)
	if err != nil {
		return classifier{}, err
	}
	name := fm.Program.Graph().Outputs[0].Name
	if output != "" {
		v, err := m.Graph.Resolve(output)
		if err != nil {
			return classifier{}, err
		}
		name = v.Name
	}
	return classifier{fm, name}, nil
}

// Accuracy runs m (and o.Compare, if set) over the samples of src and
// counts correct top-1 and top-5 predictions and, with o.Compare, the
// samples on which both models' top-1 predictions agree.
func Accuracy(m *onnx.Model, src data.Source, o Options) (*Result, error) {
	models := []*onnx.Model{m}
	if o.Compare != nil {
		models = append(models, o.Compare)
	}
	cls := make([]classifier, len(models))
	for i, mi := range models {
		output := ""
		if i == 0 {
			output = o.Output
		}
		c, err := compile(mi, output, o.Feed.Threads)
		if err != nil {
			if i == 1 {
				return nil, fmt.Errorf("compared model: %w", err)
			}
			return nil, err
		}
		cls[i] = c
	}
	var top1, top5, agree, otherTop1 int
	labelled := true
	err := feed.Each(src, o.Feed, func(b data.Batch) error {
		if b.Labels == nil {
			labelled = false
		}
		var preds [][]int
		for i, c := range cls {
			logits, err := c.m.Value(b.X, c.logits)
			if err != nil {
				return err
			}
			ranked, err := TopK(logits, 5)
			if err != nil {
				return fmt.Errorf("model %d output %s: %w", i+1, c.logits, err)
			}
			preds = append(preds, top1Of(ranked))
			if b.Labels == nil {
				continue
			}
			classes := logits.Len() / max(1, logits.Shape[0])
			for s, lab := range b.Labels {
				if lab < 0 || int(lab) >= classes {
					return fmt.Errorf("sample %d has label %d, outside the model's %d classes", b.Start+s, lab, classes)
				}
				if i == 1 {
					if ranked[s][0] == int(lab) {
						otherTop1++
					}
					continue
				}
				for k, cls := range ranked[s] {
					if cls == int(lab) {
						if k == 0 {
							top1++
						}
						top5++
						break
					}
				}
			}
		}
		if len(preds) == 2 {
			for s := range preds[0] {
				if preds[0][s] == preds[1][s] {
					agree++
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	r := &Result{Samples: o.Feed.Samples(src)}
	frac := func(k int) *float64 { v := float64(k) / float64(r.Samples); return &v }
	if labelled {
		r.Top1, r.Top5 = frac(top1), frac(top5)
		if len(cls) == 2 {
			r.CompareTop1 = frac(otherTop1)
		}
	}
	if len(cls) == 2 {
		r.Agreement = frac(agree)
	}
	return r, nil
}

// TopK returns, for each row of logits (N, K) — or (N, K, 1, …) — the
// indices of its k largest entries, largest first, the lower index first
// among equal values (fewer than k if K < k). A NaN logit is an error
// naming the sample.
func TopK(logits *tensor.Dense, k int) ([][]int, error) {
	if logits.Rank() < 2 {
		return nil, fmt.Errorf("want (batch, classes) logits, got shape %v", logits.Shape)
	}
	n := logits.Shape[0]
	if n == 0 {
		return nil, nil
	}
	classes := logits.Len() / n
	vals := logits.Float64s()
	out := make([][]int, n)
	for s := range n {
		row := vals[s*classes : (s+1)*classes]
		best := make([]int, 0, k)
		for c, v := range row {
			if math.IsNaN(v) {
				return nil, fmt.Errorf("sample %d: logit %d is NaN", s, c)
			}
			// Insert c into best, kept sorted by value, largest first.
			at := len(best)
			for at > 0 && row[best[at-1]] < v {
				at--
			}
			if at < k {
				if len(best) < k {
					best = append(best, 0)
				}
				copy(best[at+1:], best[at:len(best)-1])
				best[at] = c
			}
		}
		out[s] = best
	}
	return out, nil
}

// top1Of returns the first entry of each ranking.
func top1Of(ranked [][]int) []int {
	top := make([]int, len(ranked))
	for i, r := range ranked {
		top[i] = r[0]
	}
	return top
}
