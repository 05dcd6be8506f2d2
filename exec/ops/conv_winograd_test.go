package ops

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// TestConvWinograd checks the Winograd path on odd shapes (channels not a
// multiple of the GEMM's tiles, odd and tiny planes, asymmetric and
// oversized padding, batch > 1, threads, fused activations) against a
// float64 direct convolution and against the direct float32 path. Error
// is measured relative to the output's largest magnitude, the scale the
// rounding of a sum of many terms follows: at most 1e-5 against either.
func TestConvWinograd(t *testing.T) {
	relu := &Clamp{Lo: 0, Hi: float32(math.Inf(1))}
	relu6 := &Clamp{Lo: 0, Hi: 6}
	cases := []struct {
		name    string
		x       []int
		cout    int
		pads    []int
		threads int
		clamp   *Clamp
		noBias  bool
	}{
		{name: "odd_channels", x: []int{1, 17, 9, 11}, cout: 19, pads: []int{1, 1, 1, 1}},
		{name: "no_pad_batch", x: []int{3, 16, 8, 7}, cout: 33, pads: []int{0, 0, 0, 0}, threads: 2},
		{name: "asym_pads", x: []int{2, 20, 10, 13}, cout: 18, pads: []int{2, 0, 1, 3}, threads: 3, noBias: true},
		{name: "tiny_plane", x: []int{2, 24, 1, 2}, cout: 16, pads: []int{1, 1, 1, 1}},
		{name: "relu_blocks", x: []int{2, 64, 30, 31}, cout: 40, pads: []int{1, 1, 1, 1}, threads: 2, clamp: relu},
		{name: "relu6_many_blocks", x: []int{3, 48, 22, 9}, cout: 17, pads: []int{1, 1, 1, 1}, threads: 2, clamp: relu6},
		{name: "silu", x: []int{1, 16, 15, 15}, cout: 16, pads: []int{1, 1, 1, 1}, clamp: SiLUClamp()},
		{name: "deep_small", x: []int{2, 130, 7, 7}, cout: 66, pads: []int{1, 1, 1, 1}, threads: 2, clamp: relu},
	}
	// Small shapes too, which the tile and channel rules would leave to
	// the direct path.
	defer func(n, c int) { convWinoMinTiles, convWinoMinChannels = n, c }(convWinoMinTiles, convWinoMinChannels)
	convWinoMinTiles, convWinoMinChannels = 0, 16
	r := rand.New(rand.NewPCG(3, 4))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x := convRand(r, tc.x...)
			w := convRand(r, tc.cout, tc.x[1], 3, 3)
			in := []*tensor.Dense{x, w}
			var bias *tensor.Dense
			if !tc.noBias {
				bias = convRand(r, tc.cout)
				in = append(in, bias)
			}
			p := tc.pads
			outDim := []int{tc.x[2] + p[0] + p[2] - 2, tc.x[3] + p[1] + p[3] - 2}
			attrs := []*onnx.Attr{convAttrIs("pads", p...)}
			ref := convRef(convRefCase{x: x, w: w, bias: bias, group: 1, strides: []int{1, 1}, dils: []int{1, 1}, padBegin: p[:2], outDim: outDim})
			convApplyRef(ref, tc.clamp)
			g := convShape{batch: tc.x[0], cin: tc.x[1], cout: tc.cout, group: 1,
				in: [3]int{1, tc.x[2], tc.x[3]}, out: [3]int{1, outDim[0], outDim[1]},
				k: [3]int{1, 3, 3}, s: [3]int{1, 1, 1}, d: [3]int{1, 1, 1}, p: [3]int{0, p[0], p[1]}}
			if !convWinogradOK(&g) {
				t.Fatal("shape does not take the Winograd path")
			}
			run := func(wino bool, constW bool) []float32 {
				convWinoEnabled = wino
				defer func() { convWinoEnabled = true }()
				n := convNode("Conv", in, 1, attrs)
				if constW {
					convMarkConst(n, in, 1, 2)
				}
				c := &RunCtx{Node: n, Opset: 17, In: in, Threads: max(tc.threads, 1), Clamp: tc.clamp}
				out, err := convRun(c)
				if err != nil {
					t.Fatal(err)
				}
				return out[0].F32
			}
			direct := run(false, false)
			for _, constW := range []bool{false, true, true} {
				got := run(true, constW)
				t.Logf("const %v: error %.2g against float64, %.2g against the direct path (direct against float64: %.2g)", constW, convRelErr(got, ref), convRelErr(got, convF64(direct)), convRelErr(direct, ref))
				if e := convRelErr(got, ref); e > 1e-5 {
					t.Errorf("const %v: error %.2g against the float64 reference", constW, e)
				}
				if e := convRelErr(got, convF64(direct)); e > 1e-5 {
					t.Errorf("const %v: error %.2g against the direct path", constW, e)
				}
			}
		})
	}
}

// convApplyRef applies a fused activation to a float64 reference.
func convApplyRef(y []float64, c *Clamp) {
	if c == nil {
		return
	}
	for i, v := range y {
		v = math.Min(math.Max(v, float64(c.Lo)), float64(c.Hi))
		if c.SiLU {
			v /= 1 + math.Exp(-v)
		}
		y[i] = v
	}
}

func convF64(s []float32) []float64 {
	out := make([]float64, len(s))
	for i, v := range s {
		out[i] = float64(v)
	}
	return out
}

// convRelErr is max |got - want| / max |want|.
func convRelErr(got []float32, want []float64) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	var d, m float64
	for i, w := range want {
		d = math.Max(d, math.Abs(float64(got[i])-w))
		m = math.Max(m, math.Abs(w))
	}
	return d / math.Max(m, 1e-30)
}

// BenchmarkConvPaths times the 3×3 stride-1 convolutions of ResNet-18
// through the direct path (im2col or flat GEMM) and through Winograd, at
// batch 1 and 8, with every core; GFLOP/s counts the direct convolution's
// multiply-adds (2 flops each) whatever the path. The channel rule
// (convWinoMinChannels) is lifted; the 512-channel layer runs the direct
// path either way (convWinoMaxWeights), and at batch 1 the tile rule.
func BenchmarkConvPaths(b *testing.B) {
	shapes := []struct {
		name string
		c, h int
	}{
		{"64x56", 64, 56}, {"128x28", 128, 28}, {"256x14", 256, 14}, {"512x7", 512, 7},
	}
	r := rand.New(rand.NewPCG(7, 8))
	for _, batch := range []int{1, 8} {
		for _, sh := range shapes {
			x := convRand(r, batch, sh.c, sh.h, sh.h)
			w := convRand(r, sh.c, sh.c, 3, 3)
			bias := convRand(r, sh.c)
			in := []*tensor.Dense{x, w, bias}
			n := convNode("Conv", in, 1, []*onnx.Attr{convAttrIs("pads", 1, 1, 1, 1)})
			convMarkConst(n, in, 1, 2)
			flops := 2 * float64(batch*sh.c*sh.h*sh.h) * float64(sh.c*9)
			for _, path := range []string{"direct", "winograd"} {
				b.Run(fmt.Sprintf("b%d/%s/%s", batch, sh.name, path), func(b *testing.B) {
					defer func(c int) { convWinoEnabled, convWinoMinChannels = true, c }(convWinoMinChannels)
					convWinoEnabled, convWinoMinChannels = path == "winograd", 16
					c := &RunCtx{Node: n, Opset: 17, In: in, Threads: runtime.GOMAXPROCS(0), Clamp: &Clamp{Lo: 0, Hi: float32(math.Inf(1))}}
					for b.Loop() {
						out, err := convRun(c)
						if err != nil {
							b.Fatal(err)
						}
						tensor.Recycle(out[0])
					}
					b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			}
		}
	}
}
