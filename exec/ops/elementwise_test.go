package ops

import (
	"errors"
	"fmt"
	"math"
	"math/rand"
	"strings"
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// elemTestNode builds a node with one named input per non-nil tensor (nil:
// an absent optional input).
func elemTestNode(op string, attrs []*onnx.Attr, in ...*tensor.Dense) *onnx.Node {
	n := &onnx.Node{Name: "node_" + op, OpType: op, Attrs: attrs}
	for i, x := range in {
		if x == nil {
			n.Inputs = append(n.Inputs, nil)
			continue
		}
		n.Inputs = append(n.Inputs, &onnx.Value{Name: fmt.Sprintf("in%d", i)})
	}
	n.Outputs = []*onnx.Value{{Name: "out"}}
	return n
}

// elemRunOp infers and runs op on in, checking that inference predicted
// the output's dtype and shape.
func elemRunOp(opset, threads int, op string, attrs []*onnx.Attr, in ...*tensor.Dense) (*tensor.Dense, error) {
	n := elemTestNode(op, attrs, in...)
	o, err := Resolve(n, opset)
	if err != nil {
		return nil, err
	}
	ic := &InferCtx{Node: n, Opset: opset, In: make([]onnx.Type, len(in))}
	for i, x := range in {
		if x != nil {
			ic.In[i] = onnx.ShapeOf(x.DType, x.Shape...)
		}
	}
	types, err := o.Infer(ic)
	if err != nil {
		return nil, fmt.Errorf("infer: %w", err)
	}
	out, err := o.Run(&RunCtx{Node: n, Opset: opset, In: in, Threads: threads})
	if err != nil {
		return nil, err
	}
	if !typeMatches(types[0], out[0]) {
		return nil, fmt.Errorf("inferred %s, kernel produced %s%v", types[0], out[0].DType, out[0].Shape)
	}
	return out[0], nil
}

// elemRand returns a tensor of dtype dt with random elements: floats in
// [-2, 2), integers in [-20, 20) (never zero when nonzero is set).
func elemRand(r *rand.Rand, dt tensor.DType, nonzero bool, shape ...int) *tensor.Dense {
	t := tensor.New(dt, shape...)
	for i := range t.F32 {
		t.F32[i] = r.Float32()*4 - 2
	}
	for i := range t.F64 {
		t.F64[i] = r.Float64()*4 - 2
	}
	for i := range t.I64 {
		v := r.Int63n(40) - 20
		if v == 0 && nonzero {
			v = 7
		}
		t.I64[i] = v
	}
	return t
}

// elemRefIndex maps output element i to the element of an input of shape
// in broadcast to out, the slow obvious way.
func elemRefIndex(out, in []int, i int) int {
	idx := make([]int, len(out))
	for k := len(out) - 1; k >= 0; k-- {
		idx[k] = i % out[k]
		i /= out[k]
	}
	j, off := 0, len(out)-len(in)
	for k, d := range in {
		if d != 1 {
			j = j*d + idx[off+k]
		} else {
			j *= d
		}
	}
	return j
}

// elemRefBinary computes op elementwise in float64 with broadcasting.
func elemRefBinary(a, b *tensor.Dense, f func(x, y float64) float64) ([]int, []float64) {
	shape, err := broadcastShapes(a.Shape, b.Shape)
	if err != nil {
		panic(err)
	}
	n, _ := tensor.NumElems(shape)
	av, bv := a.Float64s(), b.Float64s()
	out := make([]float64, n)
	for i := range out {
		out[i] = f(av[elemRefIndex(shape, a.Shape, i)], bv[elemRefIndex(shape, b.Shape, i)])
	}
	return shape, out
}

// elemCheck compares got with want to a tolerance (0: exact), relative
// for results above 1 and absolute below.
func elemCheck(t *testing.T, got *tensor.Dense, shape []int, want []float64, tol float64) {
	t.Helper()
	if !tensor.SameShape(got.Shape, shape) {
		t.Fatalf("shape %v, want %v", got.Shape, shape)
	}
	g := got.Float64s()
	for i := range want {
		if math.IsNaN(want[i]) && math.IsNaN(g[i]) || g[i] == want[i] {
			continue
		}
		if !(math.Abs(g[i]-want[i]) <= tol*math.Max(math.Abs(want[i]), 1)) {
			t.Fatalf("element %d: got %g, want %g", i, g[i], want[i])
		}
	}
}

// elemBroadcastShapes are operand pairs covering each kernel layout:
// same shape, scalar either side, a per-channel bias, a row bias, an
// outer product and mixed broadcasting in the middle dims.
var elemBroadcastShapes = [][2][]int{
	{{2, 3, 4, 5}, {2, 3, 4, 5}},
	{{2, 3, 4, 5}, {3, 1, 1}},
	{{3, 1, 1}, {2, 3, 4, 5}},
	{{2, 3, 4, 5}, {}},
	{{}, {2, 3, 4, 5}},
	{{}, {}},
	{{1}, {3, 1, 2}},
	{{4, 1}, {1, 5}},
	{{2, 7, 6}, {6}},
	{{2, 1, 4, 1}, {3, 1, 5}},
	{{2, 3, 1, 5}, {1, 3, 4, 1}},
	{{1, 1}, {1}},
	{{0, 3}, {3}},
	{{64, 128, 16}, {128, 1}}, // large enough to run on several goroutines
	{{300000}, {1}},
	// One value per row of the other operand, either way round (Mul and
	// Add take elemRowScalarF32): a squeeze-excitation gate, a bias.
	{{1, 5, 7, 7}, {1, 5, 1, 1}},
	{{2, 3, 1, 1}, {2, 3, 4, 5}},
	{{6, 1}, {6, 17}},
	{{1, 40, 33, 33}, {1, 40, 1, 1}},
}

func TestElemBinaryAgainstReference(t *testing.T) {
	type opCase struct {
		op  string
		ref func(x, y float64) float64
		int func(x, y float64) float64 // integer semantics, if they differ
	}
	ops := []opCase{
		{"Add", func(x, y float64) float64 { return x + y }, nil},
		{"Sub", func(x, y float64) float64 { return x - y }, nil},
		{"Mul", func(x, y float64) float64 { return x * y }, nil},
		{"Div", func(x, y float64) float64 { return x / y }, func(x, y float64) float64 { return math.Trunc(x / y) }},
		{"Max", math.Max, nil},
		{"Min", math.Min, nil},
		{"Pow", math.Pow, nil},
	}
	r := rand.New(rand.NewSource(1))
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64, tensor.Int64} {
		for _, oc := range ops {
			if oc.op == "Pow" && dt == tensor.Int64 {
				continue // TestElemIntegerSemantics
			}
			for _, sh := range elemBroadcastShapes {
				for _, threads := range []int{1, 4} {
					name := fmt.Sprintf("%s/%s/%v+%v/t%d", dt, oc.op, sh[0], sh[1], threads)
					t.Run(name, func(t *testing.T) {
						a := elemRand(r, dt, false, sh[0]...)
						b := elemRand(r, dt, true, sh[1]...)
						got, err := elemRunOp(17, threads, oc.op, nil, a, b)
						if err != nil {
							t.Fatal(err)
						}
						ref := oc.ref
						if dt == tensor.Int64 && oc.int != nil {
							ref = oc.int
						}
						if dt == tensor.Float32 {
							// float32 +-*/ of float32 operands round the exact
							// result once, as float32(float64 result) does.
							f := ref
							ref = func(x, y float64) float64 { return float64(float32(f(x, y))) }
						}
						shape, want := elemRefBinary(a, b, ref)
						elemCheck(t, got, shape, want, 0)
					})
				}
			}
		}
	}
}

func TestElemCompareAndLogic(t *testing.T) {
	cmp := map[string]func(x, y float64) bool{
		"Equal":          func(x, y float64) bool { return x == y },
		"Less":           func(x, y float64) bool { return x < y },
		"Greater":        func(x, y float64) bool { return x > y },
		"LessOrEqual":    func(x, y float64) bool { return x <= y },
		"GreaterOrEqual": func(x, y float64) bool { return x >= y },
		"And":            func(x, y float64) bool { return x != 0 && y != 0 },
		"Or":             func(x, y float64) bool { return x != 0 || y != 0 },
		"Xor":            func(x, y float64) bool { return (x != 0) != (y != 0) },
	}
	r := rand.New(rand.NewSource(2))
	for op, f := range cmp {
		dts := []tensor.DType{tensor.Float32, tensor.Float64, tensor.Int64}
		if op == "And" || op == "Or" || op == "Xor" {
			dts = []tensor.DType{tensor.Bool}
		}
		for _, dt := range dts {
			for _, sh := range elemBroadcastShapes {
				a, b := elemRand(r, dt, false, sh[0]...), elemRand(r, dt, false, sh[1]...)
				if dt == tensor.Bool {
					for i := range a.I64 {
						a.I64[i] &= 1
					}
					for i := range b.I64 {
						b.I64[i] &= 1
					}
				} else {
					// Make some elements equal.
					for i := 0; i < min(a.Len(), b.Len()); i += 3 {
						elemSetFrom(b, a, i)
					}
				}
				got, err := elemRunOp(17, 2, op, nil, a, b)
				if err != nil {
					t.Fatalf("%s %s %v: %v", op, dt, sh, err)
				}
				if got.DType != tensor.Bool {
					t.Fatalf("%s: dtype %s", op, got.DType)
				}
				shape, want := elemRefBinary(a, b, func(x, y float64) float64 { return float64(elemB2I(f(x, y))) })
				elemCheck(t, got, shape, want, 0)
			}
		}
	}
}

// elemSetFrom copies element i of src into dst.
func elemSetFrom(dst, src *tensor.Dense, i int) {
	switch {
	case dst.F32 != nil:
		dst.F32[i] = src.F32[i]
	case dst.F64 != nil:
		dst.F64[i] = src.F64[i]
	default:
		dst.I64[i] = src.I64[i]
	}
}

func elemInts(dt tensor.DType, shape []int, v ...int64) *tensor.Dense {
	t := tensor.New(dt, shape...)
	copy(t.I64, v)
	return t
}

func TestElemIntegerSemantics(t *testing.T) {
	i64 := func(v ...int64) *tensor.Dense { return elemInts(tensor.Int64, []int{len(v)}, v...) }
	cases := []struct {
		op    string
		attrs []*onnx.Attr
		a, b  *tensor.Dense
		want  []int64
	}{
		{"Div", nil, i64(7, -7, 7, -7), i64(2, 2, -2, -2), []int64{3, -3, -3, 3}},
		{"Div", nil, i64(math.MinInt64), i64(-1), []int64{math.MinInt64}},
		{"Mod", nil, i64(7, -7, 7, -7), i64(3, 3, -3, -3), []int64{1, 2, -2, -1}},
		{"Mod", []*onnx.Attr{shapeAttrI("fmod", 1)}, i64(7, -7, 7, -7), i64(3, 3, -3, -3), []int64{1, -1, 1, -1}},
		{"Pow", nil, i64(2, -3, 5, 2, -1, 0), i64(10, 3, 0, -1, -3, 0), []int64{1024, -27, 1, 0, -1, 1}},
		{"Add", nil, elemInts(tensor.Uint8, []int{2}, 250, 3), elemInts(tensor.Uint8, []int{2}, 10, 4), []int64{4, 7}},
		{"Sub", nil, elemInts(tensor.Uint8, []int{2}, 1, 3), elemInts(tensor.Uint8, []int{2}, 2, 1), []int64{255, 2}},
		{"Mul", nil, elemInts(tensor.Int8, []int{1}, 100), elemInts(tensor.Int8, []int{1}, 3), []int64{44}},
		{"Div", nil, elemInts(tensor.Uint64, []int{1}, -2), elemInts(tensor.Uint64, []int{1}, 2), []int64{math.MaxInt64}},
		{"Max", nil, elemInts(tensor.Uint64, []int{2}, -1, 5), elemInts(tensor.Uint64, []int{2}, 1, 6), []int64{-1, 6}},
		{"Less", nil, elemInts(tensor.Uint64, []int{2}, -1, 5), elemInts(tensor.Uint64, []int{2}, 1, 6), []int64{0, 1}},
		{"Greater", nil, i64(-1, 5), i64(1, 5), []int64{0, 0}},
	}
	for _, c := range cases {
		got, err := elemRunOp(17, 1, c.op, c.attrs, c.a, c.b)
		if err != nil {
			t.Fatalf("%s: %v", c.op, err)
		}
		if fmt.Sprint(got.I64) != fmt.Sprint(c.want) {
			t.Errorf("%s(%v, %v) = %v, want %v", c.op, c.a.I64, c.b.I64, got.I64, c.want)
		}
	}
	// Pow with a float exponent keeps the integer base's dtype.
	got, err := elemRunOp(17, 1, "Pow", nil, elemInts(tensor.Int32, []int{2}, 2, 9), tensor.FromF32([]int{2}, []float32{3, 0.5}))
	if err != nil || got.DType != tensor.Int32 || fmt.Sprint(got.I64) != "[8 3]" {
		t.Errorf("Pow(int32, float) = %v %v, %v", got, got.I64, err)
	}
	// And a float base with an integer exponent stays float.
	got, err = elemRunOp(17, 1, "Pow", nil, tensor.FromF32([]int{2}, []float32{2, 0.5}), i64(3, -2))
	if err != nil || got.DType != tensor.Float32 || fmt.Sprint(got.F32) != "[8 4]" {
		t.Errorf("Pow(float, int64) = %v, %v", got, err)
	}
	if _, err := elemRunOp(17, 1, "Div", nil, i64(1, 2), i64(1, 0)); err == nil || !strings.Contains(err.Error(), "node_Div") {
		t.Errorf("integer division by zero: %v", err)
	}
	if _, err := elemRunOp(17, 1, "Mod", nil, i64(1), i64(0)); err == nil {
		t.Error("integer modulo by zero: no error")
	}
}

func TestElemFloat16Rounds(t *testing.T) {
	a := tensor.New(tensor.Float16, 1)
	b := tensor.New(tensor.Float16, 1)
	a.F32[0], b.F32[0] = 1, tensor.Float16ToFloat32(tensor.Float32ToFloat16(2e-4))
	got, err := elemRunOp(17, 1, "Add", nil, a, b)
	if err != nil {
		t.Fatal(err)
	}
	// 1 + 0.0002 is not a float16; the nearest is 1 (the step is 1/1024).
	if got.DType != tensor.Float16 || got.F32[0] != 1 {
		t.Errorf("float16 1 + 0.0002 = %v %v, want 1", got.DType, got.F32)
	}
}

func TestElemVariadic(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	a := elemRand(r, tensor.Float32, false, 3, 1, 4)
	b := elemRand(r, tensor.Float32, false, 2, 1)
	c := elemRand(r, tensor.Float32, false, 4)
	refs := map[string]func(x ...float64) float64{
		"Sum":  func(x ...float64) float64 { return x[0] + x[1] + x[2] },
		"Mean": func(x ...float64) float64 { return (x[0] + x[1] + x[2]) / 3 },
		"Max":  func(x ...float64) float64 { return math.Max(math.Max(x[0], x[1]), x[2]) },
		"Min":  func(x ...float64) float64 { return math.Min(math.Min(x[0], x[1]), x[2]) },
	}
	shape := []int{3, 2, 4}
	for op, f := range refs {
		got, err := elemRunOp(13, 2, op, nil, a, b, c)
		if err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		av, bv, cv := a.Float64s(), b.Float64s(), c.Float64s()
		want := make([]float64, 24)
		for i := range want {
			want[i] = f(av[elemRefIndex(shape, a.Shape, i)], bv[elemRefIndex(shape, b.Shape, i)], cv[elemRefIndex(shape, c.Shape, i)])
		}
		elemCheck(t, got, shape, want, 1e-6)
		// One input is a copy.
		one, err := elemRunOp(13, 2, op, nil, a)
		if err != nil {
			t.Fatal(err)
		}
		elemCheck(t, one, a.Shape, a.Float64s(), 0)
		if &one.F32[0] == &a.F32[0] {
			t.Errorf("%s of one input aliases it", op)
		}
	}
	if _, err := elemRunOp(13, 2, "Sum", nil, a, elemRand(r, tensor.Float32, false, 5)); err == nil || !strings.Contains(err.Error(), "node_Sum") {
		t.Errorf("Sum of [3,1,4] and [5]: %v", err)
	}
}

func TestWhere(t *testing.T) {
	r := rand.New(rand.NewSource(4))
	shapes := [][3][]int{
		{{2, 3}, {2, 3}, {2, 3}},
		{{3}, {2, 3}, {}},
		{{2, 1, 4}, {1, 3, 1}, {4}},
		{{}, {5}, {2, 1}},
		{{1, 1, 600, 600}, {}, {2, 1, 600, 600}},
	}
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64, tensor.Int64} {
		for _, sh := range shapes {
			cond := elemRand(r, tensor.Bool, false, sh[0]...)
			for i := range cond.I64 {
				cond.I64[i] &= 1
			}
			x, y := elemRand(r, dt, false, sh[1]...), elemRand(r, dt, false, sh[2]...)
			got, err := elemRunOp(16, 2, "Where", nil, cond, x, y)
			if err != nil {
				t.Fatal(err)
			}
			shape, _ := broadcastShapes(sh[0], sh[1], sh[2])
			n, _ := tensor.NumElems(shape)
			want := make([]float64, n)
			cv, xv, yv := cond.Float64s(), x.Float64s(), y.Float64s()
			for i := range want {
				if cv[elemRefIndex(shape, sh[0], i)] != 0 {
					want[i] = xv[elemRefIndex(shape, sh[1], i)]
				} else {
					want[i] = yv[elemRefIndex(shape, sh[2], i)]
				}
			}
			if got.DType != dt {
				t.Fatalf("dtype %s, want %s", got.DType, dt)
			}
			elemCheck(t, got, shape, want, 0)
		}
	}
	// The condition must be bool.
	if _, err := elemRunOp(16, 1, "Where", nil, tensor.FromI64([]int{1}, []int64{1}), tensor.Scalar(1), tensor.Scalar(2)); err == nil {
		t.Error("Where with an int64 condition: no error")
	}
}

// TestElemUnaryAgainstReference checks every unary op's float32 kernel
// against its float64 definition, and float64 tensors against math.
func TestElemUnaryAgainstReference(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	// Attributes default to float32 values.
	alpha, hsA := float64(float32(0.01)), float64(float32(0.2))
	ref := map[string]func(x float64) float64{
		"Relu":        func(x float64) float64 { return math.Max(x, 0) },
		"LeakyRelu":   func(x float64) float64 { return elemIf(x >= 0, x, alpha*x) },
		"Sigmoid":     func(x float64) float64 { return 1 / (1 + math.Exp(-x)) },
		"Tanh":        math.Tanh,
		"Erf":         math.Erf,
		"Exp":         math.Exp,
		"Sqrt":        math.Sqrt,
		"Log":         math.Log,
		"Neg":         func(x float64) float64 { return -x },
		"Abs":         math.Abs,
		"Reciprocal":  func(x float64) float64 { return 1 / x },
		"Floor":       math.Floor,
		"Ceil":        math.Ceil,
		"Round":       math.RoundToEven,
		"Sign":        func(x float64) float64 { return float64(elemB2I(x > 0) - elemB2I(x < 0)) },
		"Sin":         math.Sin,
		"Cos":         math.Cos,
		"Elu":         func(x float64) float64 { return elemIf(x >= 0, x, math.Expm1(x)) },
		"Selu":        func(x float64) float64 { return seluGamma * elemIf(x > 0, x, seluAlpha*math.Expm1(x)) },
		"Softplus":    func(x float64) float64 { return math.Log1p(math.Exp(x)) },
		"HardSigmoid": func(x float64) float64 { return math.Max(0, math.Min(1, hsA*x+0.5)) },
		"HardSwish":   func(x float64) float64 { return x * math.Max(0, math.Min(1, x/6+0.5)) },
		"Gelu":        func(x float64) float64 { return x * (1 + math.Erf(x/math.Sqrt2)) / 2 },
	}
	// Absolute float32 tolerances where the result cancels to near zero
	// (a·x+b in float32), or where float32 erf rounds to -1 (Gelu of
	// x < -5.6 is 0, not -1e-8).
	atol := map[string]float64{"HardSigmoid": 1e-7, "HardSwish": 1e-7, "Gelu": 1e-7}
	for op, f := range ref {
		for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
			for _, n := range []int{0, 1, 7, 200000} {
				x := tensor.New(dt, n)
				v := make([]float64, n)
				for i := range v {
					v[i] = (r.Float64()*2 - 1) * []float64{1e-6, 0.5, 3, 12}[i%4]
					if dt == tensor.Float32 {
						v[i] = float64(float32(v[i]))
						x.F32[i] = float32(v[i])
					} else {
						x.F64[i] = v[i]
					}
				}
				got, err := elemRunOp(20, 2, op, nil, x)
				if err != nil {
					t.Fatalf("%s %s: %v", op, dt, err)
				}
				g := got.Float64s()
				for i, xi := range v {
					w := f(xi)
					if dt == tensor.Float32 {
						w = float64(float32(w))
					}
					// Two float32 ulps; float64 ops follow math closely.
					tol := 2.5e-7 * math.Abs(w)
					if dt == tensor.Float64 {
						tol = 1e-12 * math.Abs(w)
					}
					if dt == tensor.Float32 {
						tol = max(tol, atol[op])
					}
					if !(math.Abs(g[i]-w) <= tol || math.IsNaN(w) && math.IsNaN(g[i])) {
						t.Fatalf("%s %s(%g) = %g, want %g", dt, op, xi, g[i], w)
					}
				}
			}
		}
	}
}

func elemIf(c bool, a, b float64) float64 {
	if c {
		return a
	}
	return b
}

func TestElemUnaryIntegers(t *testing.T) {
	x := elemInts(tensor.Int64, []int{5}, -3, -1, 0, 2, math.MinInt64)
	want := map[string]string{
		"Relu": "[0 0 0 2 0]",
		"Neg":  "[3 1 0 -2 -9223372036854775808]",
		"Abs":  "[3 1 0 2 -9223372036854775808]",
		"Sign": "[-1 -1 0 1 -1]",
	}
	for op, w := range want {
		got, err := elemRunOp(17, 1, op, nil, x)
		if err != nil || fmt.Sprint(got.I64) != w {
			t.Errorf("%s = %v, %v; want %s", op, got, err, w)
		}
	}
	// Unsigned values are never negative, even uint64 ones above 2^63.
	u := elemInts(tensor.Uint64, []int{2}, -5, 3)
	for op, w := range map[string]string{"Relu": "[-5 3]", "Abs": "[-5 3]", "Sign": "[1 1]"} {
		got, err := elemRunOp(17, 1, op, nil, u)
		if err != nil || fmt.Sprint(got.I64) != w {
			t.Errorf("uint64 %s = %v, %v; want %s", op, got, err, w)
		}
	}
	// int8 Neg wraps.
	got, err := elemRunOp(17, 1, "Neg", nil, elemInts(tensor.Int8, []int{1}, -128))
	if err != nil || got.I64[0] != -128 {
		t.Errorf("int8 Neg(-128) = %v, %v", got, err)
	}
	if _, err := elemRunOp(17, 1, "Sigmoid", nil, x); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Sigmoid of int64: %v, want ErrUnsupported", err)
	}
}

func TestElemUnaryAttrs(t *testing.T) {
	x := tensor.FromF32([]int{4}, []float32{-2, -0.5, 0.5, 3})
	cases := []struct {
		op    string
		attrs []*onnx.Attr
		f     func(x float64) float64
	}{
		{"LeakyRelu", []*onnx.Attr{shapeAttrF("alpha", 0.1)}, func(x float64) float64 { return math.Max(x, 0) + 0.1*math.Min(x, 0) }},
		{"Elu", []*onnx.Attr{shapeAttrF("alpha", 2)}, func(x float64) float64 { return elemIf(x >= 0, x, 2*math.Expm1(x)) }},
		{"Selu", []*onnx.Attr{shapeAttrF("alpha", 2), shapeAttrF("gamma", 3)}, func(x float64) float64 { return 3 * elemIf(x > 0, x, 2*math.Expm1(x)) }},
		{"HardSigmoid", []*onnx.Attr{shapeAttrF("alpha", 0.5), shapeAttrF("beta", 0.25)}, func(x float64) float64 { return math.Max(0, math.Min(1, 0.5*x+0.25)) }},
		{"Gelu", []*onnx.Attr{shapeAttrS("approximate", "tanh")}, func(x float64) float64 {
			return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
		}},
	}
	for _, c := range cases {
		got, err := elemRunOp(20, 1, c.op, c.attrs, x)
		if err != nil {
			t.Fatalf("%s: %v", c.op, err)
		}
		want := make([]float64, 4)
		for i, v := range x.F32 {
			want[i] = c.f(float64(v))
		}
		elemCheck(t, got, x.Shape, want, 1e-6)
	}
	if _, err := elemRunOp(20, 1, "Gelu", []*onnx.Attr{shapeAttrS("approximate", "sigmoid")}, x); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Gelu approximate=sigmoid: %v, want ErrUnsupported", err)
	}
	if _, err := elemRunOp(17, 1, "Gelu", nil, x); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Gelu at opset 17: %v, want ErrUnsupported", err)
	}
	// IsInf with one sign disabled, IsNaN.
	y := tensor.FromF32([]int{4}, []float32{float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 1})
	got, err := elemRunOp(17, 1, "IsInf", []*onnx.Attr{shapeAttrI("detect_positive", 0)}, y)
	if err != nil || fmt.Sprint(got.I64) != "[0 1 0 0]" {
		t.Errorf("IsInf(detect_positive=0) = %v, %v", got, err)
	}
	got, err = elemRunOp(17, 1, "IsNaN", nil, y)
	if err != nil || got.DType != tensor.Bool || fmt.Sprint(got.I64) != "[0 0 1 0]" {
		t.Errorf("IsNaN = %v, %v", got, err)
	}
}

// TestElemMathAccuracy checks the fast float32 paths of exp, tanh and erf
// against package math over their whole float32 range of interest.
func TestElemMathAccuracy(t *testing.T) {
	r := rand.New(rand.NewSource(6))
	one := func(f func(y, x []float64)) func(float64) float64 {
		return func(x float64) float64 {
			y := []float64{0}
			f(y, []float64{x})
			return y[0]
		}
	}
	fns := []struct {
		name       string
		fast, slow func(float64) float64
		lim        float64
	}{
		{"exp", one(elemExpBlock), math.Exp, 110},
		{"tanh", one(elemTanhBlock), math.Tanh, 20},
		{"erf", one(func(y, x []float64) { elemErfBlock(y, x, 1) }), math.Erf, 6},
	}
	for _, f := range fns {
		var xs []float64
		for i := -100000; i <= 100000; i++ {
			xs = append(xs, f.lim*float64(i)/100000)
		}
		for range 200000 {
			// Log-uniform magnitudes reach the tiny arguments too.
			xs = append(xs, math.Copysign(math.Exp(r.Float64()*math.Log(f.lim/1e-30))*1e-30, r.Float64()-0.5))
		}
		xs = append(xs, 0, math.Copysign(0, -1), math.Inf(1), math.Inf(-1), 0.5, 4, -4, 3.9999999)
		worst := 0.0
		for _, x := range xs {
			x = float64(float32(x))
			got, want := f.fast(x), f.slow(x)
			if got == want {
				continue
			}
			// Within one float32 ulp after rounding.
			g32, w32 := float32(got), float32(want)
			if g32 != w32 && math.Nextafter32(g32, w32) != w32 {
				t.Fatalf("%s(%g) = %g, want %g", f.name, x, got, want)
			}
			if f.name == "erf" && math.Abs(x) >= 4 {
				continue // ±1, what float32 erf rounds to
			}
			if e := math.Abs(got-want) / math.Abs(want); e > worst && want != 0 {
				worst = e
			}
		}
		t.Logf("%s: worst relative error %g", f.name, worst)
		if worst > 1e-9 {
			t.Errorf("%s: worst relative error %g", f.name, worst)
		}
		if n := f.fast(math.NaN()); !math.IsNaN(n) {
			t.Errorf("%s(NaN) = %g", f.name, n)
		}
	}
	// exp's under- and overflow in float32 terms.
	exp := one(elemExpBlock)
	if v := float32(exp(89)); !math.IsInf(float64(v), 1) {
		t.Errorf("float32 exp(89) = %g", v)
	}
	if v := float32(exp(-104)); v != 0 {
		t.Errorf("float32 exp(-104) = %g", v)
	}
}

func TestClip(t *testing.T) {
	x := tensor.FromF32([]int{5}, []float32{-3, -1, 0.5, 2, float32(math.NaN())})
	cases := []struct {
		name   string
		opset  int
		attrs  []*onnx.Attr
		lo, hi *tensor.Dense
		want   string
	}{
		{"attrs", 6, []*onnx.Attr{shapeAttrF("min", -1), shapeAttrF("max", 1)}, nil, nil, "[-1 -1 0.5 1 NaN]"},
		{"attr-defaults", 6, nil, nil, nil, "[-3 -1 0.5 2 NaN]"},
		{"inputs", 13, nil, tensor.Scalar(0), tensor.Scalar(1.5), "[0 0 0.5 1.5 NaN]"},
		{"max-only", 13, nil, nil, tensor.Scalar(0), "[-3 -1 0 0 NaN]"},
		{"min-only", 11, nil, tensor.Scalar(0), nil, "[0 0 0.5 2 NaN]"},
		{"min>max", 13, nil, tensor.Scalar(2), tensor.Scalar(1), "[1 1 1 1 NaN]"},
	}
	for _, c := range cases {
		in := []*tensor.Dense{x, c.lo, c.hi}
		for len(in) > 1 && in[len(in)-1] == nil {
			in = in[:len(in)-1]
		}
		if c.opset < 11 {
			in = in[:1]
		}
		got, err := elemRunOp(c.opset, 1, "Clip", c.attrs, in...)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if fmt.Sprint(got.F32) != c.want {
			t.Errorf("%s: got %v, want %s", c.name, got.F32, c.want)
		}
	}
	// Integers, and a large tensor on several goroutines (ReLU6).
	xi := elemInts(tensor.Int64, []int{4}, -5, 0, 5, 10)
	got, err := elemRunOp(13, 1, "Clip", nil, xi, nil, elemInts(tensor.Int64, nil, 6))
	if err != nil || fmt.Sprint(got.I64) != "[-5 0 5 6]" {
		t.Errorf("int64 Clip = %v, %v", got, err)
	}
	big := elemRand(rand.New(rand.NewSource(7)), tensor.Float32, false, 1, 32, 112, 112)
	for i := range big.F32 {
		big.F32[i] *= 5
	}
	got, err = elemRunOp(13, 4, "Clip", nil, big, tensor.Scalar(0), tensor.Scalar(6))
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float64, len(big.F32))
	for i, v := range big.F32 {
		want[i] = math.Min(math.Max(float64(v), 0), 6)
	}
	elemCheck(t, got, big.Shape, want, 0)
	if _, err := elemRunOp(13, 1, "Clip", nil, x, tensor.FromF32([]int{2}, []float32{0, 1})); err == nil {
		t.Error("Clip with a two-element min: no error")
	}
}

func TestPRelu(t *testing.T) {
	r := rand.New(rand.NewSource(8))
	for _, sh := range [][2][]int{{{2, 3, 4, 5}, {3, 1, 1}}, {{2, 3, 4, 5}, {2, 3, 4, 5}}, {{2, 3, 4, 5}, {1}}, {{2, 6}, {6}}, {{4, 64, 40, 40}, {64, 1, 1}}} {
		x, s := elemRand(r, tensor.Float32, false, sh[0]...), elemRand(r, tensor.Float32, false, sh[1]...)
		got, err := elemRunOp(16, 4, "PRelu", nil, x, s)
		if err != nil {
			t.Fatal(err)
		}
		shape, want := elemRefBinary(x, s, func(x, y float64) float64 {
			if x < 0 {
				return float64(float32(x * y))
			}
			return x
		})
		elemCheck(t, got, shape, want, 0)
	}
	// The slope broadcasts to X, never the other way.
	_, err := elemRunOp(16, 1, "PRelu", nil, tensor.New(tensor.Float32, 3), tensor.New(tensor.Float32, 2, 3))
	if err == nil || !strings.Contains(err.Error(), "node_PRelu") {
		t.Errorf("PRelu with a larger slope: %v", err)
	}
}

func TestElemInfer(t *testing.T) {
	batch := onnx.Dim{Param: "batch"}
	typ := func(dt tensor.DType, dims ...onnx.Dim) onnx.Type {
		return onnx.Type{DType: dt, HasShape: true, Dims: dims}
	}
	d := func(v int64) onnx.Dim { return onnx.Dim{Value: v} }
	cases := []struct {
		op   string
		in   []onnx.Type
		want string
	}{
		{"Add", []onnx.Type{typ(tensor.Float32, batch, d(3), d(4)), typ(tensor.Float32, d(4))}, "float32[batch,3,4]"},
		{"Mul", []onnx.Type{typ(tensor.Float32, batch, d(1)), typ(tensor.Float32, d(1), d(5))}, "float32[batch,5]"},
		{"Sub", []onnx.Type{{DType: tensor.Float32}, typ(tensor.Float32, d(4))}, "float32?"},
		{"Div", []onnx.Type{{}, typ(tensor.Int64)}, "int64?"},
		{"Less", []onnx.Type{typ(tensor.Int64, batch), typ(tensor.Int64)}, "bool[batch]"},
		{"And", []onnx.Type{typ(tensor.Bool, d(2), d(1)), typ(tensor.Bool, d(3))}, "bool[2,3]"},
		{"Pow", []onnx.Type{typ(tensor.Float32, batch, d(8)), typ(tensor.Int64)}, "float32[batch,8]"},
		{"Max", []onnx.Type{typ(tensor.Float32, d(3), d(1)), typ(tensor.Float32, d(4)), typ(tensor.Float32, batch, d(1), d(1))}, "float32[batch,3,4]"},
		{"Where", []onnx.Type{typ(tensor.Bool, d(1), batch), typ(tensor.Int64), typ(tensor.Int64, d(3), d(1))}, "int64[3,batch]"},
		{"Sigmoid", []onnx.Type{typ(tensor.Float32, batch, d(7))}, "float32[batch,7]"},
		{"IsNaN", []onnx.Type{typ(tensor.Float32, batch)}, "bool[batch]"},
		{"Clip", []onnx.Type{typ(tensor.Float32, batch, d(2)), typ(tensor.Float32)}, "float32[batch,2]"},
		{"PRelu", []onnx.Type{typ(tensor.Float32, batch, d(3), d(5)), typ(tensor.Float32, d(3), d(1))}, "float32[batch,3,5]"},
		// Different non-numeric dims: either may be 1 at run time.
		{"Add", []onnx.Type{typ(tensor.Float32, onnx.UnknownDim, d(3)), typ(tensor.Float32, batch, d(3))}, "float32[?,3]"},
		{"Add", []onnx.Type{typ(tensor.Float32, batch, d(3)), typ(tensor.Float32, onnx.UnknownDim, d(3))}, "float32[?,3]"},
		{"Mul", []onnx.Type{typ(tensor.Float32, batch), typ(tensor.Float32, onnx.Dim{Param: "m"})}, "float32[?]"},
		{"Sub", []onnx.Type{typ(tensor.Float32, batch, d(1)), typ(tensor.Float32, batch, onnx.UnknownDim)}, "float32[batch,?]"},
		{"Div", []onnx.Type{typ(tensor.Float32, onnx.UnknownDim), typ(tensor.Float32, d(5))}, "float32[5]"},
	}
	for _, c := range cases {
		n := shapeTestNode(c.op, make([]string, len(c.in)), 1)
		for i := range n.Inputs {
			n.Inputs[i] = &onnx.Value{Name: fmt.Sprint("x", i)}
		}
		got, err := Lookup(c.op).Infer(&InferCtx{Node: n, Opset: 17, In: c.in})
		if err != nil {
			t.Errorf("%s: %v", c.op, err)
			continue
		}
		s := got[0].DType.String() + got[0].ShapeString()
		if s != c.want {
			t.Errorf("%s%v: inferred %s, want %s", c.op, c.in, s, c.want)
		}
	}
	bad := []struct {
		op string
		in []onnx.Type
	}{
		{"Add", []onnx.Type{typ(tensor.Float32, d(3)), typ(tensor.Float32, d(4))}},
		{"Add", []onnx.Type{typ(tensor.Float32, d(3)), typ(tensor.Int64, d(3))}},
		{"Add", []onnx.Type{typ(tensor.Float32, d(3))}},
		{"Where", []onnx.Type{typ(tensor.Float32), typ(tensor.Float32), typ(tensor.Float32)}},
		{"PRelu", []onnx.Type{typ(tensor.Float32, d(3)), typ(tensor.Float32, d(2), d(3))}},
		{"PRelu", []onnx.Type{typ(tensor.Float32, d(3), d(1)), typ(tensor.Float32, d(4))}},
	}
	for _, c := range bad {
		n := shapeTestNode(c.op, make([]string, len(c.in)), 1)
		for i := range n.Inputs {
			n.Inputs[i] = &onnx.Value{Name: fmt.Sprint("x", i)}
		}
		_, err := Lookup(c.op).Infer(&InferCtx{Node: n, Opset: 17, In: c.in})
		if err == nil || !strings.Contains(err.Error(), n.Name) {
			t.Errorf("%s%v: error %v, want one naming the node", c.op, c.in, err)
		}
	}
}

func TestElemRunErrors(t *testing.T) {
	f := func(shape ...int) *tensor.Dense { return tensor.New(tensor.Float32, shape...) }
	cases := []struct {
		op string
		in []*tensor.Dense
	}{
		{"Add", []*tensor.Dense{f(2, 3), f(3, 2)}},
		{"Mul", []*tensor.Dense{f(2)}},
		{"Sub", []*tensor.Dense{f(2), tensor.FromI64([]int{2}, []int64{1, 2})}},
		{"Equal", []*tensor.Dense{f(4), f(5)}},
		{"Where", []*tensor.Dense{tensor.New(tensor.Bool, 2), f(3), f(2)}},
		{"And", []*tensor.Dense{f(2), f(2)}},
		{"Relu", []*tensor.Dense{f(2), f(2)}},
		{"Add", []*tensor.Dense{f(2), nil}},
	}
	for _, c := range cases {
		n := elemTestNode(c.op, nil, c.in...)
		_, err := Lookup(c.op).Run(&RunCtx{Node: n, Opset: 17, In: c.in, Threads: 1})
		if err == nil || !strings.Contains(err.Error(), n.Name) {
			t.Errorf("%s%v: error %v, want one naming the node", c.op, c.in, err)
		}
	}
}

func TestElemSymbolic(t *testing.T) {
	b, s := shapeSym("batch"), shapeSym("seq")
	u := onnx.Dim{Param: shapeUnknown}
	d := func(v int64) onnx.Dim { return onnx.Dim{Value: v} }
	vec := func(n int) onnx.Type { return onnx.ShapeOf(tensor.Int64, n) }
	cases := []struct {
		op   string
		in   []onnx.Type
		sym  [][]onnx.Dim
		want []onnx.Dim // nil: no contents
	}{
		{"Mul", []onnx.Type{vec(2), vec(2)}, [][]onnx.Dim{{b, d(4)}, {d(1), d(2)}}, []onnx.Dim{b, d(8)}},
		{"Mul", []onnx.Type{vec(2), vec(1)}, [][]onnx.Dim{{b, s}, {d(0)}}, []onnx.Dim{d(0), d(0)}},
		{"Mul", []onnx.Type{vec(1), vec(1)}, [][]onnx.Dim{{b}, {s}}, []onnx.Dim{u}},
		{"Mul", []onnx.Type{vec(1), vec(1)}, [][]onnx.Dim{{b}, {d(2)}}, []onnx.Dim{u}},
		{"Add", []onnx.Type{vec(3), onnx.ShapeOf(tensor.Int64)}, [][]onnx.Dim{{b, d(3), u}, {d(0)}}, []onnx.Dim{b, d(3), u}},
		{"Add", []onnx.Type{vec(2), vec(2)}, [][]onnx.Dim{{d(0), d(5)}, {s, d(-1)}}, []onnx.Dim{s, d(4)}},
		{"Sub", []onnx.Type{vec(2), vec(2)}, [][]onnx.Dim{{b, s}, {b, d(0)}}, []onnx.Dim{d(0), s}},
		{"Div", []onnx.Type{vec(3), vec(3)}, [][]onnx.Dim{{b, d(-7), d(8)}, {d(1), d(2), d(0)}}, []onnx.Dim{b, d(-3), u}},
		// A named symbol is a size: never equal to a negative number
		// (torch's expand(n, -1, -1)), maybe equal to any other.
		{"Equal", []onnx.Type{vec(3), vec(1)}, [][]onnx.Dim{{b, d(-1), d(4)}, {d(-1)}}, []onnx.Dim{d(0), d(1), d(0)}},
		{"Equal", []onnx.Type{vec(3), vec(3)}, [][]onnx.Dim{{d(-1), u, b}, {s, d(-1), d(3)}}, []onnx.Dim{d(0), u, u}},
		{"Equal", []onnx.Type{vec(2), vec(2)}, [][]onnx.Dim{{b, s}, {b, b}}, []onnx.Dim{d(1), u}},
		{"Where", []onnx.Type{vec(3), vec(1), vec(3)}, [][]onnx.Dim{{d(0), d(1), d(0)}, {d(1)}, {b, d(-1), s}}, []onnx.Dim{b, d(1), s}},
		{"Where", []onnx.Type{vec(2), vec(2), vec(2)}, [][]onnx.Dim{{u, d(1)}, {d(1), d(1)}, {b, s}}, nil},
		{"Add", []onnx.Type{vec(2), vec(3)}, [][]onnx.Dim{{b, s}, {d(1), d(2), d(3)}}, nil},
		{"Add", []onnx.Type{vec(2), vec(2)}, [][]onnx.Dim{{b, s}, nil}, nil},
		{"Mul", []onnx.Type{onnx.ShapeOf(tensor.Int64, 2, 2), vec(1)}, [][]onnx.Dim{{b, s, b, s}, {d(1)}}, nil},
	}
	for _, c := range cases {
		n := shapeTestNode(c.op, make([]string, len(c.in)), 1)
		for i := range n.Inputs {
			n.Inputs[i] = &onnx.Value{Name: fmt.Sprint("x", i)}
		}
		got := Lookup(c.op).Symbolic(&InferCtx{Node: n, Opset: 17, In: c.in, Sym: c.sym})
		if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", c.want) || (got == nil) != (c.want == nil) {
			t.Errorf("%s%v: contents %v, want %v", c.op, c.sym, got, c.want)
		}
	}
	// Constants count as known contents.
	n := shapeTestNode("Mul", []string{"x", "y"}, 1)
	got := Lookup("Mul").Symbolic(&InferCtx{Node: n, Opset: 17, In: []onnx.Type{vec(2), vec(2)},
		Sym:   [][]onnx.Dim{{b, d(3)}},
		Const: []*tensor.Dense{nil, tensor.FromI64([]int{2}, []int64{1, 2})}})
	if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", []onnx.Dim{b, d(6)}) {
		t.Errorf("Mul with a constant: %v", got)
	}
}

func BenchmarkElementwise(b *testing.B) {
	r := rand.New(rand.NewSource(9))
	binary := []struct {
		name  string
		op    string
		a, c  []int
		pos   bool
		unary bool
	}{
		{"Add/same/1x64x56x56", "Add", []int{1, 64, 56, 56}, []int{1, 64, 56, 56}, false, false},
		{"Add/bias/1x64x56x56+64x1x1", "Add", []int{1, 64, 56, 56}, []int{64, 1, 1}, false, false},
		{"Add/row/128x768+768", "Add", []int{128, 768}, []int{768}, false, false},
		{"Mul/scalar/128x3072", "Mul", []int{128, 3072}, []int{}, false, false},
		{"Div/scalar/12x128x128", "Div", []int{12, 128, 128}, []int{}, false, false},
		{"Pow2/128x768", "Pow", []int{128, 768}, []int{}, false, false},
		{"Relu/1x64x112x112", "Relu", []int{1, 64, 112, 112}, nil, false, true},
		{"Sigmoid/128x3072", "Sigmoid", []int{128, 3072}, nil, false, true},
		{"Tanh/128x3072", "Tanh", []int{128, 3072}, nil, false, true},
		{"Erf/128x3072", "Erf", []int{128, 3072}, nil, false, true},
		{"Exp/128x3072", "Exp", []int{128, 3072}, nil, false, true},
	}
	for _, bc := range binary {
		in := []*tensor.Dense{elemRand(r, tensor.Float32, false, bc.a...)}
		if !bc.unary {
			c := elemRand(r, tensor.Float32, false, bc.c...)
			if bc.op == "Pow" {
				c.F32[0] = 2
			}
			in = append(in, c)
		}
		n := elemTestNode(bc.op, nil, in...)
		op := Lookup(bc.op)
		for _, threads := range []int{1, 4} {
			b.Run(fmt.Sprintf("%s/t%d", bc.name, threads), func(b *testing.B) {
				b.SetBytes(int64(4 * in[0].Len()))
				for b.Loop() {
					if _, err := op.Run(&RunCtx{Node: n, Opset: 17, In: in, Threads: threads}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
