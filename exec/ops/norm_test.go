package ops

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

func TestBatchNormalization(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	for _, shape := range [][]int{{2, 3, 4, 5}, {4, 6}, {1, 8, 3, 3, 2}, {2, 64, 40, 40}} {
		ch := shape[1]
		x := convRand(r, shape...)
		scale, bias, mean := convRand(r, ch), convRand(r, ch), convRand(r, ch)
		vr := convRand(r, ch)
		for i := range vr.F32 {
			vr.F32[i] = vr.F32[i]*vr.F32[i] + 0.1
		}
		eps := 1e-3
		size := x.Len() / (shape[0] * ch)
		want := make([]float64, x.Len())
		for i, v := range x.F32 {
			c := i / size % ch
			want[i] = (float64(v)-float64(mean.F32[c]))/math.Sqrt(float64(vr.F32[c])+eps)*float64(scale.F32[c]) + float64(bias.F32[c])
		}
		out, err := convRunOp(15, 2, 1, "BatchNormalization", []*onnx.Attr{convAttrF("epsilon", float32(eps))}, x, scale, bias, mean, vr)
		if err != nil {
			t.Fatal(err)
		}
		convCheck(t, out[0], shape, want)
	}

	x := convRand(r, 1, 2, 3)
	p := convRand(r, 2)
	for _, tc := range []struct {
		opset, nOut int
		attrs       []*onnx.Attr
	}{
		{7, 1, []*onnx.Attr{convAttrI("spatial", 0)}},
	} {
		_, err := convRunOp(tc.opset, 1, tc.nOut, "BatchNormalization", tc.attrs, x, p, p, p, p)
		if !errors.Is(err, ErrUnsupported) {
			t.Errorf("opset %d, %d outputs, %v: got %v, want ErrUnsupported", tc.opset, tc.nOut, tc.attrs, err)
		}
	}
	if _, err := convRunOp(15, 1, 1, "BatchNormalization", nil, x, p, p, convRand(r, 3), p); err == nil {
		t.Error("mean of the wrong size: no error")
	}
}

func TestLayerNormalization(t *testing.T) {
	cases := []struct {
		x          []int
		axis       int
		scale, b   []int // nil b: no bias
		outputs    int
		wantUnsupp bool
	}{
		{x: []int{2, 5, 8}, axis: -1, scale: []int{8}, b: []int{8}, outputs: 1},
		{x: []int{2, 5, 8}, axis: 1, scale: []int{5, 8}, b: []int{5, 8}, outputs: 3},
		{x: []int{2, 5, 8}, axis: 1, scale: []int{5, 1}, b: []int{8}, outputs: 3},
		{x: []int{2, 5, 8}, axis: -1, scale: []int{1, 1, 8}, outputs: 2},
		{x: []int{3, 7}, axis: 0, scale: []int{3, 7}, b: []int{1}, outputs: 3},
		{x: []int{64, 768}, axis: -1, scale: []int{768}, b: []int{768}, outputs: 1},
		{x: []int{2, 5, 8}, axis: -1, scale: []int{5, 8}, wantUnsupp: true},
	}
	r := rand.New(rand.NewPCG(33, 34))
	for _, tc := range cases {
		x := convRand(r, tc.x...)
		for i := range x.F32 {
			x.F32[i] = x.F32[i]*3 + 10 // a large mean tests the two-pass variance
		}
		scale := convRand(r, tc.scale...)
		in := []*tensor.Dense{x, scale}
		var b *tensor.Dense
		if tc.b != nil {
			b = convRand(r, tc.b...)
			in = append(in, b)
		}
		eps := 1e-4
		attrs := []*onnx.Attr{convAttrI("axis", tc.axis), convAttrF("epsilon", float32(eps))}
		out, err := convRunOp(17, 2, tc.outputs, "LayerNormalization", attrs, in...)
		if tc.wantUnsupp {
			if !errors.Is(err, ErrUnsupported) {
				t.Errorf("%+v: got %v, want ErrUnsupported", tc, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%+v: %v", tc, err)
		}
		axis := tc.axis
		if axis < 0 {
			axis += len(tc.x)
		}
		rows, size := 1, 1
		for i, d := range tc.x {
			if i < axis {
				rows *= d
			} else {
				size *= d
			}
		}
		norm := tc.x[axis:]
		// param reads a parameter broadcast over the normalized dims.
		param := func(p *tensor.Dense, j int) float64 {
			c := make([]int, len(norm))
			unravel(j, norm, c)
			ps := p.Shape
			for len(ps) > len(norm) {
				ps = ps[1:]
			}
			off, idx := len(norm)-len(ps), 0
			for d, n := range ps {
				idx = idx*n + c[off+d]%n
			}
			return float64(p.F32[idx])
		}
		want := make([]float64, x.Len())
		wantMean, wantInv := make([]float64, rows), make([]float64, rows)
		for row := range rows {
			v := x.F32[row*size : (row+1)*size]
			var mu, ss float64
			for _, e := range v {
				mu += float64(e)
			}
			mu /= float64(size)
			for _, e := range v {
				ss += (float64(e) - mu) * (float64(e) - mu)
			}
			inv := 1 / math.Sqrt(ss/float64(size)+eps)
			wantMean[row], wantInv[row] = mu, inv
			for j, e := range v {
				y := (float64(e) - mu) * inv * param(scale, j)
				if b != nil {
					y += param(b, j)
				}
				want[row*size+j] = y
			}
		}
		convCheck(t, out[0], tc.x, want)
		statShape := append([]int{}, tc.x...)
		for i := axis; i < len(statShape); i++ {
			statShape[i] = 1
		}
		if tc.outputs > 1 {
			convCheck(t, out[1], statShape, wantMean)
		}
		if tc.outputs > 2 {
			convCheck(t, out[2], statShape, wantInv)
		}
	}
}

func TestInstanceNormalization(t *testing.T) {
	r := rand.New(rand.NewPCG(35, 36))
	for _, shape := range [][]int{{2, 3, 4, 5}, {1, 2, 7}, {2, 32, 30, 30}} {
		ch := shape[1]
		x := convRand(r, shape...)
		scale, bias := convRand(r, ch), convRand(r, ch)
		eps := 1e-5
		size := x.Len() / (shape[0] * ch)
		want := make([]float64, x.Len())
		for p := range shape[0] * ch {
			v := x.F32[p*size : (p+1)*size]
			var mu, ss float64
			for _, e := range v {
				mu += float64(e) / float64(size)
			}
			for _, e := range v {
				ss += (float64(e) - mu) * (float64(e) - mu) / float64(size)
			}
			for j, e := range v {
				want[p*size+j] = (float64(e)-mu)/math.Sqrt(ss+eps)*float64(scale.F32[p%ch]) + float64(bias.F32[p%ch])
			}
		}
		out, err := convRunOp(6, 3, 1, "InstanceNormalization", nil, x, scale, bias)
		if err != nil {
			t.Fatal(err)
		}
		convCheck(t, out[0], shape, want)
	}
}

func TestNormInferUnknown(t *testing.T) {
	for _, op := range []string{"BatchNormalization", "LayerNormalization", "InstanceNormalization"} {
		n := &onnx.Node{Name: "n", OpType: op, Inputs: []*onnx.Value{{Name: "x"}}, Outputs: []*onnx.Value{{Name: "y"}}}
		got, err := Lookup(op).Infer(&InferCtx{Node: n, Opset: 17, In: []onnx.Type{{DType: tensor.Float16}}})
		if err != nil || len(got) != 1 || got[0].DType != tensor.Float16 || got[0].HasShape {
			t.Errorf("%s on an unknown shape: %v, %v", op, got, err)
		}
	}
}

// TestBatchNormalizationTraining checks training mode's extra outputs on
// odd sizes: the running statistics blend the inputs with the batch's
// mean and biased variance by momentum, and before opset 14 the batch
// statistics themselves follow (saved_mean, saved_var). Y itself is
// checked against ONNX's reference by the node conformance tests.
func TestBatchNormalizationTraining(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	n, ch, size := 3, 5, 7
	x := convRand(r, n, ch, size)
	scale, bias, runMean, runVar := convRand(r, ch), convRand(r, ch), convRand(r, ch), convRand(r, ch)
	for i := range runVar.F32 {
		runVar.F32[i] += 1.5
	}
	const momentum = 0.8
	mean, vr := make([]float64, ch), make([]float64, ch)
	for i, v := range x.F32 {
		mean[i/size%ch] += float64(v) / float64(n*size)
	}
	for i, v := range x.F32 {
		d := float64(v) - mean[i/size%ch]
		vr[i/size%ch] += d * d / float64(n*size)
	}
	for _, tc := range []struct {
		opset, nOut int
		attrs       []*onnx.Attr
	}{
		{15, 3, []*onnx.Attr{convAttrI("training_mode", 1), convAttrF("momentum", momentum)}},
		{9, 5, []*onnx.Attr{convAttrF("momentum", momentum)}},
	} {
		out, err := convRunOp(tc.opset, 1, tc.nOut, "BatchNormalization", tc.attrs, x, scale, bias, runMean, runVar)
		if err != nil {
			t.Fatalf("opset %d: %v", tc.opset, err)
		}
		if len(out) != tc.nOut {
			t.Fatalf("opset %d: %d outputs, want %d", tc.opset, len(out), tc.nOut)
		}
		want := [][]float64{make([]float64, ch), make([]float64, ch), mean, vr}
		for c := range ch {
			want[0][c] = float64(runMean.F32[c])*momentum + mean[c]*(1-momentum)
			want[1][c] = float64(runVar.F32[c])*momentum + vr[c]*(1-momentum)
		}
		for k, o := range out[1:] {
			for c := range ch {
				if d := math.Abs(float64(o.F32[c]) - want[k][c]); d > 1e-6 {
					t.Errorf("opset %d output %d channel %d: got %v, want %v", tc.opset, k+1, c, o.F32[c], want[k][c])
				}
			}
		}
	}
}
