package track

import (
	"fmt"

	"github.com/graft-ml/graft/data"
	"github.com/graft-ml/graft/onnx"
)

// Follower measures a training run as it goes: given the model after
// each epoch, the distance of every layer from the previous epoch's model
// and from the first (the model before training), on the same samples
// every time. It holds two models, the first and the previous, never the
// whole run.
type Follower struct {
	first, prev *onnx.Model
	src         data.Source
	opt         Options
}

// Moved is how far each layer moved in one epoch.
type Moved struct {
	// Layers are the layers measured (Options.Layers, or the first
	// model's DefaultLayers).
	Layers []string
	// FromPrevious[l] is layer l's distance from the previous model;
	// FromFirst[l] its distance from the first.
	FromPrevious, FromFirst []Distance
}

// NewFollower starts following from first (the model before training),
// measuring on src as o says. The models given later must have first's
// graph with other weights; none is modified.
func NewFollower(first *onnx.Model, src data.Source, o Options) (*Follower, error) {
	if first == nil || src == nil {
		return nil, fmt.Errorf("track: a follower needs the first model and data")
	}
	if len(o.Layers) == 0 {
		o.Layers = DefaultLayers(first)
		if len(o.Layers) == 0 {
			return nil, fmt.Errorf("track: the model has no Conv, Gemm or MatMul with a constant weight to follow; name layers")
		}
	}
	return &Follower{first: first, prev: first, src: src, opt: o}, nil
}

// Next measures m against the previous model and the first, then makes
// m the previous one.
func (f *Follower) Next(m *onnx.Model) (*Moved, error) {
	models := []*onnx.Model{f.first, m}
	if f.prev != f.first {
		models = []*onnx.Model{f.first, f.prev, m}
	}
	res, err := Track(models, f.src, f.opt)
	if err != nil {
		return nil, err
	}
	mv := &Moved{Layers: res.Layers}
	last := len(models) - 1
	for l := range res.Layers {
		mv.FromPrevious = append(mv.FromPrevious, res.Consecutive[l][last-1])
		mv.FromFirst = append(mv.FromFirst, res.ToLast[l][0])
	}
	f.prev = m
	return mv, nil
}
