package fitting

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

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
	af, err := adapterPass(a, at, b, from, src, o)
	if err != nil {
		return nil, err
	}
	return af.finish(o.Method, LinearOptions{NoBias: o.NoBias, Ridge: o.Ridge})
}

// AdapterStats is FitAdapter's pass alone, over shard sh of src: it
// returns the statistics of the fit, for an array-job task to write
// (WriteStatsFile). FitAdapterFromStats fits the adapter from the
// statistics of every shard merged (MergeStatsFiles), as FitAdapter would
// over all of src. The statistics do not depend on the method, ridge or
// bias of the fit.
func AdapterStats(a *onnx.Model, at string, b *onnx.Model, from string, src data.Source, sh Shard, o StitchOptions) (*StatsFile, error) {
	id, err := adapterIdentity(a, at, b, from, o)
	if err != nil {
		return nil, err
	}
	total := o.Feed.Samples(src)
	part, po, err := shardSource(src, o.Feed, sh)
	if err != nil {
		return nil, err
	}
	o.Feed = po
	af, err := adapterPass(a, at, b, from, part, o)
	if err != nil {
		return nil, err
	}
	if sh.IsZero() {
		sh = Shard{0, 1}
	}
	info := map[string]string{"a_shape": shapeString(af.aShape), "b_shape": shapeString(af.bShape)}
	return &StatsFile{Kind: "stitch", Identity: id, Shard: sh, Shards: []int{sh.Index}, Samples: af.r.Samples, Total: total,
		Entries: []StatsEntry{{Name: "adapter", Info: info, Stats: af.stats}}}, nil
}

// FitAdapterFromStats fits the adapter from the statistics of AdapterStats
// merged over every shard, exactly as FitAdapter fits it in one run (up
// to the rounding of the merge, about 1e-13 relative). The models and
// layers must be those the statistics were collected for.
func FitAdapterFromStats(a *onnx.Model, at string, b *onnx.Model, from string, f *StatsFile, o StitchOptions) (*StitchResult, error) {
	id, err := adapterIdentity(a, at, b, from, o)
	if err != nil {
		return nil, err
	}
	if err := f.complete("stitch"); err != nil {
		return nil, err
	}
	if err := f.checkIdentity(id); err != nil {
		return nil, err
	}
	e := f.Entry("adapter")
	if e == nil {
		return nil, errors.New("fitting: the statistics have no adapter entry")
	}
	av, bv, err := adapterValues(a, at, b, from)
	if err != nil {
		return nil, err
	}
	xa, err1 := parseShape(e.Info["a_shape"])
	xb, err2 := parseShape(e.Info["b_shape"])
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("fitting: the adapter entry's info %v: %w", e.Info, err)
	}
	af, err := newAdapterFit(av, bv, xa, xb, o.Kernel, a.Opset(""))
	if err != nil {
		return nil, err
	}
	if af.stats.p != e.Stats.p || af.stats.q != e.Stats.q {
		return nil, fmt.Errorf("fitting: the statistics are of %d → %d columns, the adapter needs %d → %d", e.Stats.p, e.Stats.q, af.stats.p, af.stats.q)
	}
	af.stats = e.Stats
	af.r.Samples, af.r.Rows = f.Samples, e.Stats.N() // a row is a sample of the fit
	return af.finish(o.Method, LinearOptions{NoBias: o.NoBias, Ridge: o.Ridge})
}

// StitchFromStats is Stitch with the adapter fitted from statistics
// (FitAdapterFromStats).
func StitchFromStats(a *onnx.Model, at string, b *onnx.Model, from string, f *StatsFile, o StitchOptions) (*StitchResult, error) {
	r, err := FitAdapterFromStats(a, at, b, from, f, o)
	if err != nil {
		return nil, err
	}
	if r.Stitch, err = surgery.Stitch(a, at, b, from, r.Adapter); err != nil {
		return nil, err
	}
	return r, nil
}

// adapterIdentity names what an adapter's statistics are of: the models
// (hashed before anything fills in their shapes), the layers and the
// kernel.
func adapterIdentity(a *onnx.Model, at string, b *onnx.Model, from string, o StitchOptions) (map[string]string, error) {
	ha, err := modelHash(a)
	if err != nil {
		return nil, fmt.Errorf("model A: %w", err)
	}
	hb, err := modelHash(b)
	if err != nil {
		return nil, fmt.Errorf("model B: %w", err)
	}
	return map[string]string{"model_a": ha, "model_b": hb, "at": at, "from": from, "kernel": fmt.Sprint(max(o.Kernel, 1))}, nil
}

// adapterValues infers the models' shapes and resolves the layers.
func adapterValues(a *onnx.Model, at string, b *onnx.Model, from string) (*onnx.Value, *onnx.Value, error) {
	for _, m := range []*onnx.Model{a, b} {
		if err := exec.InferShapes(m); err != nil {
			return nil, nil, err
		}
	}
	av, err := a.Graph.Resolve(at)
	if err != nil {
		return nil, nil, fmt.Errorf("model A: %w", err)
	}
	bv, err := b.Graph.Resolve(from)
	if err != nil {
		return nil, nil, fmt.Errorf("model B: %w", err)
	}
	return av, bv, nil
}

// parseShape reads a shape written by shapeString.
func parseShape(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, "x") {
		d, err := strconv.Atoi(f)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("shape %q", s)
		}
		out = append(out, d)
	}
	return out, nil
}

// adapterPass is FitAdapter's pass over the data: the adapter's form and
// its statistics over src.
func adapterPass(a *onnx.Model, at string, b *onnx.Model, from string, src data.Source, o StitchOptions) (*adapterFit, error) {
	if o.Kernel < 0 {
		return nil, fmt.Errorf("fitting: kernel %d: want a positive odd size", o.Kernel)
	}
	av, bv, err := adapterValues(a, at, b, from)
	if err != nil {
		return nil, err
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
	af, err := newAdapterFit(av, bv, xa.Shape, xb.Shape, o.Kernel, a.Opset(""))
	if err != nil {
		return nil, fmt.Errorf("A at %q and B at %q: %w", at, from, err)
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
		if ya, err = af.resize(ya); err != nil {
			return err
		}
		return af.add(ya, yb)
	})
	if err != nil {
		return nil, err
	}
	return af, nil
}

// adapterFit is the fit of one adapter from A's activation to B's: its
// form, fixed by the activations' shapes, and the statistics accumulated
// so far. FitAdapter and Sweep share it, so that a pair of a sweep is
// fitted exactly as FitAdapter fits it.
type adapterFit struct {
	aType, bType onnx.Type // the values' declared types, for the adapter's dims
	aShape       []int     // A's and B's activations in the first batch
	bShape       []int
	conv         bool
	pt           Patches
	opset        int64
	resizeModel  *feed.Model // A's activation to B's height and width; nil when equal
	resizeOut    string
	stats        *Stats
	r            StitchResult // Samples, Rows, ResizedFrom, ResizedTo
}

// newAdapterFit decides the adapter's form from A's and B's activations'
// shapes (xa, xb, as seen in a batch) and makes its statistics: a Gemm
// for (N, C), a kernel×kernel Conv (0 means 1) for NCHW, resizing A's
// activation first when the heights and widths differ.
func newAdapterFit(av, bv *onnx.Value, xa, xb []int, kernel int, opset int64) (*adapterFit, error) {
	if kernel < 0 {
		return nil, fmt.Errorf("fitting: kernel %d: want a positive odd size", kernel)
	}
	k := max(kernel, 1)
	if len(xa) != len(xb) || (len(xa) != 2 && len(xa) != 4) {
		return nil, fmt.Errorf("A's %v and B's %v: adapters map (N, C) to (N, C) or NCHW to NCHW", xa, xb)
	}
	f := &adapterFit{aType: av.Type, bType: bv.Type, aShape: append([]int(nil), xa...), bShape: append([]int(nil), xb...),
		conv: len(xa) == 4, pt: Patches{K: k, Pad: (k - 1) / 2}, opset: opset}
	if f.conv && (xa[2] != xb[2] || xa[3] != xb[3]) {
		if k%2 == 0 {
			return nil, fmt.Errorf("kernel %d: an even kernel cannot keep the spatial size", k)
		}
		f.r.ResizedFrom, f.r.ResizedTo = [2]int{xa[2], xa[3]}, [2]int{xb[2], xb[3]}
		f.opset = max(f.opset, 13)
		g, in, err := f.graph()
		if err != nil {
			return nil, err
		}
		y, m, err := addResize(g, in, xb[2], xb[3], f.opset)
		if err != nil {
			return nil, err
		}
		f.resizeModel, f.resizeOut = m, y.Name
	}
	p, q := xa[1], xb[1]
	if f.conv {
		p *= k * k
	}
	var err error
	if f.stats, err = NewStats(p, q); err != nil {
		return nil, err
	}
	return f, nil
}

// graph starts an adapter graph: its input, A's activation.
func (f *adapterFit) graph() (*onnx.Graph, *onnx.Value, error) {
	g := onnx.NewGraph("adapter")
	in, err := g.AddInput("adapter_input", onnx.Type{DType: tensor.Float32, HasShape: true, Dims: withBatch(f.aType, f.aShape)})
	return g, in, err
}

// resize returns A's activation resized to B's height and width, or ya
// itself when they are equal.
func (f *adapterFit) resize(ya *tensor.Dense) (*tensor.Dense, error) {
	if f.resizeModel == nil {
		return ya, nil
	}
	y, err := f.resizeModel.Value(ya, f.resizeOut)
	if err != nil {
		return nil, fmt.Errorf("resizing A's activation: %w", err)
	}
	return y, nil
}

// add accumulates one batch: A's activation (resized) against B's.
func (f *adapterFit) add(ya, yb *tensor.Dense) error {
	if !tensor.SameShape(ya.Shape[1:], f.resizedShape()) || !tensor.SameShape(yb.Shape[1:], f.bShape[1:]) {
		return fmt.Errorf("activations %v and %v in this batch, but %v and %v in the first", ya.Shape, yb.Shape, f.resizedShape(), f.bShape[1:])
	}
	f.r.Samples += yb.Shape[0]
	if !f.conv {
		f.r.Rows += yb.Shape[0]
		return f.stats.Add(ya.F32, yb.F32)
	}
	f.r.Rows += yb.Shape[0] * yb.Shape[2] * yb.Shape[3]
	return AddConv(f.stats, ya, yb, f.pt)
}

// resizedShape is A's activation's shape after resize, without the batch.
func (f *adapterFit) resizedShape() []int {
	s := append([]int(nil), f.aShape[1:]...)
	if f.resizeModel != nil {
		s[1], s[2] = f.bShape[2], f.bShape[3]
	}
	return s
}

// finish fits the map by method to the statistics so far and emits the
// adapter. It may be called again, with another method.
func (f *adapterFit) finish(method Method, lo LinearOptions) (*StitchResult, error) {
	r := f.r
	var err error
	if r.Fit, err = method.Fit(f.stats, lo); err != nil {
		return nil, err
	}
	g, x, err := f.graph()
	if err != nil {
		return nil, err
	}
	if f.resizeModel != nil {
		if x, _, err = addResize(g, x, f.bShape[2], f.bShape[3], f.opset); err != nil {
			return nil, err
		}
	}
	var y *onnx.Value
	if f.conv {
		y, err = EmitConv(g, x, &r.Fit.Affine, f.pt, "adapter")
	} else {
		y, err = EmitGemm(g, x, &r.Fit.Affine, "adapter")
	}
	if err != nil {
		return nil, err
	}
	y.Type = onnx.Type{DType: tensor.Float32, HasShape: true, Dims: withBatch(f.bType, f.bShape)}
	g.Outputs = []*onnx.Value{y}
	r.Adapter = onnx.NewModel(g, f.opset)
	return &r, nil
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
