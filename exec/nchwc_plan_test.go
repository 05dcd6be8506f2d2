package exec

import (
	"slices"
	"strings"
	"testing"

	"github.com/graft-ml/graft/exec/internal/nchwc"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// nchwcModel is a small residual network whose convolutions the blocked
// path takes: x (16 channels) → 3×3 Conv+Relu to 32 → a stride-2 3×3
// Conv+Relu → a residual block (3×3 Conv+Relu, 3×3 Conv, Add of the
// block's input, Relu) → a projection block (stride-2 3×3 Conv+Relu, 3×3
// Conv, Add of a stride-2 1×1 Conv of the block's input, Relu) → a 1×1
// Conv to 16 → Neg.
func nchwcModel(x []int) (*onnx.Model, *tensor.Dense) {
	g := onnx.NewGraph("g")
	in, _ := g.AddInput("x", onnx.ShapeOf(tensor.Float32, x...))
	n := 0
	conv := func(v *onnx.Value, cin, cout, k, s int, relu bool) *onnx.Value {
		n++
		name := string(rune('a' + n))
		w := chainFill(tensor.New(tensor.Float32, cout, cin, k, k), 0.4/float64(k))
		b := chainFill(tensor.New(tensor.Float32, cout), 0.2)
		p := (k - 1) / 2
		y := g.AddNode("Conv", "", "conv_"+name, []*onnx.Value{v, g.AddConst("w_"+name, w), g.AddConst("b_"+name, b)},
			[]string{"y_" + name}, onnx.IntsAttr("pads", int64(p), int64(p), int64(p), int64(p)), onnx.IntsAttr("strides", int64(s), int64(s))).Outputs[0]
		if relu {
			y = g.AddNode("Relu", "", "relu_"+name, []*onnx.Value{y}, []string{"r_" + name}).Outputs[0]
		}
		return y
	}
	add := func(a, b *onnx.Value, name string) *onnx.Value {
		s := g.AddNode("Add", "", "add_"+name, []*onnx.Value{a, b}, []string{"s_" + name}).Outputs[0]
		return g.AddNode("Relu", "", "relu_"+name, []*onnx.Value{s}, []string{"h_" + name}).Outputs[0]
	}
	h := conv(in, x[1], 32, 3, 1, true)
	h = conv(h, 32, 32, 3, 2, true)
	h = add(conv(conv(h, 32, 32, 3, 1, true), 32, 32, 3, 1, false), h, "block1")
	h = add(conv(conv(h, 32, 48, 3, 2, true), 48, 48, 3, 1, false), conv(h, 32, 48, 1, 2, false), "block2")
	out := g.AddNode("Neg", "", "neg", []*onnx.Value{conv(h, 48, 16, 1, 1, false)}, []string{"out"}).Outputs[0]
	g.Outputs = append(g.Outputs, out)
	return onnx.NewModel(g, 17), chainFill(tensor.New(tensor.Float32, x...), 1)
}

// nchwcFireModel is a SqueezeNet- and DenseNet-like network: x (16
// channels) → a 3×3 Conv+Relu → a 3×3 stride-2 MaxPool (ceil_mode) → a
// 1×1 Conv+Relu to 16 → a 1×1 and a 3×3 Conv+Relu to 32 each → Concat
// (SqueezeNet's fire module) → a 1×1 Conv+Relu to 32 → a 1×1 and a 3×3
// Conv to 32 each → Concat → BatchNormalization → Relu (DenseNet's) → a
// 1×1 Conv to 32 → a 2×2 AveragePool → Concat with a 1×1 Conv of itself
// → Neg.
func nchwcFireModel(x []int) (*onnx.Model, *tensor.Dense) {
	g := onnx.NewGraph("g")
	in, _ := g.AddInput("x", onnx.ShapeOf(tensor.Float32, x...))
	n := 0
	conv := func(v *onnx.Value, cin, cout, k int, relu bool) *onnx.Value {
		n++
		name := string(rune('a' + n))
		w := chainFill(tensor.New(tensor.Float32, cout, cin, k, k), 0.5/float64(k))
		b := chainFill(tensor.New(tensor.Float32, cout), 0.2)
		p := int64((k - 1) / 2)
		y := g.AddNode("Conv", "", "conv_"+name, []*onnx.Value{v, g.AddConst("w_"+name, w), g.AddConst("b_"+name, b)},
			[]string{"y_" + name}, onnx.IntsAttr("pads", p, p, p, p)).Outputs[0]
		if relu {
			y = g.AddNode("Relu", "", "relu_"+name, []*onnx.Value{y}, []string{"r_" + name}).Outputs[0]
		}
		return y
	}
	h := g.AddNode("MaxPool", "", "pool", []*onnx.Value{conv(in, x[1], 16, 3, true)}, []string{"p"}, onnx.IntsAttr("kernel_shape", 3, 3),
		onnx.IntsAttr("strides", 2, 2), onnx.IntAttr("ceil_mode", 1)).Outputs[0]
	sq := conv(h, x[1], 16, 1, true)
	cat := g.AddNode("Concat", "", "cat", []*onnx.Value{conv(sq, 16, 32, 1, true), conv(sq, 16, 32, 3, true)}, []string{"cat"}, onnx.IntAttr("axis", 1)).Outputs[0]
	sq = conv(cat, 64, 32, 1, true)
	cat = g.AddNode("Concat", "", "cat_bn", []*onnx.Value{conv(sq, 32, 32, 1, false), conv(sq, 32, 32, 3, false)}, []string{"cat_bn"}, onnx.IntAttr("axis", 1)).Outputs[0]
	bn := []*onnx.Value{cat}
	for i, s := range []float64{0.5, 0.1, 0.3, 0.7} {
		d := chainFill(tensor.New(tensor.Float32, 64), s)
		if i == 3 {
			for j := range d.F32 {
				d.F32[j] = 1 + float32(j%5)*0.1 // a variance
			}
		}
		bn = append(bn, g.AddConst(string(rune('p'+i)), d))
	}
	h = g.AddNode("BatchNormalization", "", "bn", bn, []string{"bn"}).Outputs[0]
	h = g.AddNode("Relu", "", "bnrelu", []*onnx.Value{h}, []string{"bnr"}).Outputs[0]
	h = g.AddNode("AveragePool", "", "avg", []*onnx.Value{conv(h, 64, 32, 1, false)}, []string{"avg"},
		onnx.IntsAttr("kernel_shape", 2, 2), onnx.IntsAttr("strides", 2, 2)).Outputs[0]
	h = g.AddNode("Concat", "", "cat2", []*onnx.Value{h, conv(h, 32, 16, 1, false)}, []string{"cat2"}, onnx.IntAttr("axis", 1)).Outputs[0]
	out := g.AddNode("Neg", "", "neg", []*onnx.Value{h}, []string{"out"}).Outputs[0]
	g.Outputs = append(g.Outputs, out)
	return onnx.NewModel(g, 17), chainFill(tensor.New(tensor.Float32, x...), 1)
}

// nchwcInvertedModel is a MobileNetV2 block: x (16 channels) → Relu →
// a 1×1 Conv+Relu to 64 → a depthwise 3×3 Conv+Relu → a 1×1 Conv to 16
// → Add the Relu's output → Neg. planDepthwise pairs the first two Convs; planNCHWc plans all
// three blocked.
func nchwcInvertedModel(x []int) (*onnx.Model, *tensor.Dense) {
	g := onnx.NewGraph("g")
	in, _ := g.AddInput("x", onnx.ShapeOf(tensor.Float32, x...))
	conv := func(name string, v *onnx.Value, cin, cout, k, group int, relu bool) *onnx.Value {
		w := chainFill(tensor.New(tensor.Float32, cout, cin/group, k, k), 0.5/float64(k))
		b := chainFill(tensor.New(tensor.Float32, cout), 0.2)
		p := int64((k - 1) / 2)
		y := g.AddNode("Conv", "", name, []*onnx.Value{v, g.AddConst("w_"+name, w), g.AddConst("b_"+name, b)},
			[]string{"y_" + name}, onnx.IntsAttr("pads", p, p, p, p), onnx.IntAttr("group", int64(group))).Outputs[0]
		if relu {
			y = g.AddNode("Relu", "", "relu_"+name, []*onnx.Value{y}, []string{"r_" + name}).Outputs[0]
		}
		return y
	}
	// The block's input is computed (a Relu of x): an Add of a graph
	// input is never fused.
	r := g.AddNode("Relu", "", "relu_x", []*onnx.Value{in}, []string{"rx"}).Outputs[0]
	h := conv("expand", r, x[1], 64, 1, 1, true)
	h = conv("dw", h, 64, 64, 3, 64, true)
	h = conv("project", h, 64, x[1], 1, 1, false)
	h = g.AddNode("Add", "", "add", []*onnx.Value{h, r}, []string{"s"}).Outputs[0]
	out := g.AddNode("Neg", "", "neg", []*onnx.Value{h}, []string{"out"}).Outputs[0]
	g.Outputs = append(g.Outputs, out)
	return onnx.NewModel(g, 17), chainFill(tensor.New(tensor.Float32, x...), 1)
}

// nchwcPrograms infers m's shapes (ONNX Runtime's checker wants them)
// and compiles it twice: as it runs, and with every Conv on the NCHW
// paths, the reference.
func nchwcPrograms(t *testing.T, m *onnx.Model) (p, ref *Program) {
	t.Helper()
	if err := InferShapes(m); err != nil {
		t.Fatal(err)
	}
	p, err := Compile(m)
	if err != nil {
		t.Fatal(err)
	}
	if ref, err = CompileWith(m, Options{noNCHWc: true}); err != nil {
		t.Fatal(err)
	}
	return p, ref
}

// TestNCHWcChain checks the blocked path inside a program (planNCHWc):
// every Conv, Concat and pool runs blocked, the result matches the
// program on the NCHW paths and ONNX Runtime within 1e-5 of the largest
// magnitude; a hidden value that stays blocked comes back in NCHW when
// requested, equal to the NCHW program's; and a value supplied in the
// middle of the chain (replacing a blocked one) gives the NCHW program's
// result.
func TestNCHWcChain(t *testing.T) {
	if !nchwc.Fast() {
		t.Skip("no blocked kernels on this machine")
	}
	cases := []struct {
		model         func([]int) (*onnx.Model, *tensor.Dense)
		x             []int
		planned, kept int
		hidden        string
		paired        bool // the expansion bands: the pair runs paired
	}{
		// 8 Convs, all blocked; all but the last keep their output so.
		{nchwcModel, []int{1, 16, 15, 17}, 8, 7, "h_block1", false},
		{nchwcModel, []int{3, 16, 8, 8}, 8, 7, "h_block1", false},
		// The first Conv reads an image's three channels in planes.
		{nchwcModel, []int{2, 3, 15, 17}, 8, 7, "h_block1", false},
		// 9 Convs, 2 pools, 3 Concats: all but cat2 keep theirs.
		{nchwcFireModel, []int{2, 16, 17, 17}, 14, 13, "bnr", false},
		// The pair runs blocked on a small map, paired in bands on a
		// large batch (8 × 64 channels × 64 × 64: 8 MB expanded).
		{nchwcInvertedModel, []int{1, 16, 20, 20}, 3, 2, "r_dw", false},
		{nchwcInvertedModel, []int{8, 16, 64, 64}, 3, 2, "r_dw", true},
	}
	for _, tc := range cases {
		x := tc.x
		m, xv := tc.model(x)
		p, ref := nchwcPrograms(t, m)
		planned, kept := 0, 0
		for i := range p.steps {
			if p.steps[i].nchwc {
				planned++
			}
			if p.steps[i].nchwcOut {
				kept++
			}
		}
		if planned != tc.planned || kept != tc.kept {
			t.Fatalf("x %v: %d steps planned blocked, %d outputs kept blocked; want %d and %d", x, planned, kept, tc.planned, tc.kept)
		}
		for _, threads := range []int{1, 3} {
			p.Threads, ref.Threads = threads, threads
			in := map[string]*tensor.Dense{"x": xv}
			prof := &Profile{}
			got, err := p.Run(in, RunOptions{Profile: prof})
			if err != nil {
				t.Fatal(err)
			}
			want, err := ref.Run(in, RunOptions{})
			if err != nil {
				t.Fatal(err)
			}
			chainCloseTo(t, got["out"], want["out"])
			for _, s := range prof.Nodes() {
				switch {
				case strings.HasSuffix(s.Op, nchwcMark), s.Op == "Neg", s.Op == "Relu" && s.Node == "relu_x":
				case tc.paired && s.Op == "Conv"+depthwiseMark:
				default:
					t.Errorf("x %v: %s (%s) ran on the NCHW paths", x, s.Node, s.Op)
				}
			}
			// The hidden value is a blocked one.
			hid, err := p.Run(in, RunOptions{Outputs: []string{tc.hidden, "out"}})
			if err != nil {
				t.Fatal(err)
			}
			refHid, err := ref.Run(in, RunOptions{Outputs: []string{tc.hidden}})
			if err != nil {
				t.Fatal(err)
			}
			chainCloseTo(t, hid[tc.hidden], refHid[tc.hidden])
			chainCloseTo(t, hid["out"], want["out"])
			// Supplying it replaces the chain before it.
			sup := map[string]*tensor.Dense{"x": xv, tc.hidden: refHid[tc.hidden]}
			got2, err := p.Run(sup, RunOptions{})
			if err != nil {
				t.Fatal(err)
			}
			want2, err := ref.Run(sup, RunOptions{})
			if err != nil {
				t.Fatal(err)
			}
			chainCloseTo(t, got2["out"], want2["out"])
		}
		got, err := p.Run(map[string]*tensor.Dense{"x": xv}, RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		chainMatchesORT(t, m, xv, got["out"])
	}
}

// TestNCHWcConcatInto checks the Convs that write their blocked outputs
// straight into a Concat's (planConcatInto): in the fire model the two
// expand Convs do; the result matches the NCHW program within 1e-5 of
// the largest magnitude, also in runs that request or supply one of
// their outputs (the Concat then copies it in) and at 1 and 3 threads.
func TestNCHWcConcatInto(t *testing.T) {
	if !nchwc.Fast() {
		t.Skip("no blocked kernels on this machine")
	}
	m, xv := nchwcFireModel([]int{2, 16, 17, 17})
	p, ref := nchwcPrograms(t, m)
	var cat *step
	for i := range p.steps {
		if s := &p.steps[i]; s.intoCh > 0 {
			cat = s
		}
	}
	if cat == nil || cat.node.Name != "cat" || cat.intoCh != 64 || len(cat.intoFrom) != 2 || !slices.Equal(cat.intoBlocks, []int{0, 2}) {
		t.Fatalf("planned concat: %+v", cat)
	}
	e1 := cat.intoFrom[0].fuse.node.Outputs[0].Name // the 1×1 expand's Relu
	in := map[string]*tensor.Dense{"x": xv}
	for _, threads := range []int{1, 3} {
		p.Threads, ref.Threads = threads, threads
		want, err := ref.Run(in, RunOptions{Outputs: []string{"out", e1}})
		if err != nil {
			t.Fatal(err)
		}
		for _, opts := range []RunOptions{{}, {Outputs: []string{"out", e1}}} {
			got, err := p.Run(in, opts)
			if err != nil {
				t.Fatal(err)
			}
			chainCloseTo(t, got["out"], want["out"])
			if len(opts.Outputs) > 0 {
				chainCloseTo(t, got[e1], want[e1])
			}
		}
		sup := map[string]*tensor.Dense{"x": xv, e1: want[e1]}
		got, err := p.Run(sup, RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		chainCloseTo(t, got["out"], want["out"])
	}
}
