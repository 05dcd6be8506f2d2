package ops

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// softmaxRef normalises x viewed as [outer, dim, inner] along dim in
// float64, the textbook way.
func softmaxRef(op string, x []float64, outer, dim, inner int) []float64 {
	out := make([]float64, len(x))
	for o := range outer {
		for i := range inner {
			at := func(j int) int { return (o*dim+j)*inner + i }
			m, arg := math.Inf(-1), 0
			for j := range dim {
				if x[at(j)] > m {
					m, arg = x[at(j)], j
				}
			}
			s := 0.0
			for j := range dim {
				s += math.Exp(x[at(j)] - m)
			}
			for j := range dim {
				switch op {
				case "Softmax":
					out[at(j)] = math.Exp(x[at(j)]-m) / s
				case "LogSoftmax":
					out[at(j)] = x[at(j)] - m - math.Log(s)
				case "Hardmax":
					if j == arg {
						out[at(j)] = 1
					}
				}
			}
		}
	}
	return out
}

// TestSoftmaxAgainstReference checks Softmax, LogSoftmax and Hardmax on
// random shapes, every axis in both signs and the default, in the 2-D
// coercion of opset 11 and the single axis of opset 13, for float32 and
// float64, including sizes above the parallel grain and strided axes wider
// than a column block.
func TestSoftmaxAgainstReference(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	shapes := [][]int{{5}, {3, 4}, {2, 3, 4}, {1, 3, 1, 5}, {2, 2, 3, 4}, {2, 4, 64, 64}, {2, 70, 600}, {3, 1000}}
	for _, shape := range shapes {
		rank := len(shape)
		for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
			x := reduceRand(r, dt, -8, 8, shape...)
			xf := x.Float64s()
			for _, opset := range []int{11, 13} {
				for ax := -1; ax < rank; ax++ {
					var attrs []*onnx.Attr
					axis := ax
					if ax < 0 { // the default
						axis = rank - 1
						if opset < 13 {
							axis = 1
						}
					} else {
						a := int64(ax)
						if r.IntN(2) == 0 {
							a -= int64(rank)
						}
						attrs = append(attrs, reduceAttrI("axis", a))
					}
					if axis >= rank {
						continue
					}
					outer, dim, inner := shapeProd(shape[:axis]), shape[axis], shapeProd(shape[axis+1:])
					if opset < 13 {
						dim, inner = dim*inner, 1
					}
					for _, op := range []string{"Softmax", "LogSoftmax", "Hardmax"} {
						name := fmt.Sprintf("%s %s%v opset %d axis %d", op, dt, shape, opset, axis)
						want := softmaxRef(op, xf, outer, dim, inner)
						n := reduceNode(op, []*tensor.Dense{x}, attrs...)
						got, err := reduceExec(opset, 4, n, x)
						if err != nil {
							t.Fatalf("%s: %v", name, err)
						}
						if got.DType != dt || !tensor.SameShape(got.Shape, shape) {
							t.Fatalf("%s: got %s%v", name, got.DType, got.Shape)
						}
						if err := reduceClose(got, want, 1e-6, 1e-7); err != nil {
							t.Fatalf("%s: %v", name, err)
						}
					}
				}
			}
		}
	}
}

// TestSoftmaxExtremes checks huge inputs (no overflow), -Inf entries
// (zero probability) and NaN (all NaN in its group only).
func TestSoftmaxExtremes(t *testing.T) {
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	x := tensor.FromF32([]int{4, 3}, []float32{
		1e4, 1e4 + 1, 1e4 - 1,
		-inf, 0, -inf,
		0, nan, 1,
		-100, 0, -3,
	})
	cases := map[string][]float64{
		"Softmax": {0.24472848, 0.66524094, 0.09003057, 0, 1, 0, math.NaN(), math.NaN(), math.NaN(),
			3.5436e-44, 0.95257413, 0.04742587},
		"LogSoftmax": {-1.4076059, -0.40760596, -2.407606, math.Inf(-1), 0, math.Inf(-1), math.NaN(), math.NaN(), math.NaN(),
			-100.04858735, -0.04858735, -3.04858735},
		"Hardmax": {0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0},
	}
	for op, want := range cases {
		got, err := reduceExec(13, 1, reduceNode(op, []*tensor.Dense{x}), x)
		if err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		if err := reduceClose(got, want, 1e-6, 1e-44); err != nil {
			t.Fatalf("%s: %v", op, err)
		}
	}
}

// TestSoftmaxExp32 compares the polynomial exponential with math.Exp
// rounded to float32 over the whole range the kernels use, and beyond.
func TestSoftmaxExp32(t *testing.T) {
	var xs []float32
	for x := -110.0; x <= 90; x += 0.001237 {
		xs = append(xs, float32(x))
	}
	xs = append(xs, 0, float32(math.Copysign(0, -1)), -87.33655, -103.27893, -103.972, -104, 88.72283,
		float32(math.Inf(-1)), float32(math.Inf(1)), float32(math.NaN()), math.SmallestNonzeroFloat32)
	got := make([]float32, len(xs))
	softmaxExp32(got, xs, 0)
	for i, x := range xs {
		want := float32(math.Exp(float64(x)))
		g := got[i]
		switch {
		case want != want:
			if g == g {
				t.Fatalf("exp(%g) = %g, want NaN", x, g)
			}
		case math.IsInf(float64(want), 1) || want == 0:
			if g != want {
				t.Fatalf("exp(%g) = %g, want %g", x, g, want)
			}
		default:
			// At most one float32 step apart, subnormals included.
			if d := int64(math.Float32bits(g)) - int64(math.Float32bits(want)); d < -1 || d > 1 {
				t.Fatalf("exp(%g) = %g, want %g (%d ulp)", x, g, want, d)
			}
		}
	}
}

func TestSoftmaxInferAndErrors(t *testing.T) {
	x := onnx.Type{DType: tensor.Float32, HasShape: true, Dims: []onnx.Dim{{Param: "batch"}, {Value: 12}, {Param: "seq"}, {Param: "seq"}}}
	for _, op := range []string{"Softmax", "LogSoftmax", "Hardmax"} {
		for _, opset := range []int{11, 13} {
			n := reduceNode(op, []*tensor.Dense{nil}, reduceAttrI("axis", -1))
			n.Inputs = []*onnx.Value{{Name: "x"}}
			got, err := Lookup(op).Infer(&InferCtx{Node: n, Opset: opset, In: []onnx.Type{x}})
			if err != nil || !got[0].Equal(x) {
				t.Fatalf("%s opset %d: inferred %v, %v; want %s", op, opset, got, err, x)
			}
			got, err = Lookup(op).Infer(&InferCtx{Node: n, Opset: opset, In: []onnx.Type{{DType: tensor.Float16}}})
			if err != nil || got[0].DType != tensor.Float16 || got[0].HasShape {
				t.Fatalf("%s opset %d on unknown shape: inferred %v, %v", op, opset, got, err)
			}

			bad := reduceNode(op, []*tensor.Dense{nil}, reduceAttrI("axis", 4))
			bad.Inputs = []*onnx.Value{{Name: "x"}}
			if _, err := Lookup(op).Infer(&InferCtx{Node: bad, Opset: opset, In: []onnx.Type{x}}); err == nil || !strings.Contains(err.Error(), bad.Name) {
				t.Fatalf("%s opset %d axis 4: Infer gave %v", op, opset, err)
			}
			y := tensor.New(tensor.Float32, 2, 3, 4, 4)
			if _, err := Lookup(op).Run(&RunCtx{Node: bad, Opset: opset, In: []*tensor.Dense{y}, Threads: 1}); err == nil || !strings.Contains(err.Error(), bad.Name) {
				t.Fatalf("%s opset %d axis 4: Run gave %v", op, opset, err)
			}
			ints := tensor.FromI64([]int{2}, []int64{1, 2})
			if _, err := Lookup(op).Run(&RunCtx{Node: n, Opset: opset, In: []*tensor.Dense{ints}, Threads: 1}); !errors.Is(err, ErrUnsupported) {
				t.Fatalf("%s opset %d on int64: got %v, want ErrUnsupported", op, opset, err)
			}
		}
	}
	// Empty input: empty output, no error.
	empty := tensor.New(tensor.Float32, 0, 5)
	got, err := reduceExec(13, 1, reduceNode("Softmax", []*tensor.Dense{empty}), empty)
	if err != nil || !tensor.SameShape(got.Shape, []int{0, 5}) {
		t.Fatalf("empty softmax: %v %v", got, err)
	}
}

func BenchmarkSoftmax(b *testing.B) {
	r := rand.New(rand.NewPCG(11, 12))
	cases := []struct {
		name  string
		shape []int
		axis  int64
	}{
		{"Attention_1x12x128x128", []int{1, 12, 128, 128}, -1},
		{"Attention_1x8x512x512", []int{1, 8, 512, 512}, -1},
		{"Classes_32x1000", []int{32, 1000}, -1},
		{"Channels_1x64x56x56", []int{1, 64, 56, 56}, 1},
	}
	for _, c := range cases {
		x := reduceRand(r, tensor.Float32, -8, 8, c.shape...)
		n := reduceNode("Softmax", []*tensor.Dense{x}, reduceAttrI("axis", c.axis))
		for _, threads := range []int{1, 4} {
			b.Run(fmt.Sprintf("%s/threads%d", c.name, threads), func(b *testing.B) {
				b.SetBytes(int64(4 * x.Len()))
				for b.Loop() {
					if _, err := Lookup("Softmax").Run(&RunCtx{Node: n, Opset: 13, In: []*tensor.Dense{x}, Threads: threads}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkSoftmaxExp compares softmaxExp32 with math.Exp.
func BenchmarkSoftmaxExp(b *testing.B) {
	v := make([]float32, 4096)
	src := make([]float32, len(v))
	for i := range src {
		src[i] = -float32(i%200) * 0.1
	}
	b.Run("poly", func(b *testing.B) {
		for b.Loop() {
			softmaxExp32(v, src, 0)
		}
	})
	b.Run("math.Exp", func(b *testing.B) {
		for b.Loop() {
			for i, x := range src {
				v[i] = float32(math.Exp(float64(x)))
			}
		}
	})
}
