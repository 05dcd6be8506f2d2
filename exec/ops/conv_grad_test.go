package ops_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/graft-ml/graft/exec"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

func convAttrs(strides, pads, dils []int64, group int64) []*onnx.Attr {
	var a []*onnx.Attr
	if strides != nil {
		a = append(a, onnx.IntsAttr("strides", strides...))
	}
	if pads != nil {
		a = append(a, onnx.IntsAttr("pads", pads...))
	}
	if dils != nil {
		a = append(a, onnx.IntsAttr("dilations", dils...))
	}
	if group != 0 {
		a = append(a, onnx.IntAttr("group", group))
	}
	return a
}

func convGradCases() []gradCase {
	x := func(shape ...int) *tensor.Dense { return randn(21, shape) }
	w := func(shape ...int) *tensor.Dense { return scaled(randn(22, shape), 0.5, 0) }
	b := func(n int) *tensor.Dense { return randn(23, []int{n}) }
	return []gradCase{
		{name: "Conv/3x3_pad1", op: "Conv", attrs: convAttrs(nil, []int64{1, 1, 1, 1}, nil, 0), in: []*tensor.Dense{x(2, 3, 5, 5), w(4, 3, 3, 3), b(4)}},
		{name: "Conv/stride2_pad1_odd", op: "Conv", attrs: convAttrs([]int64{2, 2}, []int64{1, 1, 1, 1}, nil, 0), in: []*tensor.Dense{x(1, 2, 6, 7), w(3, 2, 3, 3), b(3)}},
		{name: "Conv/stride2_unreached_rows", op: "Conv", attrs: convAttrs([]int64{2, 3}, []int64{0, 1, 0, 0}, nil, 0), in: []*tensor.Dense{x(1, 2, 6, 8), w(2, 2, 3, 2)}},
		{name: "Conv/dilation2_asym_pads", op: "Conv", attrs: convAttrs(nil, []int64{2, 0, 1, 2}, []int64{2, 2}, 0), in: []*tensor.Dense{x(1, 2, 6, 6), w(3, 2, 3, 3), b(3)}},
		{name: "Conv/group2", op: "Conv", attrs: convAttrs(nil, []int64{1, 1, 1, 1}, nil, 2), in: []*tensor.Dense{x(2, 4, 5, 4), w(6, 2, 3, 3), b(6)}},
		{name: "Conv/depthwise_stride2", op: "Conv", attrs: convAttrs([]int64{2, 2}, []int64{1, 1, 1, 1}, nil, 3), in: []*tensor.Dense{x(2, 3, 7, 7), w(3, 1, 3, 3), b(3)}},
		{name: "Conv/depthwise_mult2", op: "Conv", attrs: convAttrs(nil, nil, nil, 2), in: []*tensor.Dense{x(1, 2, 5, 5), w(4, 1, 2, 2)}},
		{name: "Conv/1x1", op: "Conv", in: []*tensor.Dense{x(2, 5, 3, 3), w(4, 5, 1, 1), b(4)}},
		{name: "Conv/same_upper_stride2", op: "Conv", attrs: []*onnx.Attr{onnx.StringAttr("auto_pad", "SAME_UPPER"), onnx.IntsAttr("strides", 2, 2)}, in: []*tensor.Dense{x(1, 2, 5, 6), w(2, 2, 3, 3)}},
		{name: "Conv/1d", op: "Conv", attrs: convAttrs([]int64{2}, []int64{1, 2}, nil, 0), in: []*tensor.Dense{x(2, 3, 9), w(2, 3, 3), b(2)}},
		{name: "Conv/3d", op: "Conv", attrs: convAttrs(nil, []int64{1, 0, 1, 1, 0, 1}, nil, 0), in: []*tensor.Dense{x(1, 2, 3, 4, 4), w(2, 2, 2, 2, 3)}},
		{name: "ConvTranspose/stride2", op: "ConvTranspose", attrs: convAttrs([]int64{2, 2}, nil, nil, 0), in: []*tensor.Dense{x(2, 3, 3, 3), w(3, 2, 2, 2), b(2)}},
		{name: "ConvTranspose/pads_outpad", op: "ConvTranspose", attrs: append(convAttrs([]int64{2, 2}, []int64{1, 0, 1, 1}, nil, 0), onnx.IntsAttr("output_padding", 1, 1)), in: []*tensor.Dense{x(1, 2, 3, 4), w(2, 3, 3, 3), b(3)}},
		{name: "ConvTranspose/group2_dil2", op: "ConvTranspose", attrs: convAttrs(nil, []int64{1, 1, 1, 1}, []int64{2, 2}, 2), in: []*tensor.Dense{x(1, 4, 3, 3), w(4, 1, 3, 3)}},
	}
}

func TestGradConv(t *testing.T) { runGradCases(t, convGradCases()) }

// TestConvRef checks the float64 references of Conv and ConvTranspose
// against the float32 kernels on the gradient cases' geometries.
func TestConvRef(t *testing.T) {
	for _, gc := range convGradCases() {
		if gc.domain != "" {
			continue
		}
		t.Run(gc.name, func(t *testing.T) {
			var outs [2]*tensor.Dense
			for k, dt := range []tensor.DType{tensor.Float64, tensor.Float32} {
				m, _ := buildGradModel(gc, dt)
				p, err := exec.Compile(m)
				if err != nil {
					t.Fatal(err)
				}
				feeds := map[string]*tensor.Dense{}
				for _, v := range m.Graph.Inputs {
					var i int
					fmt.Sscanf(v.Name, "x%d", &i)
					feeds[v.Name] = convertTo(gc.in[i], dt)
				}
				out, err := p.Run(feeds, exec.RunOptions{})
				if err != nil {
					t.Fatal(err)
				}
				outs[k] = out["y0"]
			}
			if !tensor.SameShape(outs[0].Shape, outs[1].Shape) {
				t.Fatalf("float64 shape %v, float32 %v", outs[0].Shape, outs[1].Shape)
			}
			for i, v := range outs[1].F32 {
				if math.Abs(float64(v)-outs[0].F64[i]) > 1e-5*(1+math.Abs(outs[0].F64[i])) {
					t.Fatalf("y[%d]: float32 %g, float64 %g", i, v, outs[0].F64[i])
				}
			}
		})
	}
}
