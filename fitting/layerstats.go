package fitting

import (
	"fmt"
	"strings"

	"github.com/graft-ml/graft/data"
	"github.com/graft-ml/graft/feed"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/surgery"
)

// LayerStat is what LayerStats collected for one layer.
type LayerStat struct {
	// Stats holds the layer's inputs (for a Conv, its K×K patches, as
	// Unfold orders them) against its outputs; nil when Skipped.
	Stats *Stats
	// Patches is a Conv's window; zero for a Gemm.
	Patches Patches
	// Skipped says why the layer's statistics were not collected: a Conv
	// whose window Unfold cannot read (see ConvPatches).
	Skipped string
}

// LayerStats runs m over the samples of src once and accumulates, for
// each layer, the statistics of its real inputs against its real outputs:
// what LowRank (or Linear) reads to refit the layer to the data, where
// the weights' SVD would be optimal only for white inputs. layers are
// Conv or Gemm layers of m (surgery.LinearLayers, surgery.LinearLayerOf).
func LayerStats(m *onnx.Model, layers []*surgery.LinearLayer, src data.Source, o feed.Options) ([]LayerStat, error) {
	out := make([]LayerStat, len(layers))
	var want []string
	for i, l := range layers {
		n := l.Node
		if l.Conv {
			pt, ok := ConvPatches(n)
			if !ok {
				out[i].Skipped = "data fitting needs a square window with equal padding and strides and no dilation"
				continue
			}
			out[i].Patches = pt
		}
		s, err := NewStats(l.In, l.Out)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n.Name, err)
		}
		out[i].Stats = s
		want = append(want, n.Inputs[0].Name, n.Outputs[0].Name)
	}
	if len(want) == 0 {
		return out, nil
	}
	fm, err := feed.Compile(m, o.Threads)
	if err != nil {
		return nil, err
	}
	err = feed.Each(src, o, func(b data.Batch) error {
		res, err := fm.Run(b.X, want...)
		if err != nil {
			return err
		}
		for i, l := range layers {
			st := out[i]
			if st.Stats == nil {
				continue
			}
			x, y := res[l.Node.Inputs[0].Name], res[l.Node.Outputs[0].Name]
			if l.Conv {
				err = AddConv(st.Stats, x, y, st.Patches)
			} else {
				err = st.Stats.Add(x.F32, y.F32)
			}
			if err != nil {
				return fmt.Errorf("%s: %w", l.Node.Name, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// LayerStatsShard is LayerStats over shard sh of src, returned as a
// statistics file (one entry per layer whose statistics are collected,
// named by its node) for an array-job task to write; LayerStatsFromFile
// reads the statistics of every shard merged back as LayerStats would
// return them over all of src.
func LayerStatsShard(m *onnx.Model, layers []*surgery.LinearLayer, src data.Source, sh Shard, o feed.Options) (*StatsFile, error) {
	id, err := layerIdentity(m, layers)
	if err != nil {
		return nil, err
	}
	total := o.Samples(src)
	part, po, err := shardSource(src, o, sh)
	if err != nil {
		return nil, err
	}
	stats, err := LayerStats(m, layers, part, po)
	if err != nil {
		return nil, err
	}
	if sh.IsZero() {
		sh = Shard{0, 1}
	}
	f := &StatsFile{Kind: "lowrank", Identity: id, Shard: sh, Shards: []int{sh.Index}, Samples: po.Samples(part), Total: total}
	for i, st := range stats {
		if st.Stats != nil {
			f.Entries = append(f.Entries, StatsEntry{Name: layers[i].Node.Name, Stats: st.Stats})
		}
	}
	return f, nil
}

// LayerStatsFromFile returns what LayerStats returns for layers, from the
// statistics of LayerStatsShard merged over every shard (MergeStatsFiles).
func LayerStatsFromFile(m *onnx.Model, layers []*surgery.LinearLayer, f *StatsFile) ([]LayerStat, error) {
	id, err := layerIdentity(m, layers)
	if err != nil {
		return nil, err
	}
	if err := f.complete("lowrank"); err != nil {
		return nil, err
	}
	if err := f.checkIdentity(id); err != nil {
		return nil, err
	}
	out := make([]LayerStat, len(layers))
	for i, l := range layers {
		if l.Conv {
			pt, ok := ConvPatches(l.Node)
			if !ok {
				out[i].Skipped = "data fitting needs a square window with equal padding and strides and no dilation"
				continue
			}
			out[i].Patches = pt
		}
		e := f.Entry(l.Node.Name)
		if e == nil {
			return nil, fmt.Errorf("fitting: the statistics have no entry for layer %s", l.Node.Name)
		}
		if e.Stats.p != l.In || e.Stats.q != l.Out {
			return nil, fmt.Errorf("fitting: the statistics of %s are of %d → %d columns, the layer maps %d → %d", l.Node.Name, e.Stats.p, e.Stats.q, l.In, l.Out)
		}
		out[i].Stats = e.Stats
	}
	return out, nil
}

// layerIdentity names what layers' statistics are of: the model and the
// layers' nodes.
func layerIdentity(m *onnx.Model, layers []*surgery.LinearLayer) (map[string]string, error) {
	h, err := modelHash(m)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(layers))
	for i, l := range layers {
		names[i] = l.Node.Name
	}
	return map[string]string{"model": h, "layers": strings.Join(names, ",")}, nil
}
