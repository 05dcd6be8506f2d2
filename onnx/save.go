package onnx

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/graft-ml/graft/onnx/internal/pb"
	"github.com/graft-ml/graft/tensor"
)

// SaveOptions control how Save lays out tensor data.
type SaveOptions struct {
	// ExternalData, if set, is the name of a file beside the model that
	// receives the data of every tensor of at least ExternalThreshold bytes.
	//
	// A side file is never overwritten: when a file of that name exists
	// with other bytes (another model may read it), the data goes to
	// NAME-<first 12 hex digits of its SHA-256>.EXT instead and the model
	// refers to that; a file already holding the same bytes is reused.
	// The side file is complete before the model file is renamed into
	// place, so a crash at any point leaves every model reading the
	// weights it was saved with. Side files no model refers to any more
	// are left for the user to delete.
	ExternalData      string
	ExternalThreshold int
	// Initializers chooses between dense initializers and ONNX sparse
	// initializers (SparseTensorProto): as loaded (the default), all dense,
	// or sparse for those at most SparseMaxDensity nonzero. Sparse ones
	// stay inline, whatever ExternalData says.
	Initializers InitializerFormat
	// SparseMaxDensity is SparseFormat's bound on the fraction of nonzero
	// elements; 0 means DefaultSparseMaxDensity.
	SparseMaxDensity float64
	// NoValidate writes a graph that fails Graph.Validate (an undefined
	// input, a cycle, a duplicate name). By default Save refuses it, so
	// that no tool writes a model that others cannot load.
	NoValidate bool
}

// InitializerFormat says how Save stores initializers.
type InitializerFormat int

const (
	// KeepFormat writes each initializer as it was loaded: sparse ones
	// as sparse_initializer, the others, and new data, dense.
	KeepFormat InitializerFormat = iota
	// DenseFormat writes every initializer dense.
	DenseFormat
	// SparseFormat writes an initializer as a sparse_initializer when at
	// most SparseMaxDensity of its elements are nonzero (negative zeros
	// count as nonzero, so that the data comes back bit for bit) and the
	// sparse encoding is the smaller; others dense. Scalars and tensors
	// with a zero dimension stay dense, as ONNX's checker wants positive
	// dims.
	SparseFormat
)

// DefaultSparseMaxDensity is SparseFormat's default density bound. A
// nonzero float32 costs its 4 bytes plus its position, an int64 stored
// as a varint of 3 or 4 bytes for tensors below 2²⁸ elements: about 7.5
// bytes against 4 per element dense, so sparse is smaller below about
// 50 % density, and 10 % costs about 0.19× the dense bytes.
const DefaultSparseMaxDensity = 0.5

// sparseIRVersion is the IR version that introduced sparse_initializer.
const sparseIRVersion = 6

// maxProtoSize is protobuf's hard limit on one message; larger models need
// external data.
const maxProtoSize = math.MaxInt32

// Save writes m to path with all tensor data inline. The file appears
// atomically: a failed save leaves no partial file.
func (m *Model) Save(path string) error { return m.SaveWith(path, SaveOptions{}) }

// SaveWith writes m to path as opts direct. External data goes to a side
// file in the same folder, written atomically before the model and never
// over another file's bytes (see SaveOptions.ExternalData).
func (m *Model) SaveWith(path string, opts SaveOptions) error {
	if !opts.NoValidate {
		if err := m.Graph.Validate(); err != nil {
			return fmt.Errorf("not writing %s: the graph is invalid: %w", path, err)
		}
	}
	sv := saver{format: opts.Initializers, maxDensity: opts.SparseMaxDensity}
	if sv.maxDensity == 0 {
		sv.maxDensity = DefaultSparseMaxDensity
	}
	if sv.maxDensity < 0 || sv.maxDensity > 1 {
		return fmt.Errorf("sparse density bound %g: want a fraction in (0, 1]", opts.SparseMaxDensity)
	}
	if opts.ExternalData != "" {
		if !filepath.IsLocal(opts.ExternalData) || filepath.Base(opts.ExternalData) != opts.ExternalData {
			return fmt.Errorf("external data file %q must be a plain file name", opts.ExternalData)
		}
		sv.external = &externalWriter{name: opts.ExternalData, threshold: opts.ExternalThreshold}
	}
	mp, err := sv.model(m)
	if err != nil {
		return err
	}
	if sv.external != nil {
		name, err := sv.external.write(filepath.Dir(path))
		if err != nil {
			return err
		}
		for _, loc := range sv.external.locations {
			loc.Value = proto.String(name)
		}
	}
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(mp)
	if err != nil {
		return fmt.Errorf("encoding model: %w", err)
	}
	if len(data) > maxProtoSize {
		return fmt.Errorf("model is %d bytes, over protobuf's 2 GiB limit: save with external data", len(data))
	}
	// The side file was written from m's tensors, some of them slices of
	// mapped side files that m's loss would unmap.
	runtime.KeepAlive(m)
	return tensor.WriteFileAtomic(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Encode returns the model's bytes with all tensor data inline.
func (m *Model) Encode() ([]byte, error) {
	mp, err := (&saver{}).model(m)
	if err != nil {
		return nil, err
	}
	defer runtime.KeepAlive(m) // mp may hold slices of m's mapped side files
	return proto.MarshalOptions{Deterministic: true}.Marshal(mp)
}

type saver struct {
	depth      int // subgraph nesting: > 0 while encoding a subgraph
	external   *externalWriter
	format     InitializerFormat
	maxDensity float64
}

// externalWriter gathers the data bound for a side file without copying
// it: each piece is the tensor's raw bytes (a slice of a loaded side
// file's mapping, or an encoding made for a new tensor), written out at
// its offset, zero-padded, when the file is written.
type externalWriter struct {
	name      string
	threshold int
	pieces    []extPiece
	size      int64 // bytes of the side file: the end of the last piece
	// locations are the "location" entries of the tensors written, set
	// once the side file's final name is known.
	locations []*pb.StringStringEntryProto
}

type extPiece struct {
	offset int64
	data   []byte
	mapped bool // data is a slice of a loaded side file's mapping
}

// add places data at the next 64-byte boundary, which lets readers map
// the file, and returns its offset.
func (e *externalWriter) add(data []byte, mapped bool) int64 {
	offset := (e.size + 63) / 64 * 64
	e.pieces = append(e.pieces, extPiece{offset, data, mapped})
	e.size = offset + int64(len(data))
	return offset
}

// writeTo writes the side file's bytes to w. The pages of a mapped
// piece are let go once written (dropPages), so that a save reads
// gigabytes of mapped weights without keeping them all resident.
func (e *externalWriter) writeTo(w io.Writer) error {
	var zeros [64]byte
	at := int64(0)
	for _, p := range e.pieces {
		if _, err := w.Write(zeros[:p.offset-at]); err != nil {
			return err
		}
		if _, err := w.Write(p.data); err != nil {
			return err
		}
		if p.mapped {
			dropPages(p.data)
		}
		at = p.offset + int64(len(p.data))
	}
	return nil
}

// write puts the side file in dir under the requested name, or under a
// name derived from its content when a different file holds that name
// (SaveOptions.ExternalData), and returns the name used.
func (e *externalWriter) write(dir string) (string, error) {
	name := e.name
	same, err := e.sameContent(filepath.Join(dir, name))
	if err != nil {
		return "", err
	}
	if same {
		return name, nil
	}
	if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
		sum := sha256.New()
		e.writeTo(sum)
		ext := filepath.Ext(name)
		name = strings.TrimSuffix(name, ext) + "-" + hex.EncodeToString(sum.Sum(nil)[:6]) + ext
		if same, err = e.sameContent(filepath.Join(dir, name)); err != nil || same {
			return name, err
		}
	}
	err = tensor.WriteFileAtomic(filepath.Join(dir, name), e.writeTo)
	return name, err
}

// sameContent reports whether the file at path holds exactly the side
// file's bytes; a missing file does not.
func (e *externalWriter) sameContent(path string) (bool, error) {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if st.Size() != e.size || !st.Mode().IsRegular() {
		return false, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	cmp := &compareWriter{r: bufio.NewReaderSize(f, 1<<20), buf: make([]byte, 1<<20)}
	if err := e.writeTo(cmp); err != nil {
		if errors.Is(err, errDiffers) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

var errDiffers = errors.New("content differs")

// compareWriter checks that what is written to it is what r holds,
// failing with errDiffers at the first difference.
type compareWriter struct {
	r   io.Reader
	buf []byte
}

func (c *compareWriter) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		n := min(len(c.buf), len(p)-done)
		if _, err := io.ReadFull(c.r, c.buf[:n]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return done, errDiffers
			}
			return done, err
		}
		if !bytes.Equal(c.buf[:n], p[done:done+n]) {
			return done, errDiffers
		}
		done += n
	}
	return done, nil
}

func (sv *saver) model(m *Model) (*pb.ModelProto, error) {
	old := m.raw
	if old == nil {
		old = &pb.ModelProto{}
	}
	mp := &pb.ModelProto{
		IrVersion:       keepInt64(old.IrVersion, m.IRVersion),
		ProducerName:    keepString(old.ProducerName, m.ProducerName),
		ProducerVersion: keepString(old.ProducerVersion, m.ProducerVersion),
		Domain:          keepString(old.Domain, m.Domain),
		ModelVersion:    keepInt64(old.ModelVersion, m.ModelVersion),
		DocString:       keepString(old.DocString, m.DocString),
	}
	if mp.IrVersion == nil {
		mp.IrVersion = proto.Int64(m.IRVersion)
	}
	for i, o := range m.Opsets {
		if i < len(old.OpsetImport) && old.OpsetImport[i].GetDomain() == o.Domain && old.OpsetImport[i].GetVersion() == o.Version {
			mp.OpsetImport = append(mp.OpsetImport, old.OpsetImport[i])
			continue
		}
		mp.OpsetImport = append(mp.OpsetImport, &pb.OperatorSetIdProto{Domain: proto.String(o.Domain), Version: proto.Int64(o.Version)})
	}
	for i, kv := range m.Metadata {
		if i < len(old.MetadataProps) && old.MetadataProps[i].GetKey() == kv.Key && old.MetadataProps[i].GetValue() == kv.Value {
			mp.MetadataProps = append(mp.MetadataProps, old.MetadataProps[i])
			continue
		}
		mp.MetadataProps = append(mp.MetadataProps, &pb.StringStringEntryProto{Key: proto.String(kv.Key), Value: proto.String(kv.Value)})
	}
	if m.Graph == nil {
		return nil, fmt.Errorf("model has no graph")
	}
	g, err := sv.graph(m.Graph)
	if err != nil {
		return nil, err
	}
	mp.Graph = g
	if len(g.SparseInitializer) > 0 && mp.GetIrVersion() < sparseIRVersion {
		mp.IrVersion = proto.Int64(sparseIRVersion)
	}
	mp.ProtoReflect().SetUnknown(old.ProtoReflect().GetUnknown())
	return mp, nil
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// keepString returns old if it already holds v, keeping the loaded file's
// field presence (an explicit "" stays explicit), else v as an optional
// field ("" absent).
func keepString(old *string, v string) *string {
	if old != nil && *old == v {
		return old
	}
	return optString(v)
}

// keepInt64 is keepString for int64 fields (0 absent).
func keepInt64(old *int64, v int64) *int64 {
	if old != nil && *old == v {
		return old
	}
	if v == 0 {
		return nil
	}
	return &v
}

func (sv *saver) graph(g *Graph) (*pb.GraphProto, error) {
	old := g.raw
	if old == nil {
		old = &pb.GraphProto{}
	}
	gp := &pb.GraphProto{Name: keepString(old.Name, g.Name), DocString: keepString(old.DocString, g.DocString)}
	written := map[*Value]bool{} // values whose type is recorded
	for _, v := range g.Initializers {
		sp, err := sv.sparse(v.Const, v.Name)
		if err != nil {
			return nil, err
		}
		if sp != nil {
			gp.SparseInitializer = append(gp.SparseInitializer, sp)
			continue
		}
		tp, err := sv.tensor(v.Const, v.Name, sv.depth == 0)
		if err != nil {
			return nil, err
		}
		gp.Initializer = append(gp.Initializer, tp)
	}
	for _, v := range g.Inputs {
		gp.Input = append(gp.Input, encodeInfo(v))
		written[v] = true
	}
	for _, n := range g.Nodes {
		np, err := sv.node(n)
		if err != nil {
			return nil, err
		}
		gp.Node = append(gp.Node, np)
	}
	for _, v := range g.Outputs {
		gp.Output = append(gp.Output, encodeInfo(v))
		written[v] = true
	}
	// value_info: what the file had, in its order, then any other value
	// whose type is now known (from shape inference or edits).
	for _, v := range g.infoOrder {
		if g.values[v.Name] == v && !written[v] {
			gp.ValueInfo = append(gp.ValueInfo, encodeInfo(v))
			written[v] = true
		}
	}
	for _, n := range g.Nodes {
		for _, v := range n.Outputs {
			if v != nil && !written[v] && v.Type.DType != tensor.Undefined {
				gp.ValueInfo = append(gp.ValueInfo, encodeInfo(v))
				written[v] = true
			}
		}
	}
	gp.ProtoReflect().SetUnknown(old.ProtoReflect().GetUnknown())
	return gp, nil
}

func encodeInfo(v *Value) *pb.ValueInfoProto {
	if v.info != nil && v.info.p.GetName() == v.Name && v.info.typ.Equal(v.Type) {
		return v.info.p
	}
	vi := &pb.ValueInfoProto{Name: proto.String(v.Name)}
	if v.info != nil {
		vi.DocString = v.info.p.DocString
	}
	if v.Type.DType != tensor.Undefined || v.Type.HasShape {
		tt := &pb.TypeProto_Tensor{ElemType: proto.Int32(int32(v.Type.DType))}
		if v.Type.HasShape {
			tt.Shape = &pb.TensorShapeProto{Dim: []*pb.TensorShapeProto_Dimension{}}
			for _, d := range v.Type.Dims {
				dp := &pb.TensorShapeProto_Dimension{}
				switch {
				case d.Param != "":
					dp.Value = &pb.TensorShapeProto_Dimension_DimParam{DimParam: d.Param}
				case d.Value >= 0:
					dp.Value = &pb.TensorShapeProto_Dimension_DimValue{DimValue: d.Value}
				}
				tt.Shape.Dim = append(tt.Shape.Dim, dp)
			}
		}
		vi.Type = &pb.TypeProto{Value: &pb.TypeProto_TensorType{TensorType: tt}}
		if v.Type.Seq {
			vi.Type = &pb.TypeProto{Value: &pb.TypeProto_SequenceType{SequenceType: &pb.TypeProto_Sequence{ElemType: vi.Type}}}
		}
		if v.Type.Optional {
			vi.Type = &pb.TypeProto{Value: &pb.TypeProto_OptionalType{OptionalType: &pb.TypeProto_Optional{ElemType: vi.Type}}}
		}
	}
	return vi
}

func (sv *saver) node(n *Node) (*pb.NodeProto, error) {
	old := n.raw
	if old == nil {
		old = &pb.NodeProto{}
	}
	np := &pb.NodeProto{
		Name:      keepString(old.Name, n.Name),
		OpType:    proto.String(n.OpType),
		Domain:    keepString(old.Domain, n.Domain),
		Overload:  keepString(old.Overload, n.Overload),
		DocString: keepString(old.DocString, n.DocString),
	}
	for _, v := range n.Inputs {
		np.Input = append(np.Input, nameOf(v))
	}
	for _, v := range n.Outputs {
		np.Output = append(np.Output, nameOf(v))
	}
	for _, a := range n.Attrs {
		ap, err := sv.attr(a)
		if err != nil {
			return nil, NodeErrorf(n, "attribute %q: %w", a.Name, err)
		}
		np.Attribute = append(np.Attribute, ap)
	}
	np.ProtoReflect().SetUnknown(old.ProtoReflect().GetUnknown())
	return np, nil
}

func nameOf(v *Value) string {
	if v == nil {
		return ""
	}
	return v.Name
}

func (sv *saver) attr(a *Attr) (*pb.AttributeProto, error) {
	g, gs, err := sv.subgraphs(a)
	if err != nil {
		return nil, err
	}
	if a.raw != nil && a.unchanged() && sameGraphs(a.raw.p, g, gs) {
		return a.raw.p, nil
	}
	ap := &pb.AttributeProto{}
	if a.raw != nil { // keep doc strings and undeclared fields
		ap = shallowAttr(a.raw.p)
	}
	ap.G, ap.Graphs = g, gs
	ap.Name = proto.String(a.Name)
	ap.Type = pb.AttributeProto_AttributeType(a.Type).Enum()
	ap.RefAttrName = optString(a.RefAttrName)
	switch a.Type {
	case AttrFloat:
		ap.F = proto.Float32(a.F)
	case AttrInt:
		ap.I = proto.Int64(a.I)
	case AttrString:
		ap.S = []byte(a.S)
	case AttrFloats:
		ap.Floats = a.Floats
	case AttrInts:
		ap.Ints = a.Ints
	case AttrStrings:
		ap.Strings = nil
		for _, s := range a.Strings {
			ap.Strings = append(ap.Strings, []byte(s))
		}
	}
	if a.T != nil {
		tp, err := sv.tensor(a.T, a.T.Name, false)
		if err != nil {
			return nil, err
		}
		ap.T = tp
	}
	for _, t := range a.Tensors {
		tp, err := sv.tensor(t, t.Name, false)
		if err != nil {
			return nil, err
		}
		ap.Tensors = append(ap.Tensors, tp)
	}
	return ap, nil
}

// subgraphs encodes a's graphs from the IR. Their initializers stay
// inline, whatever SaveOptions.ExternalData says.
func (sv *saver) subgraphs(a *Attr) (*pb.GraphProto, []*pb.GraphProto, error) {
	var g *pb.GraphProto
	var gs []*pb.GraphProto
	sv.depth++
	defer func() { sv.depth-- }()
	if a.G != nil {
		var err error
		if g, err = sv.graph(a.G); err != nil {
			return nil, nil, fmt.Errorf("graph %q: %w", a.G.Name, err)
		}
	}
	for _, sub := range a.Graphs {
		gp, err := sv.graph(sub)
		if err != nil {
			return nil, nil, fmt.Errorf("graph %q: %w", sub.Name, err)
		}
		gs = append(gs, gp)
	}
	return g, gs, nil
}

// sameGraphs reports whether the loaded attribute p holds the same
// subgraphs as the encodings g and gs.
func sameGraphs(p *pb.AttributeProto, g *pb.GraphProto, gs []*pb.GraphProto) bool {
	if (p.G == nil) != (g == nil) || len(p.Graphs) != len(gs) {
		return false
	}
	if g != nil && !proto.Equal(p.G, g) {
		return false
	}
	for i := range gs {
		if !proto.Equal(p.Graphs[i], gs[i]) {
			return false
		}
	}
	return true
}

// shallowAttr copies p but for its tensors and graphs, keeping its doc
// string, unknown fields and any field of another kind than its type;
// the saver sets the rest.
func shallowAttr(p *pb.AttributeProto) *pb.AttributeProto {
	ap := &pb.AttributeProto{Name: p.Name, RefAttrName: p.RefAttrName, DocString: p.DocString, Type: p.Type,
		F: p.F, I: p.I, S: p.S, Floats: p.Floats, Ints: p.Ints, Strings: p.Strings}
	ap.ProtoReflect().SetUnknown(p.ProtoReflect().GetUnknown())
	return ap
}

// unchanged reports whether a still holds exactly what was loaded, so that
// its original encoding can be written back.
func (a *Attr) unchanged() bool {
	p := a.raw.p
	if p.GetName() != a.Name || AttrType(p.GetType()) != a.Type || p.GetRefAttrName() != a.RefAttrName ||
		math.Float32bits(p.GetF()) != math.Float32bits(a.F) || p.GetI() != a.I || string(p.GetS()) != a.S ||
		len(p.Floats) != len(a.Floats) || len(p.Ints) != len(a.Ints) || len(p.Strings) != len(a.Strings) ||
		len(p.Tensors) != len(a.Tensors) || (p.T == nil) != (a.T == nil) {
		return false
	}
	for i := range p.Floats {
		if math.Float32bits(p.Floats[i]) != math.Float32bits(a.Floats[i]) {
			return false
		}
	}
	for i := range p.Ints {
		if p.Ints[i] != a.Ints[i] {
			return false
		}
	}
	for i := range p.Strings {
		if string(p.Strings[i]) != a.Strings[i] {
			return false
		}
	}
	if a.T != nil && (a.T.raw == nil || a.T.raw.p != p.T) {
		return false
	}
	for i, t := range a.Tensors {
		if t.raw == nil || t.raw.p != p.Tensors[i] {
			return false
		}
	}
	return true
}

// tensor encodes constant data, reusing the loaded encoding when the data
// was never replaced, and moving large initializer data to the external
// file if asked. Attribute tensors stay inline: onnx's shape inference
// cannot read Constant values from external files.
func (sv *saver) tensor(t *Tensor, name string, mayExternalise bool) (*pb.TensorProto, error) {
	var tp *pb.TensorProto
	if t.raw != nil && t.raw.sparse != nil {
		// Loaded sparse, written dense: the dense bytes of the stored
		// values.
		raw, err := sparseDenseRaw(t.raw.sparse)
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", name, err)
		}
		tp = &pb.TensorProto{Name: optString(name), DataType: proto.Int32(int32(t.DType)), RawData: raw}
		for _, s := range t.Shape {
			tp.Dims = append(tp.Dims, int64(s))
		}
	} else if t.raw != nil {
		tp = t.raw.p
		if tp.GetName() != name {
			tp = cloneTensorMeta(tp)
			tp.Name = optString(name)
		}
	} else {
		d := t.dense
		switch {
		case d.DType == tensor.String:
			// Strings have no raw form: string_data, one entry each.
			tp = &pb.TensorProto{Name: optString(name), DataType: proto.Int32(int32(d.DType))}
			for _, v := range d.Str {
				tp.StringData = append(tp.StringData, []byte(v))
			}
		case !d.DType.Supported():
			return nil, fmt.Errorf("tensor %q: cannot encode dtype %s", name, d.DType)
		default:
			tp = &pb.TensorProto{Name: optString(name), DataType: proto.Int32(int32(d.DType)), RawData: d.Raw()}
			if tp.RawData == nil {
				tp.RawData = []byte{}
			}
		}
		for _, s := range d.Shape {
			tp.Dims = append(tp.Dims, int64(s))
		}
	}
	ext := sv.external
	if ext == nil || !mayExternalise || tp.RawData == nil || len(tp.RawData) < ext.threshold || len(tp.RawData) == 0 {
		return tp, nil
	}
	offset := ext.add(tp.RawData, t.raw != nil && t.raw.sparse == nil && t.raw.mapped)
	out := cloneTensorMeta(tp)
	out.RawData = nil
	out.DataLocation = pb.TensorProto_EXTERNAL.Enum()
	loc := &pb.StringStringEntryProto{Key: proto.String("location"), Value: proto.String(ext.name)}
	ext.locations = append(ext.locations, loc)
	out.ExternalData = []*pb.StringStringEntryProto{
		loc,
		{Key: proto.String("offset"), Value: proto.String(strconv.FormatInt(offset, 10))},
		{Key: proto.String("length"), Value: proto.String(strconv.Itoa(len(tp.RawData)))},
	}
	return out, nil
}

// sparse returns the sparse encoding of initializer t, or nil when the
// format says dense (see InitializerFormat).
func (sv *saver) sparse(t *Tensor, name string) (*pb.SparseTensorProto, error) {
	loaded := t.raw != nil && t.raw.sparse != nil
	switch sv.format {
	case KeepFormat:
		if !loaded {
			return nil, nil
		}
		sp := t.raw.sparse
		if sp.Values.GetName() != name {
			sp = proto.CloneOf(sp)
			sp.Values.Name = proto.String(name)
		}
		return sp, nil
	case DenseFormat:
		return nil, nil
	case SparseFormat:
	default:
		return nil, fmt.Errorf("initializer format %d", sv.format)
	}
	size := t.DType.Size()
	if size == 0 || len(t.Shape) == 0 || slices.Contains(t.Shape, 0) {
		return nil, nil
	}
	var raw []byte
	switch {
	case loaded:
		var err error
		if raw, err = sparseDenseRaw(t.raw.sparse); err != nil {
			return nil, fmt.Errorf("tensor %q: %w", name, err)
		}
	case t.raw != nil && t.raw.p.RawData != nil:
		raw = t.raw.p.RawData
	default:
		d, err := t.Dense()
		if err != nil {
			return nil, err
		}
		raw = d.Raw()
	}
	return encodeSparse(name, t.DType, t.Shape, raw, sv.maxDensity), nil
}

// encodeSparse returns the SparseTensorProto of the dense little-endian
// data raw (elements of size bytes): the nonzero elements (any nonzero
// byte, so -0 is kept) as values named name, and their linear positions
// as int64 indices of shape [NNZ], packed varints. It returns nil when
// more than maxDensity of the elements are nonzero or the encoding would
// not be smaller than raw.
func encodeSparse(name string, dt tensor.DType, shape []int, raw []byte, maxDensity float64) *pb.SparseTensorProto {
	size := dt.Size()
	n := len(raw) / size
	nonzero := func(i int) bool {
		for _, b := range raw[i*size : (i+1)*size] {
			if b != 0 {
				return true
			}
		}
		return false
	}
	nnz := 0
	for i := range n {
		if nonzero(i) {
			nnz++
		}
	}
	if float64(nnz) > maxDensity*float64(n) {
		return nil
	}
	values := make([]byte, 0, nnz*size)
	indices := make([]int64, 0, nnz)
	bytes := 0
	for i := range n {
		if nonzero(i) {
			values = append(values, raw[i*size:(i+1)*size]...)
			indices = append(indices, int64(i))
			bytes += size + protowire.SizeVarint(uint64(i))
		}
	}
	if bytes >= len(raw) {
		return nil
	}
	sp := &pb.SparseTensorProto{
		Values:  &pb.TensorProto{Name: proto.String(name), DataType: proto.Int32(int32(dt)), Dims: []int64{int64(nnz)}, RawData: values},
		Indices: &pb.TensorProto{DataType: proto.Int32(int32(tensor.Int64)), Dims: []int64{int64(nnz)}, Int64Data: indices},
	}
	for _, d := range shape {
		sp.Dims = append(sp.Dims, int64(d))
	}
	return sp
}

// cloneTensorMeta copies tp's fields, sharing its data slices rather than
// copying them as proto.Clone would (gigabytes, for a big tensor): the
// copy may be changed field by field, but not its data in place.
func cloneTensorMeta(tp *pb.TensorProto) *pb.TensorProto {
	out := &pb.TensorProto{
		Dims: tp.Dims, DataType: tp.DataType, Name: tp.Name, DocString: tp.DocString,
		FloatData: tp.FloatData, Int32Data: tp.Int32Data, StringData: tp.StringData,
		Int64Data: tp.Int64Data, RawData: tp.RawData, ExternalData: tp.ExternalData,
		DataLocation: tp.DataLocation, DoubleData: tp.DoubleData, Uint64Data: tp.Uint64Data,
	}
	out.ProtoReflect().SetUnknown(tp.ProtoReflect().GetUnknown())
	return out
}
