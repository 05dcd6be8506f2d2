package ops

import (
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// TestMT19937NumPy compares the generator with NumPy's legacy RandomState
// (python3 -c "import numpy as np; np.random.seed(S); print(np.random.uniform(0, 1, 3))").
func TestMT19937NumPy(t *testing.T) {
	cases := []struct {
		seed uint32
		want []float64
	}{
		{0, []float64{0.5488135039273248, 0.7151893663724195, 0.6027633760716439}},
		{123456789, []float64{0.532833024789759, 0.5341366008904166, 0.509553035526467}},
	}
	for _, c := range cases {
		m := newMT19937(c.seed)
		for i, w := range c.want {
			if got := m.float64(); got != w {
				t.Errorf("seed %d draw %d: %v, NumPy %v", c.seed, i, got, w)
			}
		}
	}
	// Past the first 624 outputs the state is regenerated.
	m := newMT19937(0)
	for range 700 {
		m.float64()
	}
	if got, want := m.float64(), 0.37321595574479416; got != want {
		t.Errorf("draw 700: %v, NumPy %v", got, want)
	}
}

// TestDropoutTraining checks the kept fraction, the scaling and the
// mask on a large input, and that a seed repeats its mask.
func TestDropoutTraining(t *testing.T) {
	x := tensor.New(tensor.Float32, 100, 100)
	for i := range x.F32 {
		x.F32[i] = 1
	}
	ratio := tensor.FromF32(nil, []float32{0.25})
	mode := tensor.New(tensor.Bool)
	mode.I64[0] = 1
	n := shapeTestNode("Dropout", []string{"x", "r", "t"}, 2, onnx.IntAttr("seed", 7))
	run := func() []*tensor.Dense {
		op, err := Resolve(n, 13)
		if err != nil {
			t.Fatal(err)
		}
		out, err := op.Run(&RunCtx{Node: n, Opset: 13, In: []*tensor.Dense{x, ratio, mode}, Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	out := run()
	kept := 0
	for i, v := range out[0].F32 {
		switch {
		case out[1].I64[i] != 0 && v == float32(1/0.75):
			kept++
		case out[1].I64[i] == 0 && v == 0:
		default:
			t.Fatalf("element %d: output %v with mask %d", i, v, out[1].I64[i])
		}
	}
	// 10,000 draws at p = 0.75: the kept count is within 4σ (σ ≈ 43).
	if kept < 7500-175 || kept > 7500+175 {
		t.Errorf("kept %d of 10000 at ratio 0.25", kept)
	}
	if again := run(); !tensor.Equal(again[1], out[1]) {
		t.Error("the same seed gave another mask")
	}
}
