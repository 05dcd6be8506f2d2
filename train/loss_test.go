package train

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// shiftModel is y = x + b, with b a [k] initializer: training b moves the
// logits (or features) directly, so the gradient with respect to b is the
// loss's gradient with respect to its input summed over the batch.
func shiftModel(t *testing.T, k int) *onnx.Model {
	t.Helper()
	g := onnx.NewGraph("shift")
	x, err := g.AddInput("x", onnx.Type{DType: tensor.Float32, HasShape: true, Dims: []onnx.Dim{{Param: "batch"}, {Value: int64(k)}}})
	if err != nil {
		t.Fatal(err)
	}
	b := g.AddConst("b", tensor.New(tensor.Float32, k))
	y := g.AddNode("Add", "", "add", []*onnx.Value{x, b}, []string{"y"}).Outputs[0]
	y.Type = x.Type
	g.Outputs = []*onnx.Value{y}
	return onnx.NewModel(g, 13)
}

// refLoss is each loss written out in float64 from PyTorch's definitions
// (CrossEntropyLoss with label_smoothing, KLDivLoss(batchmean)·T² of
// log_softmax(z/T) against softmax(t/T), MSELoss), as the reference the
// graph's value and gradient are checked against.
func refLoss(l Loss, z [][]float64, labels []int64, target [][]float64) float64 {
	n := float64(len(z))
	logSoftmax := func(row []float64, temp float64) []float64 {
		hi := math.Inf(-1)
		for _, v := range row {
			hi = max(hi, v/temp)
		}
		var s float64
		for _, v := range row {
			s += math.Exp(v/temp - hi)
		}
		out := make([]float64, len(row))
		for j, v := range row {
			out[j] = v/temp - hi - math.Log(s)
		}
		return out
	}
	var sum float64
	switch l.Kind {
	case CrossEntropy:
		for i, row := range z {
			ls := logSoftmax(row, 1)
			k := float64(len(row))
			var smooth float64
			for _, v := range ls {
				smooth -= v / k
			}
			sum += (1-l.LabelSmoothing)*-ls[labels[i]] + l.LabelSmoothing*smooth
		}
		return l.weight() * sum / n
	case Distill:
		temp := l.temperature()
		for i, row := range z {
			ls := logSoftmax(row, temp)
			lt := logSoftmax(target[i], temp)
			for j := range row {
				p := math.Exp(lt[j])
				sum += p * (lt[j] - ls[j])
			}
		}
		return l.weight() * temp * temp * sum / n
	case MSE:
		count := 0
		for i, row := range z {
			for j, v := range row {
				d := v - target[i][j]
				sum += d * d
				count++
			}
		}
		return l.weight() * sum / float64(count)
	}
	panic("unknown loss")
}

func TestLossValueAndGradient(t *testing.T) {
	const n, k = 5, 7
	r := rand.New(rand.NewPCG(1, 2))
	x := tensor.New(tensor.Float32, n, k)
	teacher := tensor.New(tensor.Float32, n, k)
	for i := range x.F32 {
		x.F32[i] = float32(r.NormFloat64() * 2)
		teacher.F32[i] = float32(r.NormFloat64() * 2)
	}
	labels := []int64{0, 3, 6, 3, 1}
	idx := []int{0, 1, 2, 3, 4}
	cases := []struct {
		name   string
		losses []Loss
	}{
		{"ce", []Loss{{Kind: CrossEntropy}}},
		{"ce_smoothing", []Loss{{Kind: CrossEntropy, LabelSmoothing: 0.1}}},
		{"kd_T1", []Loss{{Kind: Distill, Target: Array{teacher}}}},
		{"kd_T4", []Loss{{Kind: Distill, Temperature: 4, Target: Array{teacher}}}},
		{"mse", []Loss{{Kind: MSE, Target: Array{teacher}}}},
		{"ce_kd_sum", []Loss{{Kind: CrossEntropy, Weight: 0.3}, {Kind: Distill, Weight: 0.7, Temperature: 2, Target: Array{teacher}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tm, err := Prepare(shiftModel(t, k), Config{Params: []string{"b"}, Losses: c.losses})
			if err != nil {
				t.Fatal(err)
			}
			b := make([]float64, k)
			for j := range b {
				b[j] = 0.1 * float64(j) // away from zero so every row differs
				tm.Params[0].Value.F32[j] = float32(b[j])
			}
			res, err := tm.Step(x, idx, labels)
			if err != nil {
				t.Fatal(err)
			}
			// The reference in float64 at b, and its central differences.
			loss := func(b []float64) float64 {
				z := make([][]float64, n)
				tg := make([][]float64, n)
				for i := range z {
					z[i] = make([]float64, k)
					tg[i] = make([]float64, k)
					for j := range z[i] {
						z[i][j] = float64(x.F32[i*k+j]) + b[j]
						tg[i][j] = float64(teacher.F32[i*k+j])
					}
				}
				var s float64
				for _, l := range c.losses {
					s += refLoss(l, z, labels, tg)
				}
				return s
			}
			want := loss(b)
			// float32 logits and sums: a few ulps of the value.
			if math.Abs(res.Loss-want) > 1e-5*max(1, math.Abs(want)) {
				t.Errorf("loss %.8g, reference %.8g", res.Loss, want)
			}
			const h = 1e-5 // float64 central differences: error ~h² ≈ 1e-10
			g := tm.Params[0].Grad.F32
			for j := range b {
				bp := append([]float64(nil), b...)
				bm := append([]float64(nil), b...)
				bp[j] += h
				bm[j] -= h
				fd := (loss(bp) - loss(bm)) / (2 * h)
				// The graph computes in float32: 1e-5 relative to the
				// gradient's scale covers its rounding.
				if math.Abs(float64(g[j])-fd) > 1e-5*max(1, math.Abs(fd)) {
					t.Errorf("d loss / d b[%d] = %.8g, finite differences %.8g", j, g[j], fd)
				}
			}
		})
	}
}

func TestLossErrors(t *testing.T) {
	const k = 4
	x := tensor.New(tensor.Float32, 2, k)
	cases := []struct {
		name   string
		losses []Loss
		labels []int64
		params []string
		prep   bool // the error comes from Prepare
	}{
		{"label_out_of_range", []Loss{{Kind: CrossEntropy}}, []int64{0, 4}, []string{"b"}, false},
		{"no_labels", []Loss{{Kind: CrossEntropy}}, nil, []string{"b"}, false},
		{"kd_without_teacher", []Loss{{Kind: Distill}}, nil, []string{"b"}, true},
		{"mse_without_target", []Loss{{Kind: MSE}}, nil, []string{"b"}, true},
		{"bad_smoothing", []Loss{{Kind: CrossEntropy, LabelSmoothing: 1}}, nil, []string{"b"}, true},
		{"unknown_output", []Loss{{Kind: CrossEntropy, Output: "nope"}}, nil, []string{"b"}, true},
		{"no_param_matches", []Loss{{Kind: CrossEntropy}}, nil, []string{"fc.*"}, true},
		{"teacher_rows_mismatch", []Loss{{Kind: Distill, Target: Array{tensor.New(tensor.Float32, 1, k)}}}, nil, []string{"b"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tm, err := Prepare(shiftModel(t, k), Config{Params: c.params, Losses: c.losses})
			if c.prep {
				if err == nil {
					t.Fatal("Prepare accepted it")
				}
				t.Log(err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			_, err = tm.Step(x, []int{0, 1}, c.labels)
			if err == nil {
				t.Fatal("Step accepted it")
			}
			t.Log(err)
		})
	}
}

func TestSelectParams(t *testing.T) {
	m, err := onnx.Load("../fixtures/fmnist/a.onnx")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		patterns []string
		want     []string
	}{
		{[]string{"fc2"}, []string{"fc2.weight", "fc2.bias"}},
		{[]string{"fc2.weight"}, []string{"fc2.weight"}},
		{[]string{"conv*.bias"}, []string{"conv1.bias", "conv2.bias", "conv3.bias"}},
		{[]string{"fc1", "fc1.weight"}, []string{"fc1.weight", "fc1.bias"}},
		{[]string{"*"}, []string{"conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "conv3.weight", "conv3.bias", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}},
	}
	for _, c := range cases {
		got, err := SelectParams(m.Graph, c.patterns)
		if err != nil {
			t.Fatalf("%v: %v", c.patterns, err)
		}
		if len(got) != len(c.want) {
			t.Fatalf("%v: got %v, want %v", c.patterns, got, c.want)
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Fatalf("%v: got %v, want %v", c.patterns, got, c.want)
			}
		}
	}
	if _, err := SelectParams(m.Graph, []string{"fc3"}); err == nil {
		t.Error("fc3 matched")
	}
}

// TestSelectSkipsRunningStats: BatchNormalization's running mean and
// variance are buffers, not parameters.
func TestSelectSkipsRunningStats(t *testing.T) {
	m, err := onnx.Load("../fixtures/cnn_bn/model.onnx")
	if err != nil {
		t.Fatal(err)
	}
	got, err := SelectParams(m.Graph, []string{"*"})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range got {
		if runningStat(m.Graph.Value(name)) {
			t.Errorf("selected %s, a running statistic", name)
		}
	}
	if len(got) != 9 { // 2 conv weights and biases, 2 BN scales and shifts, the Gemm's two
		t.Errorf("selected %d tensors %v, want 9", len(got), got)
	}
}
