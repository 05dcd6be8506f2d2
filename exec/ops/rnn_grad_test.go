package ops_test

import (
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// TestGradRNN checks RNNGrad (back-propagation through time) against
// finite differences for every input it differentiates: X, W, R, B,
// initial_h, initial_c and P, across directions, sequence lengths,
// layouts, GRU's linear_before_reset, LSTM's peepholes and input_forget,
// clipping and non-default activations. The checker differentiates every
// output (Y, Y_h and, for LSTM, Y_c) with random seeds.
func TestGradRNN(t *testing.T) {
	hid := func(h int64) *onnx.Attr { return onnx.IntAttr("hidden_size", h) }
	dir := func(d string) *onnx.Attr { return onnx.StringAttr("direction", d) }
	acts := func(names ...string) *onnx.Attr {
		return &onnx.Attr{Name: "activations", Type: onnx.AttrStrings, Strings: names}
	}
	w := func(seed uint64, shape ...int) *tensor.Dense { return scaled(randn(seed, shape), 0.5, 0) }
	lens := tensor.FromI64([]int{3}, []int64{4, 2, 3})
	// seq 4, batch 3, input 2, hidden 3 (G gates): X W R B lens h0 [c0 P]
	in := func(g, dirs int, seed uint64, withLens bool, lstm bool) []*tensor.Dense {
		var l *tensor.Dense
		if withLens {
			l = lens
		}
		d := []*tensor.Dense{w(seed, 4, 3, 2), w(seed+1, dirs, g*3, 2), w(seed+2, dirs, g*3, 3), w(seed+3, dirs, 2*g*3), l, w(seed+4, dirs, 3, 3)}
		if lstm {
			d = append(d, w(seed+5, dirs, 3, 3), w(seed+6, dirs, 9))
		}
		return d
	}
	cases := []gradCase{
		{name: "RNN_forward", op: "RNN", nout: 2, attrs: []*onnx.Attr{hid(3)}, in: in(1, 1, 141, false, false)},
		{name: "RNN_bidirectional_lens_relu", op: "RNN", nout: 2, attrs: []*onnx.Attr{hid(3), dir("bidirectional"), acts("Tanh", "Softsign")}, in: in(1, 2, 142, true, false)},
		{name: "GRU_forward", op: "GRU", nout: 2, attrs: []*onnx.Attr{hid(3)}, in: in(3, 1, 143, false, false)},
		{name: "GRU_reverse_lens_lbr", op: "GRU", nout: 2, attrs: []*onnx.Attr{hid(3), dir("reverse"), onnx.IntAttr("linear_before_reset", 1)}, in: in(3, 1, 144, true, false)},
		{name: "GRU_bidirectional_clip", op: "GRU", nout: 2, attrs: []*onnx.Attr{hid(3), dir("bidirectional"), onnx.FloatAttr("clip", 0.7)}, in: in(3, 2, 145, false, false)},
		{name: "LSTM_forward_peepholes", op: "LSTM", nout: 3, attrs: []*onnx.Attr{hid(3)}, in: in(4, 1, 146, false, true)},
		{name: "LSTM_bidirectional_lens", op: "LSTM", nout: 3, attrs: []*onnx.Attr{hid(3), dir("bidirectional")}, in: in(4, 2, 147, true, true)},
		{name: "LSTM_reverse_input_forget_acts", op: "LSTM", nout: 3, attrs: []*onnx.Attr{hid(3), dir("reverse"), onnx.IntAttr("input_forget", 1), acts("Sigmoid", "Softsign", "Tanh")}, in: in(4, 1, 148, true, true)},
	}
	// layout 1: X [batch, seq, input], states [batch, dirs, hidden]
	l1 := in(4, 1, 149, true, true)
	l1[0], l1[5], l1[6] = w(150, 3, 4, 2), w(151, 3, 1, 3), w(152, 3, 1, 3)
	cases = append(cases, gradCase{name: "LSTM_layout1", op: "LSTM", nout: 3, attrs: []*onnx.Attr{hid(3), onnx.IntAttr("layout", 1)}, in: l1})
	runGradCases(t, cases)
}
