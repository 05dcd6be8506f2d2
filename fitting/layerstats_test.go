package fitting

import (
	"path/filepath"
	"testing"

	"github.com/graft-ml/graft/data"
	"github.com/graft-ml/graft/feed"
	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/surgery"
)

// TestLayerStats collects the statistics of two layers of the bundled
// CNN, a 3×3 Conv (conv2, 32 → 64 channels) and a Gemm (fc2), and fits
// each layer to them: a layer's output is exactly an affine map of its
// input (patches for the Conv), so the fit must explain it to float32
// rounding (R² above 1 − 1e-6), which it does only if inputs, outputs and
// the patch layout line up. conv1, given asymmetric pads that keep its output size, is
// skipped with the reason, as Unfold cannot read its window.
func TestLayerStats(t *testing.T) {
	m, err := onnx.Load(filepath.Join(fixtures.Dir(), "fmnist", "a.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	var layers []*surgery.LinearLayer
	for _, name := range []string{"conv1", "conv2", "fc2"} {
		l, err := surgery.LinearLayerOf(m, name)
		if err != nil {
			t.Fatal(err)
		}
		layers = append(layers, l)
	}
	if pads := layers[0].Node.AttrInts("pads"); len(pads) != 4 || pads[0] != 1 || pads[2] != 1 {
		t.Fatalf("conv1 pads %v, want 1 on every side", pads)
	}
	layers[0].Node.SetAttr(&onnx.Attr{Name: "pads", Type: onnx.AttrInts, Ints: []int64{0, 0, 2, 2}})
	src, err := data.Open(filepath.Join(fixtures.Dir(), "fmnist", "t10k-images-1k-idx3-ubyte.gz"), data.Options{Mean: []float64{0.2860}, Std: []float64{0.3530}})
	if err != nil {
		t.Fatal(err)
	}
	stats, err := LayerStats(m, layers, src, feed.Options{Batch: 50, Limit: 70})
	if err != nil {
		t.Fatal(err)
	}
	if stats[0].Stats != nil || stats[0].Skipped == "" {
		t.Errorf("conv1 with asymmetric pads: %+v, want skipped with a reason", stats[0])
	}
	if stats[1].Patches != (Patches{K: 3, Pad: 1, Stride: 1}) || stats[1].Stats.N() != 70*196 || stats[2].Stats.N() != 70 {
		t.Errorf("conv2 patches %+v, %d rows; fc2 %d rows; want 3×3 pad 1, 13720 and 70", stats[1].Patches, stats[1].Stats.N(), stats[2].Stats.N())
	}
	for i, l := range layers[1:] {
		s := stats[i+1].Stats
		if s.In() != l.In || s.Out() != l.Out {
			t.Errorf("%s: stats %d → %d, layer %d → %d", l.Node.Name, s.In(), s.Out(), l.In, l.Out)
		}
		f, err := Linear(s, LinearOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if f.R2 < 1-1e-6 {
			t.Errorf("%s: R² %v of the layer's own map", l.Node.Name, f.R2)
		}
	}
}
