// Package track measures how a model's layers move during training: the
// cosine distance between the activations of the same layer in
// successive checkpoints, and in each checkpoint and the last one, over
// the same samples (Sparana's tracker, SEEDS.md §3).
//
// # Definition
//
// For a layer L and checkpoints a and b, let A and B be L's outputs on
// every sample of the dataset, each flattened into one vector (samples
// after one another, each sample row-major). Then
//
//	d(a, b) = 1 − Σ A·B / sqrt(Σ A² · Σ B²)
//
// with the sums in float64 over all elements. d is 0 for activations that
// differ only by a positive scale, 1 for orthogonal ones, and at most 2.
// It is undefined when either vector is all zero; Distance then carries
// the reason instead of a number. The distance of a checkpoint to itself
// is 0.
//
// # Usage
//
//	res, err := track.Track(models, src, track.Options{Layers: []string{"conv1", "fc1"}})
//	// res.Consecutive[l][i]: layer l, checkpoint i to i+1
//	// res.ToLast[l][i]:      layer l, checkpoint i to the last
//
// One pass over the data, in the batches Options.Feed chooses: memory
// holds one batch's activations of the chosen layers for every
// checkpoint, never the whole dataset's. Nothing here prints; progress
// goes through Options.Feed.Progress.
//
// track is its own package, not part of surgery, because it edits no
// graph: like fitting.Similarity it only reads models and data. It
// imports data, feed and onnx.
package track

import (
	"fmt"
	"math"

	"github.com/graft-ml/graft/data"
	"github.com/graft-ml/graft/feed"
	"github.com/graft-ml/graft/onnx"
)

// Options choose the layers and the pass over the data.
type Options struct {
	// Layers are module paths, node names or value names, resolved in
	// every checkpoint with Graph.Resolve. Empty means the output of every
	// Conv, Gemm and MatMul with a constant weight in the first
	// checkpoint, named by its module path (or node name).
	Layers []string
	// Feed chooses the batches, the samples used and the threads.
	Feed feed.Options
}

// Distance is a cosine distance, or why it is undefined.
type Distance struct {
	Value float64
	// Undefined, when not empty, says why there is no Value (an all-zero
	// activation); Value is then 0.
	Undefined string
}

// Result holds the distances, layer by layer.
type Result struct {
	// Layers are the layers measured, as named in Options (or found).
	Layers []string
	// Checkpoints is the number of checkpoints.
	Checkpoints int
	// Consecutive[l][i] is layer l's distance from checkpoint i to i+1
	// (Checkpoints−1 values).
	Consecutive [][]Distance
	// ToLast[l][i] is layer l's distance from checkpoint i to the last
	// (Checkpoints values, the last one 0).
	ToLast [][]Distance
	// Samples is the number of samples the distances were measured on.
	Samples int
}

// DefaultLayers names the output of every Conv, Gemm and MatMul of m that
// reads a constant weight, by module path (or node name), in graph order.
func DefaultLayers(m *onnx.Model) []string {
	var out []string
	seen := map[string]bool{}
	for _, n := range m.Graph.Nodes {
		if n.OpType != "Conv" && n.OpType != "Gemm" && n.OpType != "MatMul" {
			continue
		}
		if w := n.Input(1); w == nil || w.Const == nil {
			continue
		}
		name := onnx.ModulePath(n.Name)
		if name == "" {
			name = n.Name
		}
		if name == "" || seen[name] {
			continue
		}
		if v, err := m.Graph.Resolve(name); err != nil || v != n.Outputs[0] {
			name = n.Outputs[0].Name // a module holding more than this node
		}
		seen[name] = true
		out = append(out, name)
	}
	return out
}

// pairs accumulates the sums of one layer.
type pairs struct {
	sq          []float64 // Σ A² per checkpoint
	next, toEnd []float64 // Σ A_i·A_{i+1}, Σ A_i·A_last
}

// Track runs every checkpoint over the samples of src and returns the
// cosine distances of the chosen layers' activations (see the package
// doc). The checkpoints must give each layer the same shape.
func Track(models []*onnx.Model, src data.Source, o Options) (*Result, error) {
	n := len(models)
	if n < 2 {
		return nil, fmt.Errorf("track: need at least two checkpoints, have %d", n)
	}
	layers := o.Layers
	if len(layers) == 0 {
		layers = DefaultLayers(models[0])
		if len(layers) == 0 {
			return nil, fmt.Errorf("track: the first checkpoint has no Conv, Gemm or MatMul with a constant weight; name layers to track")
		}
	}
	fms := make([]*feed.Model, n)
	names := make([][]string, n) // [checkpoint][layer] value name
	for k, m := range models {
		for _, l := range layers {
			v, err := m.Graph.Resolve(l)
			if err != nil {
				return nil, fmt.Errorf("track: checkpoint %d: layer %q: %w", k+1, l, err)
			}
			names[k] = append(names[k], v.Name)
		}
		fm, err := feed.Compile(m, o.Feed.Threads)
		if err != nil {
			return nil, fmt.Errorf("track: checkpoint %d: %w", k+1, err)
		}
		fms[k] = fm
	}
	acc := make([]pairs, len(layers))
	for l := range acc {
		acc[l] = pairs{sq: make([]float64, n), next: make([]float64, n-1), toEnd: make([]float64, n-1)}
	}
	samples := 0
	err := feed.Each(src, o.Feed, func(b data.Batch) error {
		acts := make([][][]float32, n) // [checkpoint][layer]
		for k, fm := range fms {
			res, err := fm.Run(b.X, names[k]...)
			if err != nil {
				return fmt.Errorf("checkpoint %d: %w", k+1, err)
			}
			for l, name := range names[k] {
				v := res[name]
				if name == fm.Input {
					v = b.X
				}
				if v == nil || v.F32 == nil {
					return fmt.Errorf("checkpoint %d: layer %q: no float32 activation", k+1, layers[l])
				}
				if k > 0 && len(v.F32) != len(acts[0][l]) {
					return fmt.Errorf("layer %q: checkpoint %d's activation has %d elements, checkpoint 1's %d", layers[l], k+1, len(v.F32), len(acts[0][l]))
				}
				acts[k] = append(acts[k], v.F32)
			}
		}
		for l := range layers {
			p := &acc[l]
			last := acts[n-1][l]
			for k := range n {
				p.sq[k] += dot(acts[k][l], acts[k][l])
				if k < n-1 {
					p.next[k] += dot(acts[k][l], acts[k+1][l])
					p.toEnd[k] += dot(acts[k][l], last)
				}
			}
		}
		samples += b.X.Shape[0]
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("track: %w", err)
	}
	r := &Result{Layers: layers, Checkpoints: n, Samples: samples}
	for l, name := range layers {
		p := acc[l]
		cons := make([]Distance, n-1)
		toLast := make([]Distance, n)
		for k := range n - 1 {
			cons[k] = cosine(p.next[k], p.sq[k], p.sq[k+1], name, k, k+1)
			toLast[k] = cosine(p.toEnd[k], p.sq[k], p.sq[n-1], name, k, n-1)
		}
		toLast[n-1] = cosine(p.sq[n-1], p.sq[n-1], p.sq[n-1], name, n-1, n-1)
		if toLast[n-1].Undefined == "" {
			toLast[n-1].Value = 0
		}
		r.Consecutive = append(r.Consecutive, cons)
		r.ToLast = append(r.ToLast, toLast)
	}
	return r, nil
}

// dot returns Σ a·b in float64.
func dot(a, b []float32) float64 {
	s := 0.0
	for i, x := range a {
		s += float64(x) * float64(b[i])
	}
	return s
}

// cosine returns 1 − ab / sqrt(aa·bb) for layer name between checkpoints
// i and j (0-based), or why it is undefined.
func cosine(ab, aa, bb float64, name string, i, j int) Distance {
	switch {
	case aa == 0:
		return Distance{Undefined: fmt.Sprintf("layer %s is all zero in checkpoint %d", name, i+1)}
	case bb == 0:
		return Distance{Undefined: fmt.Sprintf("layer %s is all zero in checkpoint %d", name, j+1)}
	}
	return Distance{Value: 1 - ab/math.Sqrt(aa*bb)}
}
