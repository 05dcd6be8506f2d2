package fitting

import (
	"fmt"

	"github.com/graft-ml/graft/data"
	"github.com/graft-ml/graft/exec"
	"github.com/graft-ml/graft/feed"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/surgery"
	"github.com/graft-ml/graft/tensor"
)

// StitchOptions choose how FitAdapter and Stitch fit the adapter.
type StitchOptions struct {
	// Method is the kind of map; the zero value is the linear fit.
	Method Method
	// Kernel is k for a k×k conv adapter between NCHW activations (odd
	// when the spatial sizes differ); 0 means 1, a 1x1 conv whose samples
	// are pixels.
	Kernel int
	// Ridge and NoBias are as in LinearOptions (Ridge applies to the
	// least-squares methods only).
	Ridge  float64
	NoBias bool
	// Feed chooses batches, a sample limit, threads and progress for the
	// pass over the data.
	Feed feed.Options
}

// StitchResult says how an adapter was fitted and, from Stitch, how the
// models were joined.
type StitchResult struct {
	// Adapter is the fitted adapter, a model of one input (A's
	// activation) and one output (B's).
	Adapter *onnx.Model
	// Fit is the fitted map with its quality on the fitting data.
	Fit *Fit
	// Samples is the number of data samples the fit saw, Rows the number
	// of rows fitted: Samples for (N, C) activations, Samples times B's
	// height and width for NCHW ones.
	Samples, Rows int
	// ResizedFrom and ResizedTo are A's and B's height and width when the
	// adapter resizes A's activation bilinearly first; zero otherwise.
	ResizedFrom, ResizedTo [2]int
	// Stitch is surgery.Stitch's report (Stitch only).
	Stitch surgery.StitchReport
}

// Stitch fits an adapter from A's value at `at` to B's value at `from`
// over the samples of src (FitAdapter) and joins A up to at, the adapter,
// and B from from on (surgery.Stitch), in place in a: a becomes the
// stitched model, and b is consumed.
func Stitch(a *onnx.Model, at string, b *onnx.Model, from string, src data.Source, o StitchOptions) (*StitchResult, error) {
	r, err := FitAdapter(a, at, b, from, src, o)
	if err != nil {
		return nil, err
	}
	if r.Stitch, err = surgery.Stitch(a, at, b, from, r.Adapter); err != nil {
		return nil, err
	}
	return r, nil
}

// FitAdapter fits an adapter from A's value at `at` to B's value at
// `from` (value names or module paths) over the samples of src, running
// both models batch by batch and accumulating the statistics of the fit
// (the data never has to fit in memory). The adapter is a model of one
// input and one output: for (N, C) activations a Gemm; for NCHW ones a
// k×k Conv (Kernel), after a bilinear Resize of A's activation to B's
// height and width when they differ. a and b are not changed, apart from
// the shapes exec.InferShapes fills in.
func FitAdapter(a *onnx.Model, at string, b *onnx.Model, from string, src data.Source, o StitchOptions) (*StitchResult, error) {
	k := max(o.Kernel, 1)
	if o.Kernel < 0 {
		return nil, fmt.Errorf("fitting: kernel %d: want a positive odd size", o.Kernel)
	}
	for _, m := range []*onnx.Model{a, b} {
		if err := exec.InferShapes(m); err != nil {
			return nil, err
		}
	}
	av, err := a.Graph.Resolve(at)
	if err != nil {
		return nil, fmt.Errorf("model A: %w", err)
	}
	bv, err := b.Graph.Resolve(from)
	if err != nil {
		return nil, fmt.Errorf("model B: %w", err)
	}
	ma, err := feed.Compile(a, o.Feed.Threads)
	if err != nil {
		return nil, fmt.Errorf("model A: %w", err)
	}
	mb, err := feed.Compile(b, o.Feed.Threads)
	if err != nil {
		return nil, fmt.Errorf("model B: %w", err)
	}

	// The first batch fixes the shapes, and with them the adapter's form.
	first, err := feed.First(src, o.Feed)
	if err != nil {
		return nil, err
	}
	xa, err := ma.Value(first.X, av.Name)
	if err != nil {
		return nil, fmt.Errorf("model A: %w", err)
	}
	xb, err := mb.Value(first.X, bv.Name)
	if err != nil {
		return nil, fmt.Errorf("model B: %w", err)
	}
	if xa.Rank() != xb.Rank() || (xa.Rank() != 2 && xa.Rank() != 4) {
		return nil, fmt.Errorf("A at %q is %v and B at %q is %v: adapters map (N, C) to (N, C) or NCHW to NCHW", at, xa.Shape, from, xb.Shape)
	}
	r := &StitchResult{}
	conv := xa.Rank() == 4
	pt := Patches{K: k, Pad: (k - 1) / 2}
	g := onnx.NewGraph("adapter")
	in, err := g.AddInput("adapter_input", onnx.Type{DType: tensor.Float32, HasShape: true, Dims: withBatch(av.Type, xa.Shape)})
	if err != nil {
		return nil, err
	}
	opset := a.Opset("")
	x := in
	var resize *feed.Model
	if conv && (xa.Shape[2] != xb.Shape[2] || xa.Shape[3] != xb.Shape[3]) {
		if k%2 == 0 {
			return nil, fmt.Errorf("kernel %d: an even kernel cannot keep the spatial size", k)
		}
		r.ResizedFrom, r.ResizedTo = [2]int{xa.Shape[2], xa.Shape[3]}, [2]int{xb.Shape[2], xb.Shape[3]}
		opset = max(opset, 13)
		if x, resize, err = addResize(g, in, xb.Shape[2], xb.Shape[3], opset); err != nil {
			return nil, err
		}
	}
	p, q := xa.Shape[1], xb.Shape[1]
	if conv {
		p *= k * k
	}
	stats, err := NewStats(p, q)
	if err != nil {
		return nil, err
	}
	err = feed.Each(src, o.Feed, func(bt data.Batch) error {
		ya, err := ma.Value(bt.X, av.Name)
		if err != nil {
			return fmt.Errorf("model A: %w", err)
		}
		yb, err := mb.Value(bt.X, bv.Name)
		if err != nil {
			return fmt.Errorf("model B: %w", err)
		}
		if resize != nil {
			if ya, err = resize.Value(ya, x.Name); err != nil {
				return fmt.Errorf("resizing A's activation: %w", err)
			}
		}
		r.Samples += bt.X.Shape[0]
		if !conv {
			r.Rows += bt.X.Shape[0]
			return stats.Add(ya.F32, yb.F32)
		}
		r.Rows += yb.Shape[0] * yb.Shape[2] * yb.Shape[3]
		return AddConv(stats, ya, yb, pt)
	})
	if err != nil {
		return nil, err
	}
	if r.Fit, err = o.Method.Fit(stats, LinearOptions{NoBias: o.NoBias, Ridge: o.Ridge}); err != nil {
		return nil, err
	}
	var y *onnx.Value
	if conv {
		y, err = EmitConv(g, x, &r.Fit.Affine, pt, "adapter")
	} else {
		y, err = EmitGemm(g, x, &r.Fit.Affine, "adapter")
	}
	if err != nil {
		return nil, err
	}
	y.Type = onnx.Type{DType: tensor.Float32, HasShape: true, Dims: withBatch(bv.Type, xb.Shape)}
	g.Outputs = []*onnx.Value{y}
	r.Adapter = onnx.NewModel(g, opset)
	return r, nil
}

// addResize adds to g a bilinear Resize (half-pixel centres, as
// PyTorch's interpolate with align_corners=False) of the NCHW value x to
// height h and width w, and returns its output with a compiled model of g
// up to it, which resizes activations during the fit.
func addResize(g *onnx.Graph, x *onnx.Value, h, w int, opset int64) (*onnx.Value, *feed.Model, error) {
	// Sizes: the batch and channels as they come, B's height and width.
	shape := g.AddNode("Shape", "", "adapter/resize/Shape", []*onnx.Value{x}, []string{"adapter.shape"}).Outputs[0]
	nc := g.AddNode("Slice", "", "adapter/resize/Slice", []*onnx.Value{shape,
		g.AddConst("adapter.zero", tensor.FromI64([]int{1}, []int64{0})),
		g.AddConst("adapter.two", tensor.FromI64([]int{1}, []int64{2}))}, []string{"adapter.nc"}).Outputs[0]
	hw := g.AddConst("adapter.hw", tensor.FromI64([]int{2}, []int64{int64(h), int64(w)}))
	sz := g.AddNode("Concat", "", "adapter/resize/Concat", []*onnx.Value{nc, hw}, []string{"adapter.resize_sizes"}, &onnx.Attr{Name: "axis", Type: onnx.AttrInt, I: 0}).Outputs[0]
	y := g.AddNode("Resize", "", "adapter/resize/Resize", []*onnx.Value{x, nil, nil, sz}, []string{"adapter.resized"},
		&onnx.Attr{Name: "mode", Type: onnx.AttrString, S: "linear"},
		&onnx.Attr{Name: "coordinate_transformation_mode", Type: onnx.AttrString, S: "half_pixel"}).Outputs[0]
	g.Outputs = []*onnx.Value{y}
	m, err := feed.Compile(onnx.NewModel(g, opset), 0)
	if err != nil {
		return nil, nil, fmt.Errorf("adapter resize: %w", err)
	}
	return y, m, nil
}

// withBatch returns dims for a value seen with shape: the declared dims
// where known (keeping a symbolic batch), else the shape seen.
func withBatch(t onnx.Type, shape []int) []onnx.Dim {
	dims := make([]onnx.Dim, len(shape))
	for i, d := range shape {
		dims[i] = onnx.Dim{Value: int64(d)}
		if i == 0 {
			dims[i] = onnx.Dim{Param: "batch"}
			if t.HasShape && len(t.Dims) == len(shape) && t.Dims[0].Param != "" {
				dims[i] = t.Dims[0]
			}
		}
	}
	return dims
}
