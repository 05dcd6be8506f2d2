package exec

import (
	"math"
	"runtime"
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Memory tests. They measure bytes, never time, and bound them by what
// the model itself implies: the largest set of activations live at once
// (RunStats.PeakLiveBytes), or the sizes its shapes give. The thresholds
// are fractions of those, so that they hold for any machine.

// memoryCNN is a small residual CNN on a [batch,16,24,24] input: a stem
// convolution, three blocks of Conv-Relu-Conv-Add-Relu, a max pool, a
// wider convolution, global average pooling and a classifier. Its
// activations (72 Ki floats each at batch 4) are large enough to go
// through tensor.Recycle, and its 3×3 convolutions take the Winograd
// path, whose transformed weights the kernel caches.
func memoryCNN(batch int) (*onnx.Model, map[string]*tensor.Dense) {
	g := onnx.NewGraph("memory_cnn")
	fill := func(d *tensor.Dense, scale float64, seed int) *tensor.Dense {
		for i := range d.F32 {
			d.F32[i] = float32(math.Sin(float64(i*7+seed)*0.37) * scale)
		}
		return d
	}
	x := fill(tensor.New(tensor.Float32, batch, 16, 24, 24), 1, 0)
	in, _ := g.AddInput("x", onnx.ShapeOf(tensor.Float32, x.Shape...))
	layer := 0
	conv := func(v *onnx.Value, cin, cout int) *onnx.Value {
		layer++
		w := fill(tensor.New(tensor.Float32, cout, cin, 3, 3), 1/math.Sqrt(float64(9*cin)), layer)
		b := fill(tensor.New(tensor.Float32, cout), 0.1, layer)
		name := "conv" + string(rune('a'+layer))
		return g.AddNode("Conv", "", name, []*onnx.Value{v, g.AddConst(name+".w", w), g.AddConst(name+".b", b)}, []string{name + ".y"},
			onnx.IntsAttr("pads", 1, 1, 1, 1)).Outputs[0]
	}
	relu := func(v *onnx.Value) *onnx.Value {
		return g.AddNode("Relu", "", "", []*onnx.Value{v}, []string{g.UniqueName("relu")}).Outputs[0]
	}
	h := relu(conv(in, 16, 32))
	for range 3 {
		y := conv(relu(conv(h, 32, 32)), 32, 32)
		h = relu(g.AddNode("Add", "", "", []*onnx.Value{y, h}, []string{g.UniqueName("add")}).Outputs[0])
	}
	h = g.AddNode("MaxPool", "", "pool", []*onnx.Value{h}, []string{"pool.y"}, onnx.IntsAttr("kernel_shape", 2, 2), onnx.IntsAttr("strides", 2, 2)).Outputs[0]
	h = relu(conv(h, 32, 48))
	h = g.AddNode("GlobalAveragePool", "", "gap", []*onnx.Value{h}, []string{"gap.y"}).Outputs[0]
	h = g.AddNode("Flatten", "", "flat", []*onnx.Value{h}, []string{"flat.y"}).Outputs[0]
	fc := fill(tensor.New(tensor.Float32, 10, 48), 0.2, 99)
	out := g.AddNode("Gemm", "", "fc", []*onnx.Value{h, g.AddConst("fc.w", fc)}, []string{"logits"}, onnx.IntAttr("transB", 1)).Outputs[0]
	g.Outputs = append(g.Outputs, out)
	return onnx.NewModel(g, 17), map[string]*tensor.Dense{"x": x}
}

// heapAfterGC returns the bytes of live heap objects after a full
// collection.
func heapAfterGC() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// TestRunMemory checks the memory a CPU run holds beyond the weights,
// which on ResNet-18 at batch 8 had gone from 136 to 208 MB of peak heap
// (README, "Memory"):
//
//   - a run in the steady state allocates a small part of its live
//     activations afresh: dead activations' storage goes back to the pool
//     and the next tensors take it (a storage count released after
//     tensor.Recycle had emptied the tensor made recycled storage look
//     shared to its next holder, which was then never recycled, so that
//     every run lost storage from the pool and allocated it again);
//   - between runs, the program holds none of a run's tensors: the state
//     it keeps for the next run is empty (a state whose maps kept storage
//     addresses as keys held every activation those stale counts had
//     stranded until the next run began, and that run carried them as
//     garbage into its peak).
//
// The heap's total is not bounded here: the pool's and the kernels'
// caches and scratch buffers (exec/ops, tensor) are sized by their own
// rules; graft bench --mem reports it for a real model.
func TestRunMemory(t *testing.T) {
	m, in := memoryCNN(4)
	p, err := Compile(m)
	if err != nil {
		t.Fatal(err)
	}
	p.Threads = 2
	var st RunStats
	want, err := p.Run(in, RunOptions{Stats: &st})
	if err != nil {
		t.Fatal(err)
	}
	live := st.PeakLiveBytes
	if live < 1<<19 {
		t.Fatalf("peak live activations %d bytes: the model is too small to test recycling", live)
	}
	if _, err := p.Run(in, RunOptions{}); err != nil { // caches and pool filled
		t.Fatal(err)
	}

	// Steady state: storage comes from the pool, not from new allocations
	// (not checked under the race detector, whose dropping of sync.Pool
	// objects makes the kernels allocate their scratch buffers again).
	const runs = 4
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		got, err := p.Run(in, RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range got["logits"].F32 {
			if v != want["logits"].F32[i] {
				t.Fatalf("run results differ: logits[%d] %g, first run %g", i, v, want["logits"].F32[i])
			}
		}
	}
	runtime.ReadMemStats(&after)
	if perRun := int64(after.TotalAlloc-before.TotalAlloc) / runs; perRun > live/2 && !raceEnabled {
		t.Errorf("a steady-state run allocates %d bytes; peak live activations are %d: dead storage is not being reused", perRun, live)
	}

	// The state kept for the next run holds no tensor.
	spare := p.spare.Load()
	if spare == nil {
		t.Fatal("the run left no spare state for the next one")
	}
	held := 0
	for _, d := range spare.own {
		if d != nil {
			held++
		}
	}
	for _, d := range spare.in[:cap(spare.in)] {
		if d != nil {
			held++
		}
	}
	if held > 0 || len(spare.holders) > 0 || len(spare.pinned) > 0 || len(spare.memo) > 0 || spare.ctx.In != nil {
		t.Errorf("after a run the program's spare state holds %d tensors and %d+%d+%d storage addresses; want none",
			held, len(spare.holders), len(spare.pinned), len(spare.memo))
	}
	// The same in bytes: dropping the spare frees next to nothing. Two
	// collections first empty the sync.Pools of the kernels' scratch
	// buffers, so that the difference is the spare's alone. Garbage that
	// earlier tests left (under the race detector, several MB) can still
	// be freed between the two readings, which only ever adds to the
	// difference: the least of three measurements, each of the spare of
	// a fresh run, is the spare's. A spare that held storage would hold it
	// in all three.
	kept := int64(math.MaxInt64)
	for attempt := range 3 {
		if attempt > 0 {
			if _, err := p.Run(in, RunOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		heapAfterGC()
		withSpare := heapAfterGC()
		p.spare.Store(nil)
		kept = min(kept, withSpare-heapAfterGC())
	}
	runtime.KeepAlive(p) // only the spare may go
	if kept > live/16 {
		t.Errorf("the program keeps %d bytes between runs; peak live activations are %d", kept, live)
	}
}

// TestUnreadOutputDiesAtOnce checks that an output no step reads (here the
// second half of a Split) is released as soon as it is produced, not held
// to the end of the run: the peak of live activations is what the shapes
// say.
func TestUnreadOutputDiesAtOnce(t *testing.T) {
	g := onnx.NewGraph("split_unused")
	x := tensor.New(tensor.Float32, 1, 8, 32, 32)
	for i := range x.F32 {
		x.F32[i] = float32(i % 13)
	}
	in, _ := g.AddInput("x", onnx.ShapeOf(tensor.Float32, x.Shape...))
	split := g.AddNode("Split", "", "split", []*onnx.Value{in, g.AddConst("sizes", tensor.FromI64([]int{2}, []int64{4, 4}))}, []string{"a", "b"}, onnx.IntAttr("axis", 1))
	a := g.AddNode("Relu", "", "relu", []*onnx.Value{split.Outputs[0]}, []string{"r"}).Outputs[0]
	c := g.AddNode("Concat", "", "concat", []*onnx.Value{a, a, a, a}, []string{"c"}, onnx.IntAttr("axis", 1)).Outputs[0]
	g.Outputs = append(g.Outputs, c)
	p, err := Compile(onnx.NewModel(g, 17))
	if err != nil {
		t.Fatal(err)
	}
	var st RunStats
	if _, err := p.Run(map[string]*tensor.Dense{"x": x}, RunOptions{Stats: &st}); err != nil {
		t.Fatal(err)
	}
	unit := int64(4 * x.Len() / 2) // a, b or r; x is two
	// The caller's x counts as live throughout (2 units). After the
	// Split, x, a and b (4); after the Relu, x, a and r (4); after the
	// Concat, x, r and c (7). Holding b to the end would make that 8.
	if want := 7 * unit; st.PeakLiveBytes != want {
		t.Errorf("peak live %d bytes, want %d (the Concat and its input; the unread Split output already freed)", st.PeakLiveBytes, want)
	}
}
