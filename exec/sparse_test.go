package exec

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// prunedTensor returns a tensor of normal values with about density of
// them nonzero; some of the zeros are negative zeros.
func prunedTensor(r *rand.Rand, density float64, shape ...int) *tensor.Dense {
	d := tensor.New(tensor.Float32, shape...)
	for i := range d.F32 {
		switch {
		case r.Float64() < density:
			d.F32[i] = float32(r.NormFloat64())
		case r.IntN(8) == 0:
			d.F32[i] = float32(math.Copysign(0, -1))
		}
	}
	return d
}

// sparseCase is one model whose weight node may run sparse.
type sparseCase struct {
	name  string
	model *onnx.Model
	x     *tensor.Dense
}

// oneNodeModel builds a model of one op (plus an optional Relu after it,
// which fuses) reading input x and the given constants.
func oneNodeModel(t testing.TB, op string, x *tensor.Dense, consts []*tensor.Dense, relu bool, attrs ...*onnx.Attr) *onnx.Model {
	t.Helper()
	g := onnx.NewGraph("g")
	in, err := g.AddInput("x", onnx.ShapeOf(tensor.Float32, x.Shape...))
	if err != nil {
		t.Fatal(err)
	}
	ins := []*onnx.Value{in}
	for i, c := range consts {
		if c == nil {
			ins = append(ins, nil)
			continue
		}
		ins = append(ins, g.AddConst(fmt.Sprintf("c%d", i), c))
	}
	out := g.AddNode(op, "", "layer", ins, []string{"y"}, attrs...).Outputs[0]
	if relu {
		out = g.AddNode("Relu", "", "relu", []*onnx.Value{out}, []string{"z"}).Outputs[0]
	}
	g.Outputs = append(g.Outputs, out)
	return onnx.NewModel(g, 17)
}

// runMode compiles m with the sparse mode and runs it on x.
func runMode(t *testing.T, m *onnx.Model, mode SparseMode, threads int, inputs map[string]*tensor.Dense) (*tensor.Dense, *Program) {
	t.Helper()
	p, err := CompileWith(m, Options{Sparse: mode})
	if err != nil {
		t.Fatal(err)
	}
	p.Threads = threads
	out, err := p.Run(inputs, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return out[m.Graph.Outputs[0].Name], p
}

// agree fails unless got matches the dense result want to 1e-5 relative:
// |got−want| ≤ 1e-5·(|want| + mean|want|), the mean standing in for the
// scale of outputs that cancel to near zero. Sums of a few thousand
// float32 products, added in another order, differ by ~1e-6 of that.
func agree(t *testing.T, got, want *tensor.Dense) {
	t.Helper()
	if fmt.Sprint(got.Shape) != fmt.Sprint(want.Shape) {
		t.Fatalf("shape %v, dense %v", got.Shape, want.Shape)
	}
	var mean float64
	for _, v := range want.F32 {
		mean += math.Abs(float64(v))
	}
	mean /= float64(max(1, len(want.F32)))
	for i, w := range want.F32 {
		g := got.F32[i]
		if math.Abs(float64(g-w)) > 1e-5*(math.Abs(float64(w))+mean) || math.IsNaN(float64(g)) != math.IsNaN(float64(w)) {
			t.Fatalf("element %d: sparse %v, dense %v", i, g, w)
		}
	}
}

func sparseCases(t *testing.T) []sparseCase {
	r := rand.New(rand.NewPCG(11, 12))
	var cases []sparseCase
	input := func(shape ...int) *tensor.Dense {
		x := tensor.New(tensor.Float32, shape...)
		for i := range x.F32 {
			x.F32[i] = float32(r.NormFloat64())
		}
		return x
	}
	// Gemm: batch sizes around the kernels' 8- and 32-column blocks,
	// both transposes, every form of C, alpha and beta, a fused Relu.
	type gemmShape struct{ k, n int }
	for _, sh := range []gemmShape{{20, 33}, {784, 100}, {2048, 10}} {
		for _, m := range []int{1, 3, 32, 70} {
			for _, density := range []float64{0, 0.05, 0.3, 1} {
				for _, tr := range [][2]int64{{0, 0}, {0, 1}, {1, 0}, {1, 1}} {
					for ci, cshape := range [][]int{nil, {sh.n}, {1, sh.n}, {m, sh.n}, {1}} {
						if sh.k == 2048 && (ci > 1 || tr[0] == 1) {
							continue // the big shape: the common forms only
						}
						ta, tb := tr[0], tr[1]
						xs := []int{m, sh.k}
						if ta == 1 {
							xs = []int{sh.k, m}
						}
						ws := []int{sh.k, sh.n}
						if tb == 1 {
							ws = []int{sh.n, sh.k}
						}
						consts := []*tensor.Dense{prunedTensor(r, density, ws...)}
						if cshape != nil {
							consts = append(consts, input(cshape...))
						}
						alpha, beta := float32(1), float32(1)
						if ci == 2 {
							alpha, beta = 0.5, -2
						}
						relu := ci == 1
						cname := []string{"none", "N", "1xN", "MxN", "scalar"}[ci]
						name := fmt.Sprintf("Gemm/k%d_n%d/m%d/d%g/transA%d_transB%d/C_%s", sh.k, sh.n, m, density, ta, tb, cname)
						x := input(xs...)
						cases = append(cases, sparseCase{name, oneNodeModel(t, "Gemm", x, consts, relu,
							onnx.IntAttr("transA", ta), onnx.IntAttr("transB", tb), onnx.FloatAttr("alpha", alpha), onnx.FloatAttr("beta", beta)), x})
					}
				}
			}
		}
	}
	// MatMul with a 2-D weight, A with and without batch dims.
	for _, xs := range [][]int{{1, 50}, {9, 50}, {2, 5, 50}, {40, 50}} {
		for _, density := range []float64{0.1, 0.6} {
			x := input(xs...)
			w := prunedTensor(r, density, 50, 24)
			cases = append(cases, sparseCase{fmt.Sprintf("MatMul/x%v/d%g", xs, density), oneNodeModel(t, "MatMul", x, []*tensor.Dense{w}, false), x})
		}
	}
	// Conv: im2col windows, stride, dilation, pointwise, groups, 1-D and
	// 3-D, with and without bias and a fused Relu, batch 1 and 3.
	type convCase struct {
		name  string
		x, w  []int
		attrs []*onnx.Attr
	}
	for _, cc := range []convCase{
		{"3x3_pad1", []int{1, 8, 12, 12}, []int{16, 8, 3, 3}, []*onnx.Attr{onnx.IntsAttr("pads", 1, 1, 1, 1)}},
		{"3x3_stride2", []int{3, 8, 13, 11}, []int{6, 8, 3, 3}, []*onnx.Attr{onnx.IntsAttr("strides", 2, 2), onnx.IntsAttr("pads", 1, 0, 1, 0)}},
		{"3x3_dilation2", []int{1, 4, 12, 12}, []int{5, 4, 3, 3}, []*onnx.Attr{onnx.IntsAttr("dilations", 2, 2)}},
		{"1x1", []int{3, 16, 7, 9}, []int{12, 16, 1, 1}, nil},
		{"1x1_stride2", []int{1, 16, 7, 9}, []int{12, 16, 1, 1}, []*onnx.Attr{onnx.IntsAttr("strides", 2, 2)}},
		{"group2", []int{1, 8, 10, 10}, []int{6, 4, 3, 3}, []*onnx.Attr{onnx.IntAttr("group", 2), onnx.IntsAttr("pads", 1, 1, 1, 1)}},
		{"1d", []int{3, 6, 40}, []int{7, 6, 5}, []*onnx.Attr{onnx.IntsAttr("pads", 2, 2)}},
		{"3d", []int{1, 3, 5, 6, 7}, []int{4, 3, 2, 3, 3}, nil},
		{"wide_64ch", []int{1, 64, 28, 28}, []int{64, 64, 3, 3}, []*onnx.Attr{onnx.IntsAttr("pads", 1, 1, 1, 1)}},
	} {
		for _, density := range []float64{0.1, 0.5} {
			for _, bias := range []bool{false, true} {
				x := input(cc.x...)
				consts := []*tensor.Dense{prunedTensor(r, density, cc.w...)}
				if bias {
					consts = append(consts, input(cc.w[0]))
				}
				name := fmt.Sprintf("Conv/%s/d%g/bias%v", cc.name, density, bias)
				cases = append(cases, sparseCase{name, oneNodeModel(t, "Conv", x, consts, bias, cc.attrs...), x})
			}
		}
	}
	return cases
}

// TestSparseMatchesDense runs each case with every eligible node sparse
// (SparseOn) and dense (SparseOff), on one and two threads, and holds the
// sparse results to the dense ones (see agree).
func TestSparseMatchesDense(t *testing.T) {
	for _, c := range sparseCases(t) {
		t.Run(c.name, func(t *testing.T) {
			in := map[string]*tensor.Dense{"x": c.x}
			want, _ := runMode(t, c.model, SparseOff, 2, in)
			for _, threads := range []int{1, 2} {
				p, err := CompileWith(c.model, Options{Sparse: SparseOn})
				if err != nil {
					t.Fatal(err)
				}
				p.Threads = threads
				prof := &Profile{}
				out, err := p.Run(in, RunOptions{Profile: prof})
				if err != nil {
					t.Fatal(err)
				}
				if len(p.SparseLayers()) != 1 || !prof.Nodes()[0].Sparse {
					t.Fatalf("SparseOn: sparse layers %v, profile %+v: want the one, run sparse", p.SparseLayers(), prof.Nodes())
				}
				agree(t, out[c.model.Graph.Outputs[0].Name], want)
			}
		})
	}
}

// TestSparseAuto: SparseAuto runs a layer sparse exactly when its
// weight's density is at most the op's crossover, and never a depthwise
// convolution or a weight that is not a constant.
func TestSparseAuto(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	x := prunedTensor(r, 1, 4, 100)
	for _, c := range []struct {
		density float64
		sparse  bool
	}{{0.05, true}, {SparseCrossoverGemm - 0.02, true}, {SparseCrossoverGemm + 0.05, false}, {1, false}} {
		m := oneNodeModel(t, "Gemm", x, []*tensor.Dense{prunedTensor(r, c.density, 100, 64)}, false)
		_, p := runMode(t, m, SparseAuto, 1, map[string]*tensor.Dense{"x": x})
		if got := len(p.SparseLayers()) == 1; got != c.sparse {
			t.Errorf("density %g: sparse %v, want %v", c.density, got, c.sparse)
		}
		_, p = runMode(t, m, SparseOff, 1, map[string]*tensor.Dense{"x": x})
		if len(p.SparseLayers()) != 0 {
			t.Errorf("density %g: SparseOff ran %v sparse", c.density, p.SparseLayers())
		}
	}
	// A convolution's crossover is its own.
	xc0 := prunedTensor(r, 1, 1, 8, 8, 8)
	for _, c := range []struct {
		density float64
		sparse  bool
	}{{SparseCrossoverConv - 0.03, true}, {SparseCrossoverConv + 0.05, false}} {
		m := oneNodeModel(t, "Conv", xc0, []*tensor.Dense{prunedTensor(r, c.density, 16, 8, 3, 3)}, false)
		if _, p := runMode(t, m, SparseAuto, 1, map[string]*tensor.Dense{"x": xc0}); (len(p.SparseLayers()) == 1) != c.sparse {
			t.Errorf("Conv at density %g: sparse layers %v, want sparse %v", c.density, p.SparseLayers(), c.sparse)
		}
	}
	// A depthwise convolution keeps its direct kernel.
	xc := prunedTensor(r, 1, 1, 4, 8, 8)
	dw := oneNodeModel(t, "Conv", xc, []*tensor.Dense{prunedTensor(r, 0.05, 4, 1, 3, 3)}, false, onnx.IntAttr("group", 4))
	if _, p := runMode(t, dw, SparseOn, 1, map[string]*tensor.Dense{"x": xc}); len(p.SparseLayers()) != 0 {
		t.Errorf("depthwise ran sparse: %v", p.SparseLayers())
	}
	// A weight computed at run time (here an input) stays dense.
	g := onnx.NewGraph("g")
	a, _ := g.AddInput("a", onnx.ShapeOf(tensor.Float32, 4, 100))
	b, _ := g.AddInput("b", onnx.ShapeOf(tensor.Float32, 100, 8))
	g.Outputs = append(g.Outputs, g.AddNode("MatMul", "", "mm", []*onnx.Value{a, b}, []string{"y"}).Outputs[0])
	p, err := CompileWith(onnx.NewModel(g, 17), Options{Sparse: SparseOn})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.SparseLayers()) != 0 {
		t.Errorf("input weight ran sparse: %v", p.SparseLayers())
	}
}

// TestSparseSuppliedWeight: a run that supplies its own value for a
// weight the program holds in sparse form computes with the supplied
// value (dense), and the next run without it is sparse again.
func TestSparseSuppliedWeight(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	x := prunedTensor(r, 1, 3, 30)
	w := prunedTensor(r, 0.1, 30, 20)
	m := oneNodeModel(t, "MatMul", x, []*tensor.Dense{w}, false)
	p, err := CompileWith(m, Options{Sparse: SparseOn})
	if err != nil {
		t.Fatal(err)
	}
	other := prunedTensor(r, 1, 30, 20)
	prof := &Profile{}
	got, err := p.Run(map[string]*tensor.Dense{"x": x, "c0": other}, RunOptions{Profile: prof})
	if err != nil {
		t.Fatal(err)
	}
	mo := oneNodeModel(t, "MatMul", x, []*tensor.Dense{other}, false)
	want, _ := runMode(t, mo, SparseOff, 1, map[string]*tensor.Dense{"x": x})
	agree(t, got["y"], want)
	if n := prof.Nodes(); n[0].Sparse {
		t.Error("the run with a supplied weight is profiled as sparse")
	}
	got, err = p.Run(map[string]*tensor.Dense{"x": x}, RunOptions{Profile: prof})
	if err != nil {
		t.Fatal(err)
	}
	want, _ = runMode(t, m, SparseOff, 1, map[string]*tensor.Dense{"x": x})
	agree(t, got["y"], want)
	if n := prof.Nodes(); !n[0].Sparse || n[0].Density == 0 || n[0].Density > 0.2 {
		t.Errorf("profile: %+v, want sparse with density about 0.1", n[0])
	}
}

// TestSparseProfile: bench --profile's table puts sparse nodes in an op
// entry of their own and counts their nonzero multiply-adds.
func TestSparseProfile(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	x := prunedTensor(r, 1, 8, 64)
	w := prunedTensor(r, 0.1, 32, 64)
	m := oneNodeModel(t, "Gemm", x, []*tensor.Dense{w}, false, onnx.IntAttr("transB", 1))
	p, err := CompileWith(m, Options{Sparse: SparseOn})
	if err != nil {
		t.Fatal(err)
	}
	prof := &Profile{}
	if _, err := p.Run(map[string]*tensor.Dense{"x": x}, RunOptions{Profile: prof}); err != nil {
		t.Fatal(err)
	}
	ops := prof.Ops()
	if len(ops) != 1 || ops[0].Op != "Gemm (sparse)" {
		t.Fatalf("ops %+v, want one Gemm (sparse)", ops)
	}
	nnz := p.SparseLayers()[0].NNZ
	if want := 2 * float64(8*nnz); ops[0].Flops != want {
		t.Errorf("flops %v, want 2·batch·nnz = %v", ops[0].Flops, want)
	}
}

// TestParseSparseMode covers the flag values and their round trip.
func TestParseSparseMode(t *testing.T) {
	for _, m := range []SparseMode{SparseAuto, SparseOn, SparseOff} {
		got, err := ParseSparseMode(m.String())
		if err != nil || got != m {
			t.Errorf("%v: parsed %v, %v", m, got, err)
		}
	}
	if _, err := ParseSparseMode("sometimes"); err == nil {
		t.Error("sometimes: no error")
	}
}

// pruneFixture zeroes all but about 10 % of each Conv, Gemm and MatMul
// weight (the largest magnitudes) and returns the names of the weights.
func pruneFixture(t *testing.T, m *onnx.Model) []string {
	t.Helper()
	var names []string
	for _, n := range m.Graph.Nodes {
		if n.OpType != "Conv" && n.OpType != "Gemm" && n.OpType != "MatMul" || len(n.Inputs) < 2 || n.Inputs[1] == nil || n.Inputs[1].Const == nil {
			continue
		}
		v := n.Inputs[1]
		d, err := v.Const.Dense()
		if err != nil {
			t.Fatal(err)
		}
		mags := make([]float64, 0, d.Len())
		for _, x := range d.F32 {
			mags = append(mags, math.Abs(float64(x)))
		}
		slices.Sort(mags)
		cut := mags[len(mags)*9/10]
		w := d.Clone()
		for i, x := range w.F32 {
			if math.Abs(float64(x)) < cut {
				w.F32[i] = 0
			}
		}
		v.SetConst(w)
		names = append(names, v.Name)
	}
	return names
}

// TestSparseGradients: gradient programs of pruned fixtures (with respect
// to the input and to every weight) compute the same gradients when the
// pruned layers run sparse as when everything runs dense. The forward
// products and the backward dX = dY·Wᵀ Gemms, which read the same
// constant weight, run sparse; dW is a dense product of activations.
func TestSparseGradients(t *testing.T) {
	for _, name := range []string{"mlp", "cnn_bn"} {
		t.Run(name, func(t *testing.T) {
			_, m, inputs := loadFixture(t, name)
			wrt := append([]string{m.Graph.Inputs[0].Name}, pruneFixture(t, m)...)
			gr, err := Gradient(m, nil, wrt)
			if err != nil {
				t.Fatal(err)
			}
			out := m.Graph.Outputs[0]
			seed := tensor.New(tensor.Float32, 2, 10)
			for i := range seed.F32 {
				seed.F32[i] = float32(i%7) - 3
			}
			in := map[string]*tensor.Dense{gr.Seeds[0]: seed}
			for k, v := range inputs {
				in[k] = v
			}
			if s := out.Type.Dims; len(s) != 2 || s[1].Value != 10 {
				t.Fatalf("output %s: want (batch, 10)", out.Type)
			}
			run := func(mode SparseMode) (map[string]*tensor.Dense, *Program) {
				p, err := CompileWith(gr.Model, Options{Sparse: mode})
				if err != nil {
					t.Fatal(err)
				}
				res, err := p.Run(in, RunOptions{Outputs: gr.Grads})
				if err != nil {
					t.Fatal(err)
				}
				return res, p
			}
			want, _ := run(SparseOff)
			got, p := run(SparseAuto)
			if len(p.SparseLayers()) < len(wrt)-1 {
				t.Fatalf("sparse layers %v: want at least the %d pruned forward ones", p.SparseLayers(), len(wrt)-1)
			}
			t.Logf("sparse: %v", p.SparseLayers())
			for _, g := range gr.Grads {
				t.Run(g, func(t *testing.T) { agree(t, got[g], want[g]) })
			}
		})
	}
}
