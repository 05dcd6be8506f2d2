package exec

import (
	"bytes"
	"errors"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// qdqSpec describes a one-layer QDQ model: x → QuantizeLinear →
// DequantizeLinear → op(·, DequantizeLinear(w), bias) → [Relu] →
// QuantizeLinear (output "yq") → DequantizeLinear (output "y").
type qdqSpec struct {
	op         string // Conv, Gemm or MatMul
	relu       bool
	yzp        int64   // the output's zero point
	perChannel bool    // the weight's scales
	bias       string  // "", "int" (DequantizeLinear of int32) or "float"
	biasScale  float64 // multiplies the int32 bias's scale (0: 1)
	transA     bool
	transB     bool
	alpha      float32 // Gemm's (0: absent)
	int8       bool    // int8 activations instead of uint8
	leak       bool    // the product's output is a graph output too
}

// qdqYScale is the output's scale in qdqModel: about 17 units of the
// int32 sums (x_scale·w_scale), so that a bias off by one unit, or a
// requantization off by a rounding, changes many outputs.
const qdqYScale = 0.002

// qdqModel builds spec's model and a float input for it: small weights
// (-3…3) and a fine output scale, so that the outputs span the uint8
// range without saturating much.
func qdqModel(t *testing.T, spec qdqSpec) (*onnx.Model, *tensor.Dense) {
	t.Helper()
	r := rand.New(rand.NewSource(7))
	g := onnx.NewGraph("qdq")
	act, xz, yz := tensor.Uint8, int64(128), spec.yzp
	if spec.int8 {
		act, xz, yz = tensor.Int8, 0, spec.yzp-128
	}
	scalar := func(dt tensor.DType, v float64) *tensor.Dense {
		d := tensor.New(dt)
		if dt == tensor.Float32 {
			d.F32[0] = float32(v)
		} else {
			d.I64[0] = int64(v)
		}
		return d
	}
	var xShape, wShape []int
	var attrs []*onnx.Attr
	cout := 6
	switch spec.op {
	case "Conv":
		xShape, wShape = []int{2, 8, 20, 20}, []int{cout, 8, 3, 3}
		attrs = []*onnx.Attr{onnx.IntsAttr("pads", 1, 1, 1, 1)}
	case "Gemm":
		xShape, wShape = []int{64, 72}, []int{72, cout}
		if spec.transA {
			xShape = []int{72, 64}
			attrs = append(attrs, onnx.IntAttr("transA", 1))
		}
		if spec.transB {
			wShape = []int{cout, 72}
			attrs = append(attrs, onnx.IntAttr("transB", 1))
		}
		if spec.alpha != 0 {
			attrs = append(attrs, onnx.FloatAttr("alpha", spec.alpha))
		}
	case "MatMul":
		xShape, wShape = []int{2, 32, 72}, []int{72, cout}
	}
	x := tensor.New(tensor.Float32, xShape...)
	for i := range x.F32 {
		x.F32[i] = float32(r.NormFloat64() * 1.5)
	}
	in, _ := g.AddInput("x", onnx.ShapeOf(tensor.Float32, xShape...))
	xs := g.AddConst("xs", scalar(tensor.Float32, 6.0/255))
	xzv := g.AddConst("xz", scalar(act, float64(xz)))
	xq := g.AddNode("QuantizeLinear", "", "qx", []*onnx.Value{in, xs, xzv}, []string{"xq"}).Outputs[0]
	xd := g.AddNode("DequantizeLinear", "", "dqx", []*onnx.Value{xq, xs, xzv}, []string{"xd"}).Outputs[0]

	w := tensor.New(tensor.Int8, wShape...)
	for i := range w.I64 {
		w.I64[i] = int64(r.Intn(7) - 3)
	}
	axis := 0
	if spec.op == "MatMul" || spec.op == "Gemm" && !spec.transB {
		axis = 1
	}
	ws := tensor.New(tensor.Float32, cout)
	wz := tensor.New(tensor.Int8, cout)
	for i := range ws.F32 {
		ws.F32[i] = float32(0.004 + 0.002*r.Float64())
	}
	if !spec.perChannel {
		ws, wz = scalar(tensor.Float32, 0.00493), scalar(tensor.Int8, 0)
	}
	wdqAttrs := []*onnx.Attr{}
	if spec.perChannel {
		wdqAttrs = append(wdqAttrs, onnx.IntAttr("axis", int64(axis)))
	}
	wd := g.AddNode("DequantizeLinear", "", "dqw", []*onnx.Value{g.AddConst("w", w), g.AddConst("ws", ws), g.AddConst("wz", wz)}, []string{"wd"}, wdqAttrs...).Outputs[0]
	ins := []*onnx.Value{xd, wd}
	bf := tensor.New(tensor.Float32, cout)
	for i := range bf.F32 {
		bf.F32[i] = float32(r.NormFloat64() * 0.05)
	}
	switch spec.bias {
	case "float":
		ins = append(ins, g.AddConst("b", bf))
	case "int":
		bi, bs := tensor.New(tensor.Int32, cout), tensor.New(tensor.Float32, cout)
		for i := range bi.I64 {
			s := float32(6.0/255) * ws.F32[i%ws.Len()]
			bi.I64[i] = int64(math.RoundToEven(float64(bf.F32[i] / s)))
			bs.F32[i] = s
			if spec.biasScale != 0 {
				bs.F32[i] = float32(float64(s) * spec.biasScale)
			}
		}
		bdqAttrs := []*onnx.Attr{onnx.IntAttr("axis", 0)}
		if !spec.perChannel {
			bs, bdqAttrs = scalar(tensor.Float32, float64(bs.F32[0])), nil
		}
		ins = append(ins, g.AddNode("DequantizeLinear", "", "dqb", []*onnx.Value{g.AddConst("bq", bi), g.AddConst("bs", bs)}, []string{"bd"}, bdqAttrs...).Outputs[0])
	}
	prod := g.AddNode(spec.op, "", "prod", ins, []string{"p"}, attrs...).Outputs[0]
	pre := prod
	if spec.relu {
		pre = g.AddNode("Relu", "", "relu", []*onnx.Value{prod}, []string{"r"}).Outputs[0]
	}
	ys, yzv := g.AddConst("ys", scalar(tensor.Float32, qdqYScale)), g.AddConst("yz", scalar(act, float64(yz)))
	yq := g.AddNode("QuantizeLinear", "", "qy", []*onnx.Value{pre, ys, yzv}, []string{"yq"}).Outputs[0]
	y := g.AddNode("DequantizeLinear", "", "dqy", []*onnx.Value{yq, ys, yzv}, []string{"y"}).Outputs[0]
	g.Outputs = []*onnx.Value{y}
	if spec.leak {
		g.Outputs = append(g.Outputs, prod)
	}
	m := onnx.NewModel(g, 13)
	if err := InferShapes(m); err != nil {
		t.Fatal(err)
	}
	return m, x
}

// qdqFusedOps counts the integer ops a profiled run of p computed for
// fused QDQ chains.
func qdqFusedOps(t *testing.T, p *Program, in map[string]*tensor.Dense, opts RunOptions) (int, map[string]*tensor.Dense) {
	t.Helper()
	var pr Profile
	opts.Profile = &pr
	res, err := p.Run(in, opts)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, o := range pr.Ops() {
		switch o.Op {
		case "QLinearConv", "QLinearMatMul", "QGemm":
			n += o.Nodes
		}
	}
	return n, res
}

// qdqSteps returns the largest difference between two quantized tensors
// in steps (integers).
func qdqSteps(t *testing.T, a, b *tensor.Dense) int64 {
	t.Helper()
	if a == nil || b == nil || a.DType != b.DType || !tensor.SameShape(a.Shape, b.Shape) {
		t.Fatalf("quantized outputs %v and %v differ in type", a, b)
	}
	var worst int64
	for i := range a.I64 {
		worst = max(worst, a.I64[i]-b.I64[i], b.I64[i]-a.I64[i])
	}
	return worst
}

// TestQDQFuseLayers checks, on one-layer QDQ models, which chains fuse
// (ONNX Runtime's x86 rules, qdq_fuse.go), that a fused chain's output
// equals ONNX Runtime's bit for bit (both are integers dequantized by
// the same float32 product), and that it lies within one quantization
// step of graft's unfused float chain: the two round different sums, so
// values near a rounding boundary may land one step apart, never more.
// Chains that stay unfused are held to the same one step against ONNX
// Runtime, whose float Conv sums in another order.
func TestQDQFuseLayers(t *testing.T) {
	cases := []struct {
		name string
		spec qdqSpec
		fuse bool
	}{
		{"conv/int bias/relu", qdqSpec{op: "Conv", bias: "int", relu: true}, true},
		{"conv/int bias per channel", qdqSpec{op: "Conv", bias: "int", perChannel: true, yzp: 100}, true},
		{"conv/float bias per channel", qdqSpec{op: "Conv", bias: "float", perChannel: true, yzp: 128}, true},
		{"conv/float bias/relu", qdqSpec{op: "Conv", bias: "float", relu: true}, true},
		{"conv/no bias", qdqSpec{op: "Conv", yzp: 128}, true},
		{"gemm/int bias/transB", qdqSpec{op: "Gemm", bias: "int", transB: true, yzp: 128}, true},
		{"gemm/float bias per channel", qdqSpec{op: "Gemm", bias: "float", perChannel: true, yzp: 128}, true},
		{"gemm/transA/transB/relu", qdqSpec{op: "Gemm", bias: "float", transA: true, transB: true, perChannel: true, relu: true}, true},
		{"matmul", qdqSpec{op: "MatMul", yzp: 128}, true},
		{"conv/relu above zero point", qdqSpec{op: "Conv", bias: "int", relu: true, yzp: 20}, false},
		{"conv/int8 activations", qdqSpec{op: "Conv", bias: "int", int8: true, yzp: 128}, false},
		{"conv/output read twice", qdqSpec{op: "Conv", bias: "int", leak: true, yzp: 128}, false},
		{"conv/bias scale not x·w", qdqSpec{op: "Conv", bias: "int", biasScale: 1.5, yzp: 128}, false},
		{"gemm/alpha", qdqSpec{op: "Gemm", bias: "int", alpha: 0.5, yzp: 128}, false},
		{"matmul/per channel", qdqSpec{op: "MatMul", perChannel: true, yzp: 128}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, x := qdqModel(t, c.spec)
			in := map[string]*tensor.Dense{"x": x}
			p, err := Compile(m)
			if err != nil {
				t.Fatal(err)
			}
			u, err := CompileWith(m, Options{UnfusedQDQ: true})
			if err != nil {
				t.Fatal(err)
			}
			want := RunOptions{Outputs: []string{"yq", "y"}}
			fused, got := qdqFusedOps(t, p, in, want)
			if fused != map[bool]int{true: 1}[c.fuse] {
				t.Fatalf("%d integer ops ran, want fused %v", fused, c.fuse)
			}
			if n, _ := qdqFusedOps(t, u, in, want); n != 0 {
				t.Fatalf("UnfusedQDQ: %d integer ops ran", n)
			}
			float, err := u.Run(in, want)
			if err != nil {
				t.Fatal(err)
			}
			diff := 0
			for i := range got["yq"].I64 {
				if got["yq"].I64[i] != float["yq"].I64[i] {
					diff++
				}
			}
			t.Logf("%d of %d outputs one step from the float chain's", diff, len(got["yq"].I64))
			if d := qdqSteps(t, got["yq"], float["yq"]); d > 1 {
				t.Errorf("fused and float chains differ by %d quantization steps", d)
			}
			ort := fixtures.ORTOutput(t, m, "x", x)
			if !tensor.SameShape(ort.Shape, got["y"].Shape) {
				t.Fatalf("ONNX Runtime's output %v, graft's %v", ort.Shape, got["y"].Shape)
			}
			worst := 0.0
			for i, v := range got["y"].F32 {
				worst = max(worst, math.Abs(float64(v-ort.F32[i]))/qdqYScale)
			}
			if c.fuse && worst != 0 {
				t.Errorf("fused chain differs from ONNX Runtime by up to %.3g steps", worst)
			}
			if worst > 1.0001 {
				t.Errorf("unfused chain differs from ONNX Runtime by %.3g steps", worst)
			}
		})
	}
}

// TestQDQFuseFixture runs fixtures/quant/qdq.onnx (torch.ao.quantization's
// export) with its three chains fused: the output equals ONNX Runtime's
// bit for bit (recorded and live), every layer's quantized output lies
// within one step of the unfused float chains', and a run counts the
// same nodes either way.
func TestQDQFuseFixture(t *testing.T) {
	dir := filepath.Join(fixtures.Dir(), "quant")
	m, err := onnx.Load(filepath.Join(dir, "qdq.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	x, err := tensor.LoadNPY(filepath.Join(dir, "input.npy"))
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]*tensor.Dense{"input": x}
	p, err := Compile(m)
	if err != nil {
		t.Fatal(err)
	}
	u, err := CompileWith(m, Options{UnfusedQDQ: true})
	if err != nil {
		t.Fatal(err)
	}
	layers := []string{"/conv1/QuantizeLinear_output_0", "/conv2/QuantizeLinear_output_0", "/fc/QuantizeLinear_output_0", "output"}
	var fs, us RunStats
	n, got := qdqFusedOps(t, p, in, RunOptions{Outputs: layers, Stats: &fs})
	if n != 3 {
		t.Fatalf("%d chains ran fused, want 3 (two Conv, one Gemm)", n)
	}
	float, err := u.Run(in, RunOptions{Outputs: layers, Stats: &us})
	if err != nil {
		t.Fatal(err)
	}
	if fs.NodesRun != us.NodesRun {
		t.Errorf("nodes run: fused %d, unfused %d", fs.NodesRun, us.NodesRun)
	}
	for _, l := range layers[:3] {
		if d := qdqSteps(t, got[l], float[l]); d > 1 {
			t.Errorf("%s: fused and float differ by %d steps", l, d)
		}
	}
	rec, err := tensor.LoadNPY(filepath.Join(dir, "ort_qdq.npy"))
	if err != nil {
		t.Fatal(err)
	}
	if !tensor.Equal(got["output"], rec) {
		t.Errorf("output differs from ONNX Runtime's recorded one (max %.3g)", maxAbsDiff(t, got["output"], rec))
	}
	live, err := fixtures.RunORT(filepath.Join(dir, "qdq.onnx"), "input", x)
	if errors.Is(err, fixtures.ErrNoORT) {
		fixtures.SkipNoReference(t, "%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if !tensor.Equal(got["output"], live) {
		t.Errorf("output differs from ONNX Runtime's (max %.3g)", maxAbsDiff(t, got["output"], live))
	}
}

// TestQDQFuseLeavesModel checks that compiling and running a QDQ model
// with its chains fused leaves the model as it was: the same nodes, and
// Save writes the same bytes as for a model fresh from the file.
func TestQDQFuseLeavesModel(t *testing.T) {
	path := filepath.Join(fixtures.Dir(), "quant", "qdq.onnx")
	m, err := onnx.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := onnx.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	x, err := tensor.LoadNPY(filepath.Join(fixtures.Dir(), "quant", "input.npy"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(m)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := qdqFusedOps(t, p, map[string]*tensor.Dense{"input": x}, RunOptions{}); n != 3 {
		t.Fatalf("%d chains ran fused, want 3", n)
	}
	if p.Graph() != m.Graph || len(m.Graph.Nodes) != len(fresh.Graph.Nodes) {
		t.Fatalf("the program's graph is not the model's, or its nodes changed")
	}
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.onnx"), filepath.Join(dir, "b.onnx")
	if err := m.Save(a); err != nil {
		t.Fatal(err)
	}
	if err := fresh.Save(b); err != nil {
		t.Fatal(err)
	}
	da, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	db, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(da, db) {
		t.Errorf("Save after a fused run wrote %d bytes, a fresh model %d, not the same", len(da), len(db))
	}
}

// TestQDQFuseFallsBack checks that a run asking for a value inside a
// chain, or supplying one that the fused op does not read, or one its
// constants came from, runs that chain unfused (and gets what the unfused
// program gives), and that the next plain run fuses again.
func TestQDQFuseFallsBack(t *testing.T) {
	m, x := qdqModel(t, qdqSpec{op: "Conv", bias: "float", relu: true})
	p, err := Compile(m)
	if err != nil {
		t.Fatal(err)
	}
	u, err := CompileWith(m, Options{UnfusedQDQ: true})
	if err != nil {
		t.Fatal(err)
	}
	w2 := m.Graph.Value("w").Const
	wd, err := w2.Dense()
	if err != nil {
		t.Fatal(err)
	}
	neg := wd.Clone()
	for i := range neg.I64 {
		neg.I64[i] = -neg.I64[i]
	}
	xd, err := u.Run(map[string]*tensor.Dense{"x": x}, RunOptions{Outputs: []string{"xd"}})
	if err != nil {
		t.Fatal(err)
	}
	shift := xd["xd"].Clone()
	for i := range shift.F32 {
		shift.F32[i] += 0.3
	}
	cases := []struct {
		name string
		in   map[string]*tensor.Dense
		out  []string
	}{
		{"product requested", map[string]*tensor.Dense{"x": x}, []string{"p", "y"}},
		{"relu requested", map[string]*tensor.Dense{"x": x}, []string{"r", "y"}},
		{"all", map[string]*tensor.Dense{"x": x}, nil},
		{"weight supplied", map[string]*tensor.Dense{"x": x, "w": neg}, []string{"y"}},
		{"dequantized activation supplied", map[string]*tensor.Dense{"x": x, "xd": shift}, []string{"y"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts := RunOptions{Outputs: c.out, All: c.out == nil}
			n, got := qdqFusedOps(t, p, c.in, opts)
			if n != 0 {
				t.Fatalf("the chain ran fused")
			}
			want, err := u.Run(c.in, opts)
			if err != nil {
				t.Fatal(err)
			}
			for name, d := range want {
				if !tensor.Equal(got[name], d) {
					t.Errorf("%s differs from the unfused program's", name)
				}
			}
			if n, _ := qdqFusedOps(t, p, map[string]*tensor.Dense{"x": x}, RunOptions{}); n != 1 {
				t.Errorf("the next plain run did not fuse")
			}
		})
	}
}
