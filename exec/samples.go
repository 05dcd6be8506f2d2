package exec

import (
	"fmt"

	"github.com/graft-ml/graft/tensor"
)

// BatchSize returns the batch size graph input name is declared with, or
// 0 when its first dim is symbolic or unknown. Models exported without
// dynamic axes (torch.onnx.export's default) run only on that many
// samples at a time.
func (p *Program) BatchSize(input string) int {
	v := p.graph.Value(input)
	if v == nil || !v.Type.HasShape || len(v.Type.Dims) == 0 || !v.Type.Dims[0].Known() {
		return 0
	}
	return int(v.Type.Dims[0].Value)
}

// RunSamples runs inputs that all hold the same n samples along their
// first dim (float32) and returns the named outputs for those samples,
// whatever batch size the graph fixes. The samples of a fixed-batch graph
// (see BatchSize; batchInput names the input that declares it) go in
// slices of that size, the last one zero-padded; outputs for which
// perSample is true are cut to the real samples and joined along their
// first dim, the others, sums over the batch such as parameter gradients,
// are added up over the slices (zero padding adds nothing to them when
// its seeds are zero).
func (p *Program) RunSamples(batchInput string, inputs map[string]*tensor.Dense, outputs []string, perSample func(name string) bool) (map[string]*tensor.Dense, error) {
	x := inputs[batchInput]
	if x == nil || x.Rank() == 0 {
		return nil, fmt.Errorf("input %q: no samples", batchInput)
	}
	n, fixed := x.Shape[0], p.BatchSize(batchInput)
	if fixed == 0 || fixed == n {
		return p.Run(inputs, RunOptions{Outputs: outputs})
	}
	joined := map[string]*tensor.Dense{}
	for start := 0; start < n; start += fixed {
		rows := min(fixed, n-start)
		slice := make(map[string]*tensor.Dense, len(inputs))
		for name, d := range inputs {
			if d.DType != tensor.Float32 || d.Rank() == 0 || d.Shape[0] != n {
				return nil, fmt.Errorf("input %q %s%v does not hold the %d samples of %q", name, d.DType, d.Shape, n, batchInput)
			}
			per := d.Len() / n
			s := tensor.New(tensor.Float32, append([]int{fixed}, d.Shape[1:]...)...)
			copy(s.F32, d.F32[start*per:(start+rows)*per])
			slice[name] = s
		}
		res, err := p.Run(slice, RunOptions{Outputs: outputs})
		if err != nil {
			return nil, err
		}
		for _, name := range outputs {
			d := res[name]
			if d == nil || d.DType != tensor.Float32 {
				return nil, fmt.Errorf("value %q is not float32, so batches of %d cannot be split for the model's fixed batch of %d", name, n, fixed)
			}
			if !perSample(name) {
				if sum := joined[name]; sum != nil {
					for i, v := range d.F32 {
						sum.F32[i] += v
					}
				} else {
					joined[name] = d.Clone()
				}
				continue
			}
			if d.Rank() == 0 || d.Shape[0] != fixed {
				return nil, fmt.Errorf("value %q %v has no row per sample of the model's fixed batch of %d", name, d.Shape, fixed)
			}
			per := d.Len() / fixed
			prev := joined[name]
			if prev == nil {
				prev = tensor.FromF32(append([]int{0}, d.Shape[1:]...), nil)
			}
			prev.F32 = append(prev.F32, d.F32[:rows*per]...)
			prev.Shape[0] += rows
			joined[name] = prev
		}
	}
	return joined, nil
}

// AllSamples is the perSample function for outputs that all have one row
// per sample.
func AllSamples(string) bool { return true }
