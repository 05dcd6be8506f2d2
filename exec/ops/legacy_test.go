package ops

import (
	"errors"
	"math"
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// iotaF32 returns a float32 tensor holding 0, 1, 2, ... minus off.
func iotaF32(off float32, shape ...int) *tensor.Dense {
	t := tensor.New(tensor.Float32, shape...)
	for i := range t.F32 {
		t.F32[i] = float32(i) - off
	}
	return t
}

// TestLegacyOpsets checks the opset 1-6 forms that old PyTorch exports
// write (pytorch-operator and pytorch-converted in libonnx-testdata):
// Slice's attributes, the legacy broadcast attribute, PRelu's per-channel
// slope, BatchNormalization's is_test, Gemm's broadcast; each against the
// value worked out by hand or the opset-13 form of the same computation.
func TestLegacyOpsets(t *testing.T) {
	x34 := iotaF32(0, 3, 4)
	channel := iotaF32(1, 3)    // -1 0 1
	prx := iotaF32(12, 2, 3, 4) // -12 .. 11
	bnx := iotaF32(5, 2, 3, 2)  // -5 .. 6
	bnp := tensor.FromF32([]int{3}, []float32{1, 2, 3})
	gemmA, gemmB := iotaF32(0, 2, 3), iotaF32(0, 3, 4)
	gemmC := tensor.FromF32([]int{4}, []float32{10, 20, 30, 40})
	prelu := func(x, slope float32) float32 {
		if x < 0 {
			return x * slope
		}
		return x
	}
	tests := []struct {
		name  string
		opset int
		node  *onnx.Node
		in    []*tensor.Dense
		// want computes the expected output from the inputs; nil with
		// unsupported set means the node must be refused.
		want        func() *tensor.Dense
		unsupported bool
	}{
		{name: "Slice-1", opset: 6, node: shapeTestNode("Slice", []string{"x"}, 1,
			onnx.IntsAttr("starts", 1, 0), onnx.IntsAttr("ends", 3, -1), onnx.IntsAttr("axes", 0, 1)),
			in: []*tensor.Dense{x34}, want: func() *tensor.Dense {
				return tensor.FromF32([]int{2, 3}, []float32{4, 5, 6, 8, 9, 10})
			}},
		{name: "Slice-1 no axes", opset: 9, node: shapeTestNode("Slice", []string{"x"}, 1,
			onnx.IntsAttr("starts", 2), onnx.IntsAttr("ends", 100)),
			in: []*tensor.Dense{x34}, want: func() *tensor.Dense {
				return tensor.FromF32([]int{1, 4}, []float32{8, 9, 10, 11})
			}},
		{name: "Slice-10 inputs", opset: 10, node: shapeTestNode("Slice", []string{"x", "s", "e"}, 1),
			in:   []*tensor.Dense{x34, tensor.FromI64([]int{1}, []int64{2}), tensor.FromI64([]int{1}, []int64{3})},
			want: func() *tensor.Dense { return tensor.FromF32([]int{1, 4}, []float32{8, 9, 10, 11}) }},
		{name: "Max-6", opset: 6, node: shapeTestNode("Max", []string{"a", "b"}, 1),
			in:   []*tensor.Dense{iotaF32(0, 3), iotaF32(0, 3).Reshaped([]int{3})},
			want: func() *tensor.Dense { return iotaF32(0, 3) }},
		{name: "Max-5", opset: 5, node: shapeTestNode("Max", []string{"a", "b"}, 1),
			in: []*tensor.Dense{iotaF32(0, 3), iotaF32(0, 3)}, unsupported: true},
		{name: "Add-6 broadcast trailing axis", opset: 6, node: shapeTestNode("Add", []string{"a", "b"}, 1,
			onnx.IntAttr("broadcast", 1), onnx.IntAttr("axis", 1)),
			in: []*tensor.Dense{x34, iotaF32(0, 4)}, want: func() *tensor.Dense {
				out := iotaF32(0, 3, 4)
				for i := range out.F32 {
					out.F32[i] += float32(i % 4)
				}
				return out
			}},
		{name: "Add-6 broadcast leading axis", opset: 6, node: shapeTestNode("Add", []string{"a", "b"}, 1,
			onnx.IntAttr("broadcast", 1), onnx.IntAttr("axis", 0)),
			in: []*tensor.Dense{x34, iotaF32(0, 3)}, unsupported: true},
		{name: "PRelu-6 per channel", opset: 6, node: shapeTestNode("PRelu", []string{"x", "slope"}, 1),
			in: []*tensor.Dense{prx, channel}, want: func() *tensor.Dense {
				out := tensor.New(tensor.Float32, 2, 3, 4)
				for i, v := range prx.F32 {
					out.F32[i] = prelu(v, channel.F32[(i/4)%3])
				}
				return out
			}},
		{name: "BatchNormalization-6 is_test", opset: 6, node: shapeTestNode("BatchNormalization", []string{"x", "s", "b", "m", "v"}, 1,
			onnx.IntAttr("is_test", 1), onnx.FloatAttr("epsilon", 0)),
			in: []*tensor.Dense{bnx, bnp, bnp, bnp, bnp}, want: func() *tensor.Dense {
				out := tensor.New(tensor.Float32, 2, 3, 2)
				for i, v := range bnx.F32 {
					p := bnp.F32[(i/2)%3]
					out.F32[i] = (v-p)/float32(math.Sqrt(float64(p)))*p + p
				}
				return out
			}},
		// is_test=0 (the default before opset 7) normalises by the batch's
		// own statistics: channel c of bnx [2, 3, 2] holds 4 values.
		{name: "BatchNormalization-6 training", opset: 6, node: shapeTestNode("BatchNormalization", []string{"x", "s", "b", "m", "v"}, 1),
			in: []*tensor.Dense{bnx, bnp, bnp, bnp, bnp}, want: func() *tensor.Dense {
				var mean, sq [3]float64
				for i, v := range bnx.F32 {
					mean[(i/2)%3] += float64(v) / 4
				}
				for i, v := range bnx.F32 {
					d := float64(v) - mean[(i/2)%3]
					sq[(i/2)%3] += d * d / 4
				}
				out := tensor.New(tensor.Float32, 2, 3, 2)
				for i, v := range bnx.F32 {
					c := (i / 2) % 3
					p := float64(bnp.F32[c])
					out.F32[i] = float32((float64(v)-mean[c])/math.Sqrt(sq[c]+1e-5)*p + p)
				}
				return out
			}},
		{name: "Gemm-6 broadcast C", opset: 6, node: shapeTestNode("Gemm", []string{"a", "b", "c"}, 1, onnx.IntAttr("broadcast", 1)),
			in: []*tensor.Dense{gemmA, gemmB, gemmC}, want: func() *tensor.Dense {
				out := tensor.New(tensor.Float32, 2, 4)
				for i := range 2 {
					for j := range 4 {
						s := gemmC.F32[j]
						for k := range 3 {
							s += gemmA.F32[i*3+k] * gemmB.F32[k*4+j]
						}
						out.F32[i*4+j] = s
					}
				}
				return out
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := shapeRunOpErr(tt.opset, tt.node, tt.in...)
			if tt.unsupported {
				if !errors.Is(err, ErrUnsupported) {
					t.Fatalf("got %v, %v; want an ErrUnsupported error", out, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want()
			if !tensor.SameShape(out[0].Shape, want.Shape) {
				t.Fatalf("shape %v, want %v", out[0].Shape, want.Shape)
			}
			for i, w := range want.F32 {
				if d := out[0].F32[i] - w; d > 1e-5 || d < -1e-5 {
					t.Fatalf("element %d: got %g, want %g (out %v)", i, out[0].F32[i], w, out[0].F32)
				}
			}
		})
	}
}

// TestLegacySliceErrors checks that malformed Slice-1 attributes are an
// error naming them, not a panic.
func TestLegacySliceErrors(t *testing.T) {
	n := shapeTestNode("Slice", []string{"x"}, 1, onnx.IntsAttr("starts", 0, 1), onnx.IntsAttr("ends", 2))
	if _, err := shapeRunOpErr(6, n, iotaF32(0, 3, 4)); err == nil {
		t.Fatal("2 starts and 1 end: no error")
	}
	n = shapeTestNode("Slice", []string{"x"}, 1, onnx.IntsAttr("starts", 0), onnx.IntsAttr("ends", 2), onnx.IntsAttr("axes", 0, 1))
	if _, err := shapeRunOpErr(6, n, iotaF32(0, 3, 4)); err == nil {
		t.Fatal("2 axes for 1 start: no error")
	}
}
