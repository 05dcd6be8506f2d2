package ops

import (
	"strings"
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// TestNewOpsRejectBadInput feeds the ops of gather_elements.go, scatter.go,
// trilu.go, cumsum.go, onehot.go, topk.go, space.go, loss.go and rnn.go
// malformed attributes and inputs: each must return an error naming the
// node (and the attribute where one is at fault), never panic.
func TestNewOpsRejectBadInput(t *testing.T) {
	f := func(shape ...int) *tensor.Dense { return tensor.New(tensor.Float32, shape...) }
	i64 := func(shape []int, v ...int64) *tensor.Dense { return tensor.FromI64(shape, v) }
	cases := []struct {
		name  string
		op    string
		ins   []string
		nout  int
		attrs []*onnx.Attr
		in    []*tensor.Dense
		want  string // in the message
	}{
		{"GatherElements index out of range", "GatherElements", []string{"x", "i"}, 1, nil, []*tensor.Dense{f(2, 3), i64([]int{1, 3}, 0, 2, 2)}, "out of range"},
		{"GatherElements rank mismatch", "GatherElements", []string{"x", "i"}, 1, nil, []*tensor.Dense{f(2, 3), i64([]int{3}, 0, 1, 1)}, "rank"},
		{"GatherElements bad axis", "GatherElements", []string{"x", "i"}, 1, []*onnx.Attr{shapeAttrI("axis", 2)}, []*tensor.Dense{f(2, 3), i64([]int{1, 1}, 0)}, "axis"},
		{"GatherND tuple too long", "GatherND", []string{"x", "i"}, 1, nil, []*tensor.Dense{f(2, 3), i64([]int{1, 3}, 0, 0, 0)}, "length 3"},
		{"GatherND bad batch_dims", "GatherND", []string{"x", "i"}, 1, []*onnx.Attr{shapeAttrI("batch_dims", 2)}, []*tensor.Dense{f(2, 3), i64([]int{2, 1}, 0, 0)}, "batch_dims"},
		{"ScatterElements unknown reduction", "ScatterElements", []string{"x", "i", "u"}, 1, []*onnx.Attr{shapeAttrS("reduction", "avg")}, []*tensor.Dense{f(2, 3), i64([]int{1, 1}, 0), f(1, 1)}, "\"reduction\""},
		{"ScatterElements updates shape", "ScatterElements", []string{"x", "i", "u"}, 1, nil, []*tensor.Dense{f(2, 3), i64([]int{1, 1}, 0), f(1, 2)}, "updates"},
		{"ScatterND updates shape", "ScatterND", []string{"x", "i", "u"}, 1, nil, []*tensor.Dense{f(4, 3), i64([]int{2, 1}, 0, 1), f(2, 2)}, "updates"},
		{"Trilu rank 1", "Trilu", []string{"x"}, 1, nil, []*tensor.Dense{f(3)}, "rank"},
		{"Trilu bad upper", "Trilu", []string{"x"}, 1, []*onnx.Attr{shapeAttrI("upper", 2)}, []*tensor.Dense{f(3, 3)}, "\"upper\""},
		{"CumSum axis out of range", "CumSum", []string{"x", "a"}, 1, nil, []*tensor.Dense{f(3, 3), i64(nil, 2)}, "axis"},
		{"CumSum bad exclusive", "CumSum", []string{"x", "a"}, 1, []*onnx.Attr{shapeAttrI("exclusive", 3)}, []*tensor.Dense{f(3, 3), i64(nil, 0)}, "\"exclusive\""},
		{"OneHot depth 0", "OneHot", []string{"i", "d", "v"}, 1, nil, []*tensor.Dense{i64([]int{2}, 0, 1), i64(nil, 0), tensor.FromF32([]int{2}, []float32{0, 1})}, "depth"},
		{"OneHot three values", "OneHot", []string{"i", "d", "v"}, 1, nil, []*tensor.Dense{i64([]int{2}, 0, 1), i64(nil, 3), f(3)}, "values"},
		{"TopK K too large", "TopK", []string{"x", "k"}, 2, nil, []*tensor.Dense{f(2, 3), i64([]int{1}, 4)}, "K 4"},
		{"DepthToSpace channels", "DepthToSpace", []string{"x"}, 1, []*onnx.Attr{shapeAttrI("blocksize", 2)}, []*tensor.Dense{f(1, 6, 2, 2)}, "divisible"},
		{"DepthToSpace bad mode", "DepthToSpace", []string{"x"}, 1, []*onnx.Attr{shapeAttrI("blocksize", 2), shapeAttrS("mode", "XYZ")}, []*tensor.Dense{f(1, 4, 2, 2)}, "\"mode\""},
		{"SpaceToDepth no blocksize", "SpaceToDepth", []string{"x"}, 1, nil, []*tensor.Dense{f(1, 4, 2, 2)}, "\"blocksize\""},
		{"NLL target out of range", "NegativeLogLikelihoodLoss", []string{"x", "t"}, 1, nil, []*tensor.Dense{f(2, 3), i64([]int{2}, 0, 3)}, "target 3"},
		{"NLL bad reduction", "NegativeLogLikelihoodLoss", []string{"x", "t"}, 1, []*onnx.Attr{shapeAttrS("reduction", "max")}, []*tensor.Dense{f(2, 3), i64([]int{2}, 0, 1)}, "\"reduction\""},
		{"SCE weight length", "SoftmaxCrossEntropyLoss", []string{"x", "t", "w"}, 1, nil, []*tensor.Dense{f(2, 3), i64([]int{2}, 0, 1), f(2)}, "weight"},
		{"LSTM bad direction", "LSTM", []string{"x", "w", "r"}, 3, []*onnx.Attr{shapeAttrI("hidden_size", 2), shapeAttrS("direction", "both")}, []*tensor.Dense{f(1, 1, 2), f(1, 8, 2), f(1, 8, 2)}, "\"direction\""},
		{"LSTM W shape", "LSTM", []string{"x", "w", "r"}, 3, []*onnx.Attr{shapeAttrI("hidden_size", 2)}, []*tensor.Dense{f(1, 1, 2), f(1, 6, 2), f(1, 8, 2)}, "W [1 6 2]"},
		{"GRU unknown activation", "GRU", []string{"x", "w", "r"}, 2, []*onnx.Attr{shapeAttrI("hidden_size", 2), {Name: "activations", Type: onnx.AttrStrings, Strings: []string{"Sigmoid", "Gelu"}}}, []*tensor.Dense{f(1, 1, 2), f(1, 6, 2), f(1, 6, 2)}, "\"activations\""},
		{"RNN no hidden_size", "RNN", []string{"x", "w", "r"}, 2, nil, []*tensor.Dense{f(1, 1, 2), f(1, 2, 2), f(1, 2, 2)}, "\"hidden_size\""},
		{"RNN sequence_lens too long", "RNN", []string{"x", "w", "r", "", "l"}, 2, []*onnx.Attr{shapeAttrI("hidden_size", 2)}, []*tensor.Dense{f(1, 1, 2), f(1, 2, 2), f(1, 2, 2), nil, i64([]int{1}, 2)}, "sequence_lens"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := shapeTestNode(c.op, c.ins, c.nout, c.attrs...)
			_, err := shapeRunOpErr(14, n, c.in...)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), n.Name) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not name the node and %q", err, c.want)
			}
		})
	}
}
