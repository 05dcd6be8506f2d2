package ops_test

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/graft-ml/graft/exec"
	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// quantModels are fixtures/gen_quant.py's exports of one statically
// quantized CNN (torch.ao.quantization, qnnpack), with ONNX Runtime 1.30's
// outputs recorded beside them.
var quantModels = []struct{ model, ort string }{
	{"qop.onnx", "ort_qop.npy"}, // QLinearConv, MatMulInteger: all-integer products
	{"qdq.onnx", "ort_qdq.npy"}, // QuantizeLinear/DequantizeLinear around Conv and Gemm, fused at Compile
}

func quantFixture(t testing.TB, file string) (*onnx.Model, *tensor.Dense) {
	t.Helper()
	dir := filepath.Join(fixtures.Dir(), "quant")
	m, err := onnx.Load(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	x, err := tensor.LoadNPY(filepath.Join(dir, "input.npy"))
	if err != nil {
		t.Fatal(err)
	}
	return m, x
}

// TestQuantizedCNN runs the quantized CNN and requires its outputs to
// equal ONNX Runtime's bit for bit: they are dequantized uint8 values, so
// equality means every integer in the last layer matched. The operator
// form's products are integer and its requantization follows ONNX
// Runtime's float32 arithmetic, so any difference is a bug. The QDQ form
// runs, as ONNX Runtime does, each DequantizeLinear → Conv/Gemm →
// QuantizeLinear chain as one integer op (exec's qdq_fuse.go), so it too
// must match exactly. The recorded output is checked, and,
// where onnxruntime-node is installed, a fresh run of ONNX Runtime.
func TestQuantizedCNN(t *testing.T) {
	for _, c := range quantModels {
		t.Run(c.model, func(t *testing.T) {
			m, x := quantFixture(t, c.model)
			p, err := exec.Compile(m)
			if err != nil {
				t.Fatal(err)
			}
			res, err := p.Run(map[string]*tensor.Dense{"input": x}, exec.RunOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got := res["output"]
			want, err := tensor.LoadNPY(filepath.Join(fixtures.Dir(), "quant", c.ort))
			if err != nil {
				t.Fatal(err)
			}
			quantEqual(t, "recorded ONNX Runtime output", got, want)
			live, err := fixtures.RunORT(filepath.Join(fixtures.Dir(), "quant", c.model), "input", x)
			if errors.Is(err, fixtures.ErrNoORT) {
				fixtures.SkipNoReference(t, "%v", err)
			}
			if err != nil {
				t.Fatal(err)
			}
			quantEqual(t, "ONNX Runtime", got, live)
		})
	}
}

func quantEqual(t *testing.T, what string, got, want *tensor.Dense) {
	t.Helper()
	if got == nil || !tensor.SameShape(got.Shape, want.Shape) || got.DType != want.DType {
		t.Fatalf("got %v, want %s%v like %s", got, want.DType, want.Shape, what)
	}
	for i := range want.F32 {
		if got.F32[i] != want.F32[i] {
			t.Fatalf("element %d: got %g, %s %g", i, got.F32[i], what, want.F32[i])
		}
	}
}

// BenchmarkQuantizedCNN times one run of the quantized CNN on its two
// inputs (compare: node tools/ort/run.js --model fixtures/quant/qop.onnx
// --bench 200 input=fixtures/quant/input.npy).
func BenchmarkQuantizedCNN(b *testing.B) {
	for _, c := range quantModels {
		b.Run(c.model, func(b *testing.B) {
			m, x := quantFixture(b, c.model)
			p, err := exec.Compile(m)
			if err != nil {
				b.Fatal(err)
			}
			in := map[string]*tensor.Dense{"input": x}
			for b.Loop() {
				if _, err := p.Run(in, exec.RunOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
