package ops

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/graft-ml/graft/tensor"
)

// einsumNaive is the definition of Einsum: a loop over every combination
// of label values, in float64. It checks the planned kernel.
func einsumNaive(t *testing.T, eq string, in []*tensor.Dense) *tensor.Dense {
	t.Helper()
	names := make([]string, len(in))
	for i := range names {
		names[i] = string(rune('a' + i))
	}
	n := shapeTestNode("Einsum", names, 1, shapeAttrS("equation", eq))
	e, err := einsumParse(n)
	if err != nil {
		t.Fatal(err)
	}
	ranks := make([]int, len(in))
	for i, x := range in {
		ranks[i] = x.Rank()
	}
	terms, out, err := e.expand(n, ranks)
	if err != nil {
		t.Fatal(err)
	}
	size := map[int]int{}
	for i, tm := range terms {
		for j, l := range tm {
			size[l] = max(size[l], in[i].Shape[j])
		}
	}
	var labels []int
	for l := range size {
		labels = append(labels, l)
	}
	slices.Sort(labels)
	shape := make([]int, len(out))
	for i, l := range out {
		shape[i] = size[l]
	}
	res := tensor.New(tensor.Float64, shape...)
	val := map[int]int{}
	var rec func(k int)
	rec = func(k int) {
		if k < len(labels) {
			for v := range size[labels[k]] {
				val[labels[k]] = v
				rec(k + 1)
			}
			return
		}
		p := 1.0
		for i, tm := range terms {
			off, st := 0, tensor.Strides(in[i].Shape)
			for j, l := range tm {
				if in[i].Shape[j] > 1 { // size 1 broadcasts
					off += val[l] * st[j]
				}
			}
			p *= in[i].Float64s()[off]
		}
		off, st := 0, tensor.Strides(shape)
		for j, l := range out {
			off += val[l] * st[j]
		}
		res.F64[off] += p
	}
	rec(0)
	return res
}

func TestEinsumPlanned(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	rnd := func(shape ...int) *tensor.Dense {
		d := tensor.New(tensor.Float64, shape...)
		for i := range d.F64 {
			d.F64[i] = rng.NormFloat64()
		}
		return d
	}
	cases := []struct {
		name, eq string
		in       []*tensor.Dense
	}{
		{"matmul", "ij,jk->ik", []*tensor.Dense{rnd(3, 5), rnd(5, 7)}},
		{"matmul_implicit", "ij,jk", []*tensor.Dense{rnd(3, 5), rnd(5, 7)}},
		{"batch_matmul_transposed_out", "bij,bjk->bki", []*tensor.Dense{rnd(2, 3, 4), rnd(2, 4, 5)}},
		{"attention_scores", "bhqd,bhkd->bhqk", []*tensor.Dense{rnd(2, 3, 5, 4), rnd(2, 3, 6, 4)}},
		{"outer", "i,j->ij", []*tensor.Dense{rnd(3), rnd(4)}},
		{"trace", "ii", []*tensor.Dense{rnd(4, 4)}},
		{"diagonal", "ii->i", []*tensor.Dense{rnd(5, 5)}},
		{"batch_diagonal_ellipsis", "...ii->...i", []*tensor.Dense{rnd(2, 3, 4, 4)}},
		{"ellipsis_broadcast", "...ij,...jk->...ik", []*tensor.Dense{rnd(2, 1, 3, 4), rnd(5, 4, 2)}},
		{"ellipsis_implicit", "...j,j", []*tensor.Dense{rnd(2, 3, 4), rnd(4)}},
		{"sum_all", "ijk->", []*tensor.Dense{rnd(2, 3, 4)}},
		{"three_operands", "ij,jk,kl->il", []*tensor.Dense{rnd(2, 3), rnd(3, 4), rnd(4, 5)}},
		{"bilinear", "bn,anm,bm->ba", []*tensor.Dense{rnd(3, 4), rnd(5, 4, 6), rnd(3, 6)}},
		{"unused_label_summed", "ij,kj->i", []*tensor.Dense{rnd(3, 4), rnd(5, 4)}},
		{"uppercase_and_spaces", "Ab, bC -> CA", []*tensor.Dense{rnd(3, 2), rnd(2, 4)}},
		{"size_one_broadcast", "ij,ij->ij", []*tensor.Dense{rnd(3, 1), rnd(3, 4)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := einsumNaive(t, c.eq, c.in)
			for _, dt := range []tensor.DType{tensor.Float64, tensor.Float32} {
				in := make([]*tensor.Dense, len(c.in))
				names := make([]string, len(c.in))
				for i, x := range c.in {
					in[i] = castTo(x, dt)
					names[i] = string(rune('a' + i))
				}
				n := shapeTestNode("Einsum", names, 1, shapeAttrS("equation", c.eq))
				got := shapeRunOp(t, 12, n, in...)[0]
				if !tensor.SameShape(got.Shape, want.Shape) {
					t.Fatalf("%s: shape %v, want %v", dt, got.Shape, want.Shape)
				}
				for i, w := range want.F64 {
					if g := got.Float64s()[i]; math.Abs(g-w) > 1e-5*(1+math.Abs(w)) {
						t.Fatalf("%s: element %d = %g, want %g", dt, i, g, w)
					}
				}
			}
		})
	}
}

func TestEinsumErrors(t *testing.T) {
	cases := []struct{ name, eq string }{
		{"bad character", "i1,ij->j"},
		{"too many terms", "i,j,k->i"},
		{"output label not in inputs", "ij,jk->iz"},
		{"output repeats a label", "ij,jk->ii"},
		{"rank mismatch", "ijk,jk->i"},
		{"size mismatch", "ij,ij->i"},
	}
	a := tensor.New(tensor.Float32, 2, 3)
	b := tensor.New(tensor.Float32, 4, 3)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			x, y := a, b
			if c.name == "size mismatch" {
				y = tensor.New(tensor.Float32, 2, 4)
			}
			n := shapeTestNode("Einsum", []string{"a", "b"}, 1, shapeAttrS("equation", c.eq))
			if _, err := shapeRunOpErr(12, n, x, y); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

// TestEinsumCopiesIdentity: an equation that changes nothing must still
// return fresh storage, since the executor recycles inputs' storage.
func TestEinsumCopiesIdentity(t *testing.T) {
	x := tensor.FromF32([]int{2, 2}, []float32{1, 2, 3, 4})
	n := shapeTestNode("Einsum", []string{"x"}, 1, shapeAttrS("equation", "ij->ij"))
	got := shapeRunOp(t, 12, n, x)[0]
	if &got.F32[0] == &x.F32[0] {
		t.Fatal("output shares the input's storage")
	}
}
