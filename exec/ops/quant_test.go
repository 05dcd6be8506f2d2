package ops

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// quantRand returns a tensor of dtype dt with uniform values in [lo, hi].
func quantRand(r *rand.Rand, dt tensor.DType, lo, hi int64, shape ...int) *tensor.Dense {
	t := tensor.New(dt, shape...)
	for i := range t.I64 {
		t.I64[i] = lo + r.Int64N(hi-lo+1)
	}
	return t
}

// quantConvNaive is ConvInteger by the spec's definition, one output at a
// time in int64: padding reads the zero point.
func quantConvNaive(x, w *tensor.Dense, zx int64, zw []int64, strides, pads, dils []int, group int) *tensor.Dense {
	nd := x.Rank() - 2
	out := []int{x.Shape[0], w.Shape[0]}
	for i := range nd {
		ext := (w.Shape[2+i]-1)*dils[i] + 1
		out = append(out, (x.Shape[2+i]+pads[i]+pads[nd+i]-ext)/strides[i]+1)
	}
	y := tensor.New(tensor.Int32, out...)
	xs, ws, ys := tensor.Strides(x.Shape), tensor.Strides(w.Shape), tensor.Strides(out)
	cg, mg := x.Shape[1]/group, w.Shape[0]/group
	kIdx := make([]int, nd)
	for o := range y.I64 {
		b, m := o/ys[0], (o/ys[1])%out[1]
		gi := m / mg
		zwm := zw[0]
		if len(zw) > 1 {
			zwm = zw[m]
		}
		var acc int64
		for ci := range cg {
			kn := 1
			for i := range nd {
				kn *= w.Shape[2+i]
			}
			for kf := range kn {
				r := kf
				for i := nd - 1; i >= 0; i-- {
					kIdx[i] = r % w.Shape[2+i]
					r /= w.Shape[2+i]
				}
				xo, inside := b*xs[0]+(gi*cg+ci)*xs[1], true
				wo := m*ws[0] + ci*ws[1]
				for i := range nd {
					oi := (o / ys[2+i]) % out[2+i]
					ii := oi*strides[i] - pads[i] + kIdx[i]*dils[i]
					if ii < 0 || ii >= x.Shape[2+i] {
						inside = false
					}
					xo += ii * xs[2+i]
					wo += kIdx[i] * ws[2+i]
				}
				xv := zx
				if inside {
					xv = x.I64[xo]
				}
				acc += (xv - zx) * (w.I64[wo] - zwm)
			}
		}
		y.I64[o] = int64(int32(acc))
	}
	return y
}

func TestConvIntegerAgainstNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		name              string
		xt, wt            tensor.DType
		x, w              []int
		strides, pads, dl []int
		group             int
		perChannel        bool
		extreme           bool // operands at the ends of their range
	}{
		{name: "2d_stride2_pad1", xt: tensor.Uint8, wt: tensor.Uint8, x: []int{2, 3, 7, 6}, w: []int{4, 3, 3, 3}, strides: []int{2, 2}, pads: []int{1, 1, 1, 1}, dl: []int{1, 1}, group: 1},
		{name: "2d_group2_dilation2_perchannel", xt: tensor.Uint8, wt: tensor.Int8, x: []int{1, 4, 9, 8}, w: []int{6, 2, 3, 2}, strides: []int{1, 1}, pads: []int{2, 0, 1, 1}, dl: []int{2, 2}, group: 2, perChannel: true},
		{name: "1d_int8", xt: tensor.Int8, wt: tensor.Int8, x: []int{2, 2, 11}, w: []int{3, 2, 4}, strides: []int{3}, pads: []int{2, 1}, dl: []int{1}, group: 1},
		{name: "3d", xt: tensor.Uint8, wt: tensor.Uint8, x: []int{1, 2, 4, 5, 3}, w: []int{2, 2, 2, 3, 2}, strides: []int{1, 2, 1}, pads: []int{0, 1, 1, 1, 0, 0}, dl: []int{1, 1, 1}, group: 1},
		// K = 40·3·3 = 360, every product -65025: sums far past 2^24,
		// exact in int32 where a float32 accumulation would round.
		// 2·64·400·288 ≈ 15M multiply-adds, past quantParallelMACs, and
		// K = 288 makes blocks of 112 of the 400 positions: the parallel
		// path over blocks that split output rows.
		{name: "parallel_blocks", xt: tensor.Uint8, wt: tensor.Int8, x: []int{2, 32, 20, 20}, w: []int{64, 32, 3, 3}, strides: []int{1, 1}, pads: []int{1, 1, 1, 1}, dl: []int{1, 1}, group: 1, perChannel: true},
		{name: "long_k_extreme", xt: tensor.Uint8, wt: tensor.Uint8, x: []int{1, 40, 5, 5}, w: []int{3, 40, 3, 3}, strides: []int{1, 1}, pads: []int{0, 0, 0, 0}, dl: []int{1, 1}, group: 1, extreme: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lo := func(dt tensor.DType) int64 { l, _, _ := quantRange(nil, dt); return int64(l) }
			hi := func(dt tensor.DType) int64 { _, h, _ := quantRange(nil, dt); return int64(h) }
			x := quantRand(r, c.xt, lo(c.xt), hi(c.xt), c.x...)
			w := quantRand(r, c.wt, lo(c.wt), hi(c.wt), c.w...)
			zx := tensor.New(c.xt)
			zx.I64[0] = lo(c.xt) + r.Int64N(hi(c.xt)-lo(c.xt))
			nzw := 1
			if c.perChannel {
				nzw = c.w[0]
			}
			zw := quantRand(r, c.wt, lo(c.wt), hi(c.wt), nzw)
			if !c.perChannel {
				zw.Shape = nil
			}
			if c.extreme {
				for i := range x.I64 {
					x.I64[i] = hi(c.xt)
				}
				for i := range w.I64 {
					w.I64[i] = lo(c.wt)
				}
				zx.I64[0], zw.I64[0] = lo(c.xt), hi(c.wt)
			}
			attrs := []*onnx.Attr{shapeAttrIs("strides", quantI64s(c.strides)...), shapeAttrIs("pads", quantI64s(c.pads)...),
				shapeAttrIs("dilations", quantI64s(c.dl)...), shapeAttrI("group", int64(c.group))}
			n := shapeTestNode("ConvInteger", []string{"x", "w", "zx", "zw"}, 1, attrs...)
			got := shapeRunOp(t, 10, n, x, w, zx, zw)[0]
			want := quantConvNaive(x, w, zx.I64[0], zw.I64, c.strides, c.pads, c.dl, c.group)
			quantSame(t, got, want)
		})
	}
}

func quantI64s(v []int) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out
}

func quantSame(t *testing.T, got, want *tensor.Dense) {
	t.Helper()
	if got.DType != want.DType || !tensor.SameShape(got.Shape, want.Shape) {
		t.Fatalf("got %s%v, want %s%v", got.DType, got.Shape, want.DType, want.Shape)
	}
	for i := range want.I64 {
		if got.I64[i] != want.I64[i] {
			t.Fatalf("element %d: got %d, want %d", i, got.I64[i], want.I64[i])
		}
	}
}

// TestMatMulIntegerAgainstNaive covers batch broadcasting, per-row and
// per-column zero points and a long inner dim.
func TestMatMulIntegerAgainstNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	cases := []struct {
		a, b         []int
		zaRow, zbCol bool
	}{
		{a: []int{3, 5}, b: []int{5, 4}},
		{a: []int{2, 1, 3, 300}, b: []int{3, 300, 7}, zaRow: true, zbCol: true},
		{a: []int{7}, b: []int{2, 7, 3}},
		{a: []int{4, 6}, b: []int{6}, zaRow: true},
		// 40·300·100 = 1.2M multiply-adds: split by column panels across
		// goroutines (quantParallelMACs).
		{a: []int{40, 300}, b: []int{300, 100}, zbCol: true},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%v_%v", c.a, c.b), func(t *testing.T) {
			a := quantRand(r, tensor.Uint8, 0, 255, c.a...)
			b := quantRand(r, tensor.Int8, -128, 127, c.b...)
			p, err := matmulPlan(nil, c.a, c.b)
			if err != nil {
				t.Fatal(err)
			}
			za := quantRand(r, tensor.Uint8, 0, 255, 1)
			if c.zaRow {
				za = quantRand(r, tensor.Uint8, 0, 255, p.m)
			}
			zb := quantRand(r, tensor.Int8, -128, 127, 1)
			if c.zbCol {
				zb = quantRand(r, tensor.Int8, -128, 127, p.n)
			}
			n := shapeTestNode("MatMulInteger", []string{"a", "b", "za", "zb"}, 1)
			got := shapeRunOp(t, 10, n, a, b, za, zb)[0]
			want := tensor.New(tensor.Int32, p.out...)
			for bi := range p.aOff {
				for i := range p.m {
					for j := range p.n {
						var acc int64
						for k := range p.k {
							av := a.I64[p.aOff[bi]+i*p.k+k] - za.I64[i%za.Len()]
							bv := b.I64[p.bOff[bi]+k*p.n+j] - zb.I64[j%zb.Len()]
							acc += av * bv
						}
						want.I64[(bi*p.m+i)*p.n+j] = acc
					}
				}
			}
			quantSame(t, got, want)
		})
	}
}

func TestQuantizeLinearRounding(t *testing.T) {
	x := tensor.FromF32([]int{2, 4}, []float32{0.5, 1.5, 2.5, -0.5, 1000, -1000, 3.49, -2.5})
	scale := tensor.FromF32([]int{2}, []float32{1, 0.5})
	cases := []struct {
		name string
		zp   *tensor.Dense
		sc   *tensor.Dense
		want []int64
	}{
		{"uint8_half_to_even_saturates", &tensor.Dense{DType: tensor.Uint8, I64: []int64{0}}, tensor.Scalar(1), []int64{0, 2, 2, 0, 255, 0, 3, 0}},
		{"int8_zero_point", &tensor.Dense{DType: tensor.Int8, I64: []int64{-3}}, tensor.Scalar(1), []int64{-3, -1, -1, -3, 127, -128, 0, -5}},
		{"per_axis", &tensor.Dense{DType: tensor.Uint8, Shape: []int{2}, I64: []int64{10, 20}}, scale, []int64{10, 12, 12, 10, 255, 0, 27, 15}},
		{"no_zero_point_is_uint8", nil, tensor.Scalar(1), []int64{0, 2, 2, 0, 255, 0, 3, 0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ins := []string{"x", "s", "z"}
			in := []*tensor.Dense{x, c.sc, c.zp}
			if c.zp == nil {
				ins, in = ins[:2], in[:2]
			}
			n := shapeTestNode("QuantizeLinear", ins, 1, shapeAttrI("axis", 0))
			got := shapeRunOp(t, 13, n, in...)[0]
			want := &tensor.Dense{DType: tensor.Uint8, Shape: x.Shape, I64: c.want}
			if c.zp != nil {
				want.DType = c.zp.DType
			}
			quantSame(t, got, want)
			// DequantizeLinear inverts it to within half a step.
			dn := shapeTestNode("DequantizeLinear", ins, 1, shapeAttrI("axis", 0))
			din := append([]*tensor.Dense{got}, in[1:]...)
			back := shapeRunOp(t, 13, dn, din...)[0]
			for i, v := range back.F32 {
				if got.I64[i] == 0 || got.I64[i] == 255 || got.I64[i] == 127 || got.I64[i] == -128 {
					continue // saturated
				}
				s := c.sc.F32[(i/4)%c.sc.Len()]
				if d := v - x.F32[i]; d > s/2 || d < -s/2 {
					t.Fatalf("element %d: dequantized %g from %g", i, v, x.F32[i])
				}
			}
		})
	}
}

func TestQuantErrors(t *testing.T) {
	u8 := func(shape ...int) *tensor.Dense { return tensor.New(tensor.Uint8, shape...) }
	cases := []struct {
		name string
		op   string
		ins  []string
		in   []*tensor.Dense
	}{
		{"ConvInteger_float_x", "ConvInteger", []string{"x", "w"}, []*tensor.Dense{tensor.New(tensor.Float32, 1, 1, 3, 3), u8(1, 1, 2, 2)}},
		{"ConvInteger_channels", "ConvInteger", []string{"x", "w"}, []*tensor.Dense{u8(1, 2, 3, 3), u8(1, 3, 2, 2)}},
		{"ConvInteger_zw_length", "ConvInteger", []string{"x", "w", "", "zw"}, []*tensor.Dense{u8(1, 1, 3, 3), u8(2, 1, 2, 2), nil, u8(3)}},
		{"MatMulInteger_inner", "MatMulInteger", []string{"a", "b"}, []*tensor.Dense{u8(2, 3), u8(4, 2)}},
		{"QuantizeLinear_axis_length", "QuantizeLinear", []string{"x", "s"}, []*tensor.Dense{tensor.New(tensor.Float32, 2, 3), tensor.FromF32([]int{2}, []float32{1, 1})}},
		{"QuantizeLinear_float_zero_point", "QuantizeLinear", []string{"x", "s", "z"}, []*tensor.Dense{tensor.New(tensor.Float32, 2), tensor.Scalar(1), tensor.Scalar(0)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := shapeTestNode(c.op, c.ins, 1)
			if _, err := shapeRunOpErr(13, n, c.in...); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

// TestQLinearConvAgainstNaive checks QLinearConv against ConvInteger's
// naive definition followed by the bias and ONNX Runtime's float32
// requantization (quantSaturate of acc·(x_scale·w_scale/y_scale)), which
// must agree exactly: the sums are integers and the float32 steps are the
// same operations in the same order.
func TestQLinearConvAgainstNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	cases := []struct {
		name       string
		yt         tensor.DType
		x, w       []int
		stride     int
		pad, group int
		perChannel bool
	}{
		{name: "uint8_stride1_pad1", yt: tensor.Uint8, x: []int{2, 3, 16, 16}, w: []int{8, 3, 3, 3}, stride: 1, pad: 1, group: 1},
		{name: "int8_stride2_perchannel_group2", yt: tensor.Int8, x: []int{1, 8, 9, 7}, w: []int{6, 4, 3, 3}, stride: 2, pad: 1, group: 2, perChannel: true},
		{name: "uint8_1x1_parallel", yt: tensor.Uint8, x: []int{4, 64, 20, 20}, w: []int{96, 64, 1, 1}, stride: 1, pad: 0, group: 1, perChannel: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			x := quantRand(r, tensor.Uint8, 0, 255, c.x...)
			w := quantRand(r, tensor.Int8, -128, 127, c.w...)
			zx := &tensor.Dense{DType: tensor.Uint8, I64: []int64{r.Int64N(256)}}
			nw := 1
			if c.perChannel {
				nw = c.w[0]
			}
			zw := quantRand(r, tensor.Int8, -3, 3, nw)
			ws := tensor.New(tensor.Float32, nw)
			for i := range ws.F32 {
				ws.F32[i] = float32(r.Float64()*0.01 + 1e-3)
			}
			xs := tensor.FromF32(nil, []float32{0.02})
			ys := tensor.FromF32(nil, []float32{float32(r.Float64()*0.5 + 0.05)})
			zy := &tensor.Dense{DType: c.yt, I64: []int64{3}}
			bias := quantRand(r, tensor.Int32, -5000, 5000, c.w[0])
			sp := []int{c.stride, c.stride}
			pads := []int{c.pad, c.pad, c.pad, c.pad}
			attrs := []*onnx.Attr{shapeAttrIs("strides", quantI64s(sp)...), shapeAttrIs("pads", quantI64s(pads)...), shapeAttrI("group", int64(c.group))}
			n := shapeTestNode("QLinearConv", []string{"x", "xs", "zx", "w", "ws", "zw", "ys", "zy", "B"}, 1, attrs...)
			got := shapeRunOp(t, 10, n, x, xs, zx, w, ws, zw, ys, zy, bias)[0]

			acc := quantConvNaive(x, w, zx.I64[0], zw.I64, sp, pads, []int{1, 1}, c.group)
			lo, hi, _ := quantRange(nil, c.yt)
			want := tensor.New(c.yt, acc.Shape...)
			scales := qlinearScales(xs.F32, ws.F32, ys.F32[0])
			plane := acc.Len() / (acc.Shape[0] * acc.Shape[1])
			for i, v := range acc.I64 {
				ch := i / plane % acc.Shape[1]
				sum := int32(v) + int32(bias.I64[ch])
				want.I64[i] = quantSaturate(float32(sum)*scales[ch%len(scales)], float32(zy.I64[0]), lo, hi)
			}
			quantSame(t, got, want)
		})
	}
}
