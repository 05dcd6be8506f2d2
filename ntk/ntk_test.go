package ntk

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/graft-ml/graft/fitting"
	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// ntkTol is the agreement required with functorch's float64 kernels,
// relative to the kernel's largest entry: graft computes in float32, whose
// rounding over a backward pass and a contraction of a few thousand terms
// stays near 1e-6 relative; 1e-4 is the bar.
const ntkTol = 1e-4

func loadNTKFixture(t *testing.T, name string) (*onnx.Model, *tensor.Dense, string) {
	t.Helper()
	dir := filepath.Join(fixtures.Dir(), "ntk", name)
	m, err := onnx.Load(filepath.Join(dir, "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	x, err := tensor.LoadNPY(filepath.Join(dir, "x.npy"))
	if err != nil {
		t.Fatal(err)
	}
	return m, x, dir
}

func relErr(t *testing.T, got, want *tensor.Dense) float64 {
	t.Helper()
	if !tensor.SameShape(got.Shape, want.Shape) {
		t.Fatalf("shape %v, want %v", got.Shape, want.Shape)
	}
	g, w := got.Float64s(), want.Float64s()
	scale, worst := 0.0, 0.0
	for i := range w {
		scale = math.Max(scale, math.Abs(w[i]))
		worst = math.Max(worst, math.Abs(g[i]-w[i]))
	}
	return worst / scale
}

// TestAgainstFunctorch compares the full kernel, its trace, one output's
// kernel and the per-parameter components with functorch's on the
// fixtures of gen_ntk.py: an MLP, a CNN and a residual CNN.
func TestAgainstFunctorch(t *testing.T) {
	for _, name := range []string{"mlp", "cnn", "rescnn"} {
		t.Run(name, func(t *testing.T) {
			m, x, dir := loadNTKFixture(t, name)
			full, err := tensor.LoadNPY(filepath.Join(dir, "full.npy"))
			if err != nil {
				t.Fatal(err)
			}
			trace, err := tensor.LoadNPY(filepath.Join(dir, "trace.npy"))
			if err != nil {
				t.Fatal(err)
			}
			comps, err := tensor.LoadNPZ(filepath.Join(dir, "components.npz"))
			if err != nil {
				t.Fatal(err)
			}
			r, err := Compute(m, x, Options{Mode: Mode{Kind: Full}})
			if err != nil {
				t.Fatal(err)
			}
			e := relErr(t, r.Kernel, full)
			if e > ntkTol {
				t.Errorf("full kernel: relative error %.2g", e)
			}
			t.Logf("full kernel within %.2g of functorch; paths %v", e, r.Paths)
			r, err = Compute(m, x, Options{Mode: Mode{Kind: Trace}, Components: true})
			if err != nil {
				t.Fatal(err)
			}
			if e := relErr(t, r.Kernel, trace); e > ntkTol {
				t.Errorf("trace kernel: relative error %.2g", e)
			}
			for pname, want := range comps {
				got := r.Components[pname]
				if got == nil {
					t.Errorf("no component for %s", pname)
					continue
				}
				if e := relErr(t, got, want); e > ntkTol {
					t.Errorf("component %s: relative error %.2g", pname, e)
				}
			}
			// One output: Θ[:, :, 1, 1] of the full reference.
			r, err = Compute(m, x, Options{Mode: Mode{Kind: Output, K: 1}})
			if err != nil {
				t.Fatal(err)
			}
			n, k := full.Shape[0], full.Shape[2]
			want := tensor.New(tensor.Float64, n, n)
			for i := range n {
				for j := range n {
					want.F64[i*n+j] = full.F64[((i*n+j)*k+1)*k+1]
				}
			}
			if e := relErr(t, r.Kernel, want); e > ntkTol {
				t.Errorf("output 1 kernel: relative error %.2g", e)
			}
		})
	}
}

// TestVGGAgainstFunctorch compares the trace kernel of the VGG-style CNN
// fixture (six 3×3 convs with ReLU and max pools, a Gemm, 298k
// parameters, 32 samples) with functorch's, computed whole and, on 12 of
// the samples, under a budget that forces chunks of 5 and output groups.
func TestVGGAgainstFunctorch(t *testing.T) {
	m, x, dir := loadNTKFixture(t, "vgg")
	trace, err := tensor.LoadNPY(filepath.Join(dir, "trace.npy"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Compute(m, x, Options{Mode: Mode{Kind: Trace}})
	if err != nil {
		t.Fatal(err)
	}
	e := relErr(t, r.Kernel, trace)
	if e > ntkTol {
		t.Errorf("trace kernel: relative error %.2g", e)
	}
	t.Logf("trace kernel within %.2g of functorch; chunk %d, %.1f MB held", e, r.Chunk, float64(r.PeakBytes)/1e6)
	for name, path := range r.Paths {
		if path == "jacobian" {
			t.Errorf("%s took the per-sample backward path", name)
		}
	}

	const n = 12
	part := sampleSlice(x, 0, n)
	want := tensor.New(tensor.Float64, n, n)
	for i := range n {
		copy(want.F64[i*n:(i+1)*n], trace.F64[i*x.Shape[0]:i*x.Shape[0]+n])
	}
	r, err = Compute(m, part, Options{Mode: Mode{Kind: Trace}, Chunk: 5, MaxBytes: 40 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if r.OutputGroup >= r.Outputs {
		t.Errorf("budget did not force output groups: group %d of %d outputs", r.OutputGroup, r.Outputs)
	}
	if e := relErr(t, r.Kernel, want); e > ntkTol {
		t.Errorf("trace kernel in chunks of 5, output groups of %d: relative error %.2g", r.OutputGroup, e)
	}
}

// TestConvModelPath checks the one-conv gradient models, which serve
// convolutions the product form cannot read (dilated, grouped, uneven
// padding), against functorch by sending the CNN fixtures' convs through
// them.
func TestConvModelPath(t *testing.T) {
	forceConvModel = true
	defer func() { forceConvModel = false }()
	for _, name := range []string{"cnn", "rescnn"} {
		m, x, dir := loadNTKFixture(t, name)
		full, err := tensor.LoadNPY(filepath.Join(dir, "full.npy"))
		if err != nil {
			t.Fatal(err)
		}
		r, err := Compute(m, x, Options{Mode: Mode{Kind: Full}})
		if err != nil {
			t.Fatal(err)
		}
		if e := relErr(t, r.Kernel, full); e > ntkTol {
			t.Errorf("%s through one-conv models: relative error %.2g", name, e)
		}
	}
}

// TestBlocksAssemble checks that blocks computed apart, with small chunks,
// assemble to the kernel computed at once.
func TestBlocksAssemble(t *testing.T) {
	m, x, _ := loadNTKFixture(t, "rescnn")
	checkBlocks(t, m, x, Options{Mode: Mode{Kind: Trace}})
}

// checkBlocks computes three blocks of the kernel opt describes, two
// samples' gradients at a time, and holds each to the whole kernel.
func checkBlocks(t *testing.T, m *onnx.Model, x *tensor.Dense, opt Options) {
	t.Helper()
	whole, err := Compute(m, x, opt)
	if err != nil {
		t.Fatal(err)
	}
	n := x.Shape[0]
	for _, b := range [][4]int{{0, 2, 0, n}, {2, n, 0, 3}, {2, n, 3, n}} {
		o := opt
		o.Rows, o.Cols, o.Chunk = Range{b[0], b[1]}, Range{b[2], b[3]}, 2
		r, err := Compute(m, x, o)
		if err != nil {
			t.Fatal(err)
		}
		nc := b[3] - b[2]
		for i := b[0]; i < b[1]; i++ {
			for j := b[2]; j < b[3]; j++ {
				got, want := r.Kernel.F64[(i-b[0])*nc+j-b[2]], whole.Kernel.F64[i*n+j]
				if math.Abs(got-want) > 1e-5*math.Abs(want)+1e-9 {
					t.Fatalf("block %v: Θ[%d,%d] = %g, whole kernel has %g", b, i, j, got, want)
				}
			}
		}
	}
}

// TestParamsSubset checks that selecting parameters gives the sum of
// their components.
func TestParamsSubset(t *testing.T) {
	m, x, dir := loadNTKFixture(t, "rescnn")
	comps, err := tensor.LoadNPZ(filepath.Join(dir, "components.npz"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Compute(m, x, Options{Mode: Mode{Kind: Trace}, Params: []string{"fc", "down.weight"}})
	if err != nil {
		t.Fatal(err)
	}
	want := tensor.New(tensor.Float64, x.Shape[0], x.Shape[0])
	for _, p := range []string{"fc.weight", "fc.bias", "down.weight"} {
		for i, v := range comps[p].F64 {
			want.F64[i] += v
		}
	}
	if len(r.Params) != 3 {
		t.Errorf("selected %v, want fc.weight, fc.bias, down.weight", r.Params)
	}
	if e := relErr(t, r.Kernel, want); e > ntkTol {
		t.Errorf("subset kernel: relative error %.2g", e)
	}
	if _, err := Compute(m, x, Options{Params: []string{"nothing"}}); err == nil {
		t.Error("a pattern matching no parameter gave no error")
	}
}

// TestJacobianPath checks the whole-model per-sample path, which serves
// parameters outside Gemm and Conv layers, against functorch by sending
// every parameter of the CNN fixtures through it, and runs it on the
// transformer fixture (LayerNorm, attention MatMuls).
func TestJacobianPath(t *testing.T) {
	forceJacobian = true
	defer func() { forceJacobian = false }()
	for _, name := range []string{"cnn", "rescnn"} {
		m, x, dir := loadNTKFixture(t, name)
		full, err := tensor.LoadNPY(filepath.Join(dir, "full.npy"))
		if err != nil {
			t.Fatal(err)
		}
		r, err := Compute(m, x, Options{Mode: Mode{Kind: Full}, Chunk: 4})
		if err != nil {
			t.Fatal(err)
		}
		if e := relErr(t, r.Kernel, full); e > ntkTol {
			t.Errorf("%s through per-sample backward passes: relative error %.2g", name, e)
		}
	}
	// The transformer (3-D activations, MatMul weights, LayerNorm) takes
	// this path anyway; its kernel must be a Gram matrix: symmetric and
	// positive semidefinite.
	fx, err := fixtures.Load("transformer")
	if err != nil {
		t.Fatal(err)
	}
	m, err := onnx.Load(fx.Model())
	if err != nil {
		t.Fatal(err)
	}
	x, err := tensor.LoadNPY(fx.Path(fx.Inputs[0].File))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Compute(m, x, Options{Mode: Mode{Kind: Full}})
	if err != nil {
		t.Fatal(err)
	}
	sq, size, ok := Square(r.Kernel)
	if !ok {
		t.Fatalf("kernel %v is not square", r.Kernel.Shape)
	}
	spec, err := Analyze(sq, size)
	if err != nil {
		t.Fatalf("transformer kernel: %v", err)
	}
	if low := spec.Eigenvalues[size-1]; low < -1e-5*spec.Eigenvalues[0] {
		t.Errorf("transformer kernel has eigenvalue %g (largest %g): not a Gram matrix", low, spec.Eigenvalues[0])
	}
}

// BenchmarkNTK times the trace kernel of the residual CNN fixture for 64
// samples on two threads; `/usr/bin/python3 fixtures/gen_ntk.py --bench 64`
// times functorch's Jacobian contraction on the same model and inputs
// count for the ratio in the README.
func BenchmarkNTK(b *testing.B) {
	dir := filepath.Join(fixtures.Dir(), "ntk", "rescnn")
	m, err := onnx.Load(filepath.Join(dir, "model.onnx"))
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{64, 256} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			x := tensor.New(tensor.Float32, n, 3, 8, 8)
			r := rand.New(rand.NewPCG(1, 2))
			for i := range x.F32 {
				x.F32[i] = float32(r.NormFloat64())
			}
			for b.Loop() {
				if _, err := Compute(m, x, Options{Mode: Mode{Kind: Trace}, Threads: 2}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestFixedBatchModel runs cnn_bn, exported with a fixed batch of 2 and
// with BatchNormalization parameters (the per-sample path), on 3 samples
// so that runs are padded, and checks that the layerwise paths agree with
// per-sample backward passes for every parameter.
func TestFixedBatchModel(t *testing.T) {
	fx, m, x := fixedBatchModel(t, 3, 4)
	fast, err := Compute(m, x, Options{Mode: Mode{Kind: Full}})
	if err != nil {
		t.Fatal(err)
	}
	forceJacobian = true
	slow, err := Compute(m, x, Options{Mode: Mode{Kind: Full}})
	forceJacobian = false
	if err != nil {
		t.Fatal(err)
	}
	if e := relErr(t, fast.Kernel, slow.Kernel); e > 1e-5 {
		t.Errorf("layerwise and per-sample kernels differ by %.2g relative", e)
	}
	// The same model with its batch dim made symbolic needs no padding.
	relaxed, err := onnx.Load(fx.Model())
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range append(relaxed.Graph.Inputs[:1:1], relaxed.Graph.Outputs...) {
		v.Type.Dims = append([]onnx.Dim{{Param: "batch"}}, v.Type.Dims[1:]...)
	}
	free, err := Compute(relaxed, x, Options{Mode: Mode{Kind: Full}})
	if err != nil {
		t.Fatal(err)
	}
	if e := relErr(t, fast.Kernel, free.Kernel); e > 1e-5 {
		t.Errorf("padded fixed-batch kernel and symbolic-batch kernel differ by %.2g relative", e)
	}
}

// TestOutputGroups squeezes the memory budget until the trace kernel must
// hold fewer outputs' gradients at a time, and checks that the groups sum
// to the same kernel, and that the full kernel, which cannot be split by
// outputs, fails with an error saying so.
func TestOutputGroups(t *testing.T) {
	m, x, dir := loadNTKFixture(t, "rescnn")
	trace, err := tensor.LoadNPY(filepath.Join(dir, "trace.npy"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Compute(m, x, Options{Mode: Mode{Kind: Trace}, Chunk: 2, MaxBytes: 60 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if r.OutputGroup >= r.Outputs {
		t.Fatalf("budget did not force output groups: group %d of %d outputs", r.OutputGroup, r.Outputs)
	}
	if e := relErr(t, r.Kernel, trace); e > ntkTol {
		t.Errorf("trace kernel from output groups of %d: relative error %.2g", r.OutputGroup, e)
	}
	if _, err := Compute(m, x, Options{Mode: Mode{Kind: Full}, Chunk: 2, MaxBytes: 60 << 10}); err == nil || !strings.Contains(err.Error(), "all 4 outputs") {
		t.Errorf("full kernel beyond the budget: %v", err)
	}
}

// fixedBatchModel loads cnn_bn, exported with a fixed batch of 2, and
// draws 3 normal samples for it (seeded), so that runs are padded.
func fixedBatchModel(t *testing.T, seed1, seed2 uint64) (*fixtures.Manifest, *onnx.Model, *tensor.Dense) {
	t.Helper()
	fx, err := fixtures.Load("cnn_bn")
	if err != nil {
		t.Fatal(err)
	}
	m, err := onnx.Load(fx.Model())
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.New(tensor.Float32, 3, 3, 16, 16)
	r := rand.New(rand.NewPCG(seed1, seed2))
	for i := range x.F32 {
		x.F32[i] = float32(r.NormFloat64())
	}
	return fx, m, x
}

// BenchmarkNTKVGG times the trace kernel of the VGG-style CNN fixture
// (fixtures/ntk/vgg: six convs and a Gemm, 298k parameters) for its 32
// samples on two threads; `go run ./tools/ntkcmp -model vgg` times
// functorch beside it.
func BenchmarkNTKVGG(b *testing.B) {
	dir := filepath.Join(fixtures.Dir(), "ntk", "vgg")
	m, err := onnx.Load(filepath.Join(dir, "model.onnx"))
	if err != nil {
		b.Fatal(err)
	}
	x, err := tensor.LoadNPY(filepath.Join(dir, "x.npy"))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Compute(m, x, Options{Mode: Mode{Kind: Trace}, Threads: 2}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestUnfold holds the product path's unfolding to fitting.Unfold's on
// odd shapes: kernels 1 to 3, padding, strides 1 and 2.
func TestUnfold(t *testing.T) {
	x := tensor.New(tensor.Float32, 3, 2, 5, 7)
	r := rand.New(rand.NewPCG(5, 6))
	for i := range x.F32 {
		x.F32[i] = float32(r.NormFloat64())
	}
	p := &plan{threads: 2}
	for _, pt := range []fitting.Patches{{K: 1}, {K: 3, Pad: 1}, {K: 3, Pad: 1, Stride: 2}, {K: 2, Stride: 2}, {K: 3, Pad: 2, Stride: 3}} {
		want, err := fitting.Unfold(x, pt)
		if err != nil {
			t.Fatal(err)
		}
		got, err := p.unfold(x, pt)
		if err != nil {
			t.Fatal(err)
		}
		if !tensor.SameShape(got.Shape, want.Shape) || !slices.Equal(got.F32, want.F32) {
			t.Errorf("%+v: unfolded %v differs from fitting.Unfold's %v", pt, got.Shape, want.Shape)
		}
	}
}
