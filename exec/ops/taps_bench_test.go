package ops

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// BenchmarkDepthwise times depthwise Conv layers of MobileNetV2 and
// EfficientNet-B0 at batch 1 on one thread, through the blocked path
// (convDWBlock, where it applies), the whole-plane windows
// (convDWWindows) and the per-row tap plans (the GFLOP/s count 2 flops a
// multiply-add, outputs × window).
func BenchmarkDepthwise(b *testing.B) {
	defer func(blocked, windows bool) { convDWBlockEnabled, convDWWindowsEnabled = blocked, windows }(convDWBlockEnabled, convDWWindowsEnabled)
	for _, c := range []struct{ ch, hw, k, s int }{
		{32, 112, 3, 1}, {144, 56, 3, 1}, {192, 28, 3, 1}, {576, 14, 3, 1}, {960, 7, 3, 1},
		{96, 112, 3, 2}, {144, 56, 3, 2}, {576, 14, 3, 2}, {144, 56, 5, 2}, {480, 14, 5, 1}, {672, 14, 5, 2},
	} {
		for _, path := range []string{"blocked", "windows", "planes"} {
			b.Run(fmt.Sprintf("%dx%d_s%d_%dch_%d/%s", c.k, c.k, c.s, c.ch, c.hw, path), func(b *testing.B) {
				convDWBlockEnabled, convDWWindowsEnabled = path == "blocked", path != "planes"
				r := rand.New(rand.NewPCG(1, 2))
				x := convRand(r, 1, c.ch, c.hw, c.hw)
				w := convRand(r, c.ch, 1, c.k, c.k)
				bias := convRand(r, c.ch)
				p := c.k / 2
				attrs := []*onnx.Attr{convAttrIs("strides", c.s, c.s), convAttrIs("pads", p, p, p, p), convAttrI("group", c.ch)}
				// The weights are constants, as in a model: their
				// repacking is done once.
				n := convNode("Conv", []*tensor.Dense{x, w, bias}, 1, attrs)
				convMarkConst(n, []*tensor.Dense{x, w, bias}, 1, 2)
				out, err := convRunNode(n, 13, 1, x, w, bias)
				if err != nil {
					b.Fatal(err)
				}
				flops := 2 * float64(out[0].Len()*c.k*c.k)
				b.ResetTimer()
				for b.Loop() {
					out, err := convRunNode(n, 13, 1, x, w, bias)
					if err != nil {
						b.Fatal(err)
					}
					// Recycled, as a run's dead values are: a fresh
					// output each time measured page faults.
					tensor.Recycle(out[0])
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// BenchmarkMaxPool times ResNet-18's stem MaxPool (3×3, stride 2, 64
// channels, 112×112) at batch 1 on one thread.
func BenchmarkMaxPool(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	x := convRand(r, 1, 64, 112, 112)
	attrs := []*onnx.Attr{convAttrIs("kernel_shape", 3, 3), convAttrIs("strides", 2, 2), convAttrIs("pads", 1, 1, 1, 1)}
	for b.Loop() {
		out, err := convRunOp(12, 1, 1, "MaxPool", attrs, x)
		if err != nil {
			b.Fatal(err)
		}
		tensor.Recycle(out[0])
	}
}
