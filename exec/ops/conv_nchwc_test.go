package ops

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/graft-ml/graft/exec/internal/nchwc"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// nchwcCase is a convolution for the blocked-layout tests and benchmark.
type nchwcCase struct {
	name                 string
	batch, cin, h, w     int
	cout, k, stride, pad int
}

// nchwcShape returns the case's geometry as convCompute sets it up.
func (tc nchwcCase) shape() convShape {
	g := convShape{batch: tc.batch, cin: tc.cin, cout: tc.cout, group: 1}
	ho := (tc.h+2*tc.pad-tc.k)/tc.stride + 1
	wo := (tc.w+2*tc.pad-tc.k)/tc.stride + 1
	g.in, g.out, g.k = [3]int{1, tc.h, tc.w}, [3]int{1, ho, wo}, [3]int{1, tc.k, tc.k}
	g.s, g.d, g.p = [3]int{1, tc.stride, tc.stride}, [3]int{1, 1, 1}, [3]int{0, tc.pad, tc.pad}
	return g
}

// nchwcReference runs the case's Conv node (bias, optional residual and
// ReLU) through convRun, the unblocked paths.
func nchwcReference(t testing.TB, x, w, bias, res *tensor.Dense, tc nchwcCase, relu bool) *tensor.Dense {
	in := []*tensor.Dense{x, w, bias}
	attrs := []*onnx.Attr{convAttrIs("strides", tc.stride, tc.stride), convAttrIs("pads", tc.pad, tc.pad, tc.pad, tc.pad)}
	c := &RunCtx{Node: convNode("Conv", in, 1, attrs), Opset: 17, In: in, Threads: 2, Residual: res, Direct: true}
	if relu {
		c.Clamp = &Clamp{Lo: 0, Hi: float32(math.Inf(1))}
	}
	out, err := convRun(c)
	if err != nil {
		t.Fatal(err)
	}
	return out[0]
}

// TestConvNCHWc checks the blocked path, input and output converted from
// and to NCHW, against convRun's unblocked paths (Direct: no Winograd) on
// odd maps, both strides, 1×1 and 3×3 windows with and without padding,
// each block count per tile, with a residual and a ReLU, and 1-3
// threads. Both sum the same products in different orders: tolerance
// 1e-4 of the largest output.
func TestConvNCHWc(t *testing.T) {
	cases := []nchwcCase{
		{"3x3_s1_odd", 2, 32, 9, 11, 32, 3, 1, 1},
		{"3x3_s1_wide", 1, 16, 5, 33, 48, 3, 1, 1},
		{"3x3_s2", 2, 16, 13, 10, 64, 3, 2, 1},
		{"3x3_s1_nopad", 1, 48, 7, 8, 32, 3, 1, 0},
		{"1x1_s1", 3, 64, 6, 7, 64, 1, 1, 0},
		{"1x1_s2", 1, 32, 9, 9, 128, 1, 2, 0},
		{"3x3_7x7_4blocks", 2, 32, 7, 7, 128, 3, 1, 1},
		{"2x2_s2", 1, 16, 8, 8, 16, 2, 2, 0},
		// Inputs in planes (convNCHWcPlanes): an image's channels.
		{"planes_7x7_s2_pad3", 2, 3, 19, 21, 64, 7, 2, 3},
		{"planes_3x3_s2", 1, 3, 17, 15, 64, 3, 2, 0},
		{"planes_3x3_s1", 1, 5, 9, 30, 32, 3, 1, 1},
	}
	r := rand.New(rand.NewPCG(3, 4))
	for _, tc := range cases {
		for _, threads := range []int{1, 3} {
			t.Run(fmt.Sprintf("%s/threads%d", tc.name, threads), func(t *testing.T) {
				g := tc.shape()
				planes := tc.cin%nchwc.Block != 0
				if !planes && !nchwcOK(&g) || planes && !nchwcPlanesOK(&g) {
					t.Fatalf("nchwcOK or nchwcPlanesOK rejects %+v", g)
				}
				x := convRand(r, tc.batch, tc.cin, tc.h, tc.w)
				w := convRand(r, tc.cout, tc.cin, tc.k, tc.k)
				bias := convRand(r, tc.cout)
				res := convRand(r, tc.batch, tc.cout, g.out[1], g.out[2])
				want := nchwcReference(t, x, w, bias, res, tc, true)

				in := nchwcDims{tc.batch, tc.cin, tc.h, tc.w}
				out := nchwcDims{tc.batch, tc.cout, g.out[1], g.out[2]}
				rb := make([]float32, out.len())
				nchwcFromPlanes(rb, res.F32, out, threads)
				yb := make([]float32, out.len())
				ocb := nchwcBlocksPerTile(tc.cout, g.out[2])
				if planes {
					convNCHWcPlanes(yb, x.F32, rb, nchwcPlanesWeights(w.F32, &g, ocb), bias.F32, &g, ocb, 0, float32(math.Inf(1)), threads)
				} else {
					xb := make([]float32, in.len())
					for i := range xb {
						xb[i] = float32(math.NaN()) // the border must be written
					}
					nchwcFromPlanes(xb, x.F32, in, threads)
					convNCHWc(yb, xb, rb, nchwcWeights(w.F32, &g, ocb), bias.F32, &g, ocb, 0, float32(math.Inf(1)), threads)
				}
				got := make([]float32, want.Len())
				nchwcToPlanes(got, yb, out, threads)
				scale := 0.0
				for _, v := range want.F32 {
					scale = math.Max(scale, math.Abs(float64(v)))
				}
				for i := range got {
					if d := math.Abs(float64(got[i] - want.F32[i])); !(d <= 1e-4*scale) {
						t.Fatalf("y[%d] = %v, want %v (%d blocks a tile)", i, got[i], want.F32[i], ocb)
					}
				}
				// The output's border stays as the caller cleared it.
				for b := range tc.batch {
					for cb := range tc.cout / nchwc.Block {
						p := yb[(b*tc.cout/nchwc.Block+cb)*out.plane():]
						for c := range out.rowLen() {
							if p[c] != 0 || p[(out.h+1)*out.rowLen()+c] != 0 {
								t.Fatalf("border of block %d written", cb)
							}
						}
					}
				}
			})
		}
	}
}

// BenchmarkConvNCHWc times layers of ResNet-18, ResNet-20, SqueezeNet and
// DenseNet on the blocked path (blocked input and output, no conversion)
// beside convRun's paths on NCHW, batch 1, every core, reporting GFLOP/s.
func BenchmarkConvNCHWc(b *testing.B) {
	cases := []nchwcCase{
		{"resnet18_64_56", 1, 64, 56, 56, 64, 3, 1, 1},
		{"resnet18_128_28", 1, 128, 28, 28, 128, 3, 1, 1},
		{"resnet18_256_14", 1, 256, 14, 14, 256, 3, 1, 1},
		{"resnet18_512_7", 1, 512, 7, 7, 512, 3, 1, 1},
		{"resnet18_s2_64_56", 1, 64, 56, 56, 128, 3, 2, 1},
		{"resnet20_16_32", 1, 16, 32, 32, 16, 3, 1, 1},
		{"resnet20_64_8", 1, 64, 8, 8, 64, 3, 1, 1},
		{"squeeze_16_55", 1, 16, 55, 55, 64, 3, 1, 1},
		{"squeeze_32_27", 1, 32, 27, 27, 128, 3, 1, 1},
		{"squeeze_64_13", 1, 64, 13, 13, 256, 3, 1, 1},
		{"densenet_128_56", 1, 128, 56, 56, 32, 3, 1, 1},
		{"pointwise_256_14", 1, 256, 14, 14, 256, 1, 1, 0},
		{"resnet18_stem", 1, 3, 224, 224, 64, 7, 2, 3},
		{"squeezenet_stem", 1, 3, 224, 224, 64, 3, 2, 0},
		{"densenet_pw_224_56", 1, 224, 56, 56, 128, 1, 1, 0},
		{"densenet_pw_1024_14", 1, 1024, 14, 14, 512, 1, 1, 0},
		{"mobilenet_pw_960_7_b8", 8, 960, 7, 7, 320, 1, 1, 0},
	}
	r := rand.New(rand.NewPCG(7, 8))
	threads := runtime.GOMAXPROCS(0)
	for _, tc := range cases {
		g := tc.shape()
		flops := 2 * float64(tc.batch*tc.cout*g.out[1]*g.out[2]) * float64(tc.cin*tc.k*tc.k)
		x := convRand(r, tc.batch, tc.cin, tc.h, tc.w)
		w := convRand(r, tc.cout, tc.cin, tc.k, tc.k)
		bias := convRand(r, tc.cout)
		report := func(b *testing.B, start time.Time) {
			b.ReportMetric(flops*float64(b.N)/time.Since(start).Seconds()/1e9, "GFLOP/s")
		}
		b.Run(tc.name+"/nchw", func(b *testing.B) {
			in := []*tensor.Dense{x, w, bias}
			attrs := []*onnx.Attr{convAttrIs("strides", tc.stride, tc.stride), convAttrIs("pads", tc.pad, tc.pad, tc.pad, tc.pad)}
			n := convNode("Conv", in, 1, attrs)
			convMarkConst(n, in, 1, 2)
			c := &RunCtx{Node: n, Opset: 17, In: in, Threads: threads, Clamp: &Clamp{Lo: 0, Hi: float32(math.Inf(1))}}
			start := time.Now()
			for b.Loop() {
				out, err := convRun(c)
				if err != nil {
					b.Fatal(err)
				}
				tensor.Recycle(out[0])
			}
			report(b, start)
		})
		b.Run(tc.name+"/nchwc", func(b *testing.B) {
			out := nchwcDims{tc.batch, tc.cout, g.out[1], g.out[2]}
			yb := make([]float32, out.len())
			ocb := nchwcBlocksPerTile(tc.cout, g.out[2])
			if tc.cin%nchwc.Block != 0 {
				wp := nchwcPlanesWeights(w.F32, &g, ocb)
				start := time.Now()
				for b.Loop() {
					convNCHWcPlanes(yb, x.F32, nil, wp, bias.F32, &g, ocb, 0, float32(math.Inf(1)), threads)
				}
				report(b, start)
				return
			}
			in := nchwcDims{tc.batch, tc.cin, tc.h, tc.w}
			xb := make([]float32, in.len())
			nchwcFromPlanes(xb, x.F32, in, threads)
			wp := nchwcWeights(w.F32, &g, ocb)
			start := time.Now()
			for b.Loop() {
				convNCHWc(yb, xb, nil, wp, bias.F32, &g, ocb, 0, float32(math.Inf(1)), threads)
			}
			report(b, start)
		})
	}
}

// nchwcToBlocked returns x (NCHW, channels a multiple of 16) blocked.
func nchwcToBlocked(x *tensor.Dense) *tensor.Dense {
	d := nchwcDims{x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]}
	y := newNCHWc(d)
	nchwcFromPlanes(y.F32, x.F32, d, 2)
	return y
}

// TestNCHWcOps checks the blocked Concat (plain, and with a fused
// BatchNormalization and ReLU), MaxPool and AveragePool against their NCHW
// kernels: inputs blocked, in NCHW, or mixed; the output asked blocked
// and in NCHW; shapes the blocked kernels leave to the NCHW ones (a
// channel count off the block, an average window over the padding).
// Max pooling and copies are exact; sums agree to float32 rounding.
func TestNCHWcOps(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	inf := float32(math.Inf(1))
	norm := &ChannelAffine{}
	for range 64 {
		norm.Mul = append(norm.Mul, r.Float32()+0.5)
		norm.Add = append(norm.Add, r.Float32()-0.5)
	}
	type opCase struct {
		name   string
		op     string
		shapes [][]int
		attrs  []*onnx.Attr
		clamp  *Clamp
	}
	pool := func(k, s int, pads []int, ceil int) []*onnx.Attr {
		return []*onnx.Attr{convAttrIs("kernel_shape", k, k), convAttrIs("strides", s, s), convAttrIs("pads", pads...), convAttrI("ceil_mode", ceil)}
	}
	cases := []opCase{
		{"concat", "Concat", [][]int{{2, 16, 5, 7}, {2, 32, 5, 7}, {2, 16, 5, 7}}, []*onnx.Attr{convAttrI("axis", 1)}, nil},
		{"concat_bn_relu", "Concat", [][]int{{2, 16, 5, 7}, {2, 32, 5, 7}, {2, 16, 5, 7}}, []*onnx.Attr{convAttrI("axis", 1)},
			&Clamp{Lo: 0, Hi: inf, Norm: norm}},
		{"concat_off_block", "Concat", [][]int{{1, 16, 4, 4}, {1, 8, 4, 4}}, []*onnx.Attr{convAttrI("axis", 1)}, nil},
		{"maxpool_3x3_s2_pad1", "MaxPool", [][]int{{2, 32, 11, 11}}, pool(3, 2, []int{1, 1, 1, 1}, 0), nil},
		{"maxpool_3x3_s2_ceil", "MaxPool", [][]int{{1, 16, 8, 8}}, pool(3, 2, []int{0, 0, 0, 0}, 1), nil},
		{"maxpool_2x2_s1_asym", "MaxPool", [][]int{{1, 16, 6, 5}}, pool(2, 1, []int{0, 1, 1, 0}, 0), nil},
		{"avgpool_2x2_s2", "AveragePool", [][]int{{2, 32, 8, 10}}, pool(2, 2, []int{0, 0, 0, 0}, 0), nil},
		{"avgpool_3x3_pad", "AveragePool", [][]int{{1, 16, 7, 7}}, pool(3, 1, []int{1, 1, 1, 1}, 0), nil},
	}
	for _, tc := range cases {
		in := make([]*tensor.Dense, len(tc.shapes))
		for i, s := range tc.shapes {
			in[i] = convRand(r, s...)
		}
		n := convNode(tc.op, in, 1, tc.attrs)
		run := map[string]func(*RunCtx) ([]*tensor.Dense, error){"Concat": concatRun, "MaxPool": maxPoolRun, "AveragePool": avgPoolRun}[tc.op]
		want, err := run(&RunCtx{Node: n, Opset: 17, In: in, Threads: 2, Clamp: tc.clamp})
		if err != nil {
			t.Fatal(err)
		}
		for mask := uint64(0); mask < 1<<len(in); mask++ {
			for _, out := range []bool{false, true} {
				blk := slices.Clone(in)
				for i := range blk {
					if mask&(1<<i) != 0 {
						if blk[i].Shape[1]%nchwc.Block != 0 {
							continue
						}
						blk[i] = nchwcToBlocked(in[i])
					}
				}
				st := &NCHWcStage{Out: out}
				for i := range blk {
					if blk[i] != in[i] {
						st.In |= 1 << i
					}
				}
				c := &RunCtx{Node: n, Opset: 17, In: blk, Threads: 3, Clamp: tc.clamp, NCHWc: st}
				got, err := run(c)
				if err != nil {
					t.Fatalf("%s inputs %b out %v: %v", tc.name, st.In, out, err)
				}
				y := got[0]
				if st.Blocked {
					y = NCHWcToPlanes(y, 2)
				}
				if !slices.Equal(y.Shape, want[0].Shape) {
					t.Fatalf("%s inputs %b out %v: shape %v, want %v", tc.name, st.In, out, y.Shape, want[0].Shape)
				}
				for i, v := range want[0].F32 {
					if d := math.Abs(float64(y.F32[i] - v)); d > 1e-6*(1+math.Abs(float64(v))) {
						t.Fatalf("%s inputs %b out %v (blocked %v): y[%d] = %v, want %v", tc.name, st.In, out, st.Blocked, i, y.F32[i], v)
					}
				}
				// Where the blocked kernel could run, it did, and honoured Out.
				fits := !strings.HasSuffix(tc.name, "off_block") && tc.name != "avgpool_3x3_pad"
				if fits && (st.In != 0 || out) && st.Blocked != out {
					t.Errorf("%s inputs %b: asked blocked %v, got blocked %v", tc.name, st.In, out, st.Blocked)
				}
			}
		}
	}
}

// TestConvNCHWcDepthwise runs depthwise Convs through convRun with the
// blocked stage (input blocked or in NCHW, output asked blocked or not)
// against convRun on NCHW: 3×3 at strides 1 and 2 with padding, 1×1, 2×2
// unpadded, ReLU6, odd maps, rows wider than one kernel call; a 5×5
// window padded by 2 (beyond the border) falls back. Tolerance 1e-5 of
// the largest output (the sums differ only in order).
func TestConvNCHWcDepthwise(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	cases := []struct {
		x         []int
		k, s, pad int
		fallback  bool
	}{
		{[]int{2, 32, 9, 11}, 3, 1, 1, false},
		{[]int{1, 48, 13, 61}, 3, 2, 1, false},
		{[]int{1, 16, 7, 7}, 1, 1, 0, false},
		{[]int{1, 16, 8, 8}, 2, 2, 0, false},
		{[]int{1, 32, 9, 9}, 5, 1, 2, true},
	}
	for _, tc := range cases {
		ch := tc.x[1]
		x := convRand(r, tc.x...)
		w := convRand(r, ch, 1, tc.k, tc.k)
		bias := convRand(r, ch)
		in := []*tensor.Dense{x, w, bias}
		attrs := []*onnx.Attr{convAttrIs("strides", tc.s, tc.s), convAttrIs("pads", tc.pad, tc.pad, tc.pad, tc.pad), convAttrI("group", ch)}
		n := convNode("Conv", in, 1, attrs)
		convMarkConst(n, in, 1, 2)
		clamp := &Clamp{Lo: 0, Hi: 6}
		want, err := convRun(&RunCtx{Node: n, Opset: 17, In: in, Threads: 2, Clamp: clamp})
		if err != nil {
			t.Fatal(err)
		}
		for _, blockedIn := range []bool{false, true} {
			for _, out := range []bool{false, true} {
				st := &NCHWcStage{Out: out}
				xin := x
				if blockedIn {
					xin, st.In = nchwcToBlocked(x), 1
				}
				got, err := convRun(&RunCtx{Node: n, Opset: 17, In: []*tensor.Dense{xin, w, bias}, Threads: 3, Clamp: clamp, NCHWc: st})
				if err != nil {
					t.Fatal(err)
				}
				y := got[0]
				if st.Blocked {
					y = NCHWcToPlanes(y, 2)
				}
				if st.Ran == tc.fallback || (st.Ran && st.Blocked != out) {
					t.Fatalf("x %v k %d: ran blocked %v, output blocked %v (asked %v)", tc.x, tc.k, st.Ran, st.Blocked, out)
				}
				scale := 0.0
				for _, v := range want[0].F32 {
					scale = math.Max(scale, math.Abs(float64(v)))
				}
				for i, v := range want[0].F32 {
					if d := math.Abs(float64(y.F32[i] - v)); d > 1e-5*scale {
						t.Fatalf("x %v k %d s %d, input blocked %v: y[%d] = %v, want %v", tc.x, tc.k, tc.s, blockedIn, i, y.F32[i], v)
					}
				}
			}
		}
	}
}
