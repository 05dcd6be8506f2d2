package ops

import (
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// ctrlCase is one hand-built graph with control flow, its inputs and the
// outputs worked out by hand from the ONNX operator docs.
type ctrlCase struct {
	name  string
	build func(t *testing.T) *onnx.Graph
	in    []*tensor.Dense
	want  []*tensor.Dense
}

func addInput(t *testing.T, g *onnx.Graph, name string, typ onnx.Type) *onnx.Value {
	t.Helper()
	v, err := g.AddInput(name, typ)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func i64(shape []int, v ...int64) *tensor.Dense { return tensor.FromI64(shape, v) }

// loopCounting: Loop(M, true, c=0) whose body stops once i >= 2, adds i
// to c, and emits If(i < 1, k, -k), a branch reading the top graph's k
// through two scopes.
func loopCounting(t *testing.T) *onnx.Graph {
	body := onnx.NewGraph("body")
	i := addInput(t, body, "i", onnx.ShapeOf(tensor.Int64))
	addInput(t, body, "cond_in", onnx.ShapeOf(tensor.Bool))
	c := addInput(t, body, "c", onnx.ShapeOf(tensor.Int64))
	two := body.AddConst("two", i64(nil, 2))
	one := body.AddConst("one", i64(nil, 1))
	condOut := body.AddNode("Less", "", "less", []*onnx.Value{i, two}, []string{"cond_out"}).Outputs[0]
	cOut := body.AddNode("Add", "", "add", []*onnx.Value{c, i}, []string{"c_out"}).Outputs[0]
	first := body.AddNode("Less", "", "first", []*onnx.Value{i, one}, []string{"first"}).Outputs[0]
	then := onnx.NewGraph("then")
	then.Outputs = then.AddNode("Identity", "", "id", []*onnx.Value{then.Outer("k")}, []string{"kt"}).Outputs
	els := onnx.NewGraph("else")
	els.Outputs = els.AddNode("Neg", "", "neg", []*onnx.Value{els.Outer("k")}, []string{"ke"}).Outputs
	ifn := body.AddNode("If", "", "if", []*onnx.Value{first}, []string{"y"},
		onnx.GraphAttr("then_branch", then), onnx.GraphAttr("else_branch", els))
	ifn.SyncImplicit()
	body.Outputs = []*onnx.Value{condOut, cOut, ifn.Outputs[0]}
	body.Outputs[2].Type = onnx.ShapeOf(tensor.Int64)

	g := onnx.NewGraph("main")
	m := addInput(t, g, "M", onnx.ShapeOf(tensor.Int64))
	addInput(t, g, "k", onnx.ShapeOf(tensor.Int64))
	cond := g.AddConst("cond", tensor.FromI64(nil, []int64{1}))
	cond.Const.DType, cond.Type.DType = tensor.Bool, tensor.Bool
	c0 := g.AddConst("c0", i64(nil, 0))
	loop := g.AddNode("Loop", "", "loop", []*onnx.Value{m, cond, c0}, []string{"c_final", "ys"}, onnx.GraphAttr("body", body))
	loop.SyncImplicit()
	g.Outputs = loop.Outputs
	return g
}

// scanReversed: Scan over axis 1 of X, read backwards, summing columns
// into the state and emitting column·k (k read from the outer graph),
// stacked along the last axis in reverse.
func scanReversed(t *testing.T) *onnx.Graph {
	body := onnx.NewGraph("body")
	s := addInput(t, body, "s", onnx.ShapeOf(tensor.Float32, 2))
	x := addInput(t, body, "xi", onnx.ShapeOf(tensor.Float32, 2))
	sOut := body.AddNode("Add", "", "add", []*onnx.Value{s, x}, []string{"s_out"}).Outputs[0]
	y := body.AddNode("Mul", "", "mul", []*onnx.Value{x, body.Outer("k")}, []string{"y"}).Outputs[0]
	body.Outputs = []*onnx.Value{sOut, y}
	y.Type = onnx.ShapeOf(tensor.Float32, 2)

	g := onnx.NewGraph("main")
	s0 := addInput(t, g, "s0", onnx.ShapeOf(tensor.Float32, 2))
	xs := addInput(t, g, "X", onnx.ShapeOf(tensor.Float32, 2, 3))
	g.AddConst("k", tensor.Scalar(10))
	n := g.AddNode("Scan", "", "scan", []*onnx.Value{s0, xs}, []string{"s_final", "ys"},
		onnx.GraphAttr("body", body), onnx.IntAttr("num_scan_inputs", 1),
		onnx.IntsAttr("scan_input_axes", 1), onnx.IntsAttr("scan_input_directions", 1),
		onnx.IntsAttr("scan_output_axes", -1), onnx.IntsAttr("scan_output_directions", 1))
	n.SyncImplicit()
	g.Outputs = n.Outputs
	return g
}

func TestControlFlow(t *testing.T) {
	cases := []ctrlCase{
		// i = 0, 1, 2: c = 0+0+1+2; the body's cond is false after i = 2.
		{"loop_cond_stops", loopCounting, []*tensor.Dense{i64(nil, 5), i64(nil, 7)},
			[]*tensor.Dense{i64(nil, 3), i64([]int{3}, 7, -7, -7)}},
		// M = 1 ends the loop first.
		{"loop_trip_count", loopCounting, []*tensor.Dense{i64(nil, 1), i64(nil, 7)},
			[]*tensor.Dense{i64(nil, 0), i64([]int{1}, 7)}},
		// M = 0: no iteration; the scan output is empty with the dims the
		// body declares for its element (a scalar here).
		{"loop_zero_trips", loopCounting, []*tensor.Dense{i64(nil, 0), i64(nil, 7)},
			[]*tensor.Dense{i64(nil, 0), i64([]int{0})}},
		// Columns read 2, 1, 0; the state sums them; outputs written back
		// to front along axis 1, so they land in column order.
		{"scan_axes_directions", scanReversed,
			[]*tensor.Dense{tensor.FromF32([]int{2}, []float32{0, 0}), tensor.FromF32([]int{2, 3}, []float32{1, 2, 3, 4, 5, 6})},
			[]*tensor.Dense{tensor.FromF32([]int{2}, []float32{6, 15}), tensor.FromF32([]int{2, 3}, []float32{10, 20, 30, 40, 50, 60})}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := tc.build(t)
			if err := g.Validate(); err != nil {
				t.Fatal(err)
			}
			got, err := refGraphs{threads: 1}.RunGraph(g, 16, tc.in, nil)
			if err != nil {
				t.Fatal(err)
			}
			for i, want := range tc.want {
				if !tensor.Equal(got[i], want) {
					t.Errorf("output %d: got %v %v, want %v %v", i, got[i].Shape, got[i].Float64s(), want.Shape, want.Float64s())
				}
			}
			// Inference agrees with what ran.
			n := g.Nodes[len(g.Nodes)-1]
			ic := &InferCtx{Node: n, Opset: 16, In: make([]onnx.Type, len(n.Inputs))}
			for i, v := range n.Inputs {
				ic.In[i] = v.Type
			}
			op, err := Resolve(n, 16)
			if err != nil {
				t.Fatal(err)
			}
			types, err := op.Infer(ic)
			if err != nil {
				t.Fatal(err)
			}
			for i, typ := range types {
				if !typeMatches(typ, got[i]) {
					t.Errorf("output %d: inferred %s, ran %s%v", i, typ, got[i].DType, got[i].Shape)
				}
			}
		})
	}
}

// TestControlFlowErrors: malformed control flow fails with an error
// naming the node, never a panic.
func TestControlFlowErrors(t *testing.T) {
	g := scanReversed(t)
	// A scan input too short for its axis.
	_, err := refGraphs{threads: 1}.RunGraph(g, 16, []*tensor.Dense{tensor.FromF32([]int{2}, []float32{0, 0}), tensor.FromF32([]int{6}, []float32{1, 2, 3, 4, 5, 6})}, nil)
	if err == nil {
		t.Fatal("scan over axis 1 of a 1-D input ran")
	}
	t.Log(err)
	// A Loop without M or cond would not end.
	l := loopCounting(t)
	loop := l.Nodes[len(l.Nodes)-1]
	loop.SetInput(0, nil)
	loop.SetInput(1, nil)
	_, err = refGraphs{threads: 1}.RunGraph(l, 16, []*tensor.Dense{i64(nil, 0), i64(nil, 7)}, nil)
	if err == nil {
		t.Fatal("a Loop without M or cond ran")
	}
	t.Log(err)
}
