package onnx

import (
	"bytes"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/graft-ml/graft/onnx/internal/pb"
	"github.com/graft-ml/graft/tensor"
)

// sparseModel is a chain of Add nodes over initializers of several dtypes
// and densities, so that each initializer is used, in list order.
func sparseModel(t *testing.T) (*Model, map[string]bool) {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	g := NewGraph("sparse")
	x, err := g.AddInput("x", ShapeOf(tensor.Float32, 6, 50))
	if err != nil {
		t.Fatal(err)
	}
	f32 := func(density float64, shape ...int) *tensor.Dense {
		d := tensor.New(tensor.Float32, shape...)
		for i := range d.F32 {
			if r.Float64() < density {
				d.F32[i] = float32(r.NormFloat64())
			}
		}
		return d
	}
	// Which initializers SparseFormat (default density bound) must store
	// sparse.
	want := map[string]bool{}
	add := func(name string, d *tensor.Dense, sparse bool) {
		v := g.AddConst(name, d)
		want[v.Name] = sparse
		if d.DType == tensor.Float32 && tensor.SameShape(d.Shape, []int{6, 50}) {
			x = g.AddNode("Add", "", "", []*Value{x, v}, []string{"y"}).Outputs[0]
		} else {
			g.AddNode("Identity", "", "", []*Value{v}, []string{name + "_out"})
		}
	}
	w := f32(0.1, 6, 50)
	w.F32[3] = float32(math.Copysign(0, -1)) // kept, bit for bit
	w.F32[7] = float32(math.NaN())
	add("w_sparse", w, true)
	add("w_dense", f32(0.9, 6, 50), false)
	add("w_half", f32(0.45, 6, 50), true)
	add("w_zero", f32(0, 6, 50), true)
	add("scalar", tensor.Scalar(0), false)
	add("empty", tensor.New(tensor.Float32, 0, 4), false)
	d64 := tensor.New(tensor.Float64, 30, 40)
	d64.F64[5], d64.F64[777] = 1.5, -2
	add("f64", d64, true)
	i64 := tensor.New(tensor.Int64, 100)
	i64.I64[99] = 1 << 40
	add("i64", i64, true)
	h := tensor.New(tensor.Float16, 64)
	h.F32[10] = 0.5
	add("f16", h, true)
	g.Outputs = []*Value{x}
	return NewModel(g, 17), want
}

// TestSparseInitializersRoundTrip: SparseFormat stores exactly the
// initializers at most half nonzero (not scalars or empty tensors), the
// data read back is bit for bit the original (negative zeros and NaNs
// included), KeepFormat writes a sparse file back unchanged, and
// DenseFormat gives back the dense file byte for byte, initializers in
// their original order.
func TestSparseInitializersRoundTrip(t *testing.T) {
	m, want := sparseModel(t)
	dir := t.TempDir()
	densePath, sparsePath := filepath.Join(dir, "dense.onnx"), filepath.Join(dir, "sparse.onnx")
	if err := m.Save(densePath); err != nil {
		t.Fatal(err)
	}
	if err := m.SaveWith(sparsePath, SaveOptions{Initializers: SparseFormat}); err != nil {
		t.Fatal(err)
	}
	sm, err := Load(sparsePath)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range sm.Graph.Initializers {
		if v.Name != m.Graph.Initializers[i].Name {
			t.Fatalf("initializer %d is %q, was %q", i, v.Name, m.Graph.Initializers[i].Name)
		}
		if got := v.Const.StoredSparse(); got != want[v.Name] {
			t.Errorf("%s: stored sparse %v, want %v", v.Name, got, want[v.Name])
		}
		a, err := m.Graph.Initializers[i].Const.Dense()
		if err != nil {
			t.Fatal(err)
		}
		b, err := v.Const.Dense()
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		if a.DType != b.DType || !tensor.SameShape(a.Shape, b.Shape) || !bytes.Equal(a.Raw(), b.Raw()) {
			t.Errorf("%s: data changed", v.Name)
		}
	}
	// Kept as loaded: the same bytes.
	keep := filepath.Join(dir, "keep.onnx")
	if err := sm.Save(keep); err != nil {
		t.Fatal(err)
	}
	if !sameFile(t, keep, sparsePath) {
		t.Error("a sparse file saved as loaded changed")
	}
	back := filepath.Join(dir, "back.onnx")
	if err := sm.SaveWith(back, SaveOptions{Initializers: DenseFormat}); err != nil {
		t.Fatal(err)
	}
	if !sameFile(t, back, densePath) {
		t.Error("dense → sparse → dense is not the dense file byte for byte")
	}
	// A stricter bound leaves the half-dense tensor dense.
	strict := filepath.Join(dir, "strict.onnx")
	if err := m.SaveWith(strict, SaveOptions{Initializers: SparseFormat, SparseMaxDensity: 0.2}); err != nil {
		t.Fatal(err)
	}
	st, err := Load(strict)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range st.Graph.Initializers {
		if v.Name == "w_half" && v.Const.StoredSparse() {
			t.Error("w_half (45 % nonzero) stored sparse under a 20 % bound")
		}
	}
	if err := m.SaveWith(strict, SaveOptions{Initializers: SparseFormat, SparseMaxDensity: 1.5}); err == nil {
		t.Error("density bound 1.5 accepted")
	}
}

func sameFile(t *testing.T, a, b string) bool {
	t.Helper()
	ma, err := Load(a)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := Load(b)
	if err != nil {
		t.Fatal(err)
	}
	ea, _ := ma.Encode()
	eb, _ := mb.Encode()
	return bytes.Equal(ea, eb)
}

// sparseGraph returns a model whose graph holds one sparse initializer
// "w" (a [2, 3] float32) read by an Identity node.
func sparseGraph(sp *pb.SparseTensorProto) []byte {
	mp := &pb.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*pb.OperatorSetIdProto{{Version: proto.Int64(17)}},
		Graph: &pb.GraphProto{
			Name:              proto.String("g"),
			SparseInitializer: []*pb.SparseTensorProto{sp},
			Node:              []*pb.NodeProto{{OpType: proto.String("Identity"), Input: []string{"w"}, Output: []string{"y"}}},
			Output:            []*pb.ValueInfoProto{{Name: proto.String("y")}},
		},
	}
	b, err := proto.Marshal(mp)
	if err != nil {
		panic(err)
	}
	return b
}

func f32Values(name string, v ...float32) *pb.TensorProto {
	d := tensor.FromF32([]int{len(v)}, v)
	return &pb.TensorProto{Name: optString(name), DataType: proto.Int32(int32(tensor.Float32)), Dims: []int64{int64(len(v))}, RawData: d.Raw()}
}

func i64Tensor(dims []int64, v ...int64) *pb.TensorProto {
	return &pb.TensorProto{DataType: proto.Int32(int32(tensor.Int64)), Dims: dims, Int64Data: v}
}

// TestSparseInitializerForms reads both index forms of the ONNX spec
// (linear [NNZ] and coordinates [NNZ, rank], raw or int64_data) and
// refuses malformed ones with an error that names the initializer.
func TestSparseInitializerForms(t *testing.T) {
	want := []float32{0, 1, 0, 0, 0, 2}
	dims := []int64{2, 3}
	raw := tensor.New(tensor.Int64, 2)
	raw.I64[0], raw.I64[1] = 1, 5
	ok := []struct {
		name string
		sp   *pb.SparseTensorProto
	}{
		{"linear int64_data", &pb.SparseTensorProto{Values: f32Values("w", 1, 2), Indices: i64Tensor([]int64{2}, 1, 5), Dims: dims}},
		{"linear raw_data", &pb.SparseTensorProto{Values: f32Values("w", 1, 2), Indices: &pb.TensorProto{DataType: proto.Int32(int32(tensor.Int64)), Dims: []int64{2}, RawData: raw.Raw()}, Dims: dims}},
		{"coordinates", &pb.SparseTensorProto{Values: f32Values("w", 1, 2), Indices: i64Tensor([]int64{2, 2}, 0, 1, 1, 2), Dims: dims}},
	}
	for _, c := range ok {
		t.Run(c.name, func(t *testing.T) {
			m, err := Decode(sparseGraph(c.sp))
			if err != nil {
				t.Fatal(err)
			}
			v := m.Graph.Value("w")
			if v == nil || v.Const == nil || !v.Const.StoredSparse() || !tensor.SameShape(v.Const.Shape, []int{2, 3}) {
				t.Fatalf("w not loaded as a [2 3] initializer: %+v", v)
			}
			d, err := v.Const.Dense()
			if err != nil {
				t.Fatal(err)
			}
			for i := range want {
				if d.F32[i] != want[i] {
					t.Fatalf("dense %v, want %v", d.F32, want)
				}
			}
		})
	}
	bad := []struct {
		name, err string
		sp        *pb.SparseTensorProto
		atDecode  bool
	}{
		{"no values", "without values", &pb.SparseTensorProto{Dims: dims}, false},
		{"no name", "without a name", &pb.SparseTensorProto{Values: f32Values("", 1), Indices: i64Tensor([]int64{1}, 0), Dims: dims}, false},
		{"int32 indices", "want int64", &pb.SparseTensorProto{Values: f32Values("w", 1), Indices: &pb.TensorProto{DataType: proto.Int32(int32(tensor.Int32)), Dims: []int64{1}, Int32Data: []int32{0}}, Dims: dims}, false},
		{"indices shape", "want [2] or [2 2]", &pb.SparseTensorProto{Values: f32Values("w", 1, 2), Indices: i64Tensor([]int64{3}, 0, 1, 2), Dims: dims}, false},
		{"too many values", "7 values for 6 elements", &pb.SparseTensorProto{Values: f32Values("w", 1, 1, 1, 1, 1, 1, 1), Indices: i64Tensor([]int64{7}, 0, 1, 2, 3, 4, 5, 6), Dims: dims}, false},
		{"no indices", "without indices", &pb.SparseTensorProto{Values: f32Values("w", 1), Dims: dims}, false},
		{"negative dim", "invalid dimension", &pb.SparseTensorProto{Values: f32Values("w", 1), Indices: i64Tensor([]int64{1}, 0), Dims: []int64{-1}}, false},
		{"out of range", "outside dims", &pb.SparseTensorProto{Values: f32Values("w", 1), Indices: i64Tensor([]int64{1}, 6), Dims: dims}, true},
		{"coordinate out of range", "outside dims", &pb.SparseTensorProto{Values: f32Values("w", 1), Indices: i64Tensor([]int64{1, 2}, 0, 3), Dims: dims}, true},
		{"descending", "must ascend", &pb.SparseTensorProto{Values: f32Values("w", 1, 2), Indices: i64Tensor([]int64{2}, 4, 1), Dims: dims}, true},
		{"duplicate", "must ascend", &pb.SparseTensorProto{Values: f32Values("w", 1, 2), Indices: i64Tensor([]int64{2}, 1, 1), Dims: dims}, true},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			m, err := Decode(sparseGraph(c.sp))
			if !c.atDecode {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one saying %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			_, err = m.Graph.Value("w").Const.Dense()
			if err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), `"w"`) {
				t.Fatalf("error %v, want one naming w and saying %q", err, c.err)
			}
		})
	}
	// A sparse initializer named like a dense one.
	mp := &pb.ModelProto{IrVersion: proto.Int64(8), Graph: &pb.GraphProto{
		Initializer:       []*pb.TensorProto{f32Values("w", 1)},
		SparseInitializer: []*pb.SparseTensorProto{{Values: f32Values("w", 1), Indices: i64Tensor([]int64{1}, 0), Dims: []int64{1}}},
	}}
	b, _ := proto.Marshal(mp)
	if _, err := Decode(b); err == nil || !strings.Contains(err.Error(), "defined twice") {
		t.Errorf("duplicate name: error %v", err)
	}
}
