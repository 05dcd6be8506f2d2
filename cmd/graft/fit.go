package main

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/graft-ml/graft/data"
	"github.com/graft-ml/graft/exec"
	"github.com/graft-ml/graft/fitting"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// fitKind is an adapter kind: linear, lowrank:R or procrustes.
type fitKind struct {
	name string
	rank int
}

func parseFitKind(s string) (fitKind, error) {
	switch {
	case s == "linear" || s == "procrustes":
		return fitKind{name: s}, nil
	case strings.HasPrefix(s, "lowrank:"):
		r, err := strconv.Atoi(strings.TrimPrefix(s, "lowrank:"))
		if err != nil || r < 1 {
			return fitKind{}, fmt.Errorf("%q: want lowrank:R with R a positive rank", s)
		}
		return fitKind{name: "lowrank", rank: r}, nil
	}
	return fitKind{}, fmt.Errorf("%q: want linear, lowrank:R or procrustes", s)
}

// fitOptions choose how an adapter is fitted.
type fitOptions struct {
	kind   fitKind
	kernel int     // k×k patches for conv activations (1: pixels)
	ridge  float64 // relative ridge (see fitting.LinearOptions)
	noBias bool
	pass   passOptions
}

// fitReport says how a fit went.
type fitReport struct {
	samples, rows int
	resized       string // "" or "HxW → HxW"
	fit           *fitting.Fit
}

// solve fits the chosen kind of map to s.
func (o fitOptions) solve(s *fitting.Stats) (*fitting.Fit, error) {
	lin := fitting.LinearOptions{NoBias: o.noBias, Ridge: o.ridge}
	switch o.kind.name {
	case "lowrank":
		return fitting.LowRank(s, o.kind.rank, lin)
	case "procrustes":
		return fitting.Procrustes(s, fitting.ProcrustesOptions{NoBias: o.noBias, Scale: true})
	}
	return fitting.Linear(s, lin)
}

// fitAdapter fits an adapter from A's value at to B's value from over
// the samples of src and returns it as a one-input, one-output model:
// for NCHW activations a k×k Conv (after a bilinear Resize of A's
// activation when the spatial sizes differ), for (N, C) ones a Gemm.
func fitAdapter(a *onnx.Model, at string, b *onnx.Model, from string, src data.Source, o fitOptions) (*onnx.Model, fitReport, error) {
	var r fitReport
	for _, m := range []*onnx.Model{a, b} {
		if err := exec.InferShapes(m); err != nil {
			return nil, r, err
		}
	}
	av, err := a.Graph.Resolve(at)
	if err != nil {
		return nil, r, fmt.Errorf("model A: %w", err)
	}
	bv, err := b.Graph.Resolve(from)
	if err != nil {
		return nil, r, fmt.Errorf("model B: %w", err)
	}
	pa, err := exec.Compile(a)
	if err != nil {
		return nil, r, err
	}
	pb, err := exec.Compile(b)
	if err != nil {
		return nil, r, err
	}
	ina, err := modelInput(pa)
	if err != nil {
		return nil, r, fmt.Errorf("model A: %w", err)
	}
	inb, err := modelInput(pb)
	if err != nil {
		return nil, r, fmt.Errorf("model B: %w", err)
	}

	// The first batch fixes the shapes, and with them the adapter's form.
	first, _, err := src.Batch(0, min(src.Len(), max(1, o.pass.batch)))
	if err != nil {
		return nil, r, err
	}
	xa, err := runValue(pa, ina, first, av.Name)
	if err != nil {
		return nil, r, fmt.Errorf("model A: %w", err)
	}
	xb, err := runValue(pb, inb, first, bv.Name)
	if err != nil {
		return nil, r, fmt.Errorf("model B: %w", err)
	}
	if xa.Rank() != xb.Rank() || (xa.Rank() != 2 && xa.Rank() != 4) {
		return nil, r, fmt.Errorf("A at %q is %v and B at %q is %v: adapters map (N, C) to (N, C) or NCHW to NCHW", at, xa.Shape, from, xb.Shape)
	}
	conv := xa.Rank() == 4
	pt := fitting.Patches{K: o.kernel, Pad: (o.kernel - 1) / 2}
	g := onnx.NewGraph("adapter")
	in, err := g.AddInput("adapter_input", onnx.Type{DType: tensor.Float32, HasShape: true, Dims: withBatch(av.Type, xa.Shape)})
	if err != nil {
		return nil, r, err
	}
	opset := a.Opset("")
	x := in
	var resize *exec.Program
	if conv && (xa.Shape[2] != xb.Shape[2] || xa.Shape[3] != xb.Shape[3]) {
		if o.kernel%2 == 0 {
			return nil, r, fmt.Errorf("--kernel %d: an even kernel cannot keep the spatial size", o.kernel)
		}
		r.resized = fmt.Sprintf("%dx%d → %dx%d", xa.Shape[2], xa.Shape[3], xb.Shape[2], xb.Shape[3])
		opset = max(opset, 13)
		// Sizes: the batch and channels as they come, B's height and width.
		shape := g.AddNode("Shape", "", "adapter/resize/Shape", []*onnx.Value{x}, []string{"adapter.shape"}).Outputs[0]
		nc := g.AddNode("Slice", "", "adapter/resize/Slice", []*onnx.Value{shape,
			g.AddConst("adapter.zero", tensor.FromI64([]int{1}, []int64{0})),
			g.AddConst("adapter.two", tensor.FromI64([]int{1}, []int64{2}))}, []string{"adapter.nc"}).Outputs[0]
		hw := g.AddConst("adapter.hw", tensor.FromI64([]int{2}, []int64{int64(xb.Shape[2]), int64(xb.Shape[3])}))
		sz := g.AddNode("Concat", "", "adapter/resize/Concat", []*onnx.Value{nc, hw}, []string{"adapter.resize_sizes"}, &onnx.Attr{Name: "axis", Type: onnx.AttrInt, I: 0}).Outputs[0]
		x = g.AddNode("Resize", "", "adapter/resize/Resize", []*onnx.Value{x, nil, nil, sz}, []string{"adapter.resized"},
			&onnx.Attr{Name: "mode", Type: onnx.AttrString, S: "linear"},
			&onnx.Attr{Name: "coordinate_transformation_mode", Type: onnx.AttrString, S: "half_pixel"}).Outputs[0]
		g.Outputs = []*onnx.Value{x}
		rm := onnx.NewModel(g, opset)
		if resize, err = exec.Compile(rm); err != nil {
			return nil, r, fmt.Errorf("adapter resize: %w", err)
		}
	}
	p, q := xa.Shape[1], xb.Shape[1]
	if conv {
		p *= o.kernel * o.kernel
	}
	stats, err := fitting.NewStats(p, q)
	if err != nil {
		return nil, r, err
	}
	o.pass.label = "fit"
	err = forBatches(src, o.pass, func(start int, x *tensor.Dense, _ []int64) error {
		ya, err := runValue(pa, ina, x, av.Name)
		if err != nil {
			return fmt.Errorf("model A: %w", err)
		}
		yb, err := runValue(pb, inb, x, bv.Name)
		if err != nil {
			return fmt.Errorf("model B: %w", err)
		}
		if resize != nil {
			if ya, err = runValue(resize, in.Name, ya, g.Outputs[0].Name); err != nil {
				return fmt.Errorf("resizing A's activation: %w", err)
			}
		}
		r.samples += x.Shape[0]
		if !conv {
			r.rows += x.Shape[0]
			return stats.Add(ya.F32, yb.F32)
		}
		r.rows += yb.Shape[0] * yb.Shape[2] * yb.Shape[3]
		return fitting.AddConv(stats, ya, yb, pt)
	})
	if err != nil {
		return nil, r, err
	}
	if r.fit, err = o.solve(stats); err != nil {
		return nil, r, err
	}
	var y *onnx.Value
	if conv {
		y, err = fitting.EmitConv(g, x, &r.fit.Affine, pt, "adapter")
	} else {
		y, err = fitting.EmitGemm(g, x, &r.fit.Affine, "adapter")
	}
	if err != nil {
		return nil, r, err
	}
	y.Type = onnx.Type{DType: tensor.Float32, HasShape: true, Dims: withBatch(bv.Type, xb.Shape)}
	g.Outputs = []*onnx.Value{y}
	return onnx.NewModel(g, opset), r, nil
}

// runValue runs p on x fed to input and returns the value name.
func runValue(p *exec.Program, input string, x *tensor.Dense, name string) (*tensor.Dense, error) {
	res, err := runBatched(p, input, x, []string{name})
	if err != nil {
		return nil, err
	}
	return res[name], nil
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

// printFit describes a fit.
func printFit(w io.Writer, kind fitKind, r fitReport) {
	f := r.fit
	name := kind.name
	if kind.rank > 0 {
		name = fmt.Sprintf("lowrank (rank %d)", kind.rank)
	}
	fmt.Fprintf(w, "fitted a %s adapter, %d → %d, on %d samples (%d rows): R² %.4f, relative residual %.4f\n",
		name, f.In, f.Out, r.samples, r.rows, f.Quality.R2, f.Quality.RelResidual)
	if r.resized != "" {
		fmt.Fprintf(w, "A's activation is resized bilinearly %s to match B's\n", r.resized)
	}
	if f.EffectiveRank > 0 && f.EffectiveRank < f.In {
		fmt.Fprintf(w, "warning: the inputs span only %d of their %d dimensions; the fit used the pseudo-inverse (add --ridge to regularise)\n", f.EffectiveRank, f.In)
	}
	if math.IsNaN(f.Quality.R2) {
		fmt.Fprintln(w, "warning: B's activation is constant over the data, so R² is undefined")
	}
}
