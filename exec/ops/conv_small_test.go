package ops

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// BenchmarkConvResNet20 times the convolutions of a CIFAR ResNet-20
// (3×32×32 input; 16, 32 and 64 channels on 32×32, 16×16 and 8×8 maps,
// with a fused Relu) at batch 1 and 8, on one and two threads, through
// the path convRun picks ("auto") and, for the 3×3 stride-1 layers,
// through the direct and the Winograd paths. GFLOP/s counts the direct
// convolution's multiply-adds (2 flops each) whatever the path.
func BenchmarkConvResNet20(b *testing.B) {
	shapes := []struct {
		name             string
		cin, cout, hw, k int
		s                int
	}{
		{"stem_3to16_32", 3, 16, 32, 3, 1},
		{"16_32", 16, 16, 32, 3, 1},
		{"16to32_s2", 16, 32, 32, 3, 2},
		{"32_16", 32, 32, 16, 3, 1},
		{"32to64_s2", 32, 64, 16, 3, 2},
		{"64_8", 64, 64, 8, 3, 1},
		{"short_16to32_s2", 16, 32, 32, 1, 2},
	}
	r := rand.New(rand.NewPCG(7, 8))
	for _, batch := range []int{1, 8} {
		for _, sh := range shapes {
			x := convRand(r, batch, sh.cin, sh.hw, sh.hw)
			w := convRand(r, sh.cout, sh.cin, sh.k, sh.k)
			bias := convRand(r, sh.cout)
			in := []*tensor.Dense{x, w, bias}
			p := sh.k / 2
			n := convNode("Conv", in, 1, []*onnx.Attr{convAttrIs("pads", p, p, p, p), convAttrIs("strides", sh.s, sh.s)})
			convMarkConst(n, in, 1, 2)
			ho := (sh.hw+2*p-sh.k)/sh.s + 1
			flops := 2 * float64(batch*sh.cout*ho*ho) * float64(sh.cin*sh.k*sh.k)
			paths := []string{"auto"}
			if sh.k == 3 && sh.s == 1 && sh.cin >= 16 {
				paths = append(paths, "direct", "winograd")
			}
			if sh.k > 1 {
				paths = append(paths, "im2col")
			}
			for _, threads := range []int{1, 2} {
				for _, path := range paths {
					b.Run(fmt.Sprintf("b%d/%s/t%d/%s", batch, sh.name, threads, path), func(b *testing.B) {
						defer func(on, flat bool, tiles, chans int) {
							convWinoEnabled, convFlatEnabled, convWinoMinTiles, convWinoMinChannels = on, flat, tiles, chans
						}(convWinoEnabled, convFlatEnabled, convWinoMinTiles, convWinoMinChannels)
						switch path {
						case "direct":
							convWinoEnabled = false
						case "im2col":
							convWinoEnabled, convFlatEnabled = false, false
						case "winograd":
							convWinoMinTiles, convWinoMinChannels = 0, 16
						}
						c := &RunCtx{Node: n, Opset: 17, In: in, Threads: threads, Clamp: &Clamp{Lo: 0, Hi: float32(math.Inf(1))}}
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
}
