package serve

import (
	"bytes"
	"fmt"
	"path/filepath"
	"runtime"
	"runtime/debug"

	"github.com/graft-ml/graft/eval"
	"github.com/graft-ml/graft/exec"
	"github.com/graft-ml/graft/feed"
	"github.com/graft-ml/graft/ntk"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/surgery"
	"github.com/graft-ml/graft/tensor"
)

// blob returns the named blob, if the request carries it.
func (c *call) blob(name string) ([]byte, bool) {
	b, ok := c.blobs[name]
	return b, ok
}

// tensor decodes the named .npy blob.
func (c *call) tensor(name string) (*tensor.Dense, error) {
	b, ok := c.blobs[name]
	if !ok {
		return nil, badRequest("blob %q (a .npy tensor) is missing", name)
	}
	r := bytes.NewReader(b)
	d, err := tensor.ReadNPY(r)
	if err != nil {
		return nil, badRequest("blob %q: %v", name, err)
	}
	if r.Len() > 0 {
		return nil, badRequest("blob %q: %d bytes after the .npy data", name, r.Len())
	}
	return d, nil
}

// model loads the model a request names: blob key if it carries one,
// else the file path. what names the model in errors.
func (c *call) model(key, path, what string) (*onnx.Model, error) {
	b, inBlob := c.blobs[key]
	switch {
	case inBlob && path != "":
		return nil, badRequest("%s: give a path or a %q blob, not both", what, key)
	case inBlob:
		m, err := onnx.Decode(b)
		if err != nil {
			return nil, fmt.Errorf("%s (%d bytes sent): %w", what, len(b), err)
		}
		return m, nil
	case path != "":
		if !filepath.IsAbs(path) {
			return nil, badRequest("%s: path %q is relative; send an absolute path (the server's working directory is not the client's)", what, path)
		}
		return onnx.Load(path)
	}
	return nil, badRequest("%s: give a path or a %q blob", what, key)
}

// optionalModel is model for an argument that may be absent.
func (c *call) optionalModel(key, path, what string) (*onnx.Model, error) {
	if _, ok := c.blobs[key]; !ok && path == "" {
		return nil, nil
	}
	return c.model(key, path, what)
}

// onlyBlobs refuses blobs an op does not read, which are most likely
// misnamed.
func (c *call) onlyBlobs(names ...string) error {
	for _, got := range c.order {
		known := false
		for _, n := range names {
			known = known || got == n
		}
		if !known {
			return badRequest("unexpected blob %q (this op reads %v)", got, names)
		}
	}
	return nil
}

func (c *call) threads(t int) int {
	if t > 0 {
		return t
	}
	if c.server.opts.Threads > 0 {
		return c.server.opts.Threads
	}
	return runtime.GOMAXPROCS(0)
}

func encodeNPY(d *tensor.Dense) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(128 + d.Len()*d.DType.Size())
	if err := tensor.WriteNPY(&buf, d); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// helloResult is what hello answers.
type helloResult struct {
	Protocol int      `json:"protocol"`
	Version  string   `json:"version"`
	Go       string   `json:"go"`
	Ops      []string `json:"ops"`
}

func hello(c *call) (any, error) {
	if err := c.onlyBlobs(); err != nil {
		return nil, err
	}
	r := helloResult{Protocol: Protocol, Version: "(unknown)", Go: runtime.Version(), Ops: opNames()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		r.Version = bi.Main.Version
	}
	return r, nil
}

// ValueInfo describes a graph input or output to the client.
type ValueInfo struct {
	Name  string `json:"name"`
	DType string `json:"dtype"`
	// Shape holds each dim as a number, a symbol's name, or nil (unknown);
	// Shape is nil when the rank is unknown.
	Shape []any `json:"shape"`
}

func valueInfo(v *onnx.Value) ValueInfo {
	vi := ValueInfo{Name: v.Name, DType: v.Type.DType.String()}
	if v.Type.HasShape {
		vi.Shape = make([]any, len(v.Type.Dims))
		for i, d := range v.Type.Dims {
			switch {
			case d.Param != "":
				vi.Shape[i] = d.Param
			case d.Known():
				vi.Shape[i] = d.Value
			}
		}
	}
	return vi
}

type loadArgs struct {
	Path    string `json:"path"`
	Threads int    `json:"threads"`
}

type loadResult struct {
	Session int64       `json:"session"`
	Inputs  []ValueInfo `json:"inputs"`
	Outputs []ValueInfo `json:"outputs"`
}

// load compiles a model into a new session, as `graft run` does
// (onnx.Load, exec.Compile), so that runs match it bit for bit.
func load(c *call) (any, error) {
	var a loadArgs
	if err := c.decode(&a); err != nil {
		return nil, err
	}
	if err := c.onlyBlobs("model"); err != nil {
		return nil, err
	}
	m, err := c.model("model", a.Path, "model")
	if err != nil {
		return nil, err
	}
	p, err := exec.Compile(m)
	if err != nil {
		return nil, err
	}
	p.Threads = c.threads(a.Threads)
	s := c.server
	s.next++
	s.sessions[s.next] = &session{model: m, prog: p}
	r := loadResult{Session: s.next, Inputs: []ValueInfo{}, Outputs: []ValueInfo{}}
	for _, v := range m.Graph.Inputs {
		if v.Const == nil {
			r.Inputs = append(r.Inputs, valueInfo(v))
		}
	}
	for _, v := range m.Graph.Outputs {
		r.Outputs = append(r.Outputs, valueInfo(v))
	}
	return r, nil
}

func (s *Server) session(id int64) (*session, error) {
	sess, ok := s.sessions[id]
	if !ok {
		return nil, fmt.Errorf("session %d: %w (closed, or never loaded)", id, onnx.ErrNotFound)
	}
	return sess, nil
}

type runArgs struct {
	Session int64    `json:"session"`
	Outputs []string `json:"outputs"`
}

// run runs a session's program on the request's blobs, each fed to the
// value it is named after, and returns the requested values named as
// requested.
func run(c *call) (any, error) {
	var a runArgs
	if err := c.decode(&a); err != nil {
		return nil, err
	}
	sess, err := c.server.session(a.Session)
	if err != nil {
		return nil, err
	}
	inputs := make(map[string]*tensor.Dense, len(c.order))
	for _, name := range c.order {
		if inputs[name], err = c.tensor(name); err != nil {
			return nil, err
		}
	}
	g := sess.prog.Graph()
	names := a.Outputs
	if len(names) == 0 {
		names = make([]string, len(g.Outputs))
		for i, v := range g.Outputs {
			names[i] = v.Name
		}
	}
	res, err := sess.prog.Run(inputs, exec.RunOptions{Outputs: names})
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		v, err := g.Resolve(name)
		if err != nil {
			return nil, fmt.Errorf("output: %w", err)
		}
		d, ok := res[v.Name]
		if !ok {
			return nil, fmt.Errorf("output %q (value %q) was not computed", name, v.Name)
		}
		if err := c.emitTensor(name, d); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

type closeArgs struct {
	Session int64 `json:"session"`
}

func closeSession(c *call) (any, error) {
	var a closeArgs
	if err := c.decode(&a); err != nil {
		return nil, err
	}
	if err := c.onlyBlobs(); err != nil {
		return nil, err
	}
	if _, err := c.server.session(a.Session); err != nil {
		return nil, err
	}
	delete(c.server.sessions, a.Session)
	return nil, nil
}

// emitModel encodes m as the response's "model" blob.
func (c *call) emitModel(m *onnx.Model) error {
	b, err := m.Encode()
	if err != nil {
		return fmt.Errorf("encoding the model: %w", err)
	}
	c.emit("model", b)
	return nil
}

type truncateArgs struct {
	Path string   `json:"path"`
	At   []string `json:"at"`
}

// modelResult names an edited model's graph inputs and outputs.
type modelResult struct {
	Inputs  []ValueInfo `json:"inputs"`
	Outputs []ValueInfo `json:"outputs"`
}

func describe(m *onnx.Model) modelResult {
	r := modelResult{Inputs: []ValueInfo{}, Outputs: []ValueInfo{}}
	for _, v := range m.Graph.Inputs {
		if v.Const == nil {
			r.Inputs = append(r.Inputs, valueInfo(v))
		}
	}
	for _, v := range m.Graph.Outputs {
		r.Outputs = append(r.Outputs, valueInfo(v))
	}
	return r
}

func truncate(c *call) (any, error) {
	var a truncateArgs
	if err := c.decode(&a); err != nil {
		return nil, err
	}
	if err := c.onlyBlobs("model"); err != nil {
		return nil, err
	}
	if len(a.At) == 0 {
		return nil, badRequest("args: at names no layer")
	}
	m, err := c.model("model", a.Path, "model")
	if err != nil {
		return nil, err
	}
	if err := surgery.Truncate(m, a.At...); err != nil {
		return nil, err
	}
	if err := c.emitModel(m); err != nil {
		return nil, err
	}
	return describe(m), nil
}

type stitchArgs struct {
	A       string `json:"a"`
	At      string `json:"at"`
	B       string `json:"b"`
	From    string `json:"from"`
	Adapter string `json:"adapter"`
}

type stitchResult struct {
	modelResult
	Opset              int64  `json:"opset"`
	SharedInitializers int    `json:"shared_initializers"`
	AType              string `json:"a_type"`
	BType              string `json:"b_type"`
}

func stitch(c *call) (any, error) {
	var a stitchArgs
	if err := c.decode(&a); err != nil {
		return nil, err
	}
	if err := c.onlyBlobs("a", "b", "adapter"); err != nil {
		return nil, err
	}
	if a.At == "" || a.From == "" {
		return nil, badRequest("args: stitch needs at (a layer of A) and from (a layer of B)")
	}
	ma, err := c.model("a", a.A, "model A")
	if err != nil {
		return nil, err
	}
	mb, err := c.model("b", a.B, "model B")
	if err != nil {
		return nil, err
	}
	adapter, err := c.optionalModel("adapter", a.Adapter, "adapter")
	if err != nil {
		return nil, err
	}
	rep, err := surgery.Stitch(ma, a.At, mb, a.From, adapter)
	if err != nil {
		return nil, err
	}
	if err := c.emitModel(ma); err != nil {
		return nil, err
	}
	return stitchResult{modelResult: describe(ma), Opset: rep.Opset, SharedInitializers: rep.SharedInitializers,
		AType: rep.AType, BType: rep.BType}, nil
}

type ntkArgs struct {
	Path           string   `json:"path"`
	Mode           string   `json:"mode"`
	K              int      `json:"k"`
	Params         []string `json:"params"`
	Components     bool     `json:"components"`
	Rows           []int    `json:"rows"`
	Cols           []int    `json:"cols"`
	Chunk          int      `json:"chunk"`
	MaxBytes       int64    `json:"max_bytes"`
	Threads        int      `json:"threads"`
	Loss           string   `json:"loss"`
	LabelSmoothing float64  `json:"label_smoothing"`
}

type ntkResult struct {
	Params     []string          `json:"params"`
	Components []string          `json:"components"`
	Paths      map[string]string `json:"paths"`
	Outputs    int               `json:"outputs"`
	Chunk      int               `json:"chunk"`
	PeakBytes  int64             `json:"peak_bytes"`
}

// componentPrefix opens the names of the per-parameter kernel blobs.
const componentPrefix = "components/"

func parseRange(r []int, what string) (ntk.Range, error) {
	switch len(r) {
	case 0:
		return ntk.Range{}, nil
	case 2:
		return ntk.Range{Lo: r[0], Hi: r[1]}, nil
	}
	return ntk.Range{}, badRequest("args: %s wants [lo, hi], got %v", what, r)
}

func computeNTK(c *call) (any, error) {
	var a ntkArgs
	if err := c.decode(&a); err != nil {
		return nil, err
	}
	if err := c.onlyBlobs("model", "x", "labels"); err != nil {
		return nil, err
	}
	opt := ntk.Options{Params: a.Params, Components: a.Components, Chunk: a.Chunk, MaxBytes: a.MaxBytes, Threads: c.threads(a.Threads)}
	switch a.Mode {
	case "", "trace":
		opt.Mode = ntk.Mode{Kind: ntk.Trace}
	case "full":
		opt.Mode = ntk.Mode{Kind: ntk.Full}
	case "output":
		opt.Mode = ntk.Mode{Kind: ntk.Output, K: a.K}
	default:
		return nil, badRequest("args: mode %q: want trace, full or output", a.Mode)
	}
	var err error
	if opt.Rows, err = parseRange(a.Rows, "rows"); err != nil {
		return nil, err
	}
	if opt.Cols, err = parseRange(a.Cols, "cols"); err != nil {
		return nil, err
	}
	_, haveLabels := c.blob("labels")
	switch {
	case a.Loss == "ce":
		if !haveLabels {
			return nil, badRequest("loss ce needs a \"labels\" blob")
		}
		labels, err := c.tensor("labels")
		if err != nil {
			return nil, err
		}
		opt.Loss = &ntk.CrossEntropy{Labels: labels.Int64s(), Smoothing: a.LabelSmoothing}
	case a.Loss != "":
		return nil, badRequest("args: loss %q: want ce (cross-entropy)", a.Loss)
	case haveLabels || a.LabelSmoothing != 0:
		return nil, badRequest("labels and label_smoothing need loss \"ce\"")
	}
	m, err := c.model("model", a.Path, "model")
	if err != nil {
		return nil, err
	}
	x, err := c.tensor("x")
	if err != nil {
		return nil, err
	}
	r, err := ntk.Compute(m, x, opt)
	if err != nil {
		return nil, err
	}
	if err := c.emitTensor("kernel", r.Kernel); err != nil {
		return nil, err
	}
	res := ntkResult{Params: r.Params, Components: []string{}, Paths: r.Paths, Outputs: r.Outputs, Chunk: r.Chunk, PeakBytes: r.PeakBytes}
	for _, name := range r.Params {
		if k, ok := r.Components[name]; ok {
			if err := c.emitTensor(componentPrefix+name, k); err != nil {
				return nil, err
			}
			res.Components = append(res.Components, name)
		}
	}
	return res, nil
}

type evalArgs struct {
	Path    string `json:"path"`
	Compare string `json:"compare"`
	Output  string `json:"output"`
	Batch   int    `json:"batch"`
	Threads int    `json:"threads"`
}

func evaluate(c *call) (any, error) {
	var a evalArgs
	if err := c.decode(&a); err != nil {
		return nil, err
	}
	if err := c.onlyBlobs("model", "compare", "x", "labels"); err != nil {
		return nil, err
	}
	m, err := c.model("model", a.Path, "model")
	if err != nil {
		return nil, err
	}
	ref, err := c.optionalModel("compare", a.Compare, "compare model")
	if err != nil {
		return nil, err
	}
	x, err := c.tensor("x")
	if err != nil {
		return nil, err
	}
	var labels *tensor.Dense
	if _, ok := c.blob("labels"); ok {
		if labels, err = c.tensor("labels"); err != nil {
			return nil, err
		}
	}
	src, err := newArraySource(x, labels)
	if err != nil {
		return nil, err
	}
	return eval.Accuracy(m, src, eval.Options{Output: a.Output, Compare: ref,
		Feed: feed.Options{Batch: a.Batch, Threads: c.threads(a.Threads)}})
}

// arraySource is a data.Source over samples and labels (nil: none) in
// memory.
type arraySource struct {
	x      *tensor.Dense
	labels []int64
	size   int // elements per sample
}

func newArraySource(x, labels *tensor.Dense) (*arraySource, error) {
	if x.DType != tensor.Float32 {
		return nil, badRequest("x is %s, want float32 samples", x.DType)
	}
	if x.Rank() < 1 || x.Shape[0] == 0 {
		return nil, badRequest("x %v holds no samples", x.Shape)
	}
	s := &arraySource{x: x, size: x.Len() / x.Shape[0]}
	if labels == nil {
		return s, nil
	}
	if labels.DType.IsFloat() {
		return nil, badRequest("labels are %s, want integers", labels.DType)
	}
	if labels.Rank() != 1 || labels.Shape[0] != x.Shape[0] {
		return nil, badRequest("labels %v do not match the %d samples of x %v: want one label per sample", labels.Shape, x.Shape[0], x.Shape)
	}
	s.labels = labels.Int64s()
	return s, nil
}

func (s *arraySource) Len() int           { return s.x.Shape[0] }
func (s *arraySource) SampleShape() []int { return s.x.Shape[1:] }

func (s *arraySource) Batch(start, n int) (*tensor.Dense, []int64, error) {
	if start < 0 || n < 0 || start+n > s.Len() {
		return nil, nil, fmt.Errorf("samples %d:%d are outside the %d given", start, start+n, s.Len())
	}
	shape := append([]int{n}, s.SampleShape()...)
	x := tensor.FromF32(shape, append([]float32(nil), s.x.F32[start*s.size:(start+n)*s.size]...))
	if s.labels == nil {
		return x, nil, nil
	}
	return x, append([]int64(nil), s.labels[start:start+n]...), nil
}
