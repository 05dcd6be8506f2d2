package ops

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

func TestCastValues(t *testing.T) {
	cases := []struct {
		name string
		in   *tensor.Dense
		to   tensor.DType
		want []float64
	}{
		{"float to int truncates toward zero", tensor.FromF32([]int{4}, []float32{1.7, -1.7, 0, 2.5}), tensor.Int64, []float64{1, -1, 0, 2}},
		{"int64 to int8 wraps", tensor.FromI64([]int{3}, []int64{127, 128, -129}), tensor.Int8, []float64{127, -128, 127}},
		{"int64 to uint8 wraps", tensor.FromI64([]int{2}, []int64{255, 256}), tensor.Uint8, []float64{255, 0}},
		{"float to bool", tensor.FromF32([]int{3}, []float32{0, -0.5, 3}), tensor.Bool, []float64{0, 1, 1}},
		{"NaN to int is zero", tensor.FromF32([]int{1}, []float32{float32(math.NaN())}), tensor.Int32, []float64{0}},
		{"float to float16 rounds", tensor.FromF32([]int{2}, []float32{1.0001, 65504}), tensor.Float16, []float64{1, 65504}},
		{"int to float64", tensor.FromI64([]int{2}, []int64{-3, 1 << 40}), tensor.Float64, []float64{-3, 1 << 40}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := shapeTestNode("Cast", []string{"x"}, 1, shapeAttrI("to", int64(c.to)))
			got := shapeRunOp(t, 13, n, c.in)[0]
			if got.DType != c.to {
				t.Fatalf("dtype %s, want %s", got.DType, c.to)
			}
			g := got.Float64s()
			for i := range c.want {
				if g[i] != c.want[i] {
					t.Fatalf("element %d: got %v, want %v", i, g[i], c.want[i])
				}
			}
		})
	}
}

func TestRangeValues(t *testing.T) {
	cases := []struct {
		start, limit, delta *tensor.Dense
		want                []float64
	}{
		{tensor.FromI64(nil, []int64{0}), tensor.FromI64(nil, []int64{5}), tensor.FromI64(nil, []int64{2}), []float64{0, 2, 4}},
		{tensor.FromI64(nil, []int64{5}), tensor.FromI64(nil, []int64{0}), tensor.FromI64(nil, []int64{-3}), []float64{5, 2}},
		{tensor.FromI64(nil, []int64{5}), tensor.FromI64(nil, []int64{0}), tensor.FromI64(nil, []int64{1}), []float64{}},
		{tensor.Scalar(1), tensor.Scalar(2), tensor.Scalar(0.25), []float64{1, 1.25, 1.5, 1.75}},
	}
	for _, c := range cases {
		n := shapeTestNode("Range", []string{"s", "l", "d"}, 1)
		got := shapeRunOp(t, 11, n, c.start, c.limit, c.delta)[0]
		g := got.Float64s()
		if len(g) != len(c.want) {
			t.Fatalf("got %v, want %v", g, c.want)
		}
		for i := range g {
			if g[i] != c.want[i] {
				t.Fatalf("got %v, want %v", g, c.want)
			}
		}
	}
	n := shapeTestNode("Range", []string{"s", "l", "d"}, 1)
	_, err := shapeRunOpErr(11, n, tensor.Scalar(0), tensor.Scalar(1), tensor.Scalar(0))
	if err == nil {
		t.Fatal("zero delta: no error")
	}
}

func TestConstantOfShapeInferSymbolic(t *testing.T) {
	n := shapeTestNode("ConstantOfShape", []string{"shape"}, 1)
	c := &InferCtx{
		Node:  n,
		Opset: 13,
		In:    []onnx.Type{onnx.ShapeOf(tensor.Int64, 2)},
		Const: []*tensor.Dense{nil},
		Sym:   [][]onnx.Dim{{shapeSym("batch"), shapeDim(4)}},
	}
	types, err := constantOfShapeInfer(c)
	if err != nil {
		t.Fatal(err)
	}
	if got := types[0].ShapeString(); got != "[batch,4]" && got != "[batch, 4]" {
		t.Fatalf("shape %s, want [batch,4]", got)
	}
	if types[0].DType != tensor.Float32 {
		t.Fatalf("dtype %s, want float32", types[0].DType)
	}
}

func TestDropoutInference(t *testing.T) {
	x := tensor.FromF32([]int{2}, []float32{1, 2})
	n := shapeTestNode("Dropout", []string{"x", "", "mode"}, 2)
	out := shapeRunOp(t, 13, n, x, nil, tensor.FromI64(nil, []int64{0}))
	if out[0].F32[1] != 2 || out[1].DType != tensor.Bool || out[1].I64[0] != 1 {
		t.Fatalf("inference dropout changed data or mask: %v %v", out[0].F32, out[1].I64)
	}
	// Training mode on integers has no meaning; a ratio of 1 would divide
	// by zero.
	_, err := shapeRunOpErr(13, n, tensor.FromI64([]int{2}, []int64{1, 2}), nil, tensor.FromI64(nil, []int64{1}))
	if !errors.Is(err, ErrUnsupported) {
		t.Fatalf("training mode on int64: got %v, want ErrUnsupported", err)
	}
	_, err = shapeRunOpErr(13, shapeTestNode("Dropout", []string{"x", "r", "mode"}, 1), x, tensor.FromF32(nil, []float32{1}), tensor.FromI64(nil, []int64{1}))
	if err == nil || !strings.Contains(err.Error(), "ratio") {
		t.Fatalf("ratio 1: got %v, want an error naming the ratio", err)
	}
}

func TestConstantNeedsOneValue(t *testing.T) {
	n := shapeTestNode("Constant", nil, 1, shapeAttrI("value_int", 3), shapeAttrF("value_float", 1))
	if _, err := shapeRunOpErr(13, n); err == nil {
		t.Fatal("two value attributes: no error")
	}
}
