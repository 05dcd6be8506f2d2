package ops

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// poolRefCase is a pool in the reference's terms: explicit pads on both
// sides, and ceil_mode with PyTorch's rule that the last window starts
// inside the input or its begin padding.
type poolRefCase struct {
	kernel, strides, dils, padB, padE []int
	ceil, includePad                  bool
}

// poolRef computes MaxPool (max) or AveragePool tap by tap in float64,
// returning the output shape, values and argmax flat indices (row-major).
func poolRef(x *tensor.Dense, c poolRefCase, max bool) ([]int, []float64, []int64) {
	nd := len(x.Shape) - 2
	out := []int{x.Shape[0], x.Shape[1]}
	for i := range nd {
		in, s := x.Shape[2+i], c.strides[i]
		span := in + c.padB[i] + c.padE[i] - ((c.kernel[i]-1)*c.dils[i] + 1)
		o := span/s + 1
		if c.ceil {
			o = (span+s-1)/s + 1
			if (o-1)*s >= in+c.padB[i] {
				o--
			}
		}
		out = append(out, o)
	}
	planes := out[0] * out[1]
	inVol, outVol, kVol := 1, 1, 1
	for i := range nd {
		inVol *= x.Shape[2+i]
		outVol *= out[2+i]
		kVol *= c.kernel[i]
	}
	xs := x.Float64s()
	y := make([]float64, planes*outVol)
	idx := make([]int64, planes*outVol)
	o, k := make([]int, nd), make([]int, nd)
	for p := range planes {
		for op := range outVol {
			unravel(op, out[2:], o)
			best, at := math.Inf(-1), -1
			var sum float64
			cnt, padCnt := 0, 0
			for kp := range kVol {
				unravel(kp, c.kernel, k)
				flat, inside, inPad := 0, true, true
				for i := range nd {
					pos := o[i]*c.strides[i] - c.padB[i] + k[i]*c.dils[i]
					if pos < 0 || pos >= x.Shape[2+i] {
						inside = false
					}
					if pos >= x.Shape[2+i]+c.padE[i] {
						inPad = false
					}
					flat = flat*x.Shape[2+i] + pos
				}
				if inPad {
					padCnt++
				}
				if !inside {
					continue
				}
				v := xs[p*inVol+flat]
				cnt++
				sum += v
				if v > best || at < 0 {
					best, at = v, p*inVol+flat
				}
			}
			switch {
			case max:
				y[p*outVol+op] = best
			case c.includePad:
				y[p*outVol+op] = sum / float64(padCnt)
			default:
				y[p*outVol+op] = sum / float64(cnt)
			}
			idx[p*outVol+op] = int64(at)
		}
	}
	return out, y, idx
}

func TestPoolAgainstReference(t *testing.T) {
	type pcase struct {
		name             string
		x                []int
		kernel, strides  []int
		dils             []int
		pads             []int // begin then end
		autoPad          string
		padB, padE       []int // the reference's pads when autoPad is set
		ceil, includePad bool
		threads          int
	}
	cases := []pcase{
		{name: "resnet_maxpool", x: []int{2, 3, 12, 12}, kernel: []int{3, 3}, strides: []int{2, 2}, pads: []int{1, 1, 1, 1}},
		{name: "ceil_odd", x: []int{1, 2, 7, 9}, kernel: []int{3, 2}, strides: []int{2, 2}, ceil: true},
		{name: "ceil_pads", x: []int{1, 2, 6, 5}, kernel: []int{3, 3}, strides: []int{2, 2}, pads: []int{1, 1, 1, 1}, ceil: true},
		{name: "ceil_include_pad", x: []int{1, 2, 6, 5}, kernel: []int{3, 3}, strides: []int{2, 2}, pads: []int{1, 1, 1, 1}, ceil: true, includePad: true},
		{name: "asym_pads_include_pad", x: []int{2, 2, 5, 6}, kernel: []int{3, 2}, strides: []int{1, 2}, pads: []int{2, 0, 1, 1}, includePad: true},
		{name: "dilation", x: []int{1, 3, 9, 8}, kernel: []int{2, 3}, strides: []int{1, 1}, dils: []int{2, 2}, pads: []int{1, 0, 1, 2}},
		{name: "size1", x: []int{1, 4, 1, 1}, kernel: []int{1, 1}, strides: []int{1, 1}},
		{name: "size1_pad", x: []int{1, 4, 1, 1}, kernel: []int{3, 3}, strides: []int{2, 2}, pads: []int{1, 1, 1, 1}},
		{name: "1d", x: []int{2, 3, 11}, kernel: []int{4}, strides: []int{3}, pads: []int{1, 2}, ceil: true},
		{name: "3d", x: []int{1, 2, 5, 4, 6}, kernel: []int{2, 3, 2}, strides: []int{2, 1, 2}, pads: []int{0, 1, 1, 1, 1, 0}},
		{name: "same_upper", x: []int{1, 2, 7, 8}, kernel: []int{3, 3}, strides: []int{2, 3}, autoPad: "SAME_UPPER", padB: []int{1, 0}, padE: []int{1, 1}},
		{name: "same_lower", x: []int{1, 2, 7, 8}, kernel: []int{3, 3}, strides: []int{2, 3}, autoPad: "SAME_LOWER", padB: []int{1, 1}, padE: []int{1, 0}},
		{name: "valid", x: []int{1, 2, 7, 8}, kernel: []int{3, 2}, strides: []int{2, 3}, autoPad: "VALID", padB: []int{0, 0}, padE: []int{0, 0}},
		{name: "threads", x: []int{2, 64, 40, 40}, kernel: []int{3, 3}, strides: []int{2, 2}, pads: []int{1, 1, 1, 1}, threads: 3},
		// One image, several threads: bands of output rows of every
		// plane (maxPoolSeparable), with partial windows at both ends.
		{name: "row_bands_ceil", x: []int{1, 16, 63, 61}, kernel: []int{3, 3}, strides: []int{2, 2}, ceil: true, threads: 2},
		{name: "row_bands_pads_threads3", x: []int{1, 24, 50, 41}, kernel: []int{3, 3}, strides: []int{2, 2}, pads: []int{1, 1, 2, 1}, threads: 3},
		// Rows past the vector kernels' 8-, 32- and 64-output blocks, odd
		// channel counts, every stride the tap plans distinguish.
		{name: "wide_s2", x: []int{1, 3, 9, 151}, kernel: []int{3, 3}, strides: []int{2, 2}, pads: []int{1, 1, 1, 1}, threads: 2},
		{name: "wide_s1", x: []int{2, 5, 6, 77}, kernel: []int{3, 3}, strides: []int{1, 1}, pads: []int{1, 1, 1, 1}},
		{name: "wide_s1_noPad", x: []int{1, 3, 7, 130}, kernel: []int{2, 5}, strides: []int{1, 1}},
		{name: "stride_2x1", x: []int{1, 3, 11, 40}, kernel: []int{3, 3}, strides: []int{2, 1}, pads: []int{1, 0, 1, 2}},
		{name: "stride3_dil2_ceil", x: []int{1, 5, 17, 19}, kernel: []int{3, 3}, strides: []int{3, 3}, dils: []int{2, 2}, pads: []int{1, 2, 2, 1}, ceil: true, includePad: true},
		{name: "5x5_s2_ceil", x: []int{2, 3, 14, 70}, kernel: []int{5, 5}, strides: []int{2, 2}, pads: []int{2, 2, 2, 2}, ceil: true},
		{name: "dil2_s2_wide_ceil", x: []int{1, 3, 20, 45}, kernel: []int{3, 3}, strides: []int{2, 2}, dils: []int{2, 2}, pads: []int{2, 2, 1, 2}, ceil: true},
		{name: "1d_wide", x: []int{1, 3, 200}, kernel: []int{3}, strides: []int{2}, pads: []int{1, 1}},
	}
	r := rand.New(rand.NewPCG(21, 22))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nd := len(tc.x) - 2
			dils := tc.dils
			if dils == nil {
				dils = make([]int, nd)
				for i := range dils {
					dils[i] = 1
				}
			}
			pads := tc.pads
			if pads == nil {
				pads = make([]int, 2*nd)
			}
			ref := poolRefCase{kernel: tc.kernel, strides: tc.strides, dils: dils, padB: pads[:nd], padE: pads[nd:], ceil: tc.ceil, includePad: tc.includePad}
			attrs := []*onnx.Attr{convAttrIs("kernel_shape", tc.kernel...), convAttrIs("strides", tc.strides...), convAttrIs("dilations", dils...)}
			if tc.autoPad != "" {
				attrs = append(attrs, convAttrS("auto_pad", tc.autoPad))
				ref.padB, ref.padE = tc.padB, tc.padE
			} else {
				attrs = append(attrs, convAttrIs("pads", pads...))
			}
			if tc.ceil {
				attrs = append(attrs, convAttrI("ceil_mode", 1))
			}
			x := convRand(r, tc.x...)
			threads := max(tc.threads, 1)

			shape, want, wantIdx := poolRef(x, ref, true)
			out, err := convRunOp(12, threads, 2, "MaxPool", attrs, x)
			if err != nil {
				t.Fatal(err)
			}
			convCheck(t, out[0], shape, want)
			for i, v := range wantIdx {
				if out[1].I64[i] != v {
					t.Fatalf("MaxPool index %d: got %d, want %d", i, out[1].I64[i], v)
				}
			}
			// Without the indices, float32 pools of up to 2 spatial dims
			// take the vector kernels (poolTaps).
			out, err = convRunOp(12, threads, 1, "MaxPool", attrs, x)
			if err != nil {
				t.Fatal(err)
			}
			convCheck(t, out[0], shape, want)

			avgAttrs := attrs
			if tc.includePad {
				avgAttrs = append(avgAttrs, convAttrI("count_include_pad", 1))
			}
			shape, want, _ = poolRef(x, ref, false)
			out, err = convRunOp(19, threads, 1, "AveragePool", avgAttrs, x)
			if err != nil {
				t.Fatal(err)
			}
			convCheck(t, out[0], shape, want)
		})
	}
}

// TestAveragePoolEmptyWindows checks that windows lying in the padding
// alone average to 0 (count_include_pad 0), beside full ones, on rows
// wide enough for the vector path.
func TestAveragePoolEmptyWindows(t *testing.T) {
	x := tensor.New(tensor.Float32, 1, 2, 4, 18)
	for i := range x.F32 {
		x.F32[i] = 3
	}
	attrs := []*onnx.Attr{convAttrIs("kernel_shape", 2, 2), convAttrIs("strides", 2, 2), convAttrIs("pads", 2, 2, 0, 0)}
	out, err := convRunOp(19, 1, 1, "AveragePool", attrs, x)
	if err != nil {
		t.Fatal(err)
	}
	y := out[0]
	if !tensor.SameShape(y.Shape, []int{1, 2, 3, 10}) {
		t.Fatalf("shape %v", y.Shape)
	}
	for i, v := range y.F32 {
		oy, ox := i/10%3, i%10
		want := float32(3)
		if oy == 0 || ox == 0 {
			want = 0
		}
		if v != want {
			t.Fatalf("output %d (row %d, column %d) = %v, want %v", i, oy, ox, v, want)
		}
	}
}

func TestMaxPoolIntegerAndColumnMajorIndices(t *testing.T) {
	// 1×1×3×4, window 2×2 stride 2: maxima 7 (at h=1, w=1) and 9 (at
	// h=0, w=3); column-major indices count h fastest: w*H + h.
	x := tensor.FromI64([]int{1, 1, 3, 4}, []int64{1, 2, 3, 9, 4, 7, 5, 6, 0, 0, 0, 0})
	x.DType = tensor.Uint8
	attrs := []*onnx.Attr{convAttrIs("kernel_shape", 2, 2), convAttrIs("strides", 2, 2), convAttrI("storage_order", 1)}
	out, err := convRunOp(12, 1, 2, "MaxPool", attrs, x)
	if err != nil {
		t.Fatal(err)
	}
	if out[0].DType != tensor.Uint8 || out[0].I64[0] != 7 || out[0].I64[1] != 9 {
		t.Fatalf("values %s %v", out[0], out[0].I64)
	}
	if out[1].I64[0] != 1*3+1 || out[1].I64[1] != 3*3+0 {
		t.Fatalf("column-major indices %v, want [4 9]", out[1].I64)
	}
}

func TestGlobalPools(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	for _, shape := range [][]int{{2, 3, 5, 7}, {1, 4, 9}, {1, 2, 3, 4, 5}, {3, 2, 1, 1}, {2, 64, 33, 33}} {
		x := convRand(r, shape...)
		planes, size := shape[0]*shape[1], x.Len()/(shape[0]*shape[1])
		outShape := append([]int{}, shape...)
		for i := 2; i < len(outShape); i++ {
			outShape[i] = 1
		}
		wantAvg, wantMax := make([]float64, planes), make([]float64, planes)
		for p := range planes {
			wantMax[p] = math.Inf(-1)
			for _, v := range x.F32[p*size : (p+1)*size] {
				wantAvg[p] += float64(v) / float64(size)
				wantMax[p] = math.Max(wantMax[p], float64(v))
			}
		}
		for _, op := range []string{"GlobalAveragePool", "GlobalMaxPool"} {
			out, err := convRunOp(13, 2, 1, op, nil, x)
			if err != nil {
				t.Fatal(err)
			}
			want := wantAvg
			if op == "GlobalMaxPool" {
				want = wantMax
			}
			t.Run(op, func(t *testing.T) { convCheck(t, out[0], outShape, want) })
		}
	}
}

func TestPoolErrors(t *testing.T) {
	x := tensor.New(tensor.Float32, 1, 1, 4, 4)
	cases := []struct {
		op    string
		attrs []*onnx.Attr
		x     *tensor.Dense
	}{
		{"MaxPool", nil, x}, // no kernel_shape
		{"MaxPool", []*onnx.Attr{convAttrIs("kernel_shape", 5, 5)}, x},
		{"AveragePool", []*onnx.Attr{convAttrIs("kernel_shape", 2)}, x},
		{"AveragePool", []*onnx.Attr{convAttrIs("kernel_shape", 2, 2)}, tensor.New(tensor.Float32, 4, 4)},
		{"GlobalAveragePool", nil, tensor.New(tensor.Float32, 4)},
	}
	for _, tc := range cases {
		in := []*tensor.Dense{tc.x}
		n := convNode(tc.op, in, 1, tc.attrs)
		if _, err := Lookup(tc.op).Run(&RunCtx{Node: n, Opset: 13, In: in, Threads: 1}); err == nil {
			t.Errorf("%s %v %v: no error", tc.op, tc.attrs, tc.x)
		}
	}
}

// BenchmarkPool times ResNet-18's pools at batch 1 with every core.
func BenchmarkPool(b *testing.B) {
	r := rand.New(rand.NewPCG(25, 26))
	cases := []struct {
		name, op string
		x        []int
		attrs    []*onnx.Attr
	}{
		{"resnet18_maxpool", "MaxPool", []int{1, 64, 112, 112}, []*onnx.Attr{convAttrIs("kernel_shape", 3, 3), convAttrIs("strides", 2, 2), convAttrIs("pads", 1, 1, 1, 1)}},
		{"avgpool_3x3_s1", "AveragePool", []int{1, 64, 56, 56}, []*onnx.Attr{convAttrIs("kernel_shape", 3, 3), convAttrIs("pads", 1, 1, 1, 1)}},
		{"resnet18_globalavg", "GlobalAveragePool", []int{1, 512, 7, 7}, nil},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			in := []*tensor.Dense{convRand(r, bc.x...)}
			c := &RunCtx{Node: convNode(bc.op, in, 1, bc.attrs), Opset: 13, In: in, Threads: runtime.GOMAXPROCS(0)}
			run := Lookup(bc.op).Run
			for b.Loop() {
				if _, err := run(c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
