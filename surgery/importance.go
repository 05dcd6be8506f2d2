package surgery

import (
	"fmt"
	"math"

	"github.com/graft-ml/graft/data"
	"github.com/graft-ml/graft/feed"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// ImportanceScores returns per-weight scores of m for an
// importance-weighted Mix (MixOptions.Scores), keyed by initializer name:
//
//   - magnitude: |w| for every float initializer (src is not read and
//     may be nil);
//   - maav: the MAAV score (see ByMAAV) of every weight of the Conv, Gemm
//     and MatMul layers, over the samples of src read as o says. Their
//     biases and other parameters get no score, so Mix averages them
//     with its plain weights.
func ImportanceScores(m *onnx.Model, criterion string, src data.Source, o feed.Options) (map[string]*tensor.Dense, error) {
	switch criterion {
	case ByMagnitude:
		out := map[string]*tensor.Dense{}
		for _, v := range m.Graph.Initializers {
			if !v.Const.DType.IsFloat() {
				continue
			}
			d, err := v.Const.Dense()
			if err != nil {
				return nil, fmt.Errorf("initializer %q: %w", v.Name, err)
			}
			s := tensor.New(tensor.Float64, d.Shape...)
			for i, x := range d.Float64s() {
				s.F64[i] = math.Abs(x)
			}
			out[v.Name] = s
		}
		return out, nil
	case ByMAAV:
		if src == nil {
			return nil, fmt.Errorf("importance by maav needs data")
		}
		st, err := MeasureInputStats(m, nil, src, o)
		if err != nil {
			return nil, err
		}
		return WeightScores(m, ByMAAV, st, nil)
	}
	return nil, fmt.Errorf("unknown importance %q (want magnitude or maav)", criterion)
}
