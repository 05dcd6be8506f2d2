package exec

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// TestRandomInputs checks the shapes RandomInputs gives (a symbolic dim
// takes the batch, initializers get nothing), that a seed gives the same
// values again, and the errors it names an input in.
func TestRandomInputs(t *testing.T) {
	g := onnx.NewGraph("g")
	x, _ := g.AddInput("x", onnx.Type{DType: tensor.Float32, HasShape: true, Dims: []onnx.Dim{{Value: -1, Param: "N"}, {Value: 3}}})
	y := g.AddNode("Neg", "", "neg", []*onnx.Value{x}, []string{"y"}).Outputs[0]
	g.Outputs = append(g.Outputs, y)
	a, err := RandomInputs(g, 4, 7)
	if err != nil {
		t.Fatal(err)
	}
	if got := a["x"]; got == nil || !slices.Equal(got.Shape, []int{4, 3}) {
		t.Fatalf("x = %v, want shape [4 3]", got)
	}
	b, _ := RandomInputs(g, 4, 7)
	if !tensor.Equal(a["x"], b["x"]) {
		t.Error("the same seed gave different values")
	}
	for _, v := range a["x"].F32 {
		if math.IsNaN(float64(v)) || math.Abs(float64(v)) > 10 {
			t.Fatalf("value %v is not a standard normal draw", v)
		}
	}
	bad := onnx.NewGraph("bad")
	bad.AddInput("u", onnx.Type{DType: tensor.Float32})
	if _, err := RandomInputs(bad, 1, 1); err == nil || !strings.Contains(err.Error(), `"u"`) {
		t.Errorf("input without a shape: error %v, want one naming it", err)
	}
}

// TestBench checks that Bench runs the warm-up and timed runs it is asked
// for (the profile counts the timed ones), returns their times sorted,
// reports progress, and refuses zero timed runs.
func TestBench(t *testing.T) {
	m, x := chainModel(chainCase{x: []int{1, 4, 8, 8}, m: 8, s: 1})
	p, err := Compile(m)
	if err != nil {
		t.Fatal(err)
	}
	prof := &Profile{}
	var progress []int
	res, err := Bench(p, map[string]*tensor.Dense{"x": x}, BenchOptions{Warmup: 2, Iters: 5, Profile: prof,
		Progress: func(done, total int) { progress = append(progress, done*10+total) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Times) != 5 || !slices.IsSorted(res.Times) || res.Min() != res.Times[0] || res.Median() != res.Times[2] {
		t.Fatalf("times %v (min %v, median %v)", res.Times, res.Min(), res.Median())
	}
	if prof.Runs != 5 {
		t.Errorf("profile counted %d runs, want the 5 timed ones", prof.Runs)
	}
	if !slices.Equal(progress, []int{15, 25, 35, 45, 55}) {
		t.Errorf("progress %v", progress)
	}
	if even := (BenchResult{Times: []time.Duration{1, 3}}); even.Median() != 2 {
		t.Errorf("median of 1 and 3 = %v, want 2", even.Median())
	}
	if _, err := Bench(p, map[string]*tensor.Dense{"x": x}, BenchOptions{}); err == nil {
		t.Error("zero timed runs: no error")
	}
}
