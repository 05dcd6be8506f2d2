package exec

import (
	"math"
	"path/filepath"
	"sort"
	"testing"

	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/tensor"
)

// TestOpFixtures runs the PyTorch exports of fixtures/gen_ops.py, one per
// construct that needs a newer op (nn.LSTM, nn.GRU, nn.RNN, a torch.triu
// causal mask, torch.einsum, torch.topk with torch.gather, torch.cumsum,
// nn.PixelShuffle, Swin's shifted-window mask, bilinear and bicubic
// F.interpolate, and with a dynamic batch Swin's padded window attention
// and ViT's expanded class token), and compares with
// PyTorch's output at the tolerance: |got - want| <= 1e-4 +
// 1e-3·|want|. It then differentiates
// the model with Gradient and compares the input's gradient of
// <output, seed> with PyTorch autograd's (input_grad.npy).
func TestOpFixtures(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join(fixtures.Dir(), "ops", "*", "manifest.json"))
	if len(paths) == 0 {
		t.Fatal("no fixtures under fixtures/ops: run fixtures/gen_ops.py")
	}
	var names []string
	for _, p := range paths {
		names = append(names, filepath.Join("ops", filepath.Base(filepath.Dir(p))))
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(filepath.Base(name), func(t *testing.T) {
			fx, m, inputs := loadFixture(t, name)
			p, err := Compile(m)
			if err != nil {
				t.Fatal(err)
			}
			res, err := p.Run(inputs, RunOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range fx.Outputs {
				want, err := tensor.LoadNPY(fx.Path(o.File))
				if err != nil {
					t.Fatal(err)
				}
				got := res[o.Name]
				if got == nil || !tensor.SameShape(got.Shape, want.Shape) {
					t.Fatalf("output %s: got %v, want shape %v", o.Name, got, want.Shape)
				}
				g, w := got.Float64s(), want.Float64s()
				worst := 0.0
				for i := range w {
					d := math.Abs(g[i] - w[i])
					if !(d <= 1e-4+1e-3*math.Abs(w[i])) {
						t.Fatalf("output %s element %d: got %g, want %g", o.Name, i, g[i], w[i])
					}
					worst = max(worst, d)
				}
				t.Logf("%s: max abs error vs PyTorch %.3g", name, worst)
			}
			gr, err := Gradient(m, nil, []string{"input"})
			if err != nil {
				t.Fatal(err)
			}
			gp, err := Compile(gr.Model)
			if err != nil {
				t.Fatal(err)
			}
			seed, err := tensor.LoadNPY(fx.Path("seed.npy"))
			if err != nil {
				t.Fatal(err)
			}
			want, err := tensor.LoadNPY(fx.Path("input_grad.npy"))
			if err != nil {
				t.Fatal(err)
			}
			feeds := map[string]*tensor.Dense{gr.Seeds[0]: seed}
			for k, v := range inputs {
				feeds[k] = v
			}
			gres, err := gp.Run(feeds, RunOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got := gres[gr.Grads[0]]
			g, w := got.Float64s(), want.Float64s()
			worst := 0.0
			for i := range w {
				d := math.Abs(g[i] - w[i])
				if !(d <= 1e-4+1e-3*math.Abs(w[i])) {
					t.Fatalf("input gradient element %d: got %g, PyTorch %g", i, g[i], w[i])
				}
				worst = max(worst, d)
			}
			t.Logf("%s: input gradient max abs error vs PyTorch %.3g", name, worst)
		})
	}
}
