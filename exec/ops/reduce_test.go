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

// Helpers shared by the reduce and softmax tests.

// reduceNode builds a node named "n_<op>" with nIn inputs (the second and
// later absent where in[i] is nil) and one output.
func reduceNode(op string, in []*tensor.Dense, attrs ...*onnx.Attr) *onnx.Node {
	n := &onnx.Node{Name: "n_" + op, OpType: op, Attrs: attrs, Outputs: []*onnx.Value{{Name: "y"}}}
	for i, t := range in {
		if t == nil {
			n.Inputs = append(n.Inputs, nil)
			continue
		}
		n.Inputs = append(n.Inputs, &onnx.Value{Name: fmt.Sprint("in", i)})
	}
	return n
}

func reduceAttrI(name string, v int64) *onnx.Attr {
	return &onnx.Attr{Name: name, Type: onnx.AttrInt, I: v}
}

func reduceAttrIs(name string, v ...int64) *onnx.Attr {
	return &onnx.Attr{Name: name, Type: onnx.AttrInts, Ints: v}
}

// reduceExec runs n's Infer (inputs after the first known as constants)
// and Run, and checks that Infer predicted the output's type.
func reduceExec(opset, threads int, n *onnx.Node, in ...*tensor.Dense) (*tensor.Dense, error) {
	op, err := Resolve(n, opset)
	if err != nil {
		return nil, err
	}
	ic := &InferCtx{Node: n, Opset: opset, In: make([]onnx.Type, len(in)), Const: make([]*tensor.Dense, len(in))}
	for i, t := range in {
		if t != nil {
			ic.In[i] = onnx.ShapeOf(t.DType, t.Shape...)
			if i > 0 {
				ic.Const[i] = t
			}
		}
	}
	types, err := op.Infer(ic)
	if err != nil {
		return nil, fmt.Errorf("infer: %w", err)
	}
	out, err := op.Run(&RunCtx{Node: n, Opset: opset, In: in, Threads: threads})
	if err != nil {
		return nil, err
	}
	if len(types) != 1 || len(out) != 1 || !typeMatches(types[0], out[0]) {
		return nil, fmt.Errorf("inferred %v, kernel produced %v", types, out)
	}
	return out[0], nil
}

// reduceRand returns a tensor of dtype dt with elements uniform in [lo, hi)
// (rounded for integer dtypes).
func reduceRand(r *rand.Rand, dt tensor.DType, lo, hi float64, shape ...int) *tensor.Dense {
	t := tensor.New(dt, shape...)
	for i := range t.Len() {
		v := lo + (hi-lo)*r.Float64()
		switch {
		case t.F32 != nil:
			t.F32[i] = float32(v)
		case t.F64 != nil:
			t.F64[i] = v
		default:
			t.I64[i] = int64(math.Floor(v))
		}
	}
	return t
}

// reduceClose compares got with a float64 reference: within rtol, or atol
// near zero; NaNs and infinities must match exactly.
func reduceClose(got *tensor.Dense, want []float64, rtol, atol float64) error {
	g := got.Float64s()
	if len(g) != len(want) {
		return fmt.Errorf("%d elements, want %d", len(g), len(want))
	}
	for i, w := range want {
		switch {
		case math.IsNaN(w) || math.IsInf(w, 0):
			if !(math.IsNaN(w) && math.IsNaN(g[i])) && g[i] != w {
				return fmt.Errorf("element %d: got %g, want %g", i, g[i], w)
			}
		case !(math.Abs(g[i]-w) <= atol+rtol*math.Abs(w)):
			return fmt.Errorf("element %d: got %g, want %g", i, g[i], w)
		}
	}
	return nil
}

// ---------------------------------------------------------------------------
// Reference

var reduceOpNames = []string{"ReduceSum", "ReduceMean", "ReduceSumSquare", "ReduceL1", "ReduceL2",
	"ReduceLogSum", "ReduceLogSumExp", "ReduceProd", "ReduceMax", "ReduceMin"}

// reduceRef reduces x (of shape) over the masked axes the obvious way:
// every input element is mapped to its output element by index arithmetic.
func reduceRef(op string, x []float64, shape []int, mask []bool) []float64 {
	var outShape []int
	for i, d := range shape {
		if !mask[i] {
			outShape = append(outShape, d)
		}
	}
	outLen := shapeProd(outShape)
	groups := make([][]float64, outLen)
	idx := make([]int, len(shape))
	for _, v := range x {
		o := 0
		for i, d := range shape {
			if !mask[i] {
				o = o*d + idx[i]
			}
		}
		groups[o] = append(groups[o], v)
		for i := len(shape) - 1; i >= 0; i-- {
			if idx[i]++; idx[i] < shape[i] {
				break
			}
			idx[i] = 0
		}
	}
	out := make([]float64, outLen)
	for o, g := range groups {
		var acc float64
		switch op {
		case "ReduceProd":
			acc = 1
			for _, v := range g {
				acc *= v
			}
		case "ReduceMax", "ReduceMin", "ReduceLogSumExp":
			acc = math.Inf(-1)
			if op == "ReduceMin" {
				acc = math.Inf(1)
			}
			for _, v := range g {
				if op == "ReduceMin" {
					acc = math.Min(acc, v)
				} else {
					acc = math.Max(acc, v)
				}
			}
			if op == "ReduceLogSumExp" && !math.IsInf(acc, 0) {
				s := 0.0
				for _, v := range g {
					s += math.Exp(v - acc)
				}
				acc += math.Log(s)
			}
		default:
			for _, v := range g {
				switch op {
				case "ReduceSumSquare", "ReduceL2":
					acc += v * v
				case "ReduceL1":
					acc += math.Abs(v)
				default:
					acc += v
				}
			}
			switch op {
			case "ReduceMean":
				acc /= float64(len(g))
			case "ReduceL2":
				acc = math.Sqrt(acc)
			case "ReduceLogSum":
				acc = math.Log(acc)
			}
		}
		out[o] = acc
	}
	return out
}

// reduceAxesSince is the opset from which op takes axes as an input.
func reduceAxesSince(op string) int {
	if op == "ReduceSum" {
		return 13
	}
	return 18
}

// reduceCase builds the node and inputs of op over axes at opset, with
// axes as an attribute or an input as the opset wants.
func reduceCase(op string, opset int, x *tensor.Dense, axes []int64, keep int64, extra ...*onnx.Attr) (*onnx.Node, []*tensor.Dense) {
	attrs := append([]*onnx.Attr{reduceAttrI("keepdims", keep)}, extra...)
	in := []*tensor.Dense{x}
	if opset < reduceAxesSince(op) {
		if axes != nil {
			attrs = append(attrs, reduceAttrIs("axes", axes...))
		}
	} else if axes != nil {
		in = append(in, tensor.FromI64([]int{len(axes)}, axes))
	}
	return reduceNode(op, in, attrs...), in
}

// ---------------------------------------------------------------------------
// Tests

// TestReduceAgainstReference checks every Reduce* op on random shapes and
// axes subsets (negative or not, none meaning all), keepdims 0 and 1, axes
// as attribute (opsets 11, 13) or input (13 for ReduceSum, 18), and
// float32, float64 and int64 inputs.
func TestReduceAgainstReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := range 60 {
		rank := trial % 5
		shape := make([]int, rank)
		for i := range shape {
			shape[i] = []int{1, 2, 3, 4, 7}[r.IntN(5)]
		}
		var axes []int64
		mask := make([]bool, rank)
		for i := range rank {
			if r.IntN(2) == 0 {
				mask[i] = true
				a := int64(i)
				if r.IntN(2) == 0 {
					a -= int64(rank)
				}
				axes = append(axes, a)
			}
		}
		if len(axes) == 0 {
			for i := range mask {
				mask[i] = true
			}
		}
		r.Shuffle(len(axes), func(i, j int) { axes[i], axes[j] = axes[j], axes[i] })
		keep := int64(trial % 2)
		for _, op := range reduceOpNames {
			for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64, tensor.Int64} {
				lo, hi := -2.0, 2.0
				switch {
				case dt == tensor.Int64 && (op == "ReduceL2" || op == "ReduceLogSum" || op == "ReduceLogSumExp"):
					continue
				case dt == tensor.Int64 && op == "ReduceMean":
					lo, hi = 0, 50 // truncating division agrees with the reference only when exact
				case dt == tensor.Int64 && op == "ReduceProd":
					lo, hi = -1, 2 // no overflow
				case dt == tensor.Int64:
					lo, hi = -5, 6
				case op == "ReduceProd" || op == "ReduceLogSum":
					lo, hi = 0.5, 1.5
				}
				x := reduceRand(r, dt, lo, hi, shape...)
				want := reduceRef(op, x.Float64s(), shape, mask)
				if dt == tensor.Int64 && op == "ReduceMean" {
					for i, w := range want {
						want[i] = math.Trunc(w)
					}
				}
				var wantShape []int
				for i, d := range shape {
					if !mask[i] {
						wantShape = append(wantShape, d)
					} else if keep == 1 {
						wantShape = append(wantShape, 1)
					}
				}
				for _, opset := range []int{11, 13, 18} {
					name := fmt.Sprintf("%s/%s%v/axes%v/keep%d/opset%d", op, dt, shape, axes, keep, opset)
					n, in := reduceCase(op, opset, x, axes, keep)
					got, err := reduceExec(opset, 1, n, in...)
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					if got.DType != dt || !tensor.SameShape(got.Shape, wantShape) {
						t.Fatalf("%s: got %s%v, want %s%v", name, got.DType, got.Shape, dt, wantShape)
					}
					if err := reduceClose(got, want, 1e-6, 1e-6); err != nil {
						t.Fatalf("%s: %v", name, err)
					}
				}
			}
		}
	}
}

// TestReduceLarge covers the parallel paths (long rows, many rows, the
// leading axis with few outputs, everything into one value) on tensors
// above the parallel grain, serially and in parallel.
func TestReduceLarge(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	cases := []struct {
		shape []int
		axes  []int64
	}{
		{[]int{2, 128, 768}, []int64{-1}},     // LayerNorm's mean
		{[]int{4, 64, 28, 28}, []int64{2, 3}}, // global average pool
		{[]int{8, 300, 100}, []int64{1}},      // a middle axis
		{[]int{3000, 70}, []int64{0}},         // few outputs: rows split by columns
		{[]int{3, 300, 400}, nil},             // one contiguous run, split
		{[]int{6, 50, 7, 90}, []int64{0, 2}},  // alternating axes
	}
	for _, c := range cases {
		x := reduceRand(r, tensor.Float32, -1, 1, c.shape...)
		mask := make([]bool, len(c.shape))
		for i := range mask {
			mask[i] = c.axes == nil
		}
		for _, a := range c.axes {
			mask[(int(a)+len(c.shape))%len(c.shape)] = true
		}
		for _, op := range []string{"ReduceMean", "ReduceMax", "ReduceLogSumExp", "ReduceL2"} {
			name := fmt.Sprintf("%s%v/axes%v", op, c.shape, c.axes)
			want := reduceRef(op, x.Float64s(), c.shape, mask)
			for _, threads := range []int{1, 4} {
				n, in := reduceCase(op, 13, x, c.axes, 0)
				got, err := reduceExec(13, threads, n, in...)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if err := reduceClose(got, want, 1e-6, 1e-6); err != nil {
					t.Fatalf("%s threads %d: %v", name, threads, err)
				}
			}
		}
	}
}

// TestReduceEmptyAndNoop covers reductions over zero-size axes, outputs
// with a zero-size kept axis, and noop_with_empty_axes.
func TestReduceEmptyAndNoop(t *testing.T) {
	x := tensor.New(tensor.Float32, 2, 0, 3)
	for op, want := range map[string]float64{
		"ReduceSum": 0, "ReduceMean": math.NaN(), "ReduceProd": 1, "ReduceMax": math.Inf(-1),
		"ReduceMin": math.Inf(1), "ReduceL2": 0, "ReduceLogSum": math.Inf(-1), "ReduceLogSumExp": math.Inf(-1),
	} {
		n, in := reduceCase(op, 18, x, []int64{1}, 1)
		got, err := reduceExec(18, 2, n, in...)
		if err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		if !tensor.SameShape(got.Shape, []int{2, 1, 3}) {
			t.Fatalf("%s: shape %v", op, got.Shape)
		}
		if err := reduceClose(got, []float64{want, want, want, want, want, want}, 0, 0); err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		// A zero-size kept axis leaves nothing to compute.
		n, in = reduceCase(op, 18, x, []int64{2}, 0)
		if got, err := reduceExec(18, 2, n, in...); err != nil || !tensor.SameShape(got.Shape, []int{2, 0}) {
			t.Fatalf("%s over kept empty axis: %v %v", op, got, err)
		}
	}

	y := tensor.FromF32([]int{2, 2}, []float32{-1, 2, -3, 4})
	empty := tensor.FromI64([]int{0}, nil)
	cases := []struct {
		op    string
		opset int
		in    []*tensor.Dense
		noop  int64
		shape []int
		want  []float64
	}{
		{"ReduceSum", 13, []*tensor.Dense{y, empty}, 1, []int{2, 2}, []float64{-1, 2, -3, 4}},
		{"ReduceSum", 13, []*tensor.Dense{y, nil}, 1, []int{2, 2}, []float64{-1, 2, -3, 4}},
		{"ReduceSum", 13, []*tensor.Dense{y, empty}, 0, []int{1, 1}, []float64{2}},
		{"ReduceSum", 13, []*tensor.Dense{y}, 0, []int{1, 1}, []float64{2}},
		// Reducing over no axes still applies the element-wise part.
		{"ReduceSumSquare", 18, []*tensor.Dense{y, empty}, 1, []int{2, 2}, []float64{1, 4, 9, 16}},
		{"ReduceL1", 18, []*tensor.Dense{y}, 1, []int{2, 2}, []float64{1, 2, 3, 4}},
		{"ReduceMax", 18, []*tensor.Dense{y}, 1, []int{2, 2}, []float64{-1, 2, -3, 4}},
		// Before the axes input there is no noop: empty axes reduce all.
		{"ReduceMean", 17, []*tensor.Dense{y}, 1, []int{1, 1}, []float64{0.5}},
	}
	for _, c := range cases {
		n := reduceNode(c.op, c.in, reduceAttrI("noop_with_empty_axes", c.noop))
		got, err := reduceExec(c.opset, 1, n, c.in...)
		if err != nil {
			t.Fatalf("%s noop %d: %v", c.op, c.noop, err)
		}
		if !tensor.SameShape(got.Shape, c.shape) {
			t.Fatalf("%s noop %d: shape %v, want %v", c.op, c.noop, got.Shape, c.shape)
		}
		if err := reduceClose(got, c.want, 0, 0); err != nil {
			t.Fatalf("%s noop %d: %v", c.op, c.noop, err)
		}
	}
}

// TestReduceSpecialValues checks NaN propagation and infinities.
func TestReduceSpecialValues(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	x := tensor.FromF32([]int{3, 3}, []float32{1, nan, 2, -inf, -inf, -inf, 1, inf, 3})
	cases := map[string][]float64{
		"ReduceMax":       {math.NaN(), math.Inf(-1), math.Inf(1)},
		"ReduceMin":       {math.NaN(), math.Inf(-1), 1},
		"ReduceLogSumExp": {math.NaN(), math.Inf(-1), math.Inf(1)},
		"ReduceSum":       {math.NaN(), math.Inf(-1), math.Inf(1)},
	}
	for op, want := range cases {
		n, in := reduceCase(op, 13, x, []int64{1}, 0)
		got, err := reduceExec(13, 1, n, in...)
		if err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		if err := reduceClose(got, want, 0, 0); err != nil {
			t.Fatalf("%s: %v", op, err)
		}
	}
}

// TestReduceInt64 checks exact integer arithmetic beyond float64's 2^53,
// truncating means, and dtypes kept for other integer types.
func TestReduceInt64(t *testing.T) {
	big := int64(1)<<60 + 1
	x := tensor.FromI64([]int{2, 2}, []int64{big, 1, -7, 2})
	cases := []struct {
		op   string
		want []int64
	}{
		{"ReduceSum", []int64{big + 1, -5}},
		{"ReduceMax", []int64{big, 2}},
		{"ReduceMin", []int64{1, -7}},
		{"ReduceProd", []int64{big, -14}},
		{"ReduceMean", []int64{(big + 1) / 2, -2}},
	}
	for _, c := range cases {
		n, in := reduceCase(c.op, 13, x, []int64{1}, 0)
		got, err := reduceExec(13, 1, n, in...)
		if err != nil {
			t.Fatalf("%s: %v", c.op, err)
		}
		for i, w := range c.want {
			if got.I64[i] != w {
				t.Fatalf("%s: got %v, want %v", c.op, got.I64, c.want)
			}
		}
	}
	i32 := &tensor.Dense{DType: tensor.Int32, Shape: []int{3}, I64: []int64{4, -9, 2}}
	n, in := reduceCase("ReduceMin", 13, i32, nil, 0)
	got, err := reduceExec(13, 1, n, in...)
	if err != nil || got.DType != tensor.Int32 || got.I64[0] != -9 {
		t.Fatalf("int32 ReduceMin: %v %v", got, err)
	}
	for _, op := range []string{"ReduceL2", "ReduceLogSum", "ReduceLogSumExp"} {
		n, in := reduceCase(op, 13, x, nil, 0)
		if _, err := reduceExec(13, 1, n, in...); !errors.Is(err, ErrUnsupported) {
			t.Fatalf("%s on int64: got %v, want ErrUnsupported", op, err)
		}
	}
}

// TestReduceInfer checks inference on symbolic and unknown shapes and on
// axes whose contents are unknown.
func TestReduceInfer(t *testing.T) {
	sym := func(p string) onnx.Dim { return onnx.Dim{Param: p} }
	dim := func(v int64) onnx.Dim { return onnx.Dim{Value: v} }
	x := onnx.Type{DType: tensor.Float32, HasShape: true, Dims: []onnx.Dim{sym("batch"), sym("seq"), dim(768)}}
	unknownShape := onnx.Type{DType: tensor.Float32}
	axesVec := onnx.ShapeOf(tensor.Int64, 1)
	axesLast := tensor.FromI64([]int{1}, []int64{-1})
	cases := []struct {
		name  string
		op    string
		opset int
		attrs []*onnx.Attr
		in    []onnx.Type
		konst *tensor.Dense // axes input contents
		sym   []onnx.Dim    // axes input as symbolic contents
		want  string
	}{
		{"attr keepdims", "ReduceMean", 13, []*onnx.Attr{reduceAttrIs("axes", -1)}, []onnx.Type{x}, nil, nil, "float32[batch,seq,1]"},
		{"attr no keepdims", "ReduceMean", 11, []*onnx.Attr{reduceAttrIs("axes", 2), reduceAttrI("keepdims", 0)}, []onnx.Type{x}, nil, nil, "float32[batch,seq]"},
		{"reduce batch", "ReduceMax", 11, []*onnx.Attr{reduceAttrIs("axes", 0)}, []onnx.Type{x}, nil, nil, "float32[1,seq,768]"},
		{"all axes", "ReduceSum", 11, nil, []onnx.Type{x}, nil, nil, "float32[1,1,1]"},
		{"all axes no keepdims", "ReduceL2", 11, []*onnx.Attr{reduceAttrI("keepdims", 0)}, []onnx.Type{x}, nil, nil, "float32[]"},
		{"const axes input", "ReduceMean", 18, nil, []onnx.Type{x, axesVec}, axesLast, nil, "float32[batch,seq,1]"},
		{"sym axes input", "ReduceSum", 13, []*onnx.Attr{reduceAttrI("keepdims", 0)}, []onnx.Type{x, axesVec}, nil, []onnx.Dim{dim(1)}, "float32[batch,768]"},
		{"unknown axes keepdims", "ReduceSum", 13, nil, []onnx.Type{x, axesVec}, nil, nil, "float32[?,?,?]"},
		{"unknown axes no keepdims", "ReduceSum", 13, []*onnx.Attr{reduceAttrI("keepdims", 0)}, []onnx.Type{x, axesVec}, nil, nil, "float32[?,?]"},
		{"unknown axes of unknown length", "ReduceSum", 13, []*onnx.Attr{reduceAttrI("keepdims", 0)}, []onnx.Type{x, {DType: tensor.Int64}}, nil, nil, "float32?"},
		{"empty axes noop", "ReduceSum", 13, []*onnx.Attr{reduceAttrI("noop_with_empty_axes", 1)}, []onnx.Type{x, onnx.ShapeOf(tensor.Int64, 0)}, nil, nil, "float32[batch,seq,768]"},
		{"unknown rank", "ReduceMean", 13, []*onnx.Attr{reduceAttrIs("axes", 1)}, []onnx.Type{unknownShape}, nil, nil, "float32?"},
		{"unknown rank reduce all", "ReduceMean", 13, []*onnx.Attr{reduceAttrI("keepdims", 0)}, []onnx.Type{unknownShape}, nil, nil, "float32[]"},
		{"argmax", "ArgMax", 13, []*onnx.Attr{reduceAttrI("axis", -1)}, []onnx.Type{x}, nil, nil, "int64[batch,seq,1]"},
		{"argmin no keepdims", "ArgMin", 13, []*onnx.Attr{reduceAttrI("axis", 1), reduceAttrI("keepdims", 0)}, []onnx.Type{x}, nil, nil, "int64[batch,768]"},
		{"argmax unknown rank", "ArgMax", 13, nil, []onnx.Type{unknownShape}, nil, nil, "int64?"},
	}
	for _, c := range cases {
		n := &onnx.Node{Name: "n", OpType: c.op, Attrs: c.attrs}
		for i := range c.in {
			n.Inputs = append(n.Inputs, &onnx.Value{Name: fmt.Sprint("in", i)})
		}
		ic := &InferCtx{Node: n, Opset: c.opset, In: c.in, Const: make([]*tensor.Dense, len(c.in)), Sym: make([][]onnx.Dim, len(c.in))}
		if len(c.in) > 1 {
			ic.Const[1], ic.Sym[1] = c.konst, c.sym
		}
		op, err := Resolve(n, c.opset)
		if err != nil {
			t.Fatal(err)
		}
		got, err := op.Infer(ic)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if s := got[0].String(); s != c.want {
			t.Fatalf("%s: got %s, want %s", c.name, s, c.want)
		}
	}
}

// TestReduceErrors checks that bad axes fail, naming the node, in both
// inference and execution.
func TestReduceErrors(t *testing.T) {
	x := tensor.New(tensor.Float32, 2, 3)
	cases := []struct {
		name  string
		op    string
		opset int
		in    []*tensor.Dense
		attrs []*onnx.Attr
	}{
		{"axis too large", "ReduceMean", 13, []*tensor.Dense{x}, []*onnx.Attr{reduceAttrIs("axes", 2)}},
		{"axis too negative", "ReduceMax", 11, []*tensor.Dense{x}, []*onnx.Attr{reduceAttrIs("axes", -3)}},
		{"repeated axis", "ReduceProd", 13, []*tensor.Dense{x}, []*onnx.Attr{reduceAttrIs("axes", 1, -1)}},
		{"axes input out of range", "ReduceSum", 13, []*tensor.Dense{x, tensor.FromI64([]int{1}, []int64{5})}, nil},
		{"argmax axis", "ArgMax", 13, []*tensor.Dense{x}, []*onnx.Attr{reduceAttrI("axis", 2)}},
		{"argmin axis", "ArgMin", 13, []*tensor.Dense{x}, []*onnx.Attr{reduceAttrI("axis", -3)}},
	}
	for _, c := range cases {
		n := reduceNode(c.op, c.in, c.attrs...)
		op, err := Resolve(n, c.opset)
		if err != nil {
			t.Fatal(err)
		}
		ic := &InferCtx{Node: n, Opset: c.opset, In: make([]onnx.Type, len(c.in)), Const: c.in}
		for i, d := range c.in {
			ic.In[i] = onnx.ShapeOf(d.DType, d.Shape...)
		}
		if _, err := op.Infer(ic); err == nil || !strings.Contains(err.Error(), n.Name) {
			t.Errorf("%s: Infer gave %v, want an error naming %q", c.name, err, n.Name)
		}
		if _, err := op.Run(&RunCtx{Node: n, Opset: c.opset, In: c.in, Threads: 1}); err == nil || !strings.Contains(err.Error(), n.Name) {
			t.Errorf("%s: Run gave %v, want an error naming %q", c.name, err, n.Name)
		}
	}
	// ArgMax over an empty axis has no answer.
	n := reduceNode("ArgMax", []*tensor.Dense{x}, reduceAttrI("axis", 0))
	if _, err := Lookup("ArgMax").Run(&RunCtx{Node: n, Opset: 13, In: []*tensor.Dense{tensor.New(tensor.Float32, 0, 3)}, Threads: 1}); err == nil {
		t.Error("ArgMax over an empty axis: no error")
	}
	// Missing input.
	n = reduceNode("ReduceSum", nil)
	if _, err := Lookup("ReduceSum").Run(&RunCtx{Node: n, Opset: 13, Threads: 1}); err == nil {
		t.Error("ReduceSum without input: no error")
	}
}

// argRef returns, for x viewed as [outer, dim, inner], the first (or last)
// index of the extreme value along dim, NaN counting as the extreme.
func argRef(x []float64, outer, dim, inner int, isMin, last bool) []int64 {
	out := make([]int64, outer*inner)
	for o := range outer {
		for i := range inner {
			best := -1
			for j := range dim {
				v := x[(o*dim+j)*inner+i]
				if best < 0 {
					best = j
					continue
				}
				b := x[(o*dim+best)*inner+i]
				var better bool
				switch {
				case math.IsNaN(b):
					better = last && math.IsNaN(v)
				case math.IsNaN(v):
					better = true
				case isMin:
					better = v < b || (last && v == b)
				default:
					better = v > b || (last && v == b)
				}
				if better {
					best = j
				}
			}
			out[o*inner+i] = int64(best)
		}
	}
	return out
}

// TestArgAgainstReference checks ArgMax and ArgMin on random shapes with
// many ties, every axis in both signs, keepdims and select_last_index,
// for float32, float64 and int64, with NaNs among the floats.
func TestArgAgainstReference(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for trial := range 40 {
		rank := 1 + trial%4
		shape := make([]int, rank)
		for i := range shape {
			shape[i] = 1 + r.IntN(5)
		}
		if trial == 39 {
			shape, rank = []int{4, 200, 300}, 3 // large: parallel
		}
		for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64, tensor.Int64} {
			x := reduceRand(r, dt, -3, 3, shape...)
			if dt != tensor.Int64 {
				for i, v := range x.Float64s() {
					v = math.Floor(v) // ties
					if r.IntN(20) == 0 {
						v = math.NaN()
					}
					if x.F32 != nil {
						x.F32[i] = float32(v)
					} else {
						x.F64[i] = v
					}
				}
			}
			xf := x.Float64s()
			for ax := range rank {
				outer, dim, inner := shapeProd(shape[:ax]), shape[ax], shapeProd(shape[ax+1:])
				for _, op := range []string{"ArgMax", "ArgMin"} {
					for _, last := range []int64{0, 1} {
						want := argRef(xf, outer, dim, inner, op == "ArgMin", last == 1)
						axis := int64(ax)
						if trial%2 == 1 {
							axis -= int64(rank)
						}
						keep := int64(r.IntN(2))
						n := reduceNode(op, []*tensor.Dense{x}, reduceAttrI("axis", axis), reduceAttrI("keepdims", keep), reduceAttrI("select_last_index", last))
						got, err := reduceExec(13, 3, n, x)
						name := fmt.Sprintf("%s %s%v axis %d last %d", op, dt, shape, axis, last)
						if err != nil {
							t.Fatalf("%s: %v", name, err)
						}
						wantRank := rank - 1
						if keep == 1 {
							wantRank = rank
						}
						if got.DType != tensor.Int64 || got.Rank() != wantRank {
							t.Fatalf("%s: got %s%v", name, got.DType, got.Shape)
						}
						for i := range want {
							if got.I64[i] != want[i] {
								t.Fatalf("%s: element %d got %d, want %d", name, i, got.I64[i], want[i])
							}
						}
					}
				}
			}
		}
	}
}

// ---------------------------------------------------------------------------
// Benchmarks

func BenchmarkReduce(b *testing.B) {
	r := rand.New(rand.NewPCG(7, 8))
	cases := []struct {
		name  string
		op    string
		shape []int
		axes  []int64
	}{
		{"MeanLastAxis_1x128x768", "ReduceMean", []int{1, 128, 768}, []int64{-1}},
		{"MeanSpatial_8x64x56x56", "ReduceMean", []int{8, 64, 56, 56}, []int64{2, 3}},
		{"MeanSpatial_1x1280x7x7", "ReduceMean", []int{1, 1280, 7, 7}, []int64{2, 3}},
		{"SumAxis1_8x512x196", "ReduceSum", []int{8, 512, 196}, []int64{1}},
		{"MaxLastAxis_1x12x128x128", "ReduceMax", []int{1, 12, 128, 128}, []int64{-1}},
	}
	for _, c := range cases {
		x := reduceRand(r, tensor.Float32, -1, 1, c.shape...)
		n, in := reduceCase(c.op, 13, x, c.axes, 1)
		op := Lookup(c.op)
		for _, threads := range []int{1, 4} {
			b.Run(fmt.Sprintf("%s/threads%d", c.name, threads), func(b *testing.B) {
				b.SetBytes(int64(4 * x.Len()))
				for b.Loop() {
					if _, err := op.Run(&RunCtx{Node: n, Opset: 13, In: in, Threads: threads}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
