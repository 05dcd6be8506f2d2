package fitting

import (
	"fmt"
	"github.com/graft-ml/graft/fixtures"
	"math"
	"strings"
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// emitTol bounds the difference between ONNX Runtime's float32 result
// and W·x + b in float64, relative to the largest output: float32 weights
// (6e-8 relative each) and float32 accumulation over at most 36 terms of
// size ~1 stay well below 1e-5.
const emitTol = 1e-5

// testMap returns a map from in to out, factored at rank r when r > 0.
func testMap(t *testing.T, seed uint64, in, out, r int) *Affine {
	t.Helper()
	rng := newRand(seed)
	a := &Affine{In: in, Out: out, W: randMatrix(rng, out, in), B: randMatrix(rng, 1, out)}
	if r == 0 {
		return a
	}
	f, err := LowRankWeights(a, r)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestEmitGemm builds models of emitted Gemm adapters, one after another
// with the same prefix (so names must be made unique), checks them with
// onnx.checker and runs them in ONNX Runtime against W·x + b.
func TestEmitGemm(t *testing.T) {
	cases := []struct {
		name  string
		opset int64
		maps  []*Affine
	}{
		{"full", 13, []*Affine{testMap(t, 300, 6, 4, 0)}},
		{"lowrank", 13, []*Affine{testMap(t, 301, 9, 7, 2)}},
		{"lowrank_opset9", 9, []*Affine{testMap(t, 302, 9, 7, 3)}},
		{"chain", 13, []*Affine{testMap(t, 303, 5, 8, 0), testMap(t, 304, 8, 3, 2), testMap(t, 305, 3, 3, 0)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			const batch = 5
			g := onnx.NewGraph("adapter")
			typ := onnx.Type{DType: tensor.Float32, HasShape: true, Dims: []onnx.Dim{{Param: "batch"}, {Value: int64(c.maps[0].In)}}}
			x, err := g.AddInput("x", typ)
			if err != nil {
				t.Fatal(err)
			}
			v := x
			for _, a := range c.maps {
				if v, err = EmitGemm(g, v, a, "adapter"); err != nil {
					t.Fatal(err)
				}
			}
			g.Outputs = []*onnx.Value{v}
			checkNames(t, g)
			in := randNCHW(306, batch, c.maps[0].In)
			got := fixtures.ORTOutput(t, onnx.NewModel(g, c.opset), "x", in)
			want := make([]float64, 0, batch*c.maps[len(c.maps)-1].Out)
			for r := range batch {
				row := make([]float64, c.maps[0].In)
				for i := range row {
					row[i] = float64(in.F32[r*len(row)+i])
				}
				for _, a := range c.maps {
					y := make([]float64, a.Out)
					a.Apply(y, row)
					row = y
				}
				want = append(want, row...)
			}
			compareOutput(t, got, want, []int{batch, c.maps[len(c.maps)-1].Out})
		})
	}
}

// TestEmitConv runs emitted Conv adapters in ONNX Runtime against the
// unfolded patches times W plus b, for full and factored maps.
func TestEmitConv(t *testing.T) {
	const n, c, h, w, out = 2, 3, 6, 5, 4
	cases := []struct {
		pt   Patches
		rank int
	}{
		{Patches{K: 1}, 0},
		{Patches{K: 3, Pad: 1}, 0},
		{Patches{K: 3, Stride: 2}, 0},
		{Patches{K: 3, Pad: 1}, 2},
		{Patches{K: 1}, 2},
		{Patches{K: 2, Pad: 1, Stride: 2}, 3},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("k%d_pad%d_stride%d_rank%d", tc.pt.K, tc.pt.Pad, tc.pt.Stride, tc.rank), func(t *testing.T) {
			a := testMap(t, 310, c*tc.pt.K*tc.pt.K, out, tc.rank)
			g := onnx.NewGraph("adapter")
			typ := onnx.Type{DType: tensor.Float32, HasShape: true, Dims: []onnx.Dim{{Param: "batch"}, {Value: c}, {Value: h}, {Value: w}}}
			x, err := g.AddInput("x", typ)
			if err != nil {
				t.Fatal(err)
			}
			y, err := EmitConv(g, x, a, tc.pt, "stitch.adapter")
			if err != nil {
				t.Fatal(err)
			}
			g.Outputs = []*onnx.Value{y}
			checkNames(t, g)
			if tc.rank > 0 && len(g.Nodes) != 2 || tc.rank == 0 && len(g.Nodes) != 1 {
				t.Errorf("%d nodes for rank %d", len(g.Nodes), tc.rank)
			}
			in := randNCHW(311, n, c, h, w)
			got := fixtures.ORTOutput(t, onnx.NewModel(g, 13), "x", in)
			u, err := Unfold(in, tc.pt)
			if err != nil {
				t.Fatal(err)
			}
			oh, ow, _ := tc.pt.OutSize(h, w)
			want := make([]float64, n*out*oh*ow)
			row, yr := make([]float64, a.In), make([]float64, out)
			for r := range u.Shape[0] {
				for i := range row {
					row[i] = float64(u.F32[r*a.In+i])
				}
				a.Apply(yr, row)
				img, pos := r/(oh*ow), r%(oh*ow)
				for o := range out {
					want[(img*out+o)*oh*ow+pos] = yr[o]
				}
			}
			if got := y.Type.ShapeString(); got != fmt.Sprintf("[batch,%d,%d,%d]", out, oh, ow) {
				t.Errorf("output type %s", got)
			}
			compareOutput(t, got, want, []int{n, out, oh, ow})
		})
	}
}

func compareOutput(t *testing.T, got *tensor.Dense, want []float64, shape []int) {
	t.Helper()
	if !tensor.SameShape(got.Shape, shape) {
		t.Fatalf("output shape %v, want %v", got.Shape, shape)
	}
	scale := 1.0
	for _, v := range want {
		scale = math.Max(scale, math.Abs(v))
	}
	if d := maxAbsDiff(got.Float64s(), want); d > emitTol*scale {
		t.Errorf("ONNX Runtime differs from W·x + b by %.3g (scale %.3g)", d, scale)
	}
}

// checkNames checks that node and value names are unique and that every
// initializer is float32.
func checkNames(t *testing.T, g *onnx.Graph) {
	t.Helper()
	seen := map[string]bool{}
	for _, n := range g.Nodes {
		if seen[n.Name] {
			t.Errorf("duplicate node name %q", n.Name)
		}
		seen[n.Name] = true
	}
	for _, v := range g.Initializers {
		if v.Type.DType != tensor.Float32 {
			t.Errorf("initializer %s is %v", v, v.Type.DType)
		}
	}
}

func TestEmitErrors(t *testing.T) {
	a := testMap(t, 320, 12, 4, 0)
	bad := &Affine{In: 12, Out: 4, W: make([]float64, 12), B: make([]float64, 4)}
	huge := testMap(t, 321, 12, 4, 0)
	huge.W[3] = 1e40
	input := func(dt tensor.DType, dims ...int) (*onnx.Graph, *onnx.Value) {
		g := onnx.NewGraph("g")
		x, _ := g.AddInput("x", onnx.ShapeOf(dt, dims...))
		return g, x
	}
	cases := []struct {
		name string
		f    func() error
		want string
	}{
		{"gemm_rank", func() error { g, x := input(tensor.Float32, 1, 3, 2, 2); _, err := EmitGemm(g, x, a, "p"); return err }, "want rank 2"},
		{"gemm_width", func() error { g, x := input(tensor.Float32, 1, 11); _, err := EmitGemm(g, x, a, "p"); return err }, "has 11 features, the map 12"},
		{"gemm_dtype", func() error { g, x := input(tensor.Float64, 1, 12); _, err := EmitGemm(g, x, a, "p"); return err }, "want float32"},
		{"gemm_bad_map", func() error { g, x := input(tensor.Float32, 1, 12); _, err := EmitGemm(g, x, bad, "p"); return err }, "weight has 12 values, want 4×12"},
		{"gemm_overflow", func() error { g, x := input(tensor.Float32, 1, 12); _, err := EmitGemm(g, x, huge, "p"); return err }, "overflows float32"},
		{"conv_channels", func() error {
			g, x := input(tensor.Float32, 1, 4, 5, 5)
			_, err := EmitConv(g, x, a, Patches{K: 1}, "p")
			return err
		}, "has 4 channels, the map 12"},
		{"conv_patches", func() error {
			g, x := input(tensor.Float32, 1, 4, 5, 5)
			_, err := EmitConv(g, x, a, Patches{K: 3, Pad: 1}, "p")
			return err
		}, "not whole 3×3 patches"},
		{"conv_small", func() error {
			g, x := input(tensor.Float32, 1, 3, 1, 1)
			_, err := EmitConv(g, x, a, Patches{K: 2}, "p")
			return err
		}, "smaller than the 2×2 kernel"},
		{"nil_map", func() error { g, x := input(tensor.Float32, 1, 12); _, err := EmitGemm(g, x, nil, "p"); return err }, "nil map"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.f(); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}
