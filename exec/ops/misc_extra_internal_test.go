package ops

import (
	"testing"

	"github.com/graft-ml/graft/tensor"
)

func TestMiscExtraErrors(t *testing.T) {
	i32 := func(shape ...int) *tensor.Dense { return tensor.New(tensor.Int32, shape...) }
	f32 := func(shape ...int) *tensor.Dense { return tensor.New(tensor.Float32, shape...) }
	cases := []struct {
		name string
		op   string
		ins  []string
		in   []*tensor.Dense
	}{
		{"BitShift_signed", "BitShift", []string{"x", "y"}, []*tensor.Dense{i32(2), i32(2)}},
		{"Det_not_square", "Det", []string{"x"}, []*tensor.Dense{f32(2, 3)}},
		{"ReverseSequence_length", "ReverseSequence", []string{"x", "l"}, []*tensor.Dense{f32(3, 2), tensor.FromI64([]int{2}, []int64{4, 1})}},
		{"ReverseSequence_batch", "ReverseSequence", []string{"x", "l"}, []*tensor.Dense{f32(3, 2), tensor.FromI64([]int{3}, []int64{1, 1, 1})}},
		{"Compress_long_condition", "Compress", []string{"x", "c"}, []*tensor.Dense{f32(2), {DType: tensor.Bool, Shape: []int{3}, I64: []int64{1, 1, 1}}}},
		{"EyeLike_rank3", "EyeLike", []string{"x"}, []*tensor.Dense{f32(2, 2, 2)}},
		{"NonMaxSuppression_shapes", "NonMaxSuppression", []string{"b", "s"}, []*tensor.Dense{f32(1, 3, 4), f32(1, 1, 2)}},
		{"RoiAlign_batch_index", "RoiAlign", []string{"x", "r", "i"}, []*tensor.Dense{f32(1, 1, 4, 4), f32(1, 4), tensor.FromI64([]int{1}, []int64{1})}},
		{"HannWindow_negative", "HannWindow", []string{"n"}, []*tensor.Dense{tensor.FromI64(nil, []int64{-1})}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := shapeTestNode(c.op, c.ins, 1, shapeAttrS("direction", "LEFT"))
			if _, err := shapeRunOpErr(17, n, c.in...); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

// TestUniqueUnsortedAxis checks Unique's four outputs on slices along
// axis 1, in order of first occurrence.
func TestUniqueUnsortedAxis(t *testing.T) {
	x := tensor.FromF32([]int{2, 4}, []float32{1, 2, 1, 0, 3, 4, 3, 0})
	n := shapeTestNode("Unique", []string{"x"}, 4, shapeAttrI("axis", 1), shapeAttrI("sorted", 0))
	out := shapeRunOp(t, 11, n, x)
	want := [][]float64{{1, 2, 0, 3, 4, 0}, {0, 1, 3}, {0, 1, 0, 2}, {2, 1, 1}}
	for i, w := range want {
		g := out[i].Float64s()
		if len(g) != len(w) {
			t.Fatalf("output %d: got %v, want %v", i, g, w)
		}
		for j := range w {
			if g[j] != w[j] {
				t.Fatalf("output %d: got %v, want %v", i, g, w)
			}
		}
	}
}
