package onnx

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/graft-ml/graft/onnx/internal/pb"
	"github.com/graft-ml/graft/tensor"
)

// rawTensor, rawAttr and valueInfo hold the wire encodings kept for
// faithful round trips; only load.go and save.go look inside them. A
// tensor read from a graph's sparse_initializer list keeps its
// SparseTensorProto in sparse (with any external data read inline) and
// no p.
//
// Raw data read from a side file may be a slice of the file's mapping;
// files keeps the mappings alive while the encoding is reachable. Such
// bytes are only ever read: decoding copies them (decodeTensor).
type rawTensor struct {
	p      *pb.TensorProto
	sparse *pb.SparseTensorProto
	files  *extFiles
	mapped bool // p.RawData is a slice of a mapping in files
}

type rawAttr struct{ p *pb.AttributeProto }

type valueInfo struct {
	p   *pb.ValueInfoProto
	typ Type // the type decoded from p, to tell whether the Value changed it
}

// Load reads an ONNX model file. Tensors stored as external data are read
// from files beside it; their paths may not leave the model's folder.
func Load(path string) (*Model, error) {
	data, err := readModelFile(path)
	if err != nil {
		return nil, err
	}
	m, err := decode(data, filepath.Dir(path))
	if err != nil {
		var fe *FormatError
		if errors.As(err, &fe) && fe.Path == "" {
			fe.Path = path
		}
		return nil, err
	}
	return m, nil
}

// readModelFile reads at most protobuf's 2 GiB limit: a larger file (or
// an endless one like /dev/zero) cannot be a model, whose big tensors
// would be external data.
func readModelFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > maxProtoSize {
		return nil, &FormatError{Path: path, Msg: fmt.Sprintf("file is %d bytes, over protobuf's 2 GiB limit for a model (large weights go in external data)", st.Size())}
	}
	// A protobuf message cannot start with a zero byte (field number 0 is
	// invalid): refuse such a stream before reading 2 GiB of it.
	head := make([]byte, 1)
	n, _ := io.ReadFull(f, head)
	if n == 1 && head[0] == 0 {
		return nil, &FormatError{Path: path, Msg: "not a protobuf model: it starts with a zero byte"}
	}
	rest, err := io.ReadAll(io.LimitReader(f, maxProtoSize))
	if err != nil {
		return nil, err
	}
	data := append(head[:n], rest...)
	if len(data) > maxProtoSize {
		return nil, &FormatError{Path: path, Msg: "more than protobuf's 2 GiB limit for a model (large weights go in external data)"}
	}
	return data, nil
}

// Decode parses a model from bytes. External data is refused, since there is
// no folder to read it from; use Load for such models.
func Decode(data []byte) (*Model, error) { return decode(data, "") }

func decode(data []byte, dir string) (*Model, error) {
	var mp pb.ModelProto
	if err := proto.Unmarshal(data, &mp); err != nil {
		return nil, &FormatError{Msg: "cannot parse protobuf", Err: err}
	}
	if mp.Graph == nil {
		return nil, &FormatError{Msg: "model has no graph"}
	}
	m := &Model{
		IRVersion:       mp.GetIrVersion(),
		ProducerName:    mp.GetProducerName(),
		ProducerVersion: mp.GetProducerVersion(),
		Domain:          mp.GetDomain(),
		ModelVersion:    mp.GetModelVersion(),
		DocString:       mp.GetDocString(),
		raw:             &mp,
	}
	for _, o := range mp.OpsetImport {
		m.Opsets = append(m.Opsets, OpsetID{Domain: o.GetDomain(), Version: o.GetVersion()})
	}
	for _, kv := range mp.MetadataProps {
		m.Metadata = append(m.Metadata, KV{kv.GetKey(), kv.GetValue()})
	}
	ld := loader{dir: dir, files: newExtFiles()}
	g, err := ld.graph(mp.Graph)
	if err != nil {
		return nil, err
	}
	m.Graph = g
	return m, nil
}

type loader struct {
	dir   string    // model folder for external data; "" forbids it
	files *extFiles // the side files read so far, mapped where possible
}

func (ld *loader) graph(gp *pb.GraphProto) (*Graph, error) {
	g := &Graph{
		Name:      gp.GetName(),
		DocString: gp.GetDocString(),
		values:    map[string]*Value{},
		raw:       gp,
	}
	for _, tp := range gp.Initializer {
		name := tp.GetName()
		if name == "" {
			return nil, &FormatError{Msg: "initializer without a name"}
		}
		if g.values[name] != nil {
			return nil, &FormatError{Msg: fmt.Sprintf("initializer %q defined twice", name)}
		}
		t, err := ld.tensor(tp)
		if err != nil {
			return nil, err
		}
		v := g.newValue(name)
		v.Const = t
		v.Type = Type{DType: t.DType, HasShape: true, Dims: intDims(t.Shape)}
		g.Initializers = append(g.Initializers, v)
	}
	// Sparse initializers become initializers like the others; their
	// data is made dense on first use (Tensor.Dense). Where they go in
	// the list is settled once the nodes are read (placeSparse).
	dense := len(g.Initializers)
	for _, sp := range gp.SparseInitializer {
		t, err := ld.sparseTensor(sp)
		if err != nil {
			return nil, err
		}
		if g.values[t.Name] != nil {
			return nil, &FormatError{Msg: fmt.Sprintf("initializer %q defined twice", t.Name)}
		}
		v := g.newValue(t.Name)
		v.Const = t
		v.Type = Type{DType: t.DType, HasShape: true, Dims: intDims(t.Shape)}
		g.Initializers = append(g.Initializers, v)
	}
	for _, vi := range gp.Input {
		v, err := g.infoValue(vi)
		if err != nil {
			return nil, err
		}
		g.Inputs = append(g.Inputs, v)
	}
	for i, np := range gp.Node {
		n, err := ld.node(g, np, i)
		if err != nil {
			return nil, err
		}
		g.Nodes = append(g.Nodes, n)
	}
	g.placeSparse(dense)
	for _, vi := range gp.ValueInfo {
		v, err := g.infoValue(vi)
		if err != nil {
			return nil, err
		}
		g.infoOrder = append(g.infoOrder, v)
	}
	for _, vi := range gp.Output {
		v, err := g.infoValue(vi)
		if err != nil {
			return nil, err
		}
		g.Outputs = append(g.Outputs, v)
	}
	return g, nil
}

// placeSparse moves the sparse initializers, g.Initializers[dense:],
// among the dense ones by first use: each goes before the first dense
// initializer that a later node, or a later input of the same node,
// reads first. Exporters such as PyTorch list initializers in the order
// the nodes use them, so a model written with some initializers sparse
// reads back in its original order, and written dense again it is the
// same file byte for byte. Initializers no node reads keep their order,
// at the end.
func (g *Graph) placeSparse(dense int) {
	if dense == len(g.Initializers) {
		return
	}
	type use struct{ node, input int }
	at := make(map[*Node]int, len(g.Nodes))
	for i, n := range g.Nodes {
		at[n] = i
	}
	never := use{len(g.Nodes), 0}
	first := func(v *Value) use {
		u := never
		for _, x := range v.uses {
			if x.Index < 0 {
				continue
			}
			if c := (use{at[x.Node], x.Index}); c.node < u.node || (c.node == u.node && c.input < u.input) {
				u = c
			}
		}
		return u
	}
	before := func(a, b use) bool { return a.node < b.node || (a.node == b.node && a.input < b.input) }
	sparse := append([]*Value(nil), g.Initializers[dense:]...)
	slices.SortStableFunc(sparse, func(a, b *Value) int {
		ua, ub := first(a), first(b)
		switch {
		case before(ua, ub):
			return -1
		case before(ub, ua):
			return 1
		}
		return 0
	})
	out := make([]*Value, 0, len(g.Initializers))
	for _, d := range g.Initializers[:dense] {
		ud := first(d)
		for len(sparse) > 0 && before(first(sparse[0]), ud) {
			out = append(out, sparse[0])
			sparse = sparse[1:]
		}
		out = append(out, d)
	}
	g.Initializers = append(out, sparse...)
}

// infoValue finds or creates the value a ValueInfoProto describes and gives
// it the declared type, unless it is an initializer whose data fixes it.
func (g *Graph) infoValue(vi *pb.ValueInfoProto) (*Value, error) {
	name := vi.GetName()
	if name == "" {
		return nil, &FormatError{Msg: "value info without a name"}
	}
	typ, err := decodeType(vi.GetType())
	if err != nil {
		return nil, &FormatError{Msg: fmt.Sprintf("value %q", name), Err: err}
	}
	v := g.values[name]
	if v == nil {
		v = g.newValue(name)
	}
	if v.Const == nil {
		v.Type = typ
	}
	// A copy of the dims: an in-place edit of v.Type.Dims must show as a
	// change when the graph is saved.
	kept := typ
	kept.Dims = append([]Dim(nil), typ.Dims...)
	v.info = &valueInfo{p: vi, typ: kept}
	return v, nil
}

func (ld *loader) node(g *Graph, np *pb.NodeProto, index int) (*Node, error) {
	n := &Node{
		Name:      np.GetName(),
		OpType:    np.GetOpType(),
		Domain:    np.GetDomain(),
		Overload:  np.GetOverload(),
		DocString: np.GetDocString(),
		graph:     g,
		raw:       np,
	}
	where := fmt.Sprintf("node %d %q (%s)", index, n.Name, n.OpType)
	if n.OpType == "" {
		return nil, &FormatError{Msg: where + ": empty op_type"}
	}
	for _, ap := range np.Attribute {
		a, err := ld.attr(ap)
		if err != nil {
			return nil, &FormatError{Msg: where, Err: err}
		}
		n.Attrs = append(n.Attrs, a)
	}
	for i, name := range np.Input {
		if name == "" {
			n.Inputs = append(n.Inputs, nil)
			continue
		}
		v := g.values[name]
		if v == nil {
			v = g.newValue(name) // produced later in the file, or dangling: Validate tells
		}
		n.Inputs = append(n.Inputs, v)
		v.uses = append(v.uses, Use{n, i})
	}
	for _, name := range np.Output {
		if name == "" {
			n.Outputs = append(n.Outputs, nil)
			continue
		}
		v := g.values[name]
		switch {
		case v == nil:
			v = g.newValue(name)
		case v.producer != nil:
			return nil, &FormatError{Msg: fmt.Sprintf("%s: output %q is already produced by node %q", where, name, v.producer.Name)}
		case v.Const != nil:
			return nil, &FormatError{Msg: fmt.Sprintf("%s: output %q is also an initializer", where, name)}
		}
		v.producer = n
		n.Outputs = append(n.Outputs, v)
	}
	// Subgraphs may read values of this graph by name; record those reads
	// so that edits and Cleanup see them.
	n.linkImplicit()
	return n, nil
}

func (ld *loader) attr(ap *pb.AttributeProto) (*Attr, error) {
	a := &Attr{
		Name:        ap.GetName(),
		Type:        AttrType(ap.GetType()),
		F:           ap.GetF(),
		I:           ap.GetI(),
		S:           string(ap.GetS()),
		Floats:      ap.Floats,
		Ints:        ap.Ints,
		RefAttrName: ap.GetRefAttrName(),
		raw:         &rawAttr{ap},
	}
	for _, s := range ap.Strings {
		a.Strings = append(a.Strings, string(s))
	}
	if ap.Tp != nil {
		t, err := decodeType(ap.Tp)
		if err != nil {
			return nil, fmt.Errorf("attribute %q: %w", a.Name, err)
		}
		a.TP = &t
	}
	if ap.T != nil {
		t, err := ld.tensor(ap.T)
		if err != nil {
			return nil, fmt.Errorf("attribute %q: %w", a.Name, err)
		}
		a.T = t
	}
	for _, tp := range ap.Tensors {
		t, err := ld.tensor(tp)
		if err != nil {
			return nil, fmt.Errorf("attribute %q: %w", a.Name, err)
		}
		a.Tensors = append(a.Tensors, t)
	}
	if ap.G != nil {
		g, err := ld.graph(ap.G)
		if err != nil {
			return nil, fmt.Errorf("attribute %q: graph %q: %w", a.Name, ap.G.GetName(), err)
		}
		a.G = g
	}
	for _, gp := range ap.Graphs {
		g, err := ld.graph(gp)
		if err != nil {
			return nil, fmt.Errorf("attribute %q: graph %q: %w", a.Name, gp.GetName(), err)
		}
		a.Graphs = append(a.Graphs, g)
	}
	return a, nil
}

func intDims(shape []int) []Dim {
	d := make([]Dim, len(shape))
	for i, s := range shape {
		d[i] = Dim{Value: int64(s)}
	}
	return d
}

func decodeType(tp *pb.TypeProto) (Type, error) {
	if ot := tp.GetOptionalType(); ot != nil && ot.ElemType != nil && ot.ElemType.GetOptionalType() == nil {
		t, err := decodeType(ot.ElemType)
		t.Optional = true
		return t, err
	}
	if st := tp.GetSequenceType(); st != nil && st.ElemType.GetTensorType() != nil {
		t, err := decodeType(st.ElemType)
		t.Seq = true
		return t, err
	}
	tt := tp.GetTensorType()
	if tt == nil {
		return Type{}, nil // other or absent type: unknown to graft
	}
	t := Type{DType: tensor.DType(tt.GetElemType())}
	if tt.Shape == nil {
		return t, nil
	}
	t.HasShape = true
	t.Dims = make([]Dim, len(tt.Shape.Dim))
	for i, d := range tt.Shape.Dim {
		switch v := d.Value.(type) {
		case *pb.TensorShapeProto_Dimension_DimValue:
			if v.DimValue < 0 {
				return Type{}, fmt.Errorf("negative dimension %d", v.DimValue)
			}
			t.Dims[i] = Dim{Value: v.DimValue}
		case *pb.TensorShapeProto_Dimension_DimParam:
			t.Dims[i] = Dim{Value: -1, Param: v.DimParam}
		default:
			t.Dims[i] = UnknownDim
		}
	}
	return t, nil
}

// tensor checks a TensorProto's declared size against the data present and
// resolves external data; decoding into numbers waits until first use.
func (ld *loader) tensor(tp *pb.TensorProto) (*Tensor, error) {
	name := tp.GetName()
	dt := tensor.DType(tp.GetDataType())
	shape := make([]int, len(tp.Dims))
	for i, d := range tp.Dims {
		if d < 0 || d > 1<<40 {
			return nil, &FormatError{Msg: fmt.Sprintf("tensor %q: invalid dimension %d", name, d)}
		}
		shape[i] = int(d)
	}
	n, err := tensor.NumElems(shape)
	if err != nil {
		return nil, &FormatError{Msg: fmt.Sprintf("tensor %q", name), Err: err}
	}
	t := &Tensor{Name: name, DType: dt, Shape: shape, raw: &rawTensor{p: tp}}
	if tp.GetDataLocation() == pb.TensorProto_EXTERNAL {
		inline, mapped, err := ld.external(tp, n)
		if err != nil {
			return nil, &FormatError{Msg: fmt.Sprintf("tensor %q: external data", name), Err: err}
		}
		t.raw = &rawTensor{p: inline, files: ld.files, mapped: mapped}
		return t, nil
	}
	if err := checkTensorSize(tp, dt, n); err != nil {
		return nil, &FormatError{Msg: fmt.Sprintf("tensor %q", name), Err: err}
	}
	return t, nil
}

// sparseTensor checks a SparseTensorProto (ONNX IR 6): values, a 1-D
// tensor of NNZ elements named as the initializer, and int64 indices of
// shape [NNZ] (linear positions in dims) or [NNZ, rank] (coordinates).
// External data of either part is read inline. Whether the indices lie
// inside dims, ascending and without duplicates, is checked when the data
// is first made dense.
func (ld *loader) sparseTensor(sp *pb.SparseTensorProto) (*Tensor, error) {
	if sp.Values == nil {
		return nil, &FormatError{Msg: "sparse initializer without values"}
	}
	name := sp.Values.GetName()
	if name == "" {
		return nil, &FormatError{Msg: "sparse initializer without a name (values.name)"}
	}
	fail := func(format string, args ...any) error {
		return &FormatError{Msg: fmt.Sprintf("sparse initializer %q: ", name) + fmt.Sprintf(format, args...)}
	}
	shape := make([]int, len(sp.Dims))
	for i, d := range sp.Dims {
		if d < 0 || d > 1<<40 {
			return nil, fail("invalid dimension %d", d)
		}
		shape[i] = int(d)
	}
	n, err := tensor.NumElems(shape)
	if err != nil {
		return nil, fail("%v", err)
	}
	values, err := ld.tensor(sp.Values)
	if err != nil {
		return nil, err
	}
	if len(values.Shape) != 1 {
		return nil, fail("values have shape %v, want [NNZ]", values.Shape)
	}
	nnz := values.Shape[0]
	if nnz > n {
		return nil, fail("%d values for %d elements", nnz, n)
	}
	out := &pb.SparseTensorProto{Values: values.raw.p, Dims: sp.Dims}
	out.ProtoReflect().SetUnknown(sp.ProtoReflect().GetUnknown())
	if sp.Indices != nil {
		indices, err := ld.tensor(sp.Indices)
		if err != nil {
			return nil, fail("indices: %v", err)
		}
		if indices.DType != tensor.Int64 {
			return nil, fail("indices are %s, want int64", indices.DType)
		}
		if s := indices.Shape; !(len(s) == 1 && s[0] == nnz) && !(len(s) == 2 && s[0] == nnz && s[1] == len(shape)) {
			return nil, fail("indices have shape %v, want [%d] or [%d %d]", s, nnz, nnz, len(shape))
		}
		out.Indices = indices.raw.p
	} else if nnz > 0 {
		return nil, fail("%d values without indices", nnz)
	}
	return &Tensor{Name: name, DType: values.DType, Shape: shape, raw: &rawTensor{sparse: out, files: ld.files}}, nil
}

// sparseDenseRaw returns the little-endian bytes of a sparse tensor's
// dense form: zeros, with each value's bytes copied to its position, so
// that the dense data is bit for bit what was stored.
func sparseDenseRaw(sp *pb.SparseTensorProto) ([]byte, error) {
	values, err := decodeTensor(&rawTensor{p: sp.Values})
	if err != nil {
		return nil, fmt.Errorf("values: %w", err)
	}
	dt := values.DType
	shape := make([]int, len(sp.Dims))
	for i, d := range sp.Dims {
		shape[i] = int(d)
	}
	n, err := tensor.NumElems(shape)
	if err != nil {
		return nil, err
	}
	if err := tensor.CheckAlloc(dt, shape); err != nil {
		return nil, err
	}
	size := dt.Size()
	vraw := values.Raw()
	if sp.Values.RawData != nil {
		vraw = sp.Values.RawData // as stored, whatever the dtype
	}
	out := make([]byte, n*size)
	nnz := values.Len()
	if nnz == 0 {
		return out, nil
	}
	ind, err := decodeTensor(&rawTensor{p: sp.Indices})
	if err != nil {
		return nil, fmt.Errorf("indices: %w", err)
	}
	rank := len(shape)
	prev := int64(-1)
	for i := range nnz {
		var at int64
		if ind.Rank() == 1 {
			at = ind.I64[i]
		} else {
			for k := range rank {
				c := ind.I64[i*rank+k]
				if c < 0 || c >= int64(shape[k]) {
					return nil, fmt.Errorf("index %d: coordinate %d is %d, outside dims %v", i, k, c, shape)
				}
				at = at*int64(shape[k]) + c
			}
		}
		if at < 0 || at >= int64(n) {
			return nil, fmt.Errorf("index %d: position %d outside dims %v (%d elements)", i, at, shape, n)
		}
		if at <= prev {
			return nil, fmt.Errorf("index %d: position %d after %d: indices must ascend without duplicates", i, at, prev)
		}
		prev = at
		copy(out[at*int64(size):(at+1)*int64(size)], vraw[i*size:(i+1)*size])
	}
	return out, nil
}

// checkTensorSize compares the element count the dims declare with the data
// present in whichever field holds it.
func checkTensorSize(tp *pb.TensorProto, dt tensor.DType, n int) error {
	if tp.RawData != nil {
		if dt.Size() == 0 {
			return fmt.Errorf("raw data for unsupported dtype %s", dt)
		}
		if len(tp.RawData) != n*dt.Size() {
			return fmt.Errorf("dims declare %d elements of %s (%d bytes), raw_data has %d bytes", n, dt, n*dt.Size(), len(tp.RawData))
		}
		return nil
	}
	var have int
	switch dt {
	case tensor.Float32:
		have = len(tp.FloatData)
	case tensor.Float64:
		have = len(tp.DoubleData)
	case tensor.Int64:
		have = len(tp.Int64Data)
	case tensor.Uint32, tensor.Uint64:
		have = len(tp.Uint64Data)
	case tensor.String:
		have = len(tp.StringData)
	case tensor.Int32, tensor.Int16, tensor.Int8, tensor.Uint16, tensor.Uint8, tensor.Bool, tensor.Float16, tensor.BFloat16:
		have = len(tp.Int32Data)
	default:
		return fmt.Errorf("unsupported dtype %s", dt)
	}
	if have != n {
		return fmt.Errorf("dims declare %d elements, data has %d", n, have)
	}
	return nil
}

// external resolves a tensor's external data into an inline copy of tp
// whose raw_data is the bytes in the side file: a slice of the file's
// mapping where mmap is available (see "External data" in the package
// doc), else a copy read into memory. The location must be a relative
// path inside the model's folder, and offset and length must lie within
// the file.
func (ld *loader) external(tp *pb.TensorProto, n int) (*pb.TensorProto, bool, error) {
	if ld.dir == "" {
		return nil, false, errors.New("model was not loaded from a file, so external data cannot be resolved")
	}
	var location string
	offset, length := int64(0), int64(-1)
	for _, kv := range tp.ExternalData {
		var err error
		switch kv.GetKey() {
		case "location":
			location = kv.GetValue()
		case "offset":
			offset, err = strconv.ParseInt(kv.GetValue(), 10, 64)
		case "length":
			length, err = strconv.ParseInt(kv.GetValue(), 10, 64)
		}
		if err != nil {
			return nil, false, fmt.Errorf("bad %s %q", kv.GetKey(), kv.GetValue())
		}
	}
	path, err := confinedPath(ld.dir, location)
	if err != nil {
		return nil, false, err
	}
	dt := tensor.DType(tp.GetDataType())
	if dt.Size() == 0 {
		return nil, false, fmt.Errorf("unsupported dtype %s", dt)
	}
	want := int64(n) * int64(dt.Size())
	if length >= 0 && length != want {
		return nil, false, fmt.Errorf("length %d does not match dims (%d bytes)", length, want)
	}
	buf, mapped, err := ld.files.read(path, offset, want)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", location, err)
	}
	inline := proto.Clone(tp).(*pb.TensorProto)
	inline.ExternalData = nil
	inline.DataLocation = nil
	inline.RawData = buf
	return inline, mapped, nil
}

// confinedPath joins a relative location to dir, refusing absolute paths,
// ".." components and symbolic links that lead outside dir.
func confinedPath(dir, location string) (string, error) {
	if location == "" {
		return "", errors.New("no location given")
	}
	if filepath.IsAbs(location) || strings.HasPrefix(location, "/") || !filepath.IsLocal(location) {
		return "", fmt.Errorf("location %q leaves the model's folder", location)
	}
	path := filepath.Join(dir, location)
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", err
	}
	realPath, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(realDir, realPath)
	if err != nil || !filepath.IsLocal(rel) {
		return "", fmt.Errorf("location %q resolves outside the model's folder", location)
	}
	return realPath, nil
}

// decodeTensor turns a TensorProto's data, or a SparseTensorProto's,
// into numbers.
func decodeTensor(r *rawTensor) (*tensor.Dense, error) {
	defer runtime.KeepAlive(r) // its side files stay mapped while their bytes are read
	if r.sparse != nil {
		raw, err := sparseDenseRaw(r.sparse)
		if err != nil {
			return nil, err
		}
		shape := make([]int, len(r.sparse.Dims))
		for i, d := range r.sparse.Dims {
			shape[i] = int(d)
		}
		return tensor.FromRaw(tensor.DType(r.sparse.Values.GetDataType()), shape, raw)
	}
	tp := r.p
	dt := tensor.DType(tp.GetDataType())
	shape := make([]int, len(tp.Dims))
	for i, d := range tp.Dims {
		shape[i] = int(d)
	}
	if dt == tensor.String {
		n, err := tensor.NumElems(shape)
		if err != nil {
			return nil, err
		}
		if err := checkTensorSize(tp, dt, n); err != nil {
			return nil, err
		}
		d := &tensor.Dense{DType: dt, Shape: shape, Str: make([]string, n)}
		for i, b := range tp.StringData {
			d.Str[i] = string(b)
		}
		return d, nil
	}
	if !dt.Supported() {
		return nil, fmt.Errorf("unsupported dtype %s", dt)
	}
	if tp.RawData != nil {
		return tensor.FromRaw(dt, shape, tp.RawData)
	}
	n, err := tensor.NumElems(shape)
	if err != nil {
		return nil, err
	}
	if err := checkTensorSize(tp, dt, n); err != nil {
		return nil, err
	}
	t := tensor.New(dt, shape...)
	switch dt {
	case tensor.Float32:
		copy(t.F32, tp.FloatData)
	case tensor.Float64:
		copy(t.F64, tp.DoubleData)
	case tensor.Int64:
		copy(t.I64, tp.Int64Data)
	case tensor.Uint32, tensor.Uint64:
		for i, v := range tp.Uint64Data {
			t.I64[i] = int64(v)
		}
	case tensor.Float16:
		for i, v := range tp.Int32Data {
			t.F32[i] = tensor.Float16ToFloat32(uint16(v))
		}
	case tensor.BFloat16:
		for i, v := range tp.Int32Data {
			t.F32[i] = tensor.BFloat16ToFloat32(uint16(v))
		}
	default: // small integer types and bool live in int32_data
		for i, v := range tp.Int32Data {
			t.I64[i] = int64(v)
		}
	}
	return t, nil
}

// LoadTensor reads a serialized TensorProto file, the format of the ONNX
// conformance suite's input_*.pb and output_*.pb files.
func LoadTensor(path string) (*tensor.Dense, error) {
	return loadValue(path, false)
}

// LoadOptional reads an OptionalProto holding a tensor, a sequence of
// tensors or nothing, as ONNX's test data stores optional values. An
// empty one is a tensor.Dense with None set.
func LoadOptional(path string) (*tensor.Dense, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var op pb.OptionalProto
	if err := proto.Unmarshal(data, &op); err != nil {
		return nil, &FormatError{Path: path, Msg: "cannot parse OptionalProto", Err: err}
	}
	ld := loader{dir: filepath.Dir(path), files: newExtFiles()}
	switch {
	case op.TensorValue != nil:
		t, err := ld.tensor(op.TensorValue)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return t.Dense()
	case op.SequenceValue != nil:
		return ld.sequence(path, op.SequenceValue)
	case op.GetElemType() == 0 || op.GetElemType() == 1 || op.GetElemType() == 3:
		return &tensor.Dense{None: true}, nil
	}
	return nil, &FormatError{Path: path, Msg: fmt.Sprintf("an optional of element kind %d; graft reads optional tensors and sequences", op.GetElemType())}
}

// LoadSequence reads a SequenceProto of tensors from path, as ONNX's test
// data stores sequence inputs and outputs, and returns it as a sequence
// value (tensor.Dense with Seq set). An empty sequence has dtype Undefined.
func LoadSequence(path string) (*tensor.Dense, error) {
	return loadValue(path, true)
}

func loadValue(path string, sequence bool) (*tensor.Dense, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	ld := loader{dir: filepath.Dir(path), files: newExtFiles()}
	if !sequence {
		var tp pb.TensorProto
		if err := proto.Unmarshal(data, &tp); err != nil {
			return nil, &FormatError{Path: path, Msg: "cannot parse TensorProto", Err: err}
		}
		t, err := ld.tensor(&tp)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return t.Dense()
	}
	var sp pb.SequenceProto
	if err := proto.Unmarshal(data, &sp); err != nil {
		return nil, &FormatError{Path: path, Msg: "cannot parse SequenceProto", Err: err}
	}
	return ld.sequence(path, &sp)
}

// sequence decodes a SequenceProto of tensors read from path.
func (ld *loader) sequence(path string, sp *pb.SequenceProto) (*tensor.Dense, error) {
	// elem_type 1 is TENSOR; sparse tensors, maps and nested sequences
	// are other kinds of value.
	if et := sp.GetElemType(); et != 1 {
		return nil, &FormatError{Path: path, Msg: fmt.Sprintf("a sequence of element kind %d; graft reads sequences of tensors", et)}
	}
	seq := tensor.NewSequence(tensor.Undefined)
	for i, tp := range sp.TensorValues {
		t, err := ld.tensor(tp)
		if err != nil {
			return nil, fmt.Errorf("%s: item %d: %w", path, i, err)
		}
		d, err := t.Dense()
		if err != nil {
			return nil, fmt.Errorf("%s: item %d: %w", path, i, err)
		}
		if i > 0 && d.DType != seq.DType {
			return nil, &FormatError{Path: path, Msg: fmt.Sprintf("item %d is %s, item 0 %s", i, d.DType, seq.DType)}
		}
		seq.DType = d.DType
		seq.Seq.Items = append(seq.Seq.Items, d)
	}
	return seq, nil
}
