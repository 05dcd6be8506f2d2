package ops

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// resizeRefCase is one configuration of the naive reference below.
type resizeRefCase struct {
	mode, coord, nearest string
	a                    float64
	exclude              bool
	extrap               float64
	roi                  []float64 // starts then ends, all axes
}

// resizeRef1D follows the ONNX reference implementation's 1-D step: find
// the n nearest neighbours of the mapped coordinate in the edge-padded
// axis (preferring lower indices on ties) and weight them.
func resizeRef1D(c resizeRefCase, axis int, x int, scale float64, in, out int, value func(i int) float64) float64 {
	outF := scale * float64(in)
	var xo float64
	switch c.coord {
	case "half_pixel":
		xo = (float64(x)+0.5)/scale - 0.5
	case "pytorch_half_pixel":
		if out > 1 {
			xo = (float64(x)+0.5)/scale - 0.5
		}
	case "align_corners":
		if outF != 1 && out != 1 {
			xo = float64(x) * float64(in-1) / (outF - 1)
		}
	case "asymmetric":
		xo = float64(x) / scale
	case "tf_half_pixel_for_nn":
		xo = (float64(x) + 0.5) / scale
	case "tf_crop_and_resize":
		r0, r1 := c.roi[axis], c.roi[axis+len(c.roi)/2]
		if out > 1 {
			xo = r0*float64(in-1) + float64(x)*(r1-r0)*float64(in-1)/(outF-1)
		} else {
			xo = 0.5 * (r0 + r1) * float64(in-1)
		}
		if xo < 0 || xo > float64(in-1) {
			return c.extrap
		}
	}
	ratio := 1.0
	if xo != math.Floor(xo) {
		ratio = xo - math.Floor(xo)
	}
	var coeffs []float64
	switch c.mode {
	case "nearest":
		b := func(v bool) float64 {
			if v {
				return 1
			}
			return 0
		}
		switch {
		case ratio == 1:
			coeffs = []float64{0, 1}
		case c.nearest == "round_prefer_floor":
			coeffs = []float64{b(ratio <= 0.5), b(ratio > 0.5)}
		case c.nearest == "round_prefer_ceil":
			coeffs = []float64{b(ratio < 0.5), b(ratio >= 0.5)}
		case c.nearest == "floor":
			coeffs = []float64{1, 0}
		default:
			coeffs = []float64{0, 1}
		}
	case "linear":
		coeffs = []float64{1 - ratio, ratio}
	case "cubic":
		A := c.a
		coeffs = []float64{
			((A*(ratio+1)-5*A)*(ratio+1)+8*A)*(ratio+1) - 4*A,
			((A+2)*ratio-(A+3))*ratio*ratio + 1,
			((A+2)*(1-ratio)-(A+3))*(1-ratio)*(1-ratio) + 1,
			((A*((1-ratio)+1)-5*A)*((1-ratio)+1)+8*A)*((1-ratio)+1) - 4*A,
		}
	}
	n := len(coeffs)
	pad := (n + 1) / 2
	xp := xo + float64(pad)
	cand := make([]int, in+2*pad)
	for i := range cand {
		cand[i] = i
	}
	sort.SliceStable(cand, func(i, j int) bool {
		di, dj := math.Abs(xp-float64(cand[i])), math.Abs(xp-float64(cand[j]))
		if di != dj {
			return di < dj
		}
		return cand[i] < cand[j]
	})
	idx := append([]int{}, cand[:n]...)
	sort.Ints(idx)
	// Only cubic has weights outside the axis worth excluding (linear and
	// nearest always have one inside); ONNX Runtime does the same.
	if c.exclude && c.mode == "cubic" {
		sum := 0.0
		for i, p := range idx {
			if p-pad < 0 || p-pad >= in {
				coeffs[i] = 0
			}
			sum += coeffs[i]
		}
		for i := range coeffs {
			coeffs[i] /= sum
		}
	}
	acc := 0.0
	for i, p := range idx {
		acc += coeffs[i] * value(min(max(p-pad, 0), in-1))
	}
	return acc
}

// resizeRefND interpolates the outer axis over inner-interpolated values,
// as the ONNX reference does.
func resizeRefND(c resizeRefCase, x *tensor.Dense, scales []float64, out []int) *tensor.Dense {
	y := tensor.New(tensor.Float32, out...)
	st := tensor.Strides(x.Shape)
	var rec func(axis, off int, oc []int) float64
	rec = func(axis, off int, oc []int) float64 {
		if axis == len(out) {
			return float64(x.F32[off])
		}
		return resizeRef1D(c, axis, oc[axis], scales[axis], x.Shape[axis], out[axis], func(i int) float64 {
			return rec(axis+1, off+i*st[axis], oc)
		})
	}
	for i := range y.F32 {
		y.F32[i] = float32(rec(0, 0, shapeUnravel(i, out)))
	}
	return y
}

func TestResizeAgainstReference(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	coords := []string{"half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_half_pixel_for_nn", "tf_crop_and_resize"}
	scaleChoices := []float64{0.5, 0.6, 0.75, 1, 1.5, 2, 2.5, 3, 1.0 / 3}
	for trial := 0; trial < 300; trial++ {
		mode := []string{"nearest", "linear", "cubic"}[trial%3]
		c := resizeRefCase{
			mode:    mode,
			coord:   coords[r.IntN(len(coords))],
			nearest: []string{"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"}[r.IntN(4)],
			a:       []float64{-0.75, -0.5}[r.IntN(2)],
			exclude: r.IntN(2) == 0,
			extrap:  float64(r.IntN(3)),
		}
		rank := 1 + r.IntN(4)
		shape := make([]int, rank)
		for i := range shape {
			shape[i] = 1 + r.IntN(6)
		}
		if rank == 4 {
			shape[0], shape[1] = 1+r.IntN(2), 1+r.IntN(3)
		}
		x := shapeRandF32(r, shape...)
		useSizes := r.IntN(2) == 0
		scales := make([]float64, rank)
		out := make([]int, rank)
		sizes := make([]int64, rank)
		sc32 := make([]float32, rank)
		for i := range scales {
			if rank == 4 && i < 2 {
				scales[i], out[i], sizes[i], sc32[i] = 1, shape[i], int64(shape[i]), 1
				continue
			}
			if useSizes {
				out[i] = 1 + r.IntN(9)
				sizes[i] = int64(out[i])
				scales[i] = float64(out[i]) / float64(shape[i])
			} else {
				sc32[i] = float32(scaleChoices[r.IntN(len(scaleChoices))])
				scales[i] = float64(sc32[i])
				out[i] = int(math.Floor(scales[i] * float64(shape[i])))
				if out[i] == 0 {
					sc32[i], scales[i], out[i] = 1, 1, shape[i]
				}
			}
		}
		roi := tensor.New(tensor.Float32, 0)
		if c.coord == "tf_crop_and_resize" {
			roi = tensor.New(tensor.Float32, 2*rank)
			for i := range rank {
				s := r.Float64()*0.6 - 0.2
				e := s + 0.2 + r.Float64()*0.8
				roi.F32[i], roi.F32[i+rank] = float32(s), float32(e)
			}
			c.roi = roi.Float64s()
		}
		attrs := []*onnx.Attr{shapeAttrS("mode", c.mode), shapeAttrS("coordinate_transformation_mode", c.coord),
			shapeAttrS("nearest_mode", c.nearest), shapeAttrF("cubic_coeff_a", float32(c.a)),
			shapeAttrF("extrapolation_value", float32(c.extrap))}
		if c.exclude {
			attrs = append(attrs, shapeAttrI("exclude_outside", 1))
		}
		n := shapeTestNode("Resize", []string{"x", "roi", "scales", "sizes"}, 1, attrs...)
		var got *tensor.Dense
		if useSizes {
			got = shapeRunOp(t, 13, n, x, roi, tensor.New(tensor.Float32, 0), shapeTensorI64([]int{rank}, sizes...))[0]
		} else {
			got = shapeRunOp(t, 13, n, x, roi, tensor.FromF32([]int{rank}, sc32))[0]
		}
		want := resizeRefND(c, x, scales, out)
		if err := closeEnough(got, want); err != nil {
			t.Fatalf("%+v shape %v scales %v sizes %v: %v\ngot  %v\nwant %v", c, shape, sc32, sizes, err, got.F32, want.F32)
		}
	}
}

// TestResizeBilinearLarge checks the parallel passes on an image-sized
// tensor against the reference, and a float64 input.
func TestResizeBilinearLarge(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	x := shapeRandF32(r, 1, 8, 40, 36)
	c := resizeRefCase{mode: "linear", coord: "pytorch_half_pixel"}
	n := shapeTestNode("Resize", []string{"x", "", "scales"}, 1, shapeAttrS("mode", "linear"), shapeAttrS("coordinate_transformation_mode", "pytorch_half_pixel"))
	got := shapeRunOp(t, 13, n, x, nil, tensor.FromF32([]int{4}, []float32{1, 1, 2, 2}))[0]
	want := resizeRefND(c, x, []float64{1, 1, 2, 2}, []int{1, 8, 80, 72})
	if err := closeEnough(got, want); err != nil {
		t.Fatal(err)
	}
	x64 := tensor.FromF64(x.Shape, x.Float64s())
	got64 := shapeRunOp(t, 13, n, x64, nil, tensor.FromF32([]int{4}, []float32{1, 1, 2, 2}))[0]
	if got64.DType != tensor.Float64 {
		t.Fatalf("float64 resize gave %s", got64.DType)
	}
	if err := closeEnough(tensor.FromF32(got64.Shape, got.F32), want); err != nil {
		t.Fatal(err)
	}
}

func TestResizeNearestInt(t *testing.T) {
	x := shapeTensorI64([]int{1, 1, 2, 2}, 1, 2, 3, 4)
	x.DType = tensor.Uint8
	n := shapeTestNode("Resize", []string{"x", "", "scales"}, 1, shapeAttrS("mode", "nearest"))
	got := shapeRunOp(t, 13, n, x, nil, tensor.FromF32([]int{4}, []float32{1, 1, 2, 2}))[0]
	want := shapeTensorI64([]int{1, 1, 4, 4}, 1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4)
	want.DType = tensor.Uint8
	shapeCheckEqual(t, "uint8 nearest", got, want)
	n = shapeTestNode("Resize", []string{"x", "", "scales"}, 1, shapeAttrS("mode", "linear"))
	if _, err := shapeRunOpErr(13, n, x, nil, tensor.FromF32([]int{4}, []float32{1, 1, 2, 2})); err == nil {
		t.Error("linear on uint8: no error")
	}
}

func TestUpsample(t *testing.T) {
	x := tensor.FromF32([]int{1, 1, 2, 2}, []float32{1, 2, 3, 4})
	n := shapeTestNode("Upsample", []string{"x", "s"}, 1, shapeAttrS("mode", "linear"))
	got := shapeRunOp(t, 9, n, x, tensor.FromF32([]int{4}, []float32{1, 1, 2, 2}))[0]
	want := tensor.FromF32([]int{1, 1, 4, 4}, []float32{
		1, 1.5, 2, 2,
		2, 2.5, 3, 3,
		3, 3.5, 4, 4,
		3, 3.5, 4, 4,
	})
	if err := closeEnough(got, want); err != nil {
		t.Fatal(err)
	}
	n = shapeTestNode("Upsample", []string{"x"}, 1, &onnx.Attr{Name: "scales", Type: onnx.AttrFloats, Floats: []float32{1, 1, 2, 3}})
	got = shapeRunOp(t, 7, n, x)[0]
	if !tensor.SameShape(got.Shape, []int{1, 1, 4, 6}) || got.F32[5] != 2 || got.F32[23] != 4 {
		t.Fatalf("opset 7 nearest: %v %v", got.Shape, got.F32)
	}
}

func TestResizeInfer(t *testing.T) {
	b := shapeSym("batch")
	x := shapeTyp(tensor.Float32, b, shapeDim(3), shapeDim(20), shapeDim(30))
	cases := []struct {
		name  string
		opset int
		node  *onnx.Node
		in    []onnx.Type
		konst []*tensor.Dense
		sym   [][]onnx.Dim
		want  string
	}{
		{"scales", 13, shapeTestNode("Resize", []string{"x", "", "s"}, 1), []onnx.Type{x, {}, shapeTyp(tensor.Float32, shapeDim(4))},
			[]*tensor.Dense{nil, nil, tensor.FromF32([]int{4}, []float32{1, 1, 2, 1.5})}, nil, "float32[batch,3,40,45]"},
		{"sizes-symbolic", 13, shapeTestNode("Resize", []string{"x", "", "", "z"}, 1), []onnx.Type{x, {}, {}, shapeTyp(tensor.Int64, shapeDim(4))},
			nil, [][]onnx.Dim{nil, nil, nil, {b, shapeDim(3), shapeDim(64), shapeDim(64)}}, "float32[batch,3,64,64]"},
		{"sizes-opset11", 11, shapeTestNode("Resize", []string{"x", "r", "s", "z"}, 1), []onnx.Type{x, shapeTyp(tensor.Float32, shapeDim(0)), shapeTyp(tensor.Float32, shapeDim(0)), shapeTyp(tensor.Int64, shapeDim(4))},
			[]*tensor.Dense{nil, tensor.New(tensor.Float32, 0), tensor.New(tensor.Float32, 0), shapeTensorI64([]int{4}, 2, 3, 5, 6)}, nil, "float32[2,3,5,6]"},
		{"unknown", 13, shapeTestNode("Resize", []string{"x", "", "s"}, 1), []onnx.Type{x, {}, shapeTyp(tensor.Float32, shapeDim(4))}, nil, nil, "float32[?,?,?,?]"},
		{"axes", 18, shapeTestNode("Resize", []string{"x", "", "", "z"}, 1, shapeAttrIs("axes", 2, 3)), []onnx.Type{x, {}, {}, shapeTyp(tensor.Int64, shapeDim(2))},
			[]*tensor.Dense{nil, nil, nil, shapeTensorI64([]int{2}, 7, 8)}, nil, "float32[batch,3,7,8]"},
		{"not_larger", 18, shapeTestNode("Resize", []string{"x", "", "", "z"}, 1, shapeAttrIs("axes", 2, 3), shapeAttrS("keep_aspect_ratio_policy", "not_larger")),
			[]onnx.Type{onnx.ShapeOf(tensor.Float32, 1, 3, 20, 30), {}, {}, shapeTyp(tensor.Int64, shapeDim(2))},
			[]*tensor.Dense{nil, nil, nil, shapeTensorI64([]int{2}, 10, 10)}, nil, "float32[1,3,7,10]"},
		{"upsample", 9, shapeTestNode("Upsample", []string{"x", "s"}, 1), []onnx.Type{x, shapeTyp(tensor.Float32, shapeDim(4))},
			[]*tensor.Dense{nil, tensor.FromF32([]int{4}, []float32{1, 1, 2, 2})}, nil, "float32[batch,3,40,60]"},
	}
	for _, c := range cases {
		got, _ := shapeInferStep(t, c.opset, shapeStep{node: c.node, in: c.in, konst: c.konst, sym: c.sym})
		if got.String() != c.want {
			t.Errorf("%s: got %s, want %s", c.name, got, c.want)
		}
	}
	n := shapeTestNode("Resize", []string{"x", "", "s"}, 1, shapeAttrI("antialias", 1))
	if _, err := resizeInfer(&InferCtx{Node: n, Opset: 18, In: []onnx.Type{x}}); err == nil {
		t.Error("antialias: no error")
	}
}

// BenchmarkResize measures the upsampling found in detection and
// segmentation heads.
func BenchmarkResize(b *testing.B) {
	x := shapeRandF32(rand.New(rand.NewPCG(1, 1)), 1, 256, 40, 40)
	for _, mode := range []string{"nearest", "linear"} {
		n := shapeTestNode("Resize", []string{"x", "", "s"}, 1, shapeAttrS("mode", mode))
		in := []*tensor.Dense{x, nil, tensor.FromF32([]int{4}, []float32{1, 1, 2, 2})}
		b.Run(fmt.Sprint(mode, x.Shape, "x2"), func(b *testing.B) {
			for b.Loop() {
				if _, err := resizeRun(&RunCtx{Node: n, Opset: 13, In: in, Threads: 1}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
