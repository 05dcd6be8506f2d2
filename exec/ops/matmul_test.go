package ops

import (
	"errors"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// matmulRef is numpy's matmul in float64, written from the definition:
// promote 1-D operands, broadcast the batch dims, then drop the promoted
// dims from the result.
func matmulRef(a, b *tensor.Dense) ([]int, []float64) {
	as, bs := append([]int{}, a.Shape...), append([]int{}, b.Shape...)
	if len(as) == 1 {
		as = []int{1, as[0]}
	}
	if len(bs) == 1 {
		bs = []int{bs[0], 1}
	}
	m, k, n := as[len(as)-2], as[len(as)-1], bs[len(bs)-1]
	ab, bb := as[:len(as)-2], bs[:len(bs)-2]
	rank := max(len(ab), len(bb))
	pad := func(s []int) []int {
		out := make([]int, rank)
		for i := range out {
			out[i] = 1
		}
		copy(out[rank-len(s):], s)
		return out
	}
	ab, bb = pad(ab), pad(bb)
	batch := make([]int, rank)
	nb := 1
	for i := range batch {
		batch[i] = max(ab[i], bb[i])
		nb *= batch[i]
	}
	y := make([]float64, nb*m*n)
	coord := make([]int, rank)
	for bi := range nb {
		unravel(bi, batch, coord)
		ai, bj := 0, 0
		for d := range rank {
			ai = ai*ab[d] + coord[d]%ab[d]
			bj = bj*bb[d] + coord[d]%bb[d]
		}
		for i := range m {
			for j := range n {
				var s float64
				for p := range k {
					s += float64(a.F32[ai*m*k+i*k+p]) * float64(b.F32[bj*k*n+p*n+j])
				}
				y[(bi*m+i)*n+j] = s
			}
		}
	}
	shape := append([]int{}, batch...)
	if len(a.Shape) > 1 {
		shape = append(shape, m)
	}
	if len(b.Shape) > 1 {
		shape = append(shape, n)
	}
	return shape, y
}

func TestMatMulAgainstReference(t *testing.T) {
	cases := []struct {
		a, b    []int
		threads int
	}{
		{[]int{3, 4}, []int{4, 5}, 1},
		{[]int{4}, []int{4}, 1},
		{[]int{4}, []int{4, 6}, 1},
		{[]int{3, 4}, []int{4}, 1},
		{[]int{4}, []int{2, 3, 4, 5}, 2},
		{[]int{2, 3, 3, 4}, []int{4}, 2},
		{[]int{2, 7, 9}, []int{9, 5}, 2},       // one (B·S)×K×N GEMM
		{[]int{2, 7, 9}, []int{1, 9, 5}, 3},    // B with batch dims of 1
		{[]int{3, 9}, []int{2, 9, 5}, 2},       // A broadcast over B's batch
		{[]int{2, 1, 3, 4}, []int{5, 4, 2}, 3}, // both broadcast
		{[]int{1, 4, 6, 8}, []int{3, 1, 8, 7}, 2},
		{[]int{12, 33, 16}, []int{12, 16, 33}, 4},   // attention scores
		{[]int{5, 70, 80}, []int{5, 80, 90}, 2},     // big enough for parallel GEMMs
		{[]int{1, 0, 4}, []int{4, 3}, 1},            // empty
		{[]int{2, 3, 0}, []int{2, 0, 5}, 1},         // zero depth
		{[]int{1, 130, 96}, []int{96, 200}, 2},      // transformer projection
		{[]int{3, 1, 1, 16}, []int{1, 2, 16, 1}, 2}, // matrices of one element
	}
	r := rand.New(rand.NewPCG(11, 12))
	for _, tc := range cases {
		a, b := convRand(r, tc.a...), convRand(r, tc.b...)
		shape, want := matmulRef(a, b)
		for _, constB := range []bool{false, true} {
			n := convNode("MatMul", []*tensor.Dense{a, b}, 1, nil)
			if constB {
				convMarkConst(n, []*tensor.Dense{a, b}, 1)
			}
			out, err := convRunNode(n, 13, tc.threads, a, b)
			if err != nil {
				t.Fatalf("%v × %v: %v", tc.a, tc.b, err)
			}
			t.Run("", func(t *testing.T) { convCheck(t, out[0], shape, want) })
		}
	}
}

func TestMatMulIntegerAndFloat64(t *testing.T) {
	a := tensor.FromI64([]int{2, 2, 3}, []int64{1, 2, 3, 4, 5, 6, -1, 0, 1, 2, 2, 2})
	b := tensor.FromI64([]int{3, 2}, []int64{1, 0, 0, 1, 1, 1})
	out, err := convRunOp(13, 1, 1, "MatMul", nil, a, b)
	if err != nil {
		t.Fatal(err)
	}
	want := []int64{4, 5, 10, 11, 0, 1, 4, 4}
	for i, v := range want {
		if out[0].I64[i] != v {
			t.Fatalf("int64 MatMul: got %v, want %v", out[0].I64, want)
		}
	}
	af := tensor.FromF64([]int{1, 2}, []float64{0.5, 2})
	bf := tensor.FromF64([]int{2}, []float64{4, 0.25})
	out, err = convRunOp(13, 1, 1, "MatMul", nil, af, bf)
	if err != nil {
		t.Fatal(err)
	}
	if len(out[0].Shape) != 1 || out[0].F64[0] != 2.5 {
		t.Fatalf("float64 MatMul: got %v %v", out[0].Shape, out[0].F64)
	}
}

func TestGemmAgainstReference(t *testing.T) {
	cases := []struct {
		m, n, k        int
		transA, transB bool
		c              []int // nil: no C
		alpha, beta    float32
		threads        int
	}{
		{3, 4, 5, false, false, nil, 1, 1, 1},
		{3, 4, 5, true, false, []int{4}, 0.5, 2, 1},
		{3, 4, 5, false, true, []int{1, 4}, 1, 1, 1},
		{3, 4, 5, true, true, []int{3, 1}, 2, 0.5, 1},
		{3, 4, 5, false, true, []int{3, 4}, 1, 0, 1},
		{3, 4, 5, false, false, []int{}, 1, 1, 1},
		{1, 1000, 512, false, true, []int{1000}, 1, 1, 2}, // ResNet fc
		{70, 90, 130, true, false, []int{90}, 1, 1, 3},
		{4, 6, 0, false, false, []int{6}, 1, 1, 1},
	}
	r := rand.New(rand.NewPCG(13, 14))
	for _, tc := range cases {
		as, bs := []int{tc.m, tc.k}, []int{tc.k, tc.n}
		if tc.transA {
			as = []int{tc.k, tc.m}
		}
		if tc.transB {
			bs = []int{tc.n, tc.k}
		}
		a, b := convRand(r, as...), convRand(r, bs...)
		in := []*tensor.Dense{a, b}
		var c *tensor.Dense
		if tc.c != nil {
			c = convRand(r, tc.c...)
			in = append(in, c)
		}
		want := make([]float64, tc.m*tc.n)
		for i := range tc.m {
			for j := range tc.n {
				var s float64
				for p := range tc.k {
					av, bv := a.F32[i*tc.k+p], b.F32[p*tc.n+j]
					if tc.transA {
						av = a.F32[p*tc.m+i]
					}
					if tc.transB {
						bv = b.F32[j*tc.k+p]
					}
					s += float64(av) * float64(bv)
				}
				s *= float64(tc.alpha)
				if c != nil {
					ci := 0
					switch {
					case len(tc.c) == 1:
						ci = j % tc.c[0]
					case len(tc.c) == 2:
						ci = (i%tc.c[0])*tc.c[1] + j%tc.c[1]
					}
					s += float64(tc.beta) * float64(c.F32[ci])
				}
				want[i*tc.n+j] = s
			}
		}
		attrs := []*onnx.Attr{convAttrF("alpha", tc.alpha), convAttrF("beta", tc.beta)}
		if tc.transA {
			attrs = append(attrs, convAttrI("transA", 1))
		}
		if tc.transB {
			attrs = append(attrs, convAttrI("transB", 1))
		}
		for _, constB := range []bool{false, true} {
			n := convNode("Gemm", in, 1, attrs)
			if constB {
				convMarkConst(n, in, 1, 2)
			}
			out, err := convRunNode(n, 13, tc.threads, in...)
			if err != nil {
				t.Fatalf("%+v: %v", tc, err)
			}
			t.Run("", func(t *testing.T) { convCheck(t, out[0], []int{tc.m, tc.n}, want) })
		}
	}
}

func TestMatMulErrors(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	cases := []struct {
		op    string
		attrs []*onnx.Attr
		in    []*tensor.Dense
	}{
		{"MatMul", nil, []*tensor.Dense{convRand(r, 3, 4), convRand(r, 5, 6)}},
		{"MatMul", nil, []*tensor.Dense{convRand(r, 2, 3, 4), convRand(r, 3, 4, 6)}},
		{"MatMul", nil, []*tensor.Dense{tensor.Scalar(1), convRand(r, 3)}},
		{"MatMul", nil, []*tensor.Dense{convRand(r, 3, 4), tensor.New(tensor.Float64, 4, 2)}},
		{"Gemm", nil, []*tensor.Dense{convRand(r, 3, 4), convRand(r, 5, 6)}},
		{"Gemm", nil, []*tensor.Dense{convRand(r, 3, 4), convRand(r, 4, 6), convRand(r, 2, 6)}},
		{"Gemm", nil, []*tensor.Dense{convRand(r, 3, 4, 1), convRand(r, 4, 6)}},
		{"Gemm", []*onnx.Attr{convAttrI("transB", 1)}, []*tensor.Dense{convRand(r, 3, 4), convRand(r, 4, 6)}},
	}
	for _, tc := range cases {
		n := convNode(tc.op, tc.in, 1, tc.attrs)
		_, err := Lookup(tc.op).Run(&RunCtx{Node: n, Opset: 13, In: tc.in, Threads: 1})
		if err == nil || errors.Is(err, ErrUnsupported) {
			t.Errorf("%s %v: got %v, want a shape error", tc.op, tc.in, err)
		}
	}
}

// BenchmarkMatMul times transformer-sized products with every core,
// reporting GFLOP/s; weights are constants, as in a loaded model.
func BenchmarkMatMul(b *testing.B) {
	cases := []struct {
		name   string
		a, b   []int
		constB bool
	}{
		{"proj_1x128x768_768x3072", []int{1, 128, 768}, []int{768, 3072}, true},
		{"gemv_1x768_768x768", []int{1, 768}, []int{768, 768}, true},
		{"attention_12x128x64_12x64x128", []int{12, 128, 64}, []int{12, 64, 128}, false},
	}
	r := rand.New(rand.NewPCG(17, 18))
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			x, w := convRand(r, bc.a...), convRand(r, bc.b...)
			in := []*tensor.Dense{x, w}
			n := convNode("MatMul", in, 1, nil)
			if bc.constB {
				convMarkConst(n, in, 1)
			}
			c := &RunCtx{Node: n, Opset: 13, In: in, Threads: runtime.GOMAXPROCS(0)}
			out, err := matmulRun(c)
			if err != nil {
				b.Fatal(err)
			}
			k := bc.a[len(bc.a)-1]
			flops := 2 * float64(out[0].Len()) * float64(k)
			b.ResetTimer()
			start := time.Now()
			for b.Loop() {
				if _, err := matmulRun(c); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(flops*float64(b.N)/time.Since(start).Seconds()/1e9, "GFLOP/s")
		})
	}
}
