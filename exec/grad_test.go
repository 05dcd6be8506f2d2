package exec

import (
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// gradFixture loads a fixture with its recorded inputs.
func gradFixture(t testing.TB, name string) (*onnx.Model, map[string]*tensor.Dense) {
	t.Helper()
	_, m, in := loadFixture(t, name)
	return m, in
}

// floatParams lists the float initializers of m and its float inputs.
func floatParams(m *onnx.Model) []string {
	var out []string
	for _, v := range m.Graph.Inputs {
		if v.Const == nil && v.Type.DType.IsFloat() {
			out = append(out, v.Name)
		}
	}
	for _, v := range m.Graph.Initializers {
		if v.Type.DType.IsFloat() {
			out = append(out, v.Name)
		}
	}
	return out
}

func to64(d *tensor.Dense) *tensor.Dense {
	if d.DType == tensor.Float64 {
		return d
	}
	out := tensor.New(tensor.Float64, d.Shape...)
	for i, v := range d.Float64s() {
		out.F64[i] = v
	}
	return out
}

func to32(d *tensor.Dense) *tensor.Dense {
	out := tensor.New(tensor.Float32, d.Shape...)
	for i, v := range d.Float64s() {
		out.F32[i] = float32(v)
	}
	return out
}

// TestGradFixtures differentiates <dy, outputs> of every fixture with
// respect to its input and all its parameters, in float64 and float32.
// The float64 gradient is checked against central finite differences
// along one random direction per tensor (step 1e-6; agreement within
// 1e-6 of max(1, |derivative|)), and the float32 gradient against the
// float64 one (within 1e-3 of the tensor's largest entry, or of 1e-4 if
// that is smaller: float32 rounding through a few dozen layers).
func TestGradFixtures(t *testing.T) {
	for _, name := range []string{"mlp", "cnn_bn", "resnet_small", "mobilenet_small", "transformer", "cnn_avgpool_pad"} {
		t.Run(name, func(t *testing.T) {
			m32, in32 := gradFixture(t, name)
			m64, err := Float64(m32)
			if err != nil {
				t.Fatal(err)
			}
			wrt := floatParams(m32)
			g64, err := Gradient(m64, nil, wrt)
			if err != nil {
				t.Fatal(err)
			}
			g32, err := Gradient(m32, nil, wrt)
			if err != nil {
				t.Fatal(err)
			}
			if err := g32.Model.Graph.Validate(); err != nil {
				t.Fatal(err)
			}
			in64 := map[string]*tensor.Dense{}
			for k, v := range in32 {
				in64[k] = to64(v)
			}
			fwd, err := Compile(m64)
			if err != nil {
				t.Fatal(err)
			}
			ys, err := fwd.Run(in64, RunOptions{})
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			dys := map[string]*tensor.Dense{}
			feeds64, feeds32 := map[string]*tensor.Dense{}, map[string]*tensor.Dense{}
			for k, v := range in64 {
				feeds64[k], feeds32[k] = v, in32[k]
			}
			for i, of := range g64.Of {
				dy := tensor.New(tensor.Float64, ys[of].Shape...)
				for j := range dy.F64 {
					dy.F64[j] = rng.NormFloat64()
				}
				dys[of] = dy
				feeds64[g64.Seeds[i]], feeds32[g32.Seeds[i]] = dy, to32(dy)
			}
			p64, err := Compile(g64.Model)
			if err != nil {
				t.Fatal(err)
			}
			out64, err := p64.Run(feeds64, RunOptions{})
			if err != nil {
				t.Fatal(err)
			}
			p32, err := Compile(g32.Model)
			if err != nil {
				t.Fatal(err)
			}
			out32, err := p32.Run(feeds32, RunOptions{})
			if err != nil {
				t.Fatal(err)
			}
			loss := func(over map[string]*tensor.Dense) float64 {
				f := map[string]*tensor.Dense{}
				for k, v := range in64 {
					f[k] = v
				}
				for k, v := range over {
					f[k] = v
				}
				y, err := fwd.Run(f, RunOptions{})
				if err != nil {
					t.Fatal(err)
				}
				s := 0.0
				for of, dy := range dys {
					for j, v := range y[of].F64 {
						s += v * dy.F64[j]
					}
				}
				return s
			}
			worstFD, worst32 := 0.0, 0.0
			for i, w := range g64.Wrt {
				v, err := m64.Graph.Resolve(w)
				if err != nil {
					t.Fatal(err)
				}
				var x *tensor.Dense
				if d := in64[w]; d != nil {
					x = d
				} else if x, err = v.Const.Dense(); err != nil {
					t.Fatal(err)
				}
				g := out64[g64.Grads[i]]
				if !tensor.SameShape(g.Shape, x.Shape) {
					t.Fatalf("%s: gradient shape %v, want %v", w, g.Shape, x.Shape)
				}
				// Directional derivative along a random unit direction.
				dir := make([]float64, x.Len())
				norm := 0.0
				for j := range dir {
					dir[j] = rng.NormFloat64()
					norm += dir[j] * dir[j]
				}
				norm = math.Sqrt(norm)
				want := 0.0
				for j := range dir {
					dir[j] /= norm
					want += dir[j] * g.F64[j]
				}
				const eps = 1e-6
				plus, minus := x.Clone(), x.Clone()
				for j := range dir {
					plus.F64[j] += eps * dir[j]
					minus.F64[j] -= eps * dir[j]
				}
				fd := (loss(map[string]*tensor.Dense{w: plus}) - loss(map[string]*tensor.Dense{w: minus})) / (2 * eps)
				rel := math.Abs(fd-want) / max(1, math.Abs(fd))
				worstFD = max(worstFD, rel)
				if rel > 1e-6 {
					t.Errorf("%s: directional derivative %.10g, finite differences %.10g", w, want, fd)
				}
				// float32 against float64.
				g32 := out32[g32.Grads[i]]
				// A gradient that is zero in exact arithmetic (a key bias,
				// to which softmax is invariant) shows float32 rounding
				// alone: entries elsewhere are O(1e-2..1), hence the floor.
				scale := 1e-4
				for _, e := range g.F64 {
					scale = max(scale, math.Abs(e))
				}
				e32 := 0.0
				for j, e := range g32.F32 {
					e32 = max(e32, math.Abs(float64(e)-g.F64[j]))
				}
				worst32 = max(worst32, e32/scale)
				if e32 > 1e-3*scale {
					t.Errorf("%s: float32 gradient differs from float64 by %.3g (largest entry %.3g)", w, e32, scale)
				}
			}
			t.Logf("%d tensors: worst relative FD error %.2g, worst float32/float64 error %.2g", len(wrt), worstFD, worst32)
		})
	}
}

// TestGradSaveLoad checks that a gradient model survives a round trip
// through a file and still runs (with onnx.checker's approval where
// python3-onnx is installed).
func TestGradSaveLoad(t *testing.T) {
	m, in := gradFixture(t, "resnet_small")
	g, err := Gradient(m, nil, floatParams(m))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "grad.onnx")
	if err := g.Model.Save(path); err != nil {
		t.Fatal(err)
	}
	back, err := onnx.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := fixtures.CheckModel(path); err != nil && !strings.Contains(err.Error(), "needs") {
		t.Errorf("onnx.checker: %v", err)
	}
	p, err := Compile(back)
	if err != nil {
		t.Fatal(err)
	}
	in[g.Seeds[0]] = tensor.New(tensor.Float32, 2, 10)
	in[g.Seeds[0]].F32[3] = 1
	out, err := p.Run(in, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1+len(g.Grads) {
		t.Fatalf("got %d outputs, want %d", len(out), 1+len(g.Grads))
	}
}

// TestGradErrors checks that a node without a rule is named.
func TestGradErrors(t *testing.T) {
	g := onnx.NewGraph("g")
	x, _ := g.AddInput("x", onnx.ShapeOf(tensor.Float32, 2, 3))
	n := g.AddNode("Selu", "", "my_selu", []*onnx.Value{x}, []string{"y"})
	g.Outputs = append(g.Outputs, n.Outputs[0])
	_, err := Gradient(onnx.NewModel(g, 17), nil, []string{"x"})
	if err == nil || !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "my_selu") || !strings.Contains(err.Error(), "Selu") {
		t.Fatalf("got error %v, want one naming node my_selu and Selu", err)
	}
	// With respect to a value the output does not depend on: zeros.
	m, _ := gradFixture(t, "mlp")
	gm, err := Gradient(m, nil, []string{floatParams(m)[1]})
	if err != nil {
		t.Fatal(err)
	}
	_ = gm
	if _, err := Gradient(m, nil, []string{"no_such_value"}); err == nil {
		t.Fatal("no error for an unknown value")
	}
}

// BenchmarkGradResNetSmall times one forward and backward pass of
// fixtures/resnet_small at batch 8: the gradient with respect to every
// parameter and the input.
func BenchmarkGradResNetSmall(b *testing.B) {
	m, _ := gradFixture(b, "resnet_small")
	g, err := Gradient(m, nil, floatParams(m))
	if err != nil {
		b.Fatal(err)
	}
	p, err := Compile(g.Model)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	x := tensor.New(tensor.Float32, 8, 3, 16, 16)
	dy := tensor.New(tensor.Float32, 8, 10)
	for i := range x.F32 {
		x.F32[i] = float32(rng.NormFloat64())
	}
	for i := range dy.F32 {
		dy.F32[i] = float32(rng.NormFloat64())
	}
	in := map[string]*tensor.Dense{m.Graph.Inputs[0].Name: x, g.Seeds[0]: dy}
	fwd, err := Compile(m)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("forward", func(b *testing.B) {
		for b.Loop() {
			if _, err := fwd.Run(map[string]*tensor.Dense{m.Graph.Inputs[0].Name: x}, RunOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("forward+backward", func(b *testing.B) {
		for b.Loop() {
			if _, err := p.Run(in, RunOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestGradBig builds and runs the gradients of the torchvision exports of
// fixtures/gen_big.py (skipped when they cannot be exported).
func TestGradBig(t *testing.T) {
	if testing.Short() {
		t.Skip("large models")
	}
	for _, name := range []string{"resnet18", "mobilenet_v2"} {
		t.Run(name, func(t *testing.T) {
			path, err := fixtures.Big(name)
			if err != nil {
				t.Skip(err)
			}
			m, err := onnx.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			g, err := Gradient(m, nil, floatParams(m))
			if err != nil {
				t.Fatal(err)
			}
			p, err := Compile(g.Model)
			if err != nil {
				t.Fatal(err)
			}
			x := tensor.New(tensor.Float32, 1, 3, 224, 224)
			for i := range x.F32 {
				x.F32[i] = float32(i%255)/255 - 0.5
			}
			dy := tensor.New(tensor.Float32, 1, 1000)
			dy.F32[7] = 1
			out, err := p.Run(map[string]*tensor.Dense{m.Graph.Inputs[0].Name: x, g.Seeds[0]: dy}, RunOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range g.Grads {
				for _, v := range out[name].F32 {
					if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
						t.Fatalf("%s holds %v", name, v)
					}
				}
			}
		})
	}
}
