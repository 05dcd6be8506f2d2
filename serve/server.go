package serve

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"sort"

	"github.com/graft-ml/graft/exec"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Options configure a Server.
type Options struct {
	// Threads is the kernel threads of every program and computation
	// unless a request sets its own (0: all cores).
	Threads int
}

// Request is a request frame's header.
type Request struct {
	Op string `json:"op"`
	// ID is echoed in the response, so that a client can check that
	// answers pair with questions.
	ID int64 `json:"id,omitempty"`
	// Args holds the op's arguments, an object.
	Args json.RawMessage `json:"args,omitempty"`
	// Blobs names the frame's blobs, in order.
	Blobs []string `json:"blobs,omitempty"`
}

// Response is a response frame's header.
type Response struct {
	ID     int64  `json:"id,omitempty"`
	OK     bool   `json:"ok"`
	Error  string `json:"error,omitempty"`
	Kind   string `json:"kind,omitempty"`
	Result any    `json:"result,omitempty"`
	// Blobs names the response's blobs, in order.
	Blobs []string `json:"blobs,omitempty"`
}

// Error kinds of a failed response (see the package documentation).
const (
	KindNotFound    = "not_found"
	KindUnsupported = "unsupported"
	KindBadRequest  = "bad_request"
	KindInternal    = "internal"
	KindError       = "error"
)

// requestError is an error in the request itself.
type requestError struct{ msg string }

func (e *requestError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &requestError{msg: fmt.Sprintf(format, args...)}
}

// kindOf classifies an error for the response.
func kindOf(err error) string {
	var re *requestError
	switch {
	case errors.As(err, &re):
		return KindBadRequest
	case errors.Is(err, onnx.ErrNotFound):
		return KindNotFound
	case errors.Is(err, exec.ErrUnsupported):
		return KindUnsupported
	}
	return KindError
}

// Server holds the sessions (compiled models) of one client. It is not
// safe for concurrent use: Serve handles one request at a time.
type Server struct {
	opts     Options
	sessions map[int64]*session
	next     int64
}

// session is one loaded, compiled model.
type session struct {
	model *onnx.Model
	prog  *exec.Program
}

// New returns a Server with no sessions.
func New(opts Options) *Server {
	return &Server{opts: opts, sessions: map[int64]*session{}}
}

// Sessions returns how many sessions are open.
func (s *Server) Sessions() int { return len(s.sessions) }

// Serve reads request frames from r and writes a response frame for each
// to w, until r ends between frames (it then returns nil), a frame is
// broken (a *FrameError, after an error response saying so), or a
// response cannot be written.
func (s *Server) Serve(r io.Reader, w io.Writer) error {
	br := bufio.NewReaderSize(r, 1<<16)
	bw := bufio.NewWriterSize(w, 1<<16)
	for {
		f, err := ReadFrame(br)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			// Best effort: the peer may still be reading.
			resp := Response{Error: err.Error(), Kind: KindBadRequest}
			if werr := writeResponse(bw, resp, nil); werr == nil {
				bw.Flush()
			}
			return err
		}
		resp, blobs := s.handleFrame(f)
		if err := writeResponse(bw, resp, blobs); err != nil {
			return fmt.Errorf("serve: writing a response: %w", err)
		}
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("serve: writing a response: %w", err)
		}
	}
}

// handleFrame decodes a frame's header and handles the request.
func (s *Server) handleFrame(f Frame) (Response, [][]byte) {
	var req Request
	if err := json.Unmarshal(f.Header, &req); err != nil {
		return failure(0, badRequest("header is not a JSON request object: %v", err)), nil
	}
	if len(req.Blobs) != len(f.Blobs) {
		return failure(req.ID, badRequest("header names %d blobs, the frame carries %d", len(req.Blobs), len(f.Blobs))), nil
	}
	return s.Handle(req, f.Blobs)
}

// writeResponse encodes resp and writes it with its blobs as one frame.
func writeResponse(w io.Writer, resp Response, blobs [][]byte) error {
	h, err := json.Marshal(resp)
	if err != nil {
		// A result that JSON cannot hold (NaN, say) is a bug in a handler;
		// report it rather than leave the client waiting.
		h, _ = json.Marshal(failure(resp.ID, fmt.Errorf("encoding the response: %w", err)))
		blobs = nil
	}
	return WriteFrame(w, h, blobs)
}

func failure(id int64, err error) Response {
	return Response{ID: id, Error: err.Error(), Kind: kindOf(err)}
}

// Handle answers one request whose blobs are named by req.Blobs. It never
// panics: a panic in a handler becomes an "internal" error response.
func (s *Server) Handle(req Request, blobs [][]byte) (resp Response, out [][]byte) {
	defer func() {
		if v := recover(); v != nil {
			var ae *tensor.AllocError
			if e, ok := v.(error); ok && errors.As(e, &ae) {
				resp, out = failure(req.ID, fmt.Errorf("%s: %w", req.Op, e)), nil
				return
			}
			resp = Response{ID: req.ID, Kind: KindInternal,
				Error: fmt.Sprintf("%s: internal error (a bug in graft, please report it): %v\n%s", req.Op, v, debug.Stack())}
			out = nil
		}
	}()
	h, ok := handlers[req.Op]
	if !ok {
		return failure(req.ID, badRequest("unknown op %q; ops are %v", req.Op, opNames())), nil
	}
	c := &call{server: s, args: req.Args, blobs: map[string][]byte{}}
	for i, name := range req.Blobs {
		if _, dup := c.blobs[name]; dup {
			return failure(req.ID, badRequest("%s: blob %q appears twice", req.Op, name)), nil
		}
		c.blobs[name] = blobs[i]
		c.order = append(c.order, name)
	}
	result, err := h(c)
	if err != nil {
		return failure(req.ID, fmt.Errorf("%s: %w", req.Op, err)), nil
	}
	return Response{ID: req.ID, OK: true, Result: result, Blobs: c.outNames}, c.out
}

// call is one request being handled: its arguments and blobs in, and the
// blobs going out.
type call struct {
	server   *Server
	args     json.RawMessage
	blobs    map[string][]byte
	order    []string // blob names as sent
	outNames []string
	out      [][]byte
}

// decode unmarshals the request's args into v, refusing unknown fields
// (a misspelt option should not be silently ignored).
func (c *call) decode(v any) error {
	if len(c.args) == 0 {
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(c.args))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return badRequest("args: %v", err)
	}
	return nil
}

// emit appends a blob to the response.
func (c *call) emit(name string, b []byte) {
	c.outNames = append(c.outNames, name)
	c.out = append(c.out, b)
}

// emitTensor appends a tensor as .npy to the response.
func (c *call) emitTensor(name string, d *tensor.Dense) error {
	b, err := encodeNPY(d)
	if err != nil {
		return fmt.Errorf("output %q: %w", name, err)
	}
	c.emit(name, b)
	return nil
}

// handler answers one op; see the package documentation for each.
type handler func(c *call) (result any, err error)

var handlers map[string]handler

func init() {
	// Assigned here, not in the declaration, because hello lists the ops.
	handlers = map[string]handler{
		"hello":    hello,
		"load":     load,
		"run":      run,
		"close":    closeSession,
		"truncate": truncate,
		"stitch":   stitch,
		"fit":      fit,
		"ntk":      computeNTK,
		"eval":     evaluate,
	}
}

func opNames() []string {
	names := make([]string, 0, len(handlers))
	for k := range handlers {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}
