package ops

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// The ONNX node tests cover the forward direction, layout 1, biases,
// peepholes and GRU's sequence_lens. These tests check the other options
// by relations that must hold between runs: a reverse run is a forward
// run on the time-reversed sequence, a bidirectional run is both, a
// sequence length truncates, layout 1 is a transpose, and float32 agrees
// with float64.

type rnnCase struct {
	op        string
	seq, b, i int
	h         int
	attrs     []*onnx.Attr
}

// rnnInputs returns X, W, R, B, sequence_lens, initial_h, initial_c for
// dirs directions (c only for LSTM), in layout 0.
func rnnInputs(c rnnCase, dirs int, seed uint64) []*tensor.Dense {
	g, _ := rnnGates(c.op)
	rng := rand.New(rand.NewPCG(seed, 9))
	rnd := func(shape ...int) *tensor.Dense {
		d := tensor.New(tensor.Float64, shape...)
		for k := range d.F64 {
			d.F64[k] = rng.NormFloat64() * 0.6
		}
		return d
	}
	in := []*tensor.Dense{rnd(c.seq, c.b, c.i), rnd(dirs, g*c.h, c.i), rnd(dirs, g*c.h, c.h), rnd(dirs, 2*g*c.h), nil, rnd(dirs, c.b, c.h)}
	if c.op == "LSTM" {
		in = append(in, rnd(dirs, c.b, c.h))
	}
	return in
}

func rnnRunCase(t *testing.T, c rnnCase, extra []*onnx.Attr, in []*tensor.Dense) []*tensor.Dense {
	t.Helper()
	names := []string{"X", "W", "R", "B", "", "h0", "c0"}[:len(in)]
	if in[4] != nil {
		names[4] = "lens"
	}
	attrs := append([]*onnx.Attr{onnx.IntAttr("hidden_size", int64(c.h))}, c.attrs...)
	nout := 2
	if c.op == "LSTM" {
		nout = 3
	}
	n := shapeTestNode(c.op, names, nout, append(attrs, extra...)...)
	return shapeRunOp(t, 14, n, in...)
}

// rnnSlice returns direction d of a [dirs, ...] tensor as [1, ...].
func rnnSlice(x *tensor.Dense, d int) *tensor.Dense {
	m := x.Len() / x.Shape[0]
	shape := append([]int{1}, x.Shape[1:]...)
	return tensor.FromF64(shape, append([]float64{}, x.F64[d*m:(d+1)*m]...))
}

// rnnFlipTime reverses the first n steps of batch entry b of a
// [seq, batch, ...] tensor in place.
func rnnFlipTime(x *tensor.Dense, b, n int) {
	inner := x.Len() / x.Shape[0] / x.Shape[1]
	at := func(s int) int { return (s*x.Shape[1] + b) * inner }
	for s := 0; s < n/2; s++ {
		for k := range inner {
			p, q := at(s)+k, at(n-1-s)+k
			x.F64[p], x.F64[q] = x.F64[q], x.F64[p]
		}
	}
}

func rnnClose(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d elements, want %d", what, len(got), len(want))
	}
	for k := range want {
		if math.Abs(got[k]-want[k]) > tol*(1+math.Abs(want[k])) {
			t.Fatalf("%s: element %d = %.9g, want %.9g", what, k, got[k], want[k])
		}
	}
}

func TestRNNRelations(t *testing.T) {
	str := onnx.StringAttr
	cases := []struct {
		name string
		c    rnnCase
	}{
		{"RNN", rnnCase{op: "RNN", seq: 5, b: 3, i: 4, h: 3}},
		{"RNN_relu_leaky", rnnCase{op: "RNN", seq: 4, b: 2, i: 3, h: 5, attrs: []*onnx.Attr{&onnx.Attr{Name: "activations", Type: onnx.AttrStrings, Strings: []string{"LeakyRelu"}}, onnx.FloatsAttr("activation_alpha", 0.1)}}},
		{"GRU", rnnCase{op: "GRU", seq: 5, b: 3, i: 4, h: 3}},
		{"GRU_linear_before_reset", rnnCase{op: "GRU", seq: 4, b: 2, i: 3, h: 4, attrs: []*onnx.Attr{onnx.IntAttr("linear_before_reset", 1)}}},
		{"GRU_clip", rnnCase{op: "GRU", seq: 4, b: 2, i: 3, h: 4, attrs: []*onnx.Attr{onnx.FloatAttr("clip", 0.5)}}},
		{"LSTM", rnnCase{op: "LSTM", seq: 5, b: 3, i: 4, h: 3}},
		{"LSTM_input_forget_hardsigmoid", rnnCase{op: "LSTM", seq: 4, b: 2, i: 3, h: 2, attrs: []*onnx.Attr{onnx.IntAttr("input_forget", 1),
			&onnx.Attr{Name: "activations", Type: onnx.AttrStrings, Strings: []string{"HardSigmoid", "Tanh", "Softsign"}}}}},
	}
	for _, tc := range cases {
		c := tc.c
		t.Run(tc.name+"/reverse_is_forward_on_flipped_time", func(t *testing.T) {
			in := rnnInputs(c, 1, 1)
			rev := rnnRunCase(t, c, []*onnx.Attr{str("direction", "reverse")}, in)
			flipped := append([]*tensor.Dense{}, in...)
			flipped[0] = in[0].Clone()
			for b := range c.b {
				rnnFlipTime(flipped[0], b, c.seq)
			}
			fwd := rnnRunCase(t, c, nil, flipped)
			y := tensor.FromF64([]int{c.seq, c.b, c.h}, fwd[0].F64) // drop the dirs axis
			for b := range c.b {
				rnnFlipTime(y, b, c.seq)
			}
			rnnClose(t, "Y", rev[0].F64, fwd[0].F64, 1e-12)
			rnnClose(t, "Y_h", rev[1].F64, fwd[1].F64, 1e-12)
		})
		t.Run(tc.name+"/bidirectional_is_both", func(t *testing.T) {
			in := rnnInputs(c, 2, 2)
			in[4] = tensor.FromI64([]int{c.b}, []int64{int64(c.seq), 2, 0}[:c.b])
			// both directions take the same activations, listed twice
			cb := c
			cb.attrs = nil
			for _, a := range c.attrs {
				d := *a
				d.Strings = append(append([]string{}, a.Strings...), a.Strings...)
				d.Floats = append(append([]float32{}, a.Floats...), a.Floats...)
				cb.attrs = append(cb.attrs, &d)
			}
			bi := rnnRunCase(t, cb, []*onnx.Attr{str("direction", "bidirectional")}, in)
			for d, dir := range []string{"forward", "reverse"} {
				one := []*tensor.Dense{in[0], rnnSlice(in[1], d), rnnSlice(in[2], d), rnnSlice(in[3], d), in[4], rnnSlice(in[5], d)}
				if c.op == "LSTM" {
					one = append(one, rnnSlice(in[6], d))
				}
				got := rnnRunCase(t, c, []*onnx.Attr{str("direction", dir)}, one)
				// Y is [seq, dirs, batch, hidden]: pick direction d
				var y []float64
				per := c.b * c.h
				for s := range c.seq {
					y = append(y, bi[0].F64[(s*2+d)*per:(s*2+d+1)*per]...)
				}
				rnnClose(t, dir+" Y", y, got[0].F64, 1e-12)
				rnnClose(t, dir+" Y_h", rnnSlice(bi[1], d).F64, got[1].F64, 1e-12)
				if c.op == "LSTM" {
					rnnClose(t, dir+" Y_c", rnnSlice(bi[2], d).F64, got[2].F64, 1e-12)
				}
			}
		})
		t.Run(tc.name+"/sequence_lens_truncate", func(t *testing.T) {
			in := rnnInputs(c, 1, 3)
			in[4] = tensor.FromI64([]int{c.b}, []int64{2, int64(c.seq), 0}[:c.b])
			for _, dir := range []string{"forward", "reverse"} {
				got := rnnRunCase(t, c, []*onnx.Attr{str("direction", dir)}, in)
				for b, l := range in[4].I64 {
					// entry b alone, cut to its length
					x := tensor.New(tensor.Float64, max(int(l), 1), 1, c.i)
					for s := range int(l) {
						copy(x.F64[s*c.i:(s+1)*c.i], in[0].F64[(s*c.b+b)*c.i:(s*c.b+b+1)*c.i])
					}
					h0 := tensor.FromF64([]int{1, 1, c.h}, append([]float64{}, in[5].F64[b*c.h:(b+1)*c.h]...))
					one := []*tensor.Dense{x, in[1], in[2], in[3], nil, h0}
					if c.op == "LSTM" {
						one = append(one, tensor.FromF64([]int{1, 1, c.h}, append([]float64{}, in[6].F64[b*c.h:(b+1)*c.h]...)))
					}
					wantH := h0.F64
					if l > 0 {
						wantH = rnnRunCase(t, c, []*onnx.Attr{str("direction", dir)}, one)[1].F64
					}
					rnnClose(t, dir+" Y_h", got[1].F64[b*c.h:(b+1)*c.h], wantH, 1e-12)
					for s := int(l); s < c.seq; s++ {
						for _, v := range got[0].F64[(s*c.b+b)*c.h : (s*c.b+b+1)*c.h] {
							if v != 0 {
								t.Fatalf("%s: Y at step %d past length %d is %g, want 0", dir, s, l, v)
							}
						}
					}
				}
			}
		})
		t.Run(tc.name+"/layout1_and_float32", func(t *testing.T) {
			in := rnnInputs(c, 1, 4)
			want := rnnRunCase(t, c, nil, in)
			tr := func(x *tensor.Dense) *tensor.Dense { // swap axes 0 and 1
				s := x.Shape
				inner := x.Len() / s[0] / s[1]
				out := tensor.New(tensor.Float64, append([]int{s[1], s[0]}, s[2:]...)...)
				for a := range s[0] {
					for b := range s[1] {
						copy(out.F64[(b*s[0]+a)*inner:(b*s[0]+a+1)*inner], x.F64[(a*s[1]+b)*inner:(a*s[1]+b+1)*inner])
					}
				}
				return out
			}
			l1 := append([]*tensor.Dense{}, in...)
			l1[0], l1[5] = tr(in[0]), tr(in[5])
			if c.op == "LSTM" {
				l1[6] = tr(in[6])
			}
			got := rnnRunCase(t, c, []*onnx.Attr{onnx.IntAttr("layout", 1)}, l1)
			// Y [batch, seq, 1, hidden] against [seq, 1, batch, hidden]
			y := tr(tensor.FromF64([]int{c.seq, c.b, c.h}, want[0].F64))
			rnnClose(t, "Y", got[0].F64, y.F64, 1e-12)
			rnnClose(t, "Y_h", got[1].F64, want[1].F64, 1e-12)
			in32 := make([]*tensor.Dense, len(in))
			for k, x := range in {
				if x != nil {
					in32[k] = castTo(x, tensor.Float32)
				}
			}
			got32 := rnnRunCase(t, c, nil, in32)
			rnnClose(t, "float32 Y", got32[0].Float64s(), want[0].F64, 1e-5)
		})
	}
}
