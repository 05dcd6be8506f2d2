package ops

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// convChainCase is a pointwise Conv followed by a depthwise one.
type convChainCase struct {
	batch, cin, m, h, w int
	k, s                [2]int
	pads                [4]int // top, left, bottom, right
	pwAct, dwAct        string // "", "relu6" or "silu"
	noBias              bool
	threads             int
	scratch             int // convChainScratchBytes; small ones make bands of one row
}

// TestConvChain holds the pointwise and depthwise pair run band by band
// (convChain) to the two layers run one after the other, bit for bit:
// every output is the same products summed in the same order. The cases
// cover bands of one row and of many, strides 1 and 2, odd and
// asymmetric windows and padding, channel counts on and off the
// blocked depthwise path's sixteen, a chunk per thread and several
// images, and both fused activations on either layer.
func TestConvChain(t *testing.T) {
	defer func(b, bb, s int) {
		convChainMinBytes, convChainMinBatchBytes, convChainScratchBytes = b, bb, s
	}(convChainMinBytes, convChainMinBatchBytes, convChainScratchBytes)
	convChainMinBytes, convChainMinBatchBytes = 0, 0
	cases := []convChainCase{
		{1, 16, 96, 20, 22, [2]int{3, 3}, [2]int{2, 2}, [4]int{1, 1, 1, 1}, "relu6", "relu6", false, 2, 0},
		{1, 8, 32, 17, 40, [2]int{3, 3}, [2]int{1, 1}, [4]int{1, 1, 1, 1}, "relu6", "", false, 1, 1},
		{2, 5, 24, 13, 9, [2]int{5, 5}, [2]int{2, 2}, [4]int{2, 2, 2, 2}, "silu", "silu", false, 2, 1},
		{3, 7, 19, 11, 30, [2]int{3, 5}, [2]int{1, 2}, [4]int{0, 2, 2, 1}, "", "relu6", true, 2, 0},
		{1, 24, 40, 9, 9, [2]int{3, 3}, [2]int{1, 1}, [4]int{1, 1, 1, 1}, "silu", "", false, 3, 4 << 10},
		{4, 3, 16, 6, 7, [2]int{1, 1}, [2]int{1, 1}, [4]int{0, 0, 0, 0}, "relu6", "relu6", true, 2, 0},
		{1, 12, 48, 28, 28, [2]int{3, 3}, [2]int{2, 2}, [4]int{0, 0, 1, 1}, "relu6", "relu6", false, 2, 20 << 10},
	}
	r := rand.New(rand.NewPCG(3, 4))
	for i, tc := range cases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			convChainScratchBytes = 256 << 10
			if tc.scratch > 0 {
				convChainScratchBytes = tc.scratch
			}
			pw, dw, x := convChainNodes(r, tc)
			want := convChainUnfused(t, pw, dw, x, tc)
			got, st := convChainFused(t, pw, dw, x, tc)
			if !st.Banded {
				t.Fatalf("the pair did not run in bands")
			}
			if !slices.Equal(got.Shape, want.Shape) {
				t.Fatalf("shape %v, want %v", got.Shape, want.Shape)
			}
			for j := range want.F32 {
				if math.Float32bits(got.F32[j]) != math.Float32bits(want.F32[j]) {
					t.Fatalf("element %d = %v, want %v (the layers one after the other)", j, got.F32[j], want.F32[j])
				}
			}
		})
	}
}

// TestConvChainFallback: a pair the banded path does not take (a
// strided pointwise layer, a grouped second layer, a dilated depthwise
// one) still returns the second layer's output, computed unfused.
func TestConvChainFallback(t *testing.T) {
	defer func(b, bb int) { convChainMinBytes, convChainMinBatchBytes = b, bb }(convChainMinBytes, convChainMinBatchBytes)
	convChainMinBytes, convChainMinBatchBytes = 0, 0
	r := rand.New(rand.NewPCG(5, 6))
	tc := convChainCase{1, 4, 8, 10, 10, [2]int{3, 3}, [2]int{1, 1}, [4]int{1, 1, 1, 1}, "relu6", "relu6", false, 2, 0}
	for _, edit := range []struct {
		name string
		fn   func(pw, dw *onnx.Node)
	}{
		{"pointwise stride", func(pw, dw *onnx.Node) { pw.Attrs = append(pw.Attrs, convAttrIs("strides", 2, 2)) }},
		{"dilated depthwise", func(pw, dw *onnx.Node) { dw.Attrs = append(dw.Attrs, convAttrIs("dilations", 2, 2)) }},
	} {
		t.Run(edit.name, func(t *testing.T) {
			pw, dw, x := convChainNodes(r, tc)
			edit.fn(pw, dw)
			want := convChainUnfused(t, pw, dw, x, tc)
			got, st := convChainFused(t, pw, dw, x, tc)
			if st.Banded {
				t.Fatalf("the banded path took a pair it does not support")
			}
			if !slices.Equal(got.Shape, want.Shape) || !slicesEqualBits(got.F32, want.F32) {
				t.Fatalf("fallback output differs from the layers one after the other")
			}
		})
	}
}

func slicesEqualBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// convChainNodes builds the pair's nodes, constant weights and biases
// included, and an input.
func convChainNodes(r *rand.Rand, tc convChainCase) (pw, dw *onnx.Node, x *tensor.Dense) {
	x = convRand(r, tc.batch, tc.cin, tc.h, tc.w)
	pin := []*tensor.Dense{x, convRand(r, tc.m, tc.cin, 1, 1), convRand(r, tc.m)}
	din := []*tensor.Dense{nil, convRand(r, tc.m, 1, tc.k[0], tc.k[1]), convRand(r, tc.m)}
	if tc.noBias {
		pin, din = pin[:2], din[:2]
	}
	pw = convNode("Conv", pin, 1, nil)
	convMarkConst(pw, pin, 1, 2)
	din[0] = x // a placeholder: convNode names inputs present
	dw = convNode("Conv", din, 1, []*onnx.Attr{
		convAttrI("group", tc.m), convAttrIs("strides", tc.s[0], tc.s[1]),
		convAttrIs("pads", tc.pads[0], tc.pads[1], tc.pads[2], tc.pads[3]),
	})
	convMarkConst(dw, din, 1, 2)
	return pw, dw, x
}

func convChainClamp(act string) *Clamp {
	switch act {
	case "relu6":
		return &Clamp{Lo: 0, Hi: 6}
	case "silu":
		return SiLUClamp()
	}
	return nil
}

func convChainConst(n *onnx.Node, i int) *tensor.Dense {
	if i >= len(n.Inputs) {
		return nil
	}
	d, err := n.Inputs[i].Const.Dense()
	if err != nil {
		panic(err)
	}
	return d
}

// convChainUnfused runs the two layers one after the other.
func convChainUnfused(t testing.TB, pw, dw *onnx.Node, x *tensor.Dense, tc convChainCase) *tensor.Dense {
	t.Helper()
	mid, err := convRun(&RunCtx{Node: pw, Opset: 17, In: []*tensor.Dense{x, convChainConst(pw, 1), convChainConst(pw, 2)}, Threads: tc.threads, Clamp: convChainClamp(tc.pwAct)})
	if err != nil {
		t.Fatal(err)
	}
	out, err := convRun(&RunCtx{Node: dw, Opset: 17, In: []*tensor.Dense{mid[0], convChainConst(dw, 1), convChainConst(dw, 2)}, Threads: tc.threads, Clamp: convChainClamp(tc.dwAct)})
	if err != nil {
		t.Fatal(err)
	}
	tensor.Recycle(mid[0]) // as a run recycles a dead value
	return out[0]
}

// convChainFused runs the pair as one kernel call.
func convChainFused(t testing.TB, pw, dw *onnx.Node, x *tensor.Dense, tc convChainCase) (*tensor.Dense, *DepthwiseStage) {
	t.Helper()
	st := &DepthwiseStage{Node: dw, W: convChainConst(dw, 1), Bias: convChainConst(dw, 2), Clamp: convChainClamp(tc.dwAct)}
	out, err := convRun(&RunCtx{Node: pw, Opset: 17, In: []*tensor.Dense{x, convChainConst(pw, 1), convChainConst(pw, 2)}, Threads: tc.threads, Clamp: convChainClamp(tc.pwAct), Depthwise: st})
	if err != nil {
		t.Fatal(err)
	}
	return out[0], st
}

// BenchmarkConvChain times MobileNetV2's and EfficientNet's expansions
// with the depthwise layer after them, at batch 1 and 8 on every core,
// as one banded pair (the size rules lifted) and as two layers. The two
// layers' expanded tensor is recycled and stays in cache from one
// iteration to the next, as it does not in a model, where what the pair
// saves is reading it back from memory: measure models with graft bench.
func BenchmarkConvChain(b *testing.B) {
	defer func(m, bb int) { convChainMinBytes, convChainMinBatchBytes = m, bb }(convChainMinBytes, convChainMinBatchBytes)
	convChainMinBytes, convChainMinBatchBytes = 0, 0
	for _, tc := range []convChainCase{
		{1, 16, 96, 112, 112, [2]int{3, 3}, [2]int{2, 2}, [4]int{1, 1, 1, 1}, "relu6", "relu6", false, 0, 0},
		{1, 24, 144, 56, 56, [2]int{3, 3}, [2]int{1, 1}, [4]int{1, 1, 1, 1}, "relu6", "relu6", false, 0, 0},
		{1, 24, 144, 56, 56, [2]int{5, 5}, [2]int{2, 2}, [4]int{2, 2, 2, 2}, "silu", "silu", false, 0, 0},
		{1, 32, 192, 28, 28, [2]int{3, 3}, [2]int{1, 1}, [4]int{1, 1, 1, 1}, "relu6", "relu6", false, 0, 0},
	} {
		for _, batch := range []int{1, 8} {
			tc.batch, tc.threads = batch, runtime.GOMAXPROCS(0)
			r := rand.New(rand.NewPCG(1, 2))
			pw, dw, x := convChainNodes(r, tc)
			name := fmt.Sprintf("b%d/%dto%d_%d_k%d_s%d", batch, tc.cin, tc.m, tc.h, tc.k[0], tc.s[0])
			b.Run(name+"/banded", func(b *testing.B) {
				for b.Loop() {
					out, _ := convChainFused(b, pw, dw, x, tc)
					tensor.Recycle(out)
				}
			})
			b.Run(name+"/unfused", func(b *testing.B) {
				for b.Loop() {
					tensor.Recycle(convChainUnfused(b, pw, dw, x, tc))
				}
			})
		}
	}
}
