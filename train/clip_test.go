package train

import (
	"fmt"
	"math"
	"testing"

	"github.com/graft-ml/graft/tensor"
)

// clipFixture is fixtures/train/clip.json: gradients before and after
// torch.nn.utils.clip_grad_norm_, and the norm it returned.
type clipFixture struct {
	Cases []struct {
		Name      string       `json:"name"`
		MaxNorm   float64      `json:"max_norm"`
		Shapes    [][]int      `json:"shapes"`
		Grads     []fixtureF32 `json:"grads"`
		TotalNorm float64      `json:"total_norm"`
		Clipped   []fixtureF32 `json:"clipped"`
	} `json:"cases"`
}

// TestClipGradNorm checks ClipGradNorm against PyTorch. PyTorch rounds each
// tensor's norm and the total to float32, while the total here is
// accumulated in float64, so the totals may differ by a float32 rounding
// (6e-8 relative), and the clipping factor, computed from the
// float32-rounded total as in PyTorch, by one float32 ulp; 1e-6 relative
// covers both.
func TestClipGradNorm(t *testing.T) {
	const tol = 1e-6
	var f clipFixture
	readTrainFixture(t, "clip.json", &f)
	for _, c := range f.Cases {
		t.Run(c.Name, func(t *testing.T) {
			params := make([]*Param, len(c.Shapes))
			for i, shape := range c.Shapes {
				params[i] = &Param{
					Name:  fmt.Sprint("p", i),
					Value: tensor.New(tensor.Float32, shape...),
					Grad:  tensor.FromF32(shape, append([]float32{}, c.Grads[i]...)),
				}
			}
			total := ClipGradNorm(params, c.MaxNorm)
			if math.Abs(total-c.TotalNorm) > tol*c.TotalNorm {
				t.Errorf("total norm %v, PyTorch %v", total, c.TotalNorm)
			}
			for i, p := range params {
				for j, got := range p.Grad.F32 {
					want := c.Clipped[i][j]
					if math.Abs(float64(got-want)) > tol*math.Abs(float64(want)) {
						t.Fatalf("gradient %d[%d]: %v, PyTorch %v", i, j, got, want)
					}
				}
			}
		})
	}
}

func TestClipGradNormEdgeCases(t *testing.T) {
	t.Run("skips nil", func(t *testing.T) {
		p := &Param{Name: "p", Grad: tensor.FromF32([]int{2}, []float32{3, 4})}
		noGrad := &Param{Name: "q"}
		total := ClipGradNorm([]*Param{nil, noGrad, p}, 1)
		if total != 5 {
			t.Errorf("total %v, want 5", total)
		}
		// coef = 1/(5 + 1e-6) in float32.
		if got := p.Grad.F32; math.Abs(float64(got[0])-0.6) > 1e-6 || math.Abs(float64(got[1])-0.8) > 1e-6 {
			t.Errorf("clipped gradient %v, want [0.6 0.8]", got)
		}
	})
	t.Run("no parameters", func(t *testing.T) {
		if total := ClipGradNorm(nil, 1); total != 0 {
			t.Errorf("total %v, want 0", total)
		}
	})
	t.Run("NaN gradient", func(t *testing.T) {
		p := &Param{Name: "p", Grad: tensor.FromF32([]int{2}, []float32{float32(math.NaN()), 4})}
		if total := ClipGradNorm([]*Param{p}, 1); !math.IsNaN(total) {
			t.Errorf("total %v, want NaN", total)
		}
		if p.Grad.F32[1] != 4 {
			t.Errorf("gradient changed to %v", p.Grad.F32)
		}
	})
	t.Run("infinite gradient", func(t *testing.T) {
		p := &Param{Name: "p", Grad: tensor.FromF32([]int{2}, []float32{float32(math.Inf(1)), 4})}
		if total := ClipGradNorm([]*Param{p}, 1); !math.IsInf(total, 1) {
			t.Errorf("total %v, want +Inf", total)
		}
		if p.Grad.F32[1] != 4 {
			t.Errorf("gradient changed to %v", p.Grad.F32)
		}
	})
}

func ExampleClipGradNorm() {
	p := &Param{Name: "p", Value: tensor.New(tensor.Float32, 2), Grad: tensor.FromF32([]int{2}, []float32{3, 4})}
	total := ClipGradNorm([]*Param{p}, 1)
	fmt.Printf("norm %.1f, clipped to %.3f\n", total, p.Grad.F32)
	// Output: norm 5.0, clipped to [0.600 0.800]
}
