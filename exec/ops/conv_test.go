package ops

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Helpers shared by the conv, pool, matmul and norm tests.

func convAttrIs(name string, v ...int) *onnx.Attr {
	a := &onnx.Attr{Name: name, Type: onnx.AttrInts, Ints: make([]int64, len(v))}
	for i, x := range v {
		a.Ints[i] = int64(x)
	}
	return a
}

func convAttrI(name string, v int) *onnx.Attr {
	return &onnx.Attr{Name: name, Type: onnx.AttrInt, I: int64(v)}
}

func convAttrS(name, v string) *onnx.Attr {
	return &onnx.Attr{Name: name, Type: onnx.AttrString, S: v}
}

func convAttrF(name string, v float32) *onnx.Attr {
	return &onnx.Attr{Name: name, Type: onnx.AttrFloat, F: v}
}

// convNode builds a node of op with nIn inputs (nil where in[i] is nil)
// and nOut outputs.
func convNode(op string, in []*tensor.Dense, nOut int, attrs []*onnx.Attr) *onnx.Node {
	n := &onnx.Node{Name: "test_" + op, OpType: op, Attrs: attrs}
	for i, t := range in {
		if t == nil {
			n.Inputs = append(n.Inputs, nil)
			continue
		}
		n.Inputs = append(n.Inputs, &onnx.Value{Name: fmt.Sprint("in", i)})
	}
	for i := range nOut {
		n.Outputs = append(n.Outputs, &onnx.Value{Name: fmt.Sprint("out", i)})
	}
	return n
}

// convMarkConst makes inputs idx of n constant initializers holding in[i],
// as a loaded model's weights are.
func convMarkConst(n *onnx.Node, in []*tensor.Dense, idx ...int) {
	for _, i := range idx {
		if i < len(in) && in[i] != nil {
			n.Inputs[i].Const = onnx.NewTensor(n.Inputs[i].Name, in[i])
		}
	}
}

// convRunOp runs op's Infer and Run on in (nil entries are absent inputs)
// and checks that Infer predicted the outputs' types.
func convRunOp(opset, threads, nOut int, op string, attrs []*onnx.Attr, in ...*tensor.Dense) ([]*tensor.Dense, error) {
	return convRunNode(convNode(op, in, nOut, attrs), opset, threads, in...)
}

func convRunNode(n *onnx.Node, opset, threads int, in ...*tensor.Dense) ([]*tensor.Dense, error) {
	entry, err := Resolve(n, opset)
	if err != nil {
		return nil, err
	}
	ic := &InferCtx{Node: n, Opset: opset, In: make([]onnx.Type, len(in))}
	for i, t := range in {
		if t != nil {
			ic.In[i] = onnx.ShapeOf(t.DType, t.Shape...)
		}
	}
	types, err := entry.Infer(ic)
	if err != nil {
		return nil, fmt.Errorf("infer: %w", err)
	}
	out, err := entry.Run(&RunCtx{Node: n, Opset: opset, In: in, Threads: threads})
	if err != nil {
		return nil, err
	}
	if len(types) != len(out) {
		return nil, fmt.Errorf("infer gave %d types, run %d outputs", len(types), len(out))
	}
	for i := range out {
		if !typeMatches(types[i], out[i]) {
			return nil, fmt.Errorf("inferred output %d as %s, kernel produced %s%v", i, types[i], out[i].DType, out[i].Shape)
		}
	}
	return out, nil
}

func convRand(r *rand.Rand, shape ...int) *tensor.Dense {
	t := tensor.New(tensor.Float32, shape...)
	for i := range t.F32 {
		t.F32[i] = r.Float32()*2 - 1
	}
	return t
}

// convCheck compares a float32 result with a float64 reference.
func convCheck(t *testing.T, got *tensor.Dense, shape []int, want []float64) {
	t.Helper()
	if !tensor.SameShape(got.Shape, shape) {
		t.Fatalf("shape %v, want %v", got.Shape, shape)
	}
	g := got.Float64s()
	for i := range want {
		if g[i] == want[i] {
			continue // infinities (a max pool's window of padding alone)
		}
		if d := math.Abs(g[i] - want[i]); !(d <= 1e-4*(1+math.Abs(want[i]))) {
			t.Fatalf("element %d of %v: got %g, want %g", i, shape, g[i], want[i])
		}
	}
}

// convRefCase is a convolution in the reference's terms: explicit begin
// pads and output sizes.
type convRefCase struct {
	x, w             *tensor.Dense
	bias             *tensor.Dense
	group            int
	strides, dils    []int
	padBegin, outDim []int
}

// convRef is a direct float64 convolution over any number of spatial dims.
func convRef(c convRefCase) []float64 {
	xs, ws := c.x.Shape, c.w.Shape
	nd := len(xs) - 2
	batch, cin, cout := xs[0], xs[1], ws[0]
	cg, mg := cin/c.group, cout/c.group
	kvol, inVol, outVol := 1, 1, 1
	for i := range nd {
		kvol *= ws[2+i]
		inVol *= xs[2+i]
		outVol *= c.outDim[i]
	}
	y := make([]float64, batch*cout*outVol)
	o := make([]int, nd)
	kk := make([]int, nd)
	for b := range batch {
		for m := range cout {
			gi := m / mg
			for op := range outVol {
				unravel(op, c.outDim, o)
				var s float64
				if c.bias != nil {
					s = float64(c.bias.F32[m])
				}
				for ci := range cg {
					ch := gi*cg + ci
					for kp := range kvol {
						unravel(kp, ws[2:], kk)
						idx, inside := 0, true
						for i := range nd {
							pos := o[i]*c.strides[i] - c.padBegin[i] + kk[i]*c.dils[i]
							if pos < 0 || pos >= xs[2+i] {
								inside = false
								break
							}
							idx = idx*xs[2+i] + pos
						}
						if inside {
							s += float64(c.x.F32[(b*cin+ch)*inVol+idx]) * float64(c.w.F32[(m*cg+ci)*kvol+kp])
						}
					}
				}
				y[(b*cout+m)*outVol+op] = s
			}
		}
	}
	return y
}

// unravel writes the row-major coordinates of flat index i in shape to c.
func unravel(i int, shape, c []int) {
	for d := len(shape) - 1; d >= 0; d-- {
		c[d] = i % shape[d]
		i /= shape[d]
	}
}

type convCase struct {
	name       string
	x          []int // input shape
	cout       int
	kernel     []int
	group      int
	strides    []int
	dils       []int
	pads       []int // begin then end; nil for none
	autoPad    string
	noBias     bool
	threads    int
	wantPadBeg []int // begin padding the reference uses with auto_pad
}

func TestConvAgainstReference(t *testing.T) {
	cases := []convCase{
		{name: "pointwise", x: []int{1, 8, 5, 7}, cout: 4, kernel: []int{1, 1}},
		{name: "pointwise_batch_group", x: []int{3, 8, 5, 7}, cout: 6, kernel: []int{1, 1}, group: 2, threads: 2},
		// Small maps over a batch: one GEMM over every image's positions
		// (convPointwiseBatched), output channels in partial tiles.
		{name: "pointwise_batched_7x7", x: []int{3, 37, 7, 7}, cout: 70, kernel: []int{1, 1}, threads: 2},
		{name: "pointwise_batched_8x8_nobias", x: []int{2, 9, 8, 8}, cout: 13, kernel: []int{1, 1}, noBias: true, threads: 3},
		{name: "pointwise_batched_1d", x: []int{5, 4, 11}, cout: 3, kernel: []int{1}},
		{name: "pointwise_stride2", x: []int{2, 5, 9, 8}, cout: 3, kernel: []int{1, 1}, strides: []int{2, 2}},
		// im2col's stride-2 rows of 16 or more by deinterleaving: a 1×1
		// shortcut, and dilated taps whose runs start and end in padding.
		{name: "pointwise_stride2_wide", x: []int{2, 5, 40, 41}, cout: 6, kernel: []int{1, 1}, strides: []int{2, 2}, threads: 2},
		{name: "im2col_stride2_dilated", x: []int{1, 3, 20, 70}, cout: 4, kernel: []int{3, 3}, strides: []int{2, 2}, dils: []int{2, 2}, pads: []int{2, 2, 2, 2}},
		{name: "3x3_pad1", x: []int{2, 3, 9, 11}, cout: 5, kernel: []int{3, 3}, pads: []int{1, 1, 1, 1}},
		{name: "3x3_stride2_odd", x: []int{1, 4, 7, 7}, cout: 3, kernel: []int{3, 3}, strides: []int{2, 2}, pads: []int{1, 1, 1, 1}},
		{name: "5x5_dil2_asym", x: []int{1, 2, 13, 10}, cout: 3, kernel: []int{5, 5}, dils: []int{2, 2}, pads: []int{3, 1, 2, 0}, noBias: true},
		{name: "rect_kernel_strides", x: []int{2, 3, 8, 12}, cout: 4, kernel: []int{2, 5}, strides: []int{3, 2}, pads: []int{0, 2, 1, 2}},
		{name: "group2", x: []int{1, 4, 6, 6}, cout: 6, kernel: []int{3, 3}, group: 2, pads: []int{1, 1, 1, 1}},
		{name: "group4_stride2", x: []int{2, 8, 7, 9}, cout: 8, kernel: []int{3, 3}, group: 4, strides: []int{2, 2}},
		{name: "depthwise_3x3", x: []int{2, 6, 10, 9}, cout: 6, kernel: []int{3, 3}, group: 6, pads: []int{1, 1, 1, 1}},
		{name: "depthwise_3x3_s2", x: []int{1, 5, 11, 8}, cout: 5, kernel: []int{3, 3}, group: 5, strides: []int{2, 2}, pads: []int{1, 1, 1, 1}},
		{name: "depthwise_3x3_s2_nopad", x: []int{1, 3, 12, 12}, cout: 3, kernel: []int{3, 3}, group: 3, strides: []int{2, 2}, noBias: true},
		{name: "depthwise_multiplier", x: []int{2, 3, 7, 8}, cout: 6, kernel: []int{3, 3}, group: 3, pads: []int{1, 1, 1, 1}},
		{name: "depthwise_5x5_dil2", x: []int{1, 4, 12, 11}, cout: 4, kernel: []int{5, 5}, group: 4, dils: []int{2, 2}, pads: []int{4, 4, 4, 4}},
		{name: "depthwise_big_kernel", x: []int{1, 2, 3, 2}, cout: 2, kernel: []int{5, 5}, group: 2, pads: []int{2, 2, 2, 2}},
		{name: "depthwise_5x5_asym_pads", x: []int{2, 3, 9, 14}, cout: 3, kernel: []int{5, 5}, group: 3, pads: []int{1, 2, 3, 0}},
		{name: "depthwise_3x5_nopad", x: []int{1, 4, 8, 17}, cout: 8, kernel: []int{3, 5}, group: 4},
		{name: "depthwise_threads", x: []int{2, 32, 30, 30}, cout: 32, kernel: []int{3, 3}, group: 32, pads: []int{1, 1, 1, 1}, threads: 3},
		// Depthwise through vec.ConvTaps: every stride, window, dilation
		// and padding, rows shorter than a vector block and longer than
		// the 64-output block, channel counts not a multiple of 8.
		{name: "depthwise_5x5_s2", x: []int{2, 5, 17, 19}, cout: 5, kernel: []int{5, 5}, group: 5, strides: []int{2, 2}, pads: []int{2, 2, 2, 2}},
		{name: "depthwise_5x5_s2_wide", x: []int{1, 3, 9, 150}, cout: 3, kernel: []int{5, 5}, group: 3, strides: []int{2, 2}, pads: []int{2, 2, 2, 2}, threads: 2},
		{name: "depthwise_3x3_s2_wide", x: []int{1, 3, 7, 141}, cout: 3, kernel: []int{3, 3}, group: 3, strides: []int{2, 2}, pads: []int{0, 1, 1, 1}},
		{name: "depthwise_3x3_s1_wide", x: []int{1, 2, 5, 133}, cout: 2, kernel: []int{3, 3}, group: 2, pads: []int{0, 0, 2, 1}},
		{name: "depthwise_7x7_s1", x: []int{1, 7, 9, 10}, cout: 7, kernel: []int{7, 7}, group: 7, pads: []int{3, 3, 3, 3}},
		{name: "depthwise_stride_2x1", x: []int{1, 3, 10, 20}, cout: 3, kernel: []int{3, 3}, group: 3, strides: []int{2, 1}, pads: []int{1, 1, 1, 1}},
		{name: "depthwise_stride_1x2", x: []int{1, 3, 10, 20}, cout: 3, kernel: []int{3, 3}, group: 3, strides: []int{1, 2}, pads: []int{1, 1, 1, 1}},
		{name: "depthwise_stride3_dil2", x: []int{2, 3, 23, 25}, cout: 3, kernel: []int{3, 3}, group: 3, strides: []int{3, 3}, dils: []int{2, 2}, pads: []int{2, 1, 0, 2}},
		{name: "depthwise_s2_bigpad", x: []int{1, 3, 4, 5}, cout: 3, kernel: []int{3, 3}, group: 3, strides: []int{2, 2}, pads: []int{4, 3, 5, 4}},
		{name: "depthwise_multiplier_s2", x: []int{2, 3, 9, 11}, cout: 9, kernel: []int{5, 5}, group: 3, strides: []int{2, 2}, pads: []int{2, 2, 2, 2}},
		{name: "depthwise_1x1_s2", x: []int{1, 9, 6, 7}, cout: 9, kernel: []int{1, 1}, group: 9, strides: []int{2, 2}},
		{name: "conv1d_depthwise_s2", x: []int{2, 5, 37}, cout: 5, kernel: []int{5}, group: 5, strides: []int{2}, pads: []int{2, 2}},
		// Sixteen or eight channels at a time (convDWBlock; 40 channels:
		// two blocks of sixteen and one of eight where DWC16 is vector
		// code), the channels past the last block per plane: small planes, stride 2, rows
		// shorter than, equal to and longer than a group of eight
		// outputs, asymmetric and oversized padding, 1-D, threads.
		// Two geometries of equal buffer sizes whose inputs lie at
		// different places in the padded buffers, one after the other:
		// recycled scratch (keyedPool) must not carry one's interior into
		// the other's border. Blocked path, then the whole-plane windows.
		{name: "dw_recycled_pads_a", x: []int{1, 8, 10, 10}, cout: 8, kernel: []int{3, 3}, group: 8, pads: []int{1, 1, 1, 1}},
		{name: "dw_recycled_pads_b", x: []int{1, 8, 10, 10}, cout: 8, kernel: []int{3, 3}, group: 8, pads: []int{0, 2, 2, 0}},
		{name: "dw_recycled_wide_a", x: []int{1, 2, 6, 40}, cout: 2, kernel: []int{3, 3}, group: 2, pads: []int{1, 1, 1, 1}},
		{name: "dw_recycled_wide_b", x: []int{1, 2, 6, 40}, cout: 2, kernel: []int{3, 3}, group: 2, pads: []int{0, 2, 2, 0}},
		{name: "dwblock_3x3_13ch", x: []int{2, 13, 14, 14}, cout: 13, kernel: []int{3, 3}, group: 13, pads: []int{1, 1, 1, 1}, threads: 2},
		{name: "dwblock_3x3_s2_wide", x: []int{1, 16, 9, 45}, cout: 16, kernel: []int{3, 3}, group: 16, strides: []int{2, 2}, pads: []int{1, 1, 1, 1}, threads: 3},
		{name: "dwblock_5x5_s2_7", x: []int{2, 24, 14, 14}, cout: 24, kernel: []int{5, 5}, group: 24, strides: []int{2, 2}, pads: []int{2, 2, 2, 2}},
		{name: "dwblock_7x7_noBias", x: []int{1, 8, 7, 7}, cout: 8, kernel: []int{3, 3}, group: 8, pads: []int{1, 1, 1, 1}, noBias: true},
		{name: "dwblock_asym_bigpad", x: []int{1, 9, 6, 8}, cout: 9, kernel: []int{3, 5}, group: 9, strides: []int{2, 1}, pads: []int{3, 0, 1, 4}},
		{name: "dwblock_1d_s2", x: []int{2, 16, 37}, cout: 16, kernel: []int{5}, group: 16, strides: []int{2}, pads: []int{2, 1}},
		{name: "dwblock_40ch_16_16_8", x: []int{1, 40, 7, 7}, cout: 40, kernel: []int{3, 3}, group: 40, pads: []int{1, 1, 1, 1}, threads: 2},
		{name: "dwblock_21ch_5x5_s2", x: []int{2, 21, 10, 11}, cout: 21, kernel: []int{5, 5}, group: 21, strides: []int{2, 2}, pads: []int{2, 2, 2, 2}, threads: 3},
		{name: "dwblock_s3_falls_back", x: []int{1, 8, 12, 12}, cout: 8, kernel: []int{3, 3}, group: 8, strides: []int{3, 3}, pads: []int{1, 1, 1, 1}},
		// Stride-1 convolutions wide enough for convFlatWide take the
		// flat path (convGemmFlat): tiles, asymmetric and oversized
		// padding, groups, threads.
		{name: "flat_3x3_pad1", x: []int{2, 5, 9, 30}, cout: 7, kernel: []int{3, 3}, pads: []int{1, 1, 1, 1}, threads: 2},
		{name: "flat_5x3_asym", x: []int{1, 3, 6, 27}, cout: 4, kernel: []int{5, 3}, pads: []int{2, 0, 3, 1}, noBias: true},
		{name: "flat_group_bigpad", x: []int{2, 4, 5, 24}, cout: 6, kernel: []int{3, 3}, group: 2, pads: []int{4, 3, 2, 5}, threads: 3},
		{name: "flat_tiles", x: []int{1, 40, 40, 40}, cout: 16, kernel: []int{3, 3}, pads: []int{1, 1, 1, 1}, threads: 2},
		// Small maps with many output channels over a batch: one GEMM
		// over every image's positions (convFlatBatched): channels not a
		// multiple of the micro-kernel's rows, asymmetric padding, a 5×5
		// window, threads.
		{name: "flat_batched_7x7", x: []int{3, 5, 7, 7}, cout: 260, kernel: []int{3, 3}, pads: []int{1, 1, 1, 1}, threads: 2},
		{name: "flat_batched_asym", x: []int{2, 4, 6, 8}, cout: 256, kernel: []int{3, 3}, pads: []int{0, 1, 2, 1}, noBias: true, threads: 3},
		{name: "flat_batched_5x5", x: []int{2, 3, 4, 13}, cout: 300, kernel: []int{5, 5}, pads: []int{2, 2, 2, 2}},
		{name: "size1_pointwise", x: []int{1, 3, 1, 1}, cout: 2, kernel: []int{1, 1}},
		// One position per image: a dense layer (convDense).
		{name: "dense_batch", x: []int{3, 48, 1, 1}, cout: 70, kernel: []int{1, 1}, threads: 2},
		{name: "dense_nobias", x: []int{1, 37, 1, 1}, cout: 9, kernel: []int{1, 1}, noBias: true},
		{name: "dense_1d", x: []int{2, 5, 1}, cout: 3, kernel: []int{1}},
		{name: "size1_3x3_pad1", x: []int{2, 3, 1, 1}, cout: 2, kernel: []int{3, 3}, pads: []int{1, 1, 1, 1}},
		{name: "conv1d", x: []int{2, 3, 10}, cout: 4, kernel: []int{3}, strides: []int{2}, pads: []int{1, 1}},
		{name: "conv1d_depthwise", x: []int{1, 4, 9}, cout: 4, kernel: []int{3}, group: 4, pads: []int{1, 0}},
		{name: "conv3d", x: []int{1, 2, 4, 5, 6}, cout: 4, kernel: []int{3, 3, 3}, group: 2, pads: []int{1, 1, 1, 1, 1, 1}},
		{name: "conv3d_stride", x: []int{2, 3, 5, 4, 6}, cout: 2, kernel: []int{2, 3, 1}, strides: []int{2, 1, 2}, dils: []int{1, 1, 1}},
		{name: "same_upper", x: []int{1, 3, 7, 9}, cout: 2, kernel: []int{3, 4}, strides: []int{2, 2}, autoPad: "SAME_UPPER", wantPadBeg: []int{1, 1}},
		{name: "same_lower", x: []int{1, 3, 7, 9}, cout: 2, kernel: []int{3, 4}, strides: []int{2, 2}, autoPad: "SAME_LOWER", wantPadBeg: []int{1, 2}},
		{name: "valid", x: []int{1, 3, 7, 8}, cout: 2, kernel: []int{3, 2}, strides: []int{2, 3}, autoPad: "VALID", wantPadBeg: []int{0, 0}},
		{name: "tiles_threads2", x: []int{1, 16, 40, 40}, cout: 32, kernel: []int{3, 3}, pads: []int{1, 1, 1, 1}, threads: 2},
		{name: "tiles_threads5", x: []int{2, 64, 20, 21}, cout: 24, kernel: []int{3, 3}, pads: []int{1, 1, 1, 1}, threads: 5},
		{name: "pointwise_tiles", x: []int{1, 64, 30, 30}, cout: 40, kernel: []int{1, 1}, threads: 3},
		{name: "small_n_parallel_gemm", x: []int{1, 128, 7, 7}, cout: 96, kernel: []int{3, 3}, pads: []int{1, 1, 1, 1}, threads: 3},
		{name: "resnet_stem", x: []int{1, 3, 45, 45}, cout: 16, kernel: []int{7, 7}, strides: []int{2, 2}, pads: []int{3, 3, 3, 3}, threads: 2},
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nd := len(tc.x) - 2
			group := max(tc.group, 1)
			ones := func() []int {
				s := make([]int, nd)
				for i := range s {
					s[i] = 1
				}
				return s
			}
			strides, dils := tc.strides, tc.dils
			if strides == nil {
				strides = ones()
			}
			if dils == nil {
				dils = ones()
			}
			pads := tc.pads
			if pads == nil {
				pads = make([]int, 2*nd)
			}
			x := convRand(r, tc.x...)
			w := convRand(r, append([]int{tc.cout, tc.x[1] / group}, tc.kernel...)...)
			var bias *tensor.Dense
			if !tc.noBias {
				bias = convRand(r, tc.cout)
			}
			attrs := []*onnx.Attr{convAttrIs("strides", strides...), convAttrIs("dilations", dils...), convAttrI("group", group)}
			padBeg := pads[:nd]
			outDim := make([]int, nd)
			if tc.autoPad != "" {
				attrs = append(attrs, convAttrS("auto_pad", tc.autoPad))
				padBeg = tc.wantPadBeg
				for i := range nd {
					ext := (tc.kernel[i]-1)*dils[i] + 1
					if tc.autoPad == "VALID" {
						outDim[i] = (tc.x[2+i]-ext)/strides[i] + 1
					} else {
						outDim[i] = (tc.x[2+i] + strides[i] - 1) / strides[i]
					}
				}
			} else {
				attrs = append(attrs, convAttrIs("pads", pads...))
				for i := range nd {
					ext := (tc.kernel[i]-1)*dils[i] + 1
					outDim[i] = (tc.x[2+i]+pads[i]+pads[nd+i]-ext)/strides[i] + 1
				}
			}
			want := convRef(convRefCase{x: x, w: w, bias: bias, group: group, strides: strides, dils: dils, padBegin: padBeg, outDim: outDim})
			in := []*tensor.Dense{x, w}
			if bias != nil {
				in = append(in, bias)
			}
			outShape := append([]int{tc.x[0], tc.cout}, outDim...)
			out, err := convRunOp(17, max(tc.threads, 1), 1, "Conv", attrs, in...)
			if err != nil {
				t.Fatal(err)
			}
			convCheck(t, out[0], outShape, want)
			// Constant weights are packed once and reused by later runs.
			n := convNode("Conv", in, 1, attrs)
			convMarkConst(n, in, 1, 2)
			for range 2 {
				out, err := convRunNode(n, 17, max(tc.threads, 1), in...)
				if err != nil {
					t.Fatal(err)
				}
				convCheck(t, out[0], outShape, want)
			}
		})
	}
}

// convTransposeRef scatters every input element through the window.
func convTransposeRef(x, w, bias *tensor.Dense, group int, strides, dils, padBegin, outDim []int) []float64 {
	xs, ws := x.Shape, w.Shape
	nd := len(xs) - 2
	batch, cin, mg := xs[0], xs[1], ws[1]
	cout, cg := mg*group, cin/group
	kvol, inVol, outVol := 1, 1, 1
	for i := range nd {
		kvol *= ws[2+i]
		inVol *= xs[2+i]
		outVol *= outDim[i]
	}
	y := make([]float64, batch*cout*outVol)
	for b := range batch {
		for m := range cout {
			if bias != nil {
				for p := range outVol {
					y[(b*cout+m)*outVol+p] = float64(bias.F32[m])
				}
			}
		}
	}
	ii, kk := make([]int, nd), make([]int, nd)
	for b := range batch {
		for ch := range cin {
			gi := ch / cg
			for ip := range inVol {
				unravel(ip, xs[2:], ii)
				xv := float64(x.F32[(b*cin+ch)*inVol+ip])
				for m := range mg {
					for kp := range kvol {
						unravel(kp, ws[2:], kk)
						idx, inside := 0, true
						for i := range nd {
							pos := ii[i]*strides[i] - padBegin[i] + kk[i]*dils[i]
							if pos < 0 || pos >= outDim[i] {
								inside = false
								break
							}
							idx = idx*outDim[i] + pos
						}
						if inside {
							y[(b*cout+gi*mg+m)*outVol+idx] += xv * float64(w.F32[(ch*mg+m)*kvol+kp])
						}
					}
				}
			}
		}
	}
	return y
}

func TestConvTransposeAgainstReference(t *testing.T) {
	type tcase struct {
		name                      string
		x                         []int
		mg, group                 int
		kernel, strides, dils     []int
		pads, outPad, outputShape []int
		autoPad                   string
		threads                   int
		// expected geometry
		padBeg, outDim []int
	}
	cases := []tcase{
		{name: "s2_k3_p1_op1", x: []int{1, 3, 5, 6}, mg: 4, group: 1, kernel: []int{3, 3}, strides: []int{2, 2}, pads: []int{1, 1, 1, 1}, outPad: []int{1, 1}, padBeg: []int{1, 1}, outDim: []int{10, 12}},
		{name: "group2_batch2", x: []int{2, 4, 4, 3}, mg: 3, group: 2, kernel: []int{2, 3}, strides: []int{2, 1}, padBeg: []int{0, 0}, outDim: []int{8, 5}, threads: 2},
		{name: "dilation", x: []int{1, 2, 4, 4}, mg: 2, group: 1, kernel: []int{3, 3}, dils: []int{2, 2}, pads: []int{1, 0, 2, 1}, padBeg: []int{1, 0}, outDim: []int{5, 7}},
		{name: "1d", x: []int{2, 3, 7}, mg: 2, group: 1, kernel: []int{4}, strides: []int{3}, padBeg: []int{0}, outDim: []int{22}},
		{name: "3d", x: []int{1, 2, 3, 2, 3}, mg: 2, group: 2, kernel: []int{2, 2, 3}, strides: []int{1, 2, 2}, padBeg: []int{0, 0, 0}, outDim: []int{4, 4, 7}},
		{name: "output_shape", x: []int{1, 1, 3, 3}, mg: 2, group: 1, kernel: []int{3, 3}, strides: []int{3, 2}, outputShape: []int{10, 8}, padBeg: []int{0, 0}, outDim: []int{10, 8}},
		{name: "same_upper", x: []int{1, 2, 3, 4}, mg: 2, group: 1, kernel: []int{4, 3}, strides: []int{2, 2}, autoPad: "SAME_UPPER", padBeg: []int{1, 0}, outDim: []int{6, 8}},
		{name: "same_lower", x: []int{1, 2, 3, 4}, mg: 2, group: 1, kernel: []int{4, 3}, strides: []int{2, 2}, autoPad: "SAME_LOWER", padBeg: []int{1, 1}, outDim: []int{6, 8}},
		{name: "upsample_threads", x: []int{1, 16, 9, 9}, mg: 8, group: 1, kernel: []int{4, 4}, strides: []int{2, 2}, pads: []int{1, 1, 1, 1}, padBeg: []int{1, 1}, outDim: []int{18, 18}, threads: 3},
	}
	r := rand.New(rand.NewPCG(3, 4))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nd := len(tc.x) - 2
			ones := make([]int, nd)
			for i := range ones {
				ones[i] = 1
			}
			strides, dils := tc.strides, tc.dils
			if strides == nil {
				strides = ones
			}
			if dils == nil {
				dils = ones
			}
			x := convRand(r, tc.x...)
			w := convRand(r, append([]int{tc.x[1], tc.mg}, tc.kernel...)...)
			bias := convRand(r, tc.mg*tc.group)
			attrs := []*onnx.Attr{convAttrIs("strides", strides...), convAttrIs("dilations", dils...), convAttrI("group", tc.group)}
			if tc.pads != nil {
				attrs = append(attrs, convAttrIs("pads", tc.pads...))
			}
			if tc.outPad != nil {
				attrs = append(attrs, convAttrIs("output_padding", tc.outPad...))
			}
			if tc.outputShape != nil {
				attrs = append(attrs, convAttrIs("output_shape", tc.outputShape...))
			}
			if tc.autoPad != "" {
				attrs = append(attrs, convAttrS("auto_pad", tc.autoPad))
			}
			want := convTransposeRef(x, w, bias, tc.group, strides, dils, tc.padBeg, tc.outDim)
			out, err := convRunOp(17, max(tc.threads, 1), 1, "ConvTranspose", attrs, x, w, bias)
			if err != nil {
				t.Fatal(err)
			}
			convCheck(t, out[0], append([]int{tc.x[0], tc.mg * tc.group}, tc.outDim...), want)
		})
	}
}

func TestConvInferSymbolic(t *testing.T) {
	sym := onnx.Dim{Param: "batch"}
	dim := func(v int64) onnx.Dim { return onnx.Dim{Value: v} }
	typ := func(dims ...onnx.Dim) onnx.Type { return onnx.Type{DType: tensor.Float32, HasShape: true, Dims: dims} }
	cases := []struct {
		op    string
		attrs []*onnx.Attr
		in    []onnx.Type
		want  string
	}{
		{"Conv", []*onnx.Attr{convAttrIs("strides", 2, 2), convAttrIs("pads", 3, 3, 3, 3)},
			[]onnx.Type{typ(sym, dim(3), dim(224), dim(224)), typ(dim(64), dim(3), dim(7), dim(7))}, "float32[batch,64,112,112]"},
		{"Conv", []*onnx.Attr{convAttrS("auto_pad", "SAME_UPPER")},
			[]onnx.Type{typ(sym, dim(3), onnx.Dim{Param: "h"}, dim(20)), typ(dim(8), dim(3), dim(3), dim(3))}, "float32[batch,8,?,20]"},
		{"Conv", []*onnx.Attr{convAttrIs("kernel_shape", 3, 3)},
			[]onnx.Type{typ(sym, dim(3), dim(10), dim(10)), {DType: tensor.Float32}}, "float32[batch,?,8,8]"},
		{"Conv", nil, []onnx.Type{{DType: tensor.Float32}, {DType: tensor.Float32}}, "float32?"},
		{"ConvTranspose", []*onnx.Attr{convAttrIs("strides", 2, 2), convAttrIs("pads", 1, 1, 1, 1), convAttrIs("output_padding", 1, 1)},
			[]onnx.Type{typ(sym, dim(16), dim(7), dim(7)), typ(dim(16), dim(8), dim(3), dim(3))}, "float32[batch,8,14,14]"},
		{"MaxPool", []*onnx.Attr{convAttrIs("kernel_shape", 3, 3), convAttrIs("strides", 2, 2), convAttrIs("pads", 1, 1, 1, 1)},
			[]onnx.Type{typ(sym, dim(64), dim(112), dim(112))}, "float32[batch,64,56,56]"},
		{"AveragePool", []*onnx.Attr{convAttrIs("kernel_shape", 3, 3), convAttrIs("strides", 2, 2), convAttrI("ceil_mode", 1)},
			[]onnx.Type{typ(sym, dim(8), dim(6), onnx.Dim{Param: "w"})}, "float32[batch,8,3,?]"},
		{"GlobalAveragePool", nil, []onnx.Type{typ(sym, dim(512), dim(7), dim(7))}, "float32[batch,512,1,1]"},
		{"MatMul", nil, []onnx.Type{typ(sym, onnx.Dim{Param: "seq"}, dim(768)), typ(dim(768), dim(3072))}, "float32[batch,seq,3072]"},
		{"MatMul", nil, []onnx.Type{typ(sym, dim(12), onnx.Dim{Param: "seq"}, dim(64)), typ(sym, dim(12), dim(64), onnx.Dim{Param: "seq"})}, "float32[batch,12,seq,seq]"},
		{"MatMul", nil, []onnx.Type{typ(dim(5)), typ(sym, dim(5), dim(3))}, "float32[batch,3]"},
		{"MatMul", nil, []onnx.Type{typ(sym, dim(4), dim(5)), typ(dim(5))}, "float32[batch,4]"},
		{"Gemm", []*onnx.Attr{convAttrI("transB", 1)}, []onnx.Type{typ(sym, dim(512)), typ(dim(1000), dim(512)), typ(dim(1000))}, "float32[batch,1000]"},
		{"LayerNormalization", nil, []onnx.Type{typ(sym, onnx.Dim{Param: "seq"}, dim(768)), typ(dim(768)), typ(dim(768))}, "float32[batch,seq,768]"},
		{"BatchNormalization", nil, []onnx.Type{typ(sym, dim(3), dim(4), dim(4))}, "float32[batch,3,4,4]"},
	}
	for _, tc := range cases {
		n := &onnx.Node{Name: "n", OpType: tc.op, Attrs: tc.attrs, Outputs: []*onnx.Value{{Name: "y"}}}
		for range tc.in {
			n.Inputs = append(n.Inputs, &onnx.Value{Name: "x"})
		}
		got, err := Lookup(tc.op).Infer(&InferCtx{Node: n, Opset: 17, In: tc.in})
		if err != nil {
			t.Errorf("%s %v: %v", tc.op, tc.in, err)
			continue
		}
		if got[0].String() != tc.want {
			t.Errorf("%s %v: got %s, want %s", tc.op, tc.in, got[0], tc.want)
		}
	}
}

func TestConvErrors(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	x := convRand(r, 1, 4, 5, 5)
	cases := []struct {
		name  string
		attrs []*onnx.Attr
		in    []*tensor.Dense
		unsup bool
	}{
		{"channels", nil, []*tensor.Dense{x, convRand(r, 2, 3, 3, 3)}, false},
		{"group", []*onnx.Attr{convAttrI("group", 3)}, []*tensor.Dense{x, convRand(r, 3, 1, 3, 3)}, false},
		{"rank", nil, []*tensor.Dense{x, convRand(r, 2, 4, 3)}, false},
		{"too_small", nil, []*tensor.Dense{x, convRand(r, 2, 4, 6, 6)}, false},
		{"bias", nil, []*tensor.Dense{x, convRand(r, 2, 4, 3, 3), convRand(r, 3)}, false},
		{"auto_pad", []*onnx.Attr{convAttrS("auto_pad", "BOGUS")}, []*tensor.Dense{x, convRand(r, 2, 4, 3, 3)}, true},
		{"kernel_shape", []*onnx.Attr{convAttrIs("kernel_shape", 2, 2)}, []*tensor.Dense{x, convRand(r, 2, 4, 3, 3)}, false},
		{"strides", []*onnx.Attr{convAttrIs("strides", 0, 1)}, []*tensor.Dense{x, convRand(r, 2, 4, 3, 3)}, false},
		{"float64", nil, []*tensor.Dense{tensor.New(tensor.Float64, 1, 1, 3, 3), tensor.New(tensor.Float64, 1, 1, 1, 1)}, true},
	}
	for _, tc := range cases {
		n := convNode("Conv", tc.in, 1, tc.attrs)
		_, err := convRun(&RunCtx{Node: n, Opset: 17, In: tc.in, Threads: 1})
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		if errors.Is(err, ErrUnsupported) != tc.unsup {
			t.Errorf("%s: %v (unsupported: %v, want %v)", tc.name, err, errors.Is(err, ErrUnsupported), tc.unsup)
		}
	}
}

// BenchmarkConv times Conv nodes of ResNet-18 and MobileNetV2 at batch 1
// with every core, reporting GFLOP/s (2 flops per multiply-add).
func BenchmarkConv(b *testing.B) {
	cases := []struct {
		name           string
		x              []int
		cout, k, s, g  int
		pad            int
		skipBiasInFlop bool
	}{
		{name: "resnet18_layer1", x: []int{1, 64, 56, 56}, cout: 64, k: 3, s: 1, g: 1, pad: 1},
		{name: "resnet18_stem", x: []int{1, 3, 224, 224}, cout: 64, k: 7, s: 2, g: 1, pad: 3},
		{name: "squeezenet_stem", x: []int{1, 3, 224, 224}, cout: 64, k: 3, s: 2, g: 1},
		{name: "mobilenet_stem", x: []int{1, 3, 224, 224}, cout: 32, k: 3, s: 2, g: 1, pad: 1},
		{name: "resnet18_layer3", x: []int{1, 256, 14, 14}, cout: 256, k: 3, s: 1, g: 1, pad: 1},
		{name: "resnet18_layer4", x: []int{1, 512, 7, 7}, cout: 512, k: 3, s: 1, g: 1, pad: 1},
		{name: "pointwise_96x56x56_to_24", x: []int{1, 96, 56, 56}, cout: 24, k: 1, s: 1, g: 1},
		{name: "depthwise3x3_144x56x56", x: []int{1, 144, 56, 56}, cout: 144, k: 3, s: 1, g: 144, pad: 1},
		{name: "depthwise3x3_s2_96x112x112", x: []int{1, 96, 112, 112}, cout: 96, k: 3, s: 2, g: 96, pad: 1},
	}
	r := rand.New(rand.NewPCG(7, 8))
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			x := convRand(r, bc.x...)
			w := convRand(r, bc.cout, bc.x[1]/bc.g, bc.k, bc.k)
			bias := convRand(r, bc.cout)
			in := []*tensor.Dense{x, w, bias}
			attrs := []*onnx.Attr{convAttrIs("strides", bc.s, bc.s), convAttrIs("pads", bc.pad, bc.pad, bc.pad, bc.pad), convAttrI("group", bc.g)}
			n := convNode("Conv", in, 1, attrs)
			convMarkConst(n, in, 1, 2)
			c := &RunCtx{Node: n, Opset: 17, In: in, Threads: runtime.GOMAXPROCS(0)}
			out, err := convRun(c)
			if err != nil {
				b.Fatal(err)
			}
			ys := out[0].Shape
			flops := 2 * float64(ys[0]*ys[1]*ys[2]*ys[3]) * float64(bc.x[1]/bc.g*bc.k*bc.k)
			b.ResetTimer()
			start := time.Now()
			for b.Loop() {
				out, err := convRun(c)
				if err != nil {
					b.Fatal(err)
				}
				// Recycled, as a run's dead values are: a fresh output
				// each time measured page faults.
				tensor.Recycle(out[0])
			}
			b.ReportMetric(flops*float64(b.N)/time.Since(start).Seconds()/1e9, "GFLOP/s")
		})
	}
}

// TestConvPackedConstIn checks which inputs convPacked keeps a packing
// of: an initializer, and an input the run marks constant (RunCtx.ConstIn,
// a value folded from initializers), but not an ordinary input, whose
// data may change between runs in the same tensor.
func TestConvPackedConstIn(t *testing.T) {
	for _, tc := range []struct {
		name    string
		init    bool
		constIn uint64
		want    bool
	}{
		{"initializer", true, 0, true},
		{"folded", false, 1 << 1, true},
		{"ordinary", false, 0, false},
		{"other input marked", false, 1 << 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := []*tensor.Dense{tensor.New(tensor.Float32, 2, 2), tensor.New(tensor.Float32, 2, 2)}
			n := convNode("MatMul", in, 1, nil)
			if tc.init {
				convMarkConst(n, in, 1)
			}
			c := &RunCtx{Node: n, In: in, ConstIn: tc.constIn}
			packs := 0
			pack := func() int { packs++; return packs }
			for range 2 {
				if _, ok := convPacked(c, 1, convPackMatMul, 1000, pack); ok != tc.want {
					t.Fatalf("convPacked kept = %v, want %v", ok, tc.want)
				}
			}
			if want := map[bool]int{true: 1, false: 0}[tc.want]; packs != want {
				t.Fatalf("packed %d times over two calls, want %d", packs, want)
			}
		})
	}
}
