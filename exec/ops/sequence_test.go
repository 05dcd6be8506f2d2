package ops

import (
	"strings"
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// seqRun infers and runs one sequence or optional op (at opset 18) on in, checking that the output
// types agree with what the kernel produced.
func seqRun(t *testing.T, n *onnx.Node, in ...*tensor.Dense) ([]*tensor.Dense, error) {
	t.Helper()
	op, err := Resolve(n, 18)
	if err != nil {
		return nil, err
	}
	ic := &InferCtx{Node: n, Opset: 18, In: make([]onnx.Type, len(in)), Const: make([]*tensor.Dense, len(in))}
	for i, x := range in {
		if x != nil {
			ic.In[i] = valueType(x)
		}
	}
	types, err := op.Infer(ic)
	if err != nil {
		return nil, err
	}
	out, err := op.Run(&RunCtx{Node: n, Opset: 18, In: in, Threads: 1})
	if err != nil {
		return nil, err
	}
	for i, o := range out {
		if !typeMatches(types[i], o) {
			t.Fatalf("%s: inferred %s, kernel produced %s", n.OpType, types[i], o)
		}
	}
	return out, nil
}

// TestSequenceOps checks each sequence op's positions, defaults and
// dtypes on small cases worked out by hand, and that the sequence owns
// copies of what goes in and comes out.
func TestSequenceOps(t *testing.T) {
	a := tensor.FromF32([]int{2}, []float32{1, 2})
	b := tensor.FromF32([]int{1}, []float32{3})
	c := tensor.FromF32([]int{3}, []float32{4, 5, 6})
	pos := func(p int64) *tensor.Dense { return tensor.FromI64(nil, []int64{p}) }
	seq := tensor.NewSequence(tensor.Float32, a, b, c)
	firsts := func(s *tensor.Dense) []float32 {
		var out []float32
		for _, it := range s.Seq.Items {
			out = append(out, it.F32[0])
		}
		return out
	}
	cases := []struct {
		name string
		node *onnx.Node
		in   []*tensor.Dense
		want []float32 // first element of each item, or the tensor's elements
	}{
		{"construct", shapeTestNode("SequenceConstruct", []string{"a", "b", "c"}, 1), []*tensor.Dense{a, b, c}, []float32{1, 3, 4}},
		{"insert at end", shapeTestNode("SequenceInsert", []string{"s", "t"}, 1), []*tensor.Dense{seq, b}, []float32{1, 3, 4, 3}},
		{"insert at 0", shapeTestNode("SequenceInsert", []string{"s", "t", "p"}, 1), []*tensor.Dense{seq, c, pos(0)}, []float32{4, 1, 3, 4}},
		{"insert at -1", shapeTestNode("SequenceInsert", []string{"s", "t", "p"}, 1), []*tensor.Dense{seq, b, pos(-1)}, []float32{1, 3, 3, 4}},
		{"insert at n", shapeTestNode("SequenceInsert", []string{"s", "t", "p"}, 1), []*tensor.Dense{seq, a, pos(3)}, []float32{1, 3, 4, 1}},
		{"erase last", shapeTestNode("SequenceErase", []string{"s"}, 1), []*tensor.Dense{seq}, []float32{1, 3}},
		{"erase -3", shapeTestNode("SequenceErase", []string{"s", "p"}, 1), []*tensor.Dense{seq, pos(-3)}, []float32{3, 4}},
		{"at -1", shapeTestNode("SequenceAt", []string{"s", "p"}, 1), []*tensor.Dense{seq, pos(-1)}, []float32{4, 5, 6}},
		{"length", shapeTestNode("SequenceLength", []string{"s"}, 1), []*tensor.Dense{seq}, []float32{3}},
		{"concat", shapeTestNode("ConcatFromSequence", []string{"s"}, 1, onnx.IntAttr("axis", 0)), []*tensor.Dense{seq}, []float32{1, 2, 3, 4, 5, 6}},
		{"stack", shapeTestNode("ConcatFromSequence", []string{"s"}, 1, onnx.IntAttr("axis", -1), onnx.IntAttr("new_axis", 1)),
			[]*tensor.Dense{tensor.NewSequence(tensor.Float32, a, a.Clone())}, []float32{1, 1, 2, 2}},
		{"split ones", shapeTestNode("SplitToSequence", []string{"x"}, 1), []*tensor.Dense{c}, []float32{4, 5, 6}},
		{"split chunks of 2", shapeTestNode("SplitToSequence", []string{"x", "k"}, 1), []*tensor.Dense{c, pos(2)}, []float32{4, 6}},
		{"split sizes", shapeTestNode("SplitToSequence", []string{"x", "k"}, 1),
			[]*tensor.Dense{c, tensor.FromI64([]int{2}, []int64{1, 2})}, []float32{4, 5}},
		{"empty", shapeTestNode("SequenceEmpty", nil, 1, onnx.IntAttr("dtype", int64(tensor.Int64))), nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := seqRun(t, tc.node, tc.in...)
			if err != nil {
				t.Fatal(err)
			}
			var got []float32
			if out[0].Seq != nil {
				got = firsts(out[0])
			} else {
				for _, v := range out[0].Float64s() {
					got = append(got, float32(v))
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
	// The sequence holds copies: changing what went in or came out
	// leaves it as it was.
	out, _ := seqRun(t, shapeTestNode("SequenceConstruct", []string{"a"}, 1), a.Clone())
	s := out[0]
	item, _ := seqRun(t, shapeTestNode("SequenceAt", []string{"s", "p"}, 1), s, pos(0))
	item[0].F32[0] = 99
	if s.Seq.Items[0].F32[0] != 1 {
		t.Error("SequenceAt handed out the sequence's own tensor")
	}
	// keepdims=0 drops the split axis.
	m := tensor.FromF32([]int{2, 3}, []float32{1, 2, 3, 4, 5, 6})
	out, err := seqRun(t, shapeTestNode("SplitToSequence", []string{"x"}, 1, onnx.IntAttr("axis", 1), onnx.IntAttr("keepdims", 0)), m)
	if err != nil {
		t.Fatal(err)
	}
	if it := out[0].Seq.Items[2]; len(it.Shape) != 1 || it.Shape[0] != 2 || it.F32[0] != 3 || it.F32[1] != 6 {
		t.Errorf("keepdims=0: item 2 is %v %v, want [2] [3 6]", it.Shape, it.F32)
	}
}

// TestSequenceOpErrors checks that bad positions, dtypes and kinds give
// errors naming the problem.
func TestSequenceOpErrors(t *testing.T) {
	a := tensor.FromF32([]int{2}, []float32{1, 2})
	seq := tensor.NewSequence(tensor.Float32, a)
	empty := tensor.NewSequence(tensor.Float32)
	pos := func(p int64) *tensor.Dense { return tensor.FromI64(nil, []int64{p}) }
	cases := []struct {
		name string
		node *onnx.Node
		in   []*tensor.Dense
		want string
	}{
		{"at out of range", shapeTestNode("SequenceAt", []string{"s", "p"}, 1), []*tensor.Dense{seq, pos(1)}, "out of range"},
		{"at below -n", shapeTestNode("SequenceAt", []string{"s", "p"}, 1), []*tensor.Dense{seq, pos(-2)}, "out of range"},
		{"insert past end", shapeTestNode("SequenceInsert", []string{"s", "t", "p"}, 1), []*tensor.Dense{seq, a, pos(2)}, "out of range"},
		{"insert other dtype", shapeTestNode("SequenceInsert", []string{"s", "t"}, 1), []*tensor.Dense{seq, pos(1)}, "int64"},
		{"erase empty", shapeTestNode("SequenceErase", []string{"s"}, 1), []*tensor.Dense{empty}, "empty"},
		{"concat empty", shapeTestNode("ConcatFromSequence", []string{"s"}, 1, onnx.IntAttr("axis", 0)), []*tensor.Dense{empty}, "empty"},
		{"concat no axis", shapeTestNode("ConcatFromSequence", []string{"s"}, 1), []*tensor.Dense{seq}, "axis"},
		{"length of a tensor", shapeTestNode("SequenceLength", []string{"x"}, 1), []*tensor.Dense{a}, "want a sequence"},
		{"construct mixed", shapeTestNode("SequenceConstruct", []string{"a", "b"}, 1), []*tensor.Dense{a, pos(1)}, "one dtype"},
		{"split sizes wrong", shapeTestNode("SplitToSequence", []string{"x", "k"}, 1), []*tensor.Dense{a, tensor.FromI64([]int{2}, []int64{1, 2})}, "adds up"},
		{"split chunk 0", shapeTestNode("SplitToSequence", []string{"x", "k"}, 1), []*tensor.Dense{a, pos(0)}, "positive"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := seqRun(t, tc.node, tc.in...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
