package ops

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// ---------------------------------------------------------------------------
// Test helpers

// shapeTestNode builds a node with nIn named inputs (an empty name makes
// the input absent) and nOut outputs.
func shapeTestNode(op string, ins []string, nOut int, attrs ...*onnx.Attr) *onnx.Node {
	n := &onnx.Node{Name: op + "_node", OpType: op, Attrs: attrs}
	for _, name := range ins {
		if name == "" {
			n.Inputs = append(n.Inputs, nil)
			continue
		}
		n.Inputs = append(n.Inputs, &onnx.Value{Name: name})
	}
	for i := range nOut {
		n.Outputs = append(n.Outputs, &onnx.Value{Name: fmt.Sprintf("%s_out%d", op, i)})
	}
	return n
}

func shapeAttrI(name string, v int64) *onnx.Attr {
	return &onnx.Attr{Name: name, Type: onnx.AttrInt, I: v}
}

func shapeAttrIs(name string, v ...int64) *onnx.Attr {
	return &onnx.Attr{Name: name, Type: onnx.AttrInts, Ints: v}
}

func shapeAttrS(name, v string) *onnx.Attr {
	return &onnx.Attr{Name: name, Type: onnx.AttrString, S: v}
}

func shapeAttrF(name string, v float32) *onnx.Attr {
	return &onnx.Attr{Name: name, Type: onnx.AttrFloat, F: v}
}

func shapeSym(p string) onnx.Dim { return onnx.Dim{Param: p} }
func shapeDim(v int64) onnx.Dim  { return onnx.Dim{Value: v} }

func shapeTyp(dt tensor.DType, dims ...onnx.Dim) onnx.Type {
	return onnx.Type{DType: dt, HasShape: true, Dims: dims}
}

func shapeTensorI64(shape []int, v ...int64) *tensor.Dense { return tensor.FromI64(shape, v) }

// shapeStep is one node of a hand-driven inference chain.
type shapeStep struct {
	node  *onnx.Node
	in    []onnx.Type
	konst []*tensor.Dense
	sym   [][]onnx.Dim
}

// shapeInferStep runs Infer and Symbolic of one node.
func shapeInferStep(t *testing.T, opset int, s shapeStep) (onnx.Type, []onnx.Dim) {
	t.Helper()
	op, err := Resolve(s.node, opset)
	if err != nil {
		t.Fatal(err)
	}
	c := &InferCtx{Node: s.node, Opset: opset, In: s.in, Const: s.konst, Sym: s.sym}
	types, err := op.Infer(c)
	if err != nil {
		t.Fatalf("%s: %v", s.node.OpType, err)
	}
	var contents []onnx.Dim
	if op.Symbolic != nil {
		contents = op.Symbolic(c)
	}
	return types[0], contents
}

func shapeDimsString(d []onnx.Dim) string {
	return onnx.Type{HasShape: true, Dims: d}.ShapeString()
}

// ---------------------------------------------------------------------------
// Symbolic inference

// TestShapeSymbolicFlattenChain drives PyTorch's export of x.view(x.size(0),
// -1) by hand: Shape → Gather(0) → Unsqueeze → Concat(-1) → Reshape, on a
// [batch,512,1,1] input, which must give [batch,512].
func TestShapeSymbolicFlattenChain(t *testing.T) {
	for _, opset := range []int{11, 13, 17} {
		t.Run(fmt.Sprint("opset", opset), func(t *testing.T) {
			x := shapeTyp(tensor.Float32, shapeSym("batch"), shapeDim(512), shapeDim(1), shapeDim(1))

			shT, shC := shapeInferStep(t, opset, shapeStep{
				node: shapeTestNode("Shape", []string{"x"}, 1), in: []onnx.Type{x}})
			if want := "[batch,512,1,1]"; shapeDimsString(shC) != want || shT.String() != "int64[4]" {
				t.Fatalf("Shape: %s contents %s, want int64[4] contents %s", shT, shapeDimsString(shC), want)
			}

			gT, gC := shapeInferStep(t, opset, shapeStep{
				node:  shapeTestNode("Gather", []string{"shape", "zero"}, 1, shapeAttrI("axis", 0)),
				in:    []onnx.Type{shT, shapeTyp(tensor.Int64)},
				konst: []*tensor.Dense{nil, shapeTensorI64(nil, 0)},
				sym:   [][]onnx.Dim{shC}})
			if gT.String() != "int64[]" || shapeDimsString(gC) != "[batch]" {
				t.Fatalf("Gather: %s contents %s", gT, shapeDimsString(gC))
			}

			var uStep shapeStep
			if opset < 13 {
				uStep = shapeStep{node: shapeTestNode("Unsqueeze", []string{"g"}, 1, shapeAttrIs("axes", 0)),
					in: []onnx.Type{gT}, sym: [][]onnx.Dim{gC}}
			} else {
				uStep = shapeStep{node: shapeTestNode("Unsqueeze", []string{"g", "axes"}, 1),
					in:    []onnx.Type{gT, shapeTyp(tensor.Int64, shapeDim(1))},
					konst: []*tensor.Dense{nil, shapeTensorI64([]int{1}, 0)},
					sym:   [][]onnx.Dim{gC}}
			}
			uT, uC := shapeInferStep(t, opset, uStep)
			if uT.String() != "int64[1]" || shapeDimsString(uC) != "[batch]" {
				t.Fatalf("Unsqueeze: %s contents %s", uT, shapeDimsString(uC))
			}

			cT, cC := shapeInferStep(t, opset, shapeStep{
				node:  shapeTestNode("Concat", []string{"u", "minus1"}, 1, shapeAttrI("axis", 0)),
				in:    []onnx.Type{uT, shapeTyp(tensor.Int64, shapeDim(1))},
				konst: []*tensor.Dense{nil, shapeTensorI64([]int{1}, -1)},
				sym:   [][]onnx.Dim{uC}})
			if cT.String() != "int64[2]" || len(cC) != 2 || cC[0] != shapeSym("batch") || cC[1] != shapeDim(-1) {
				t.Fatalf("Concat: %s contents %v", cT, cC)
			}

			rT, _ := shapeInferStep(t, opset, shapeStep{
				node: shapeTestNode("Reshape", []string{"x", "target"}, 1),
				in:   []onnx.Type{x, cT},
				sym:  [][]onnx.Dim{nil, cC}})
			if rT.String() != "float32[batch,512]" {
				t.Fatalf("Reshape: got %s, want float32[batch,512]", rT)
			}
		})
	}
}

func TestReshapeInferSymbolic(t *testing.T) {
	b, s := shapeSym("batch"), shapeSym("seq")
	cases := []struct {
		in     []onnx.Dim
		target []onnx.Dim
		allow  int64
		want   string
	}{
		{[]onnx.Dim{b, shapeDim(512), shapeDim(1), shapeDim(1)}, []onnx.Dim{b, shapeDim(-1)}, 0, "[batch,512]"},
		{[]onnx.Dim{b, shapeDim(512), shapeDim(1), shapeDim(1)}, []onnx.Dim{shapeDim(0), shapeDim(-1)}, 0, "[batch,512]"},
		{[]onnx.Dim{b, shapeDim(512), shapeDim(7), shapeDim(7)}, []onnx.Dim{shapeDim(-1), shapeDim(512 * 49)}, 0, "[batch,25088]"},
		{[]onnx.Dim{b, s, shapeDim(768)}, []onnx.Dim{shapeDim(0), shapeDim(0), shapeDim(12), shapeDim(64)}, 0, "[batch,seq,12,64]"},
		{[]onnx.Dim{b, s, shapeDim(12), shapeDim(64)}, []onnx.Dim{b, s, shapeDim(-1)}, 0, "[batch,seq,768]"},
		{[]onnx.Dim{b, s, shapeDim(768)}, []onnx.Dim{shapeDim(-1), shapeDim(768)}, 0, "[?,768]"},
		{[]onnx.Dim{b, shapeDim(3), shapeDim(4)}, []onnx.Dim{shapeDim(12), shapeDim(-1)}, 0, "[12,batch]"},
		{[]onnx.Dim{b, shapeDim(6)}, []onnx.Dim{b, shapeDim(2), shapeDim(-1)}, 0, "[batch,2,3]"},
		{[]onnx.Dim{shapeDim(2), shapeDim(3), shapeDim(4)}, []onnx.Dim{shapeDim(4), shapeDim(-1)}, 0, "[4,6]"},
		{[]onnx.Dim{shapeDim(0), shapeDim(3)}, []onnx.Dim{shapeDim(0), shapeDim(3)}, 1, "[0,3]"},
		{[]onnx.Dim{onnx.UnknownDim, shapeDim(3)}, []onnx.Dim{shapeDim(-1)}, 0, "[?]"},
		{[]onnx.Dim{b, shapeDim(3)}, []onnx.Dim{shapeSym(shapeUnknown), shapeDim(3)}, 0, "[?,3]"},
	}
	for _, c := range cases {
		x := shapeTyp(tensor.Float32, c.in...)
		n := shapeTestNode("Reshape", []string{"x", "shape"}, 1, shapeAttrI("allowzero", c.allow))
		got, _ := shapeInferStep(t, 14, shapeStep{node: n, in: []onnx.Type{x, shapeTyp(tensor.Int64, shapeDim(int64(len(c.target))))},
			sym: [][]onnx.Dim{nil, c.target}})
		if got.ShapeString() != c.want {
			t.Errorf("reshape %s to %s: got %s, want %s", x.ShapeString(), shapeDimsString(c.target), got.ShapeString(), c.want)
		}
	}
	// Contents unknown: the rank still follows from the shape input's length.
	n := shapeTestNode("Reshape", []string{"x", "shape"}, 1)
	got, _ := shapeInferStep(t, 13, shapeStep{node: n, in: []onnx.Type{{DType: tensor.Float32}, shapeTyp(tensor.Int64, shapeDim(3))}})
	if got.String() != "float32[?,?,?]" {
		t.Errorf("unknown target: got %s", got)
	}
	// Mismatched element counts are an error naming the node.
	c := &InferCtx{Node: n, Opset: 13, In: []onnx.Type{onnx.ShapeOf(tensor.Float32, 2, 3), shapeTyp(tensor.Int64, shapeDim(1))},
		Const: []*tensor.Dense{nil, shapeTensorI64([]int{1}, 5)}}
	if _, err := reshapeInfer(c); err == nil {
		t.Error("reshape [2,3] to [5]: no error")
	}
}

func TestShapeOpsInferSymbolic(t *testing.T) {
	b := shapeSym("batch")
	x := shapeTyp(tensor.Float32, b, shapeDim(3), shapeDim(224), shapeDim(224))
	i64t := func(n int64) onnx.Type { return shapeTyp(tensor.Int64, shapeDim(n)) }
	cases := []struct {
		name     string
		opset    int
		step     shapeStep
		want     string
		contents string // "" skips the check
	}{
		{"flatten", 13, shapeStep{node: shapeTestNode("Flatten", []string{"x"}, 1), in: []onnx.Type{shapeTyp(tensor.Float32, b, shapeDim(512), shapeDim(1), shapeDim(1))}}, "float32[batch,512]", ""},
		{"flatten0", 13, shapeStep{node: shapeTestNode("Flatten", []string{"x"}, 1, shapeAttrI("axis", 0)), in: []onnx.Type{x}}, "float32[1,?]", ""},
		{"transpose", 13, shapeStep{node: shapeTestNode("Transpose", []string{"x"}, 1, shapeAttrIs("perm", 0, 2, 3, 1)), in: []onnx.Type{x}}, "float32[batch,224,224,3]", ""},
		{"concat", 13, shapeStep{node: shapeTestNode("Concat", []string{"a", "b"}, 1, shapeAttrI("axis", 1)), in: []onnx.Type{x, shapeTyp(tensor.Float32, b, shapeDim(5), onnx.UnknownDim, shapeDim(224))}}, "float32[batch,8,224,224]", ""},
		{"concat-batch", 13, shapeStep{node: shapeTestNode("Concat", []string{"a", "b"}, 1, shapeAttrI("axis", 0)), in: []onnx.Type{x, x}}, "float32[?,3,224,224]", ""},
		{"split", 13, shapeStep{node: shapeTestNode("Split", []string{"x", "split"}, 2, shapeAttrI("axis", 1)), in: []onnx.Type{x, i64t(2)}, konst: []*tensor.Dense{nil, shapeTensorI64([]int{2}, 1, 2)}}, "float32[batch,1,224,224]", ""},
		{"split-unknown", 13, shapeStep{node: shapeTestNode("Split", []string{"x", "split"}, 2, shapeAttrI("axis", 1)), in: []onnx.Type{x, i64t(2)}}, "float32[batch,?,224,224]", ""},
		{"slice", 13, shapeStep{node: shapeTestNode("Slice", []string{"x", "s", "e", "a"}, 1), in: []onnx.Type{x, i64t(2), i64t(2), i64t(2)},
			konst: []*tensor.Dense{nil, shapeTensorI64([]int{2}, 0, 10), shapeTensorI64([]int{2}, math.MaxInt64, -10), shapeTensorI64([]int{2}, 0, 3)}}, "float32[batch,3,224,204]", ""},
		{"slice-unknown", 13, shapeStep{node: shapeTestNode("Slice", []string{"x", "s", "e", "a"}, 1), in: []onnx.Type{x, i64t(1), i64t(1), i64t(1)},
			konst: []*tensor.Dense{nil, nil, nil, shapeTensorI64([]int{1}, 2)}}, "float32[batch,3,?,224]", ""},
		{"slice-shape", 13, shapeStep{node: shapeTestNode("Slice", []string{"s", "st", "en"}, 1), in: []onnx.Type{i64t(4), i64t(1), i64t(1)},
			konst: []*tensor.Dense{nil, shapeTensorI64([]int{1}, 0), shapeTensorI64([]int{1}, 2)}, sym: [][]onnx.Dim{{b, shapeDim(3), shapeDim(224), shapeDim(224)}}}, "int64[2]", "[batch,3]"},
		{"slice-shape-neg", 13, shapeStep{node: shapeTestNode("Slice", []string{"s", "st", "en", "ax", "sp"}, 1), in: []onnx.Type{i64t(4), i64t(1), i64t(1), i64t(1), i64t(1)},
			konst: []*tensor.Dense{nil, shapeTensorI64([]int{1}, -1), shapeTensorI64([]int{1}, math.MinInt64), shapeTensorI64([]int{1}, 0), shapeTensorI64([]int{1}, -2)}, sym: [][]onnx.Dim{{b, shapeDim(3), shapeDim(224), shapeDim(225)}}}, "int64[2]", "[225,3]"},
		{"gather", 13, shapeStep{node: shapeTestNode("Gather", []string{"x", "i"}, 1, shapeAttrI("axis", 1)), in: []onnx.Type{x, shapeTyp(tensor.Int64, shapeDim(2), shapeDim(5))}}, "float32[batch,2,5,224,224]", ""},
		{"gather-shape", 13, shapeStep{node: shapeTestNode("Gather", []string{"s", "i"}, 1), in: []onnx.Type{i64t(4), i64t(2)},
			konst: []*tensor.Dense{nil, shapeTensorI64([]int{2}, -1, 0)}, sym: [][]onnx.Dim{{b, shapeDim(3), shapeDim(224), shapeDim(225)}}}, "int64[2]", "[225,batch]"},
		{"unsqueeze", 13, shapeStep{node: shapeTestNode("Unsqueeze", []string{"x", "a"}, 1), in: []onnx.Type{x, i64t(2)}, konst: []*tensor.Dense{nil, shapeTensorI64([]int{2}, -1, 1)}}, "float32[batch,1,3,224,224,1]", ""},
		{"unsqueeze-unknown", 13, shapeStep{node: shapeTestNode("Unsqueeze", []string{"x", "a"}, 1), in: []onnx.Type{x, i64t(2)}}, "float32[?,?,?,?,?,?]", ""},
		{"squeeze", 11, shapeStep{node: shapeTestNode("Squeeze", []string{"x"}, 1, shapeAttrIs("axes", -1, 2)), in: []onnx.Type{shapeTyp(tensor.Float32, b, shapeDim(512), shapeDim(1), shapeDim(1))}}, "float32[batch,512]", ""},
		{"squeeze-all-sym", 13, shapeStep{node: shapeTestNode("Squeeze", []string{"x"}, 1), in: []onnx.Type{shapeTyp(tensor.Float32, b, shapeDim(1))}}, "float32?", ""},
		{"squeeze-all", 13, shapeStep{node: shapeTestNode("Squeeze", []string{"x"}, 1), in: []onnx.Type{onnx.ShapeOf(tensor.Float32, 1, 3, 1)}}, "float32[3]", ""},
		{"shape-range", 15, shapeStep{node: shapeTestNode("Shape", []string{"x"}, 1, shapeAttrI("start", 1), shapeAttrI("end", -1)), in: []onnx.Type{x}}, "int64[2]", "[3,224]"},
		{"shape-unknown-dim", 13, shapeStep{node: shapeTestNode("Shape", []string{"x"}, 1), in: []onnx.Type{shapeTyp(tensor.Float32, onnx.UnknownDim, shapeDim(4))}}, "int64[2]", "[?,4]"},
		{"shape-no-rank", 13, shapeStep{node: shapeTestNode("Shape", []string{"x"}, 1), in: []onnx.Type{{DType: tensor.Float32}}}, "int64[?]", ""},
		{"expand", 13, shapeStep{node: shapeTestNode("Expand", []string{"x", "s"}, 1), in: []onnx.Type{shapeTyp(tensor.Float32, shapeDim(1), shapeDim(3), shapeDim(1)), i64t(3)},
			sym: [][]onnx.Dim{nil, {b, shapeDim(1), shapeDim(5)}}}, "float32[batch,3,5]", ""},
		{"expand-unknown", 13, shapeStep{node: shapeTestNode("Expand", []string{"x", "s"}, 1), in: []onnx.Type{shapeTyp(tensor.Float32, shapeDim(3), shapeDim(1)), i64t(3)}}, "float32[?,?,?]", ""},
		{"pad", 13, shapeStep{node: shapeTestNode("Pad", []string{"x", "p"}, 1), in: []onnx.Type{x, i64t(8)},
			konst: []*tensor.Dense{nil, shapeTensorI64([]int{8}, 0, 0, 1, 2, 0, 0, 3, -4)}}, "float32[batch,3,228,222]", ""},
		{"pad-axes", 18, shapeStep{node: shapeTestNode("Pad", []string{"x", "p", "", "a"}, 1), in: []onnx.Type{x, i64t(2), {}, i64t(1)},
			konst: []*tensor.Dense{nil, shapeTensorI64([]int{2}, 1, 1), nil, shapeTensorI64([]int{1}, -1)}}, "float32[batch,3,224,226]", ""},
		{"pad-attr", 2, shapeStep{node: shapeTestNode("Pad", []string{"x"}, 1, shapeAttrIs("pads", 0, 0, 1, 1, 0, 0, 1, 1), shapeAttrS("mode", "reflect")), in: []onnx.Type{x}}, "float32[batch,3,226,226]", ""},
		{"tile", 13, shapeStep{node: shapeTestNode("Tile", []string{"x", "r"}, 1), in: []onnx.Type{x, i64t(4)}, konst: []*tensor.Dense{nil, shapeTensorI64([]int{4}, 1, 2, 1, 3)}}, "float32[batch,6,224,672]", ""},
		{"identity-reshape-contents", 13, shapeStep{node: shapeTestNode("Reshape", []string{"s", "t"}, 1), in: []onnx.Type{i64t(2), i64t(1)},
			konst: []*tensor.Dense{nil, shapeTensorI64([]int{1}, -1)}, sym: [][]onnx.Dim{{b, shapeDim(-1)}}}, "int64[2]", "[batch,-1]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, contents := shapeInferStep(t, c.opset, c.step)
			if got.String() != c.want {
				t.Errorf("got %s, want %s", got, c.want)
			}
			if c.contents != "" {
				s := "nil"
				if contents != nil {
					s = "["
					for i, d := range contents {
						if i > 0 {
							s += ","
						}
						if d.Param == "" {
							s += fmt.Sprint(d.Value)
						} else {
							s += d.Param
						}
					}
					s += "]"
				}
				if s != c.contents {
					t.Errorf("contents %s, want %s", s, c.contents)
				}
			}
		})
	}
}

// TestShapeInferUnknownInputs checks every op accepts inputs of unknown
// shape and still reports the dtype.
func TestShapeInferUnknownInputs(t *testing.T) {
	for _, op := range []string{"Reshape", "Flatten", "Transpose", "Concat", "Split", "Slice", "Gather", "Unsqueeze", "Squeeze", "Shape", "Expand", "Pad", "Tile", "Resize"} {
		n := shapeTestNode(op, []string{"a", "b", "c", "d"}, 1, shapeAttrI("axis", 0))
		c := &InferCtx{Node: n, Opset: 13, In: make([]onnx.Type, 4)}
		c.In[0] = onnx.Type{DType: tensor.Float32}
		c.In[1] = onnx.Type{DType: tensor.Int64}
		types, err := Lookup(op).Infer(c)
		if err != nil {
			t.Errorf("%s: %v", op, err)
			continue
		}
		want := tensor.Float32
		if op == "Shape" {
			want = tensor.Int64
		}
		if types[0].DType != want {
			t.Errorf("%s: dtype %s, want %s", op, types[0].DType, want)
		}
	}
}

// ---------------------------------------------------------------------------
// Kernels against naive references

func shapeRandF32(r *rand.Rand, shape ...int) *tensor.Dense {
	n, _ := tensor.NumElems(shape)
	d := make([]float32, n)
	for i := range d {
		d[i] = float32(r.NormFloat64())
	}
	return tensor.FromF32(shape, d)
}

// unravel returns the coordinates of flat index i in shape.
func shapeUnravel(i int, shape []int) []int {
	c := make([]int, len(shape))
	for k := len(shape) - 1; k >= 0; k-- {
		c[k] = i % shape[k]
		i /= shape[k]
	}
	return c
}

func shapeRavel(c, shape []int) int {
	i := 0
	for k := range shape {
		i = i*shape[k] + c[k]
	}
	return i
}

func shapeRunOp(t *testing.T, opset int, n *onnx.Node, in ...*tensor.Dense) []*tensor.Dense {
	t.Helper()
	out, err := shapeRunOpErr(opset, n, in...)
	if err != nil {
		t.Fatalf("%s: %v", n.OpType, err)
	}
	return out
}

func shapeRunOpErr(opset int, n *onnx.Node, in ...*tensor.Dense) ([]*tensor.Dense, error) {
	op, err := Resolve(n, opset)
	if err != nil {
		return nil, err
	}
	ic := &InferCtx{Node: n, Opset: opset, In: make([]onnx.Type, len(in)), Const: make([]*tensor.Dense, len(in))}
	for i, x := range in {
		if x != nil {
			ic.In[i] = onnx.ShapeOf(x.DType, x.Shape...)
			if i > 0 {
				ic.Const[i] = x
			}
		}
	}
	types, err := op.Infer(ic)
	if err != nil {
		return nil, fmt.Errorf("infer: %w", err)
	}
	out, err := op.Run(&RunCtx{Node: n, Opset: opset, In: in, Threads: 4})
	if err != nil {
		return nil, err
	}
	for i := range out {
		if !typeMatches(types[i], out[i]) {
			return nil, fmt.Errorf("inferred %s, ran %s%v", types[i], out[i].DType, out[i].Shape)
		}
	}
	return out, nil
}

func shapeCheckEqual(t *testing.T, what string, got, want *tensor.Dense) {
	t.Helper()
	if !tensor.Equal(got, want) {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
}

func TestTransposeRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	shapes := [][]int{{7}, {5, 9}, {64, 96}, {300, 257}, {2, 3, 4}, {1, 33, 40}, {2, 3, 5, 7}, {1, 64, 28, 28}, {2, 8, 16, 64}, {2, 3, 1, 4, 5}, {3, 1, 1, 2}}
	for _, shape := range shapes {
		for trial := 0; trial < 6; trial++ {
			perm := r.Perm(len(shape))
			x := shapeRandF32(r, shape...)
			p := make([]int64, len(perm))
			for i, v := range perm {
				p[i] = int64(v)
			}
			got := shapeRunOp(t, 13, shapeTestNode("Transpose", []string{"x"}, 1, shapeAttrIs("perm", p...)), x)[0]
			oshape := make([]int, len(perm))
			for i, v := range perm {
				oshape[i] = shape[v]
			}
			want := tensor.New(tensor.Float32, oshape...)
			for i := range want.F32 {
				oc := shapeUnravel(i, oshape)
				ic := make([]int, len(shape))
				for k, v := range perm {
					ic[v] = oc[k]
				}
				want.F32[i] = x.F32[shapeRavel(ic, shape)]
			}
			shapeCheckEqual(t, fmt.Sprintf("transpose %v perm %v", shape, perm), got, want)
		}
	}
	// int64 and the default (reversing) perm.
	x := shapeTensorI64([]int{2, 3}, 1, 2, 3, 4, 5, 6)
	got := shapeRunOp(t, 13, shapeTestNode("Transpose", []string{"x"}, 1), x)[0]
	shapeCheckEqual(t, "int64 transpose", got, shapeTensorI64([]int{3, 2}, 1, 4, 2, 5, 3, 6))
}

func TestSliceRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for trial := 0; trial < 400; trial++ {
		rank := 1 + r.IntN(4)
		shape := make([]int, rank)
		for i := range shape {
			shape[i] = r.IntN(7)
		}
		x := shapeRandF32(r, shape...)
		k := 1 + r.IntN(rank)
		axes := r.Perm(rank)[:k]
		var st, en, ax, sp []int64
		for _, a := range axes {
			pick := func() int64 {
				switch r.IntN(6) {
				case 0:
					return math.MaxInt64
				case 1:
					return math.MinInt64
				}
				return int64(r.IntN(20) - 10)
			}
			step := int64(r.IntN(7) - 3)
			if step == 0 {
				step = 1
			}
			if r.IntN(10) == 0 {
				step = math.MaxInt64
			}
			st, en, sp = append(st, pick()), append(en, pick()), append(sp, step)
			if r.IntN(2) == 0 {
				ax = append(ax, int64(a))
			} else {
				ax = append(ax, int64(a-rank))
			}
		}
		got := shapeRunOp(t, 13, shapeTestNode("Slice", []string{"x", "s", "e", "a", "p"}, 1), x,
			shapeTensorI64([]int{k}, st...), shapeTensorI64([]int{k}, en...), shapeTensorI64([]int{k}, ax...), shapeTensorI64([]int{k}, sp...))[0]
		// Reference: numpy semantics, element by element.
		sel := make([][]int, rank)
		for i := range sel {
			for j := 0; j < shape[i]; j++ {
				sel[i] = append(sel[i], j)
			}
		}
		for i, a := range axes {
			d := int64(shape[a])
			s, e, step := st[i], en[i], sp[i]
			if s < 0 {
				s += d
			}
			if e < 0 {
				e += d
			}
			sel[a] = nil
			if step > 0 {
				s, e = min(max(s, 0), d), min(max(e, 0), d)
				for j := s; j < e; j += step {
					sel[a] = append(sel[a], int(j))
					if j > e-step {
						break
					}
				}
			} else {
				s, e = min(max(s, 0), d-1), min(max(e, -1), d-1)
				for j := s; j > e; j += step {
					sel[a] = append(sel[a], int(j))
				}
			}
		}
		oshape := make([]int, rank)
		for i := range sel {
			oshape[i] = len(sel[i])
		}
		want := tensor.New(tensor.Float32, oshape...)
		for i := range want.F32 {
			oc := shapeUnravel(i, oshape)
			for k := range oc {
				oc[k] = sel[k][oc[k]]
			}
			want.F32[i] = x.F32[shapeRavel(oc, shape)]
		}
		shapeCheckEqual(t, fmt.Sprintf("slice %v starts %v ends %v axes %v steps %v", shape, st, en, ax, sp), got, want)
	}
}

func TestPadRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, mode := range []string{"constant", "reflect", "edge", "wrap"} {
		for trial := 0; trial < 60; trial++ {
			rank := 1 + r.IntN(4)
			shape := make([]int, rank)
			for i := range shape {
				shape[i] = 1 + r.IntN(5)
			}
			x := shapeRandF32(r, shape...)
			pads := make([]int64, 2*rank)
			for i := range pads {
				pads[i] = int64(r.IntN(9) - 2)
				if d := int64(shape[i%rank]); pads[i] < -d/2 {
					pads[i] = -d / 2
				}
			}
			n := shapeTestNode("Pad", []string{"x", "p", "v"}, 1, shapeAttrS("mode", mode))
			got := shapeRunOp(t, 19, n, x, shapeTensorI64([]int{2 * rank}, pads...), tensor.Scalar(2.5))[0]
			oshape := make([]int, rank)
			for i := range oshape {
				oshape[i] = shape[i] + int(pads[i]+pads[i+rank])
			}
			want := tensor.New(tensor.Float32, oshape...)
			for i := range want.F32 {
				oc := shapeUnravel(i, oshape)
				fill := false
				for k := range oc {
					j, d := oc[k]-int(pads[k]), shape[k]
					for j < 0 || j >= d {
						switch mode {
						case "constant":
							fill = true
						case "edge":
							j = min(max(j, 0), d-1)
						case "wrap":
							j = (j%d + d) % d
						case "reflect":
							if d == 1 {
								j = 0
							} else if j < 0 {
								j = -j
							} else {
								j = 2*(d-1) - j
							}
						}
						if fill {
							break
						}
					}
					oc[k] = j
				}
				if fill {
					want.F32[i] = 2.5
				} else {
					want.F32[i] = x.F32[shapeRavel(oc, shape)]
				}
			}
			shapeCheckEqual(t, fmt.Sprintf("pad %s %v pads %v", mode, shape, pads), got, want)
		}
	}
	// Opset 2 attributes and int64 data.
	x := shapeTensorI64([]int{2, 2}, 1, 2, 3, 4)
	n := shapeTestNode("Pad", []string{"x"}, 1, shapeAttrIs("pads", 0, 1, 0, 0), shapeAttrF("value", 7))
	shapeCheckEqual(t, "pad opset 2", shapeRunOp(t, 2, n, x)[0], shapeTensorI64([]int{2, 3}, 7, 1, 2, 7, 3, 4))
	// Axes input at opset 18.
	n = shapeTestNode("Pad", []string{"x", "p", "", "a"}, 1)
	got := shapeRunOp(t, 18, n, x, shapeTensorI64([]int{2}, 1, 0), nil, shapeTensorI64([]int{1}, 0))[0]
	shapeCheckEqual(t, "pad axes", got, shapeTensorI64([]int{3, 2}, 0, 0, 1, 2, 3, 4))
}

func TestGatherConcatSplitExpandTile(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	// Gather on every axis, negative indices, int64 data.
	x := shapeRandF32(r, 3, 4, 5)
	for axis := -3; axis < 3; axis++ {
		a := (axis + 3) % 3
		idx := shapeTensorI64([]int{2, 2}, 0, -1, 1, int64(x.Shape[a]-2))
		got := shapeRunOp(t, 13, shapeTestNode("Gather", []string{"x", "i"}, 1, shapeAttrI("axis", int64(axis))), x, idx)[0]
		oshape := append(append(append([]int{}, x.Shape[:a]...), 2, 2), x.Shape[a+1:]...)
		want := tensor.New(tensor.Float32, oshape...)
		for i := range want.F32 {
			oc := shapeUnravel(i, oshape)
			j := idx.I64[oc[a]*2+oc[a+1]]
			if j < 0 {
				j += int64(x.Shape[a])
			}
			ic := append(append(append([]int{}, oc[:a]...), int(j)), oc[a+2:]...)
			want.F32[i] = x.F32[shapeRavel(ic, x.Shape)]
		}
		shapeCheckEqual(t, fmt.Sprint("gather axis ", axis), got, want)
	}
	got := shapeRunOp(t, 13, shapeTestNode("Gather", []string{"x", "i"}, 1), shapeTensorI64([]int{4}, 10, 20, 30, 40), shapeTensorI64(nil, -1))[0]
	shapeCheckEqual(t, "gather scalar", got, shapeTensorI64(nil, 40))
	if _, err := shapeRunOpErr(13, shapeTestNode("Gather", []string{"x", "i"}, 1), shapeTensorI64([]int{2}, 1, 2), shapeTensorI64(nil, 2)); err == nil {
		t.Error("gather out of range: no error")
	}

	// Concat then Split round-trips, on every axis.
	a, b := shapeRandF32(r, 2, 3, 4), shapeRandF32(r, 2, 3, 4)
	for axis := 0; axis < 3; axis++ {
		cat := shapeRunOp(t, 13, shapeTestNode("Concat", []string{"a", "b"}, 1, shapeAttrI("axis", int64(axis))), a, b)[0]
		parts := shapeRunOp(t, 13, shapeTestNode("Split", []string{"c", "s"}, 2, shapeAttrI("axis", int64(axis))), cat, shapeTensorI64([]int{2}, int64(a.Shape[axis]), int64(b.Shape[axis])))
		shapeCheckEqual(t, "split a", parts[0], a)
		shapeCheckEqual(t, "split b", parts[1], b)
		parts = shapeRunOp(t, 11, shapeTestNode("Split", []string{"c"}, 2, shapeAttrI("axis", int64(axis))), cat)
		shapeCheckEqual(t, "split equal a", parts[0], a)
	}
	got = shapeRunOp(t, 13, shapeTestNode("Concat", []string{"a", "b", "c"}, 1, shapeAttrI("axis", 0)), shapeTensorI64([]int{1}, 1), shapeTensorI64([]int{0}), shapeTensorI64([]int{2}, 2, 3))[0]
	shapeCheckEqual(t, "concat int64", got, shapeTensorI64([]int{3}, 1, 2, 3))
	// Opset 18 num_outputs with an uneven split.
	parts := shapeRunOp(t, 18, shapeTestNode("Split", []string{"x"}, 3, shapeAttrI("num_outputs", 3)), shapeTensorI64([]int{7}, 1, 2, 3, 4, 5, 6, 7))
	shapeCheckEqual(t, "split uneven", parts[2], shapeTensorI64([]int{1}, 7))
	if _, err := shapeRunOpErr(13, shapeTestNode("Split", []string{"x"}, 3), shapeTensorI64([]int{7}, 1, 2, 3, 4, 5, 6, 7)); err == nil {
		t.Error("uneven split before opset 18: no error")
	}

	// Expand against broadcasting by hand.
	x = shapeRandF32(r, 3, 1, 5)
	got = shapeRunOp(t, 13, shapeTestNode("Expand", []string{"x", "s"}, 1), x, shapeTensorI64([]int{4}, 2, 1, 4, 1))[0]
	want := tensor.New(tensor.Float32, 2, 3, 4, 5)
	for i := range want.F32 {
		c := shapeUnravel(i, want.Shape)
		want.F32[i] = x.F32[shapeRavel([]int{c[1], 0, c[3]}, x.Shape)]
	}
	shapeCheckEqual(t, "expand", got, want)

	// Tile against wrap-around indexing.
	x = shapeRandF32(r, 2, 3, 1)
	got = shapeRunOp(t, 13, shapeTestNode("Tile", []string{"x", "r"}, 1), x, shapeTensorI64([]int{3}, 2, 1, 4))[0]
	want = tensor.New(tensor.Float32, 4, 3, 4)
	for i := range want.F32 {
		c := shapeUnravel(i, want.Shape)
		want.F32[i] = x.F32[shapeRavel([]int{c[0] % 2, c[1], 0}, x.Shape)]
	}
	shapeCheckEqual(t, "tile", got, want)
}

func TestReshapeFamilyRun(t *testing.T) {
	x := shapeRandF32(rand.New(rand.NewPCG(9, 10)), 2, 3, 4)
	check := func(name string, opset int, n *onnx.Node, want []int, in ...*tensor.Dense) {
		t.Helper()
		got := shapeRunOp(t, opset, n, append([]*tensor.Dense{x}, in...)...)[0]
		shapeCheckEqual(t, name, got, x.Reshaped(want))
		// The family relabels the input's buffer: no copy.
		if &got.F32[0] != &x.F32[0] {
			t.Errorf("%s: output copies the input instead of sharing its storage", name)
		}
	}
	check("reshape", 13, shapeTestNode("Reshape", []string{"x", "s"}, 1), []int{6, 4}, shapeTensorI64([]int{2}, -1, 4))
	check("reshape zero", 13, shapeTestNode("Reshape", []string{"x", "s"}, 1), []int{2, 12}, shapeTensorI64([]int{2}, 0, -1))
	check("flatten", 13, shapeTestNode("Flatten", []string{"x"}, 1, shapeAttrI("axis", -1)), []int{6, 4})
	check("unsqueeze", 13, shapeTestNode("Unsqueeze", []string{"x", "a"}, 1), []int{1, 2, 3, 4, 1}, shapeTensorI64([]int{2}, 0, -1))
	check("unsqueeze attr", 11, shapeTestNode("Unsqueeze", []string{"x"}, 1, shapeAttrIs("axes", 1)), []int{2, 1, 3, 4})
	// A Pad of zeros (PyTorch's AvgPool2d export) is the input itself.
	check("pad zeros", 13, shapeTestNode("Pad", []string{"x", "p"}, 1), []int{2, 3, 4}, shapeTensorI64([]int{6}, 0, 0, 0, 0, 0, 0))
	y := x.Reshaped([]int{2, 1, 3, 4, 1})
	got := shapeRunOp(t, 13, shapeTestNode("Squeeze", []string{"x"}, 1), y)[0]
	shapeCheckEqual(t, "squeeze all", got, x)
	got = shapeRunOp(t, 13, shapeTestNode("Squeeze", []string{"x", "a"}, 1), y, shapeTensorI64([]int{1}, 1))[0]
	shapeCheckEqual(t, "squeeze axis", got, x.Reshaped([]int{2, 3, 4, 1}))

	bad := []struct {
		name  string
		opset int
		n     *onnx.Node
		in    []*tensor.Dense
	}{
		{"reshape count", 13, shapeTestNode("Reshape", []string{"x", "s"}, 1), []*tensor.Dense{x, shapeTensorI64([]int{1}, 5)}},
		{"reshape two -1", 13, shapeTestNode("Reshape", []string{"x", "s"}, 1), []*tensor.Dense{x, shapeTensorI64([]int{2}, -1, -1)}},
		{"reshape huge", 13, shapeTestNode("Reshape", []string{"x", "s"}, 1), []*tensor.Dense{x, shapeTensorI64([]int{3}, math.MaxInt64, math.MaxInt64, 0)}},
		{"squeeze non-1", 13, shapeTestNode("Squeeze", []string{"x", "a"}, 1), []*tensor.Dense{x, shapeTensorI64([]int{1}, 0)}},
		{"unsqueeze dup", 13, shapeTestNode("Unsqueeze", []string{"x", "a"}, 1), []*tensor.Dense{x, shapeTensorI64([]int{2}, 0, 0)}},
		{"transpose perm", 13, shapeTestNode("Transpose", []string{"x"}, 1, shapeAttrIs("perm", 0, 0, 1)), []*tensor.Dense{x}},
		{"concat shapes", 13, shapeTestNode("Concat", []string{"a", "b"}, 1, shapeAttrI("axis", 0)), []*tensor.Dense{x, shapeTensorI64([]int{2}, 1, 2)}},
		{"slice step 0", 13, shapeTestNode("Slice", []string{"x", "s", "e", "a", "p"}, 1), []*tensor.Dense{x, shapeTensorI64([]int{1}, 0), shapeTensorI64([]int{1}, 1), shapeTensorI64([]int{1}, 0), shapeTensorI64([]int{1}, 0)}},
		{"expand", 13, shapeTestNode("Expand", []string{"x", "s"}, 1), []*tensor.Dense{x, shapeTensorI64([]int{1}, 3)}},
		{"pad huge", 13, shapeTestNode("Pad", []string{"x", "p"}, 1), []*tensor.Dense{x, shapeTensorI64([]int{6}, 0, 0, math.MaxInt64, 0, 0, 1)}},
		{"tile", 13, shapeTestNode("Tile", []string{"x", "r"}, 1), []*tensor.Dense{x, shapeTensorI64([]int{2}, 1, 1)}},
	}
	for _, c := range bad {
		_, err := shapeRunOpErr(c.opset, c.n, c.in...)
		var ne *onnx.NodeError
		if err == nil || !errors.As(err, &ne) {
			t.Errorf("%s: got %v, want a node error", c.name, err)
		}
	}
}

// BenchmarkTranspose measures the permutations models use most. The
// kernel writes into a reused buffer: allocating fresh output costs more
// than the copy itself and would hide it.
func BenchmarkTranspose(b *testing.B) {
	cases := []struct {
		shape []int
		perm  []int
	}{
		{[]int{1, 64, 56, 56}, []int{0, 2, 3, 1}},
		{[]int{1, 56, 56, 64}, []int{0, 3, 1, 2}},
		{[]int{8, 128, 12, 64}, []int{0, 2, 1, 3}},
		{[]int{8, 128, 12, 64}, []int{0, 2, 3, 1}},
		{[]int{1024, 1024}, []int{1, 0}},
	}
	for _, c := range cases {
		x := shapeRandF32(rand.New(rand.NewPCG(1, 1)), c.shape...)
		shape := make([]int, len(c.perm))
		src := make([]int, len(c.perm))
		st := tensor.Strides(x.Shape)
		for i, p := range c.perm {
			shape[i], src[i] = x.Shape[p], st[p]
		}
		out := tensor.New(tensor.Float32, shape...)
		b.Run(fmt.Sprint(c.shape, c.perm), func(b *testing.B) {
			b.SetBytes(int64(4 * x.Len()))
			for b.Loop() {
				shapeRunPlan(out, x, shapePlan{shape: shape, dst: tensor.Strides(shape), src: src}, 1)
			}
		})
	}
}

// TestConcatBands checks Concat along channels at batch 1 with several
// threads, which copies bands of every plane on each thread
// (concatBands), against the concatenation written out: planes not a
// multiple of the thread count, inputs of one channel, two and three
// threads, and a batch of two (one band per image and thread).
func TestConcatBands(t *testing.T) {
	r := rand.New(rand.NewPCG(61, 62))
	for _, tc := range []struct {
		batch, h, w int
		chans       []int
		threads     int
	}{
		{1, 17, 19, []int{3, 1, 5}, 2},
		{1, 16, 16, []int{2, 2}, 3},
		{2, 20, 13, []int{4, 3}, 3},
	} {
		ins := make([]*tensor.Dense, len(tc.chans))
		for i, c := range tc.chans {
			ins[i] = convRand(r, tc.batch, c, tc.h, tc.w)
		}
		out, err := convRunOp(13, tc.threads, 1, "Concat", []*onnx.Attr{convAttrI("axis", 1)}, ins...)
		if err != nil {
			t.Fatal(err)
		}
		var want []float32
		plane := tc.h * tc.w
		for b := range tc.batch {
			for i, c := range tc.chans {
				want = append(want, ins[i].F32[b*c*plane:(b+1)*c*plane]...)
			}
		}
		if len(out[0].F32) != len(want) {
			t.Fatalf("%+v: %d elements, want %d", tc, len(out[0].F32), len(want))
		}
		for i, v := range want {
			if out[0].F32[i] != v {
				t.Fatalf("%+v: element %d = %v, want %v", tc, i, out[0].F32[i], v)
			}
		}
	}
}
