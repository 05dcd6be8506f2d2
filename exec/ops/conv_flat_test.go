package ops

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/graft-ml/graft/exec/internal/gemm"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// TestConvFlatStrided checks convolutions on the flat path (stride
// phases, convFlatPlanStrided; bands of padded rows per column tile,
// convBandShape) against the float64 reference: strides 1, 2 and 3, odd
// sizes, asymmetric and oversized padding (bands that are all padding),
// input rows and columns no window reads, groups, batch, threads, fused
// activations, output widths a multiple of 8 (the GEMM's columns are the
// output positions, tiles starting mid-row) and not (flat columns, tiles
// ending in the columns past a row). Tolerance: 1e-5 of the output's
// largest magnitude (the GEMM sums the same products as im2col's, in the
// same order). Each case runs with the GEMM reading B's rows in place
// (where the machine's kernel can, convFlatInPlace) and with B packed.
func TestConvFlatStrided(t *testing.T) {
	relu := &Clamp{Lo: 0, Hi: float32(math.Inf(1))}
	cases := []struct {
		name             string
		x                []int
		cout, kh, kw, sh int
		sw, group        int
		pads             []int
		threads          int
		clamp            *Clamp
	}{
		{name: "stem", x: []int{1, 3, 45, 45}, cout: 16, kh: 7, kw: 7, sh: 2, sw: 2, pads: []int{3, 3, 3, 3}, threads: 2, clamp: relu},
		{name: "3x3_s2_odd", x: []int{2, 5, 19, 21}, cout: 7, kh: 3, kw: 3, sh: 2, sw: 2, pads: []int{1, 1, 1, 1}},
		{name: "3x3_s2_nopad_unread", x: []int{1, 4, 16, 18}, cout: 6, kh: 3, kw: 3, sh: 2, sw: 2, pads: []int{0, 0, 0, 0}, clamp: SiLUClamp()},
		{name: "asym_s2x1", x: []int{2, 3, 13, 17}, cout: 5, kh: 3, kw: 5, sh: 2, sw: 1, pads: []int{2, 0, 1, 3}, threads: 3},
		{name: "s1x2_left_odd", x: []int{1, 3, 9, 30}, cout: 4, kh: 2, kw: 3, sh: 1, sw: 2, pads: []int{0, 1, 1, 0}},
		{name: "s3", x: []int{2, 4, 20, 40}, cout: 6, kh: 4, kw: 4, sh: 3, sw: 3, pads: []int{2, 3, 1, 2}, threads: 2, group: 2},
		{name: "bigpad_s2", x: []int{1, 2, 5, 30}, cout: 3, kh: 3, kw: 3, sh: 2, sw: 2, pads: []int{4, 5, 3, 2}},
		{name: "dense_batch_threads3", x: []int{2, 8, 24, 24}, cout: 12, kh: 3, kw: 3, sh: 1, sw: 1, pads: []int{1, 1, 1, 1}, threads: 3, clamp: relu},
		{name: "dense_s2", x: []int{1, 6, 33, 31}, cout: 9, kh: 3, kw: 3, sh: 2, sw: 2, pads: []int{1, 1, 1, 1}, threads: 2},
		{name: "flat_tiles_threads4", x: []int{1, 8, 30, 30}, cout: 8, kh: 3, kw: 3, sh: 1, sw: 1, pads: []int{1, 1, 1, 1}, threads: 4},
		{name: "dense_bigpad_end", x: []int{1, 3, 5, 16}, cout: 4, kh: 3, kw: 3, sh: 1, sw: 1, pads: []int{0, 1, 9, 1}, threads: 3},
		{name: "dense_group_8x8", x: []int{3, 8, 8, 8}, cout: 8, kh: 3, kw: 3, sh: 1, sw: 1, pads: []int{1, 1, 1, 1}, threads: 2, group: 2, clamp: SiLUClamp()},
		{name: "dense_narrow_tall", x: []int{1, 4, 64, 8}, cout: 5, kh: 3, kw: 3, sh: 1, sw: 1, pads: []int{1, 1, 1, 1}, threads: 2},
		{name: "dense_5x5_asym", x: []int{1, 3, 20, 20}, cout: 17, kh: 5, kw: 5, sh: 1, sw: 1, pads: []int{2, 2, 2, 6}, threads: 2},
		{name: "resnet20_64x8", x: []int{1, 64, 8, 8}, cout: 64, kh: 3, kw: 3, sh: 1, sw: 1, pads: []int{1, 1, 1, 1}, threads: 2, clamp: relu},
		{name: "in_place_32x32_silu_threads3", x: []int{1, 16, 32, 32}, cout: 20, kh: 3, kw: 3, sh: 1, sw: 1, pads: []int{1, 1, 1, 1}, threads: 3, clamp: SiLUClamp()},
		{name: "in_place_7x7_deep", x: []int{2, 300, 7, 7}, cout: 12, kh: 3, kw: 3, sh: 1, sw: 1, pads: []int{1, 1, 1, 1}, threads: 2, clamp: relu},
		{name: "in_place_14x14_threads2", x: []int{1, 24, 14, 14}, cout: 9, kh: 3, kw: 3, sh: 1, sw: 1, pads: []int{1, 1, 1, 1}, threads: 2},
	}
	r := rand.New(rand.NewPCG(9, 10))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			group := max(tc.group, 1)
			x := convRand(r, tc.x...)
			w := convRand(r, tc.cout, tc.x[1]/group, tc.kh, tc.kw)
			bias := convRand(r, tc.cout)
			in := []*tensor.Dense{x, w, bias}
			p := tc.pads
			outDim := []int{(tc.x[2]+p[0]+p[2]-tc.kh)/tc.sh + 1, (tc.x[3]+p[1]+p[3]-tc.kw)/tc.sw + 1}
			g := convShape{batch: tc.x[0], cin: tc.x[1], cout: tc.cout, group: group,
				in: [3]int{1, tc.x[2], tc.x[3]}, out: [3]int{1, outDim[0], outDim[1]},
				k: [3]int{1, tc.kh, tc.kw}, s: [3]int{1, tc.sh, tc.sw}, d: [3]int{1, 1, 1}, p: [3]int{0, p[0], p[1]}}
			if _, ok := convFlatPlanStrided(&g, true); !ok {
				t.Fatal("shape does not take the flat path")
			}
			want := convRef(convRefCase{x: x, w: w, bias: bias, group: group, strides: []int{tc.sh, tc.sw}, dils: []int{1, 1}, padBegin: p[:2], outDim: outDim})
			convApplyRef(want, tc.clamp)
			attrs := []*onnx.Attr{convAttrIs("strides", tc.sh, tc.sw), convAttrIs("pads", p...), convAttrI("group", group)}
			n := convNode("Conv", in, 1, attrs)
			convMarkConst(n, in, 1, 2)
			defer gemm.SetRowsInPlace(gemm.SetRowsInPlace(true))
			for _, inPlace := range []bool{true, true, false} {
				gemm.SetRowsInPlace(inPlace)
				c := &RunCtx{Node: n, Opset: 17, In: in, Threads: max(tc.threads, 1), Clamp: tc.clamp}
				out, err := convRun(c)
				if err != nil {
					t.Fatal(err)
				}
				if e := convRelErr(out[0].F32, want); e > 1e-5 {
					t.Errorf("B read in place %v: error %.2g against the float64 reference", inPlace, e)
				}
			}
		})
	}
}

// convBenchLayer returns the inputs and node of a benchmarked
// convolution layer: batch images of cin × hw × hw, cout k×k filters with
// a bias, constant weights, padding pad on every side.
func convBenchLayer(r *rand.Rand, batch, cin, cout, k, hw, pad int) ([]*tensor.Dense, *onnx.Node) {
	in := []*tensor.Dense{convRand(r, batch, cin, hw, hw), convRand(r, cout, cin, k, k), convRand(r, cout)}
	n := convNode("Conv", in, 1, []*onnx.Attr{onnx.IntsAttr("pads", int64(pad), int64(pad), int64(pad), int64(pad))})
	convMarkConst(n, in, 1, 2)
	return in, n
}

// convBenchRun times the layer with a fused Relu on every core and
// reports GFLOP/s where flops is not zero (2 flops per multiply-add).
func convBenchRun(b *testing.B, n *onnx.Node, in []*tensor.Dense, flops float64) {
	c := &RunCtx{Node: n, Opset: 17, In: in, Threads: runtime.GOMAXPROCS(0), Clamp: &Clamp{Lo: 0, Hi: float32(math.Inf(1))}, Direct: true}
	for b.Loop() {
		out, err := convRun(c)
		if err != nil {
			b.Fatal(err)
		}
		tensor.Recycle(out[0])
	}
	if flops != 0 {
		b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	}
}

// BenchmarkConvPointwise times MobileNetV2's 1×1 convolutions (with a
// fused Relu) at batch 1, with every core.
func BenchmarkConvPointwise(b *testing.B) {
	shapes := []struct{ cin, cout, hw int }{
		{16, 96, 112}, {96, 24, 56}, {24, 144, 56}, {144, 24, 56}, {32, 192, 28},
		{192, 32, 28}, {64, 384, 14}, {384, 64, 14}, {160, 960, 7}, {960, 160, 7}, {320, 1280, 7},
	}
	r := rand.New(rand.NewPCG(7, 8))
	for _, sh := range shapes {
		in, n := convBenchLayer(r, 1, sh.cin, sh.cout, 1, sh.hw, 0)
		b.Run(fmt.Sprintf("%dto%d_%d", sh.cin, sh.cout, sh.hw), func(b *testing.B) {
			convBenchRun(b, n, in, 2*float64(sh.cout*sh.hw*sh.hw*sh.cin))
		})
	}
}

// BenchmarkConvPointwiseBatch times pointwise convolutions at batch 8 over
// 7×7 and 14×14 maps (MobileNetV2, EfficientNet, DenseNet) as one GEMM
// over the batch (convPointwiseBatched) and as one per image, lifting
// convPointwiseMaxBatched's limit.
func BenchmarkConvPointwiseBatch(b *testing.B) {
	shapes := []struct{ cin, cout, hw int }{
		{320, 1280, 7}, {960, 320, 7}, {160, 960, 7}, {1152, 192, 7}, {1024, 128, 7}, {112, 672, 14}, {480, 80, 14}, {64, 384, 14},
	}
	r := rand.New(rand.NewPCG(7, 8))
	for _, sh := range shapes {
		in, n := convBenchLayer(r, 8, sh.cin, sh.cout, 1, sh.hw, 0)
		for _, batched := range []bool{false, true} {
			b.Run(fmt.Sprintf("%dto%d_%d/batched=%v", sh.cin, sh.cout, sh.hw, batched), func(b *testing.B) {
				defer func(max int) { convPointwiseBatchEnabled, convPointwiseMaxBatched = true, max }(convPointwiseMaxBatched)
				convPointwiseBatchEnabled, convPointwiseMaxBatched = batched, 256
				convBenchRun(b, n, in, 0)
			})
		}
	}
}

// BenchmarkConvFlatBatch times stride-1 3×3 convolutions over small maps
// at batch 8, one GEMM over the batch (convFlatBatched) against one per
// image (convGemmFlat): ResNet-18's, ResNet-20's and DenseNet's last
// stages, and channel counts between.
func BenchmarkConvFlatBatch(b *testing.B) {
	shapes := []struct{ cin, cout, hw int }{
		{512, 512, 7}, {256, 256, 7}, {128, 128, 7}, {128, 32, 7}, {64, 64, 8}, {256, 256, 8},
	}
	r := rand.New(rand.NewPCG(7, 9))
	for _, sh := range shapes {
		in, n := convBenchLayer(r, 8, sh.cin, sh.cout, 3, sh.hw, 1)
		for _, batched := range []bool{false, true} {
			b.Run(fmt.Sprintf("%dto%d_%d/batched=%v", sh.cin, sh.cout, sh.hw, batched), func(b *testing.B) {
				defer func(on bool) { convFlatBatchEnabled = on }(convFlatBatchEnabled)
				convFlatBatchEnabled = batched
				convBenchRun(b, n, in, 0)
			})
		}
	}
}
