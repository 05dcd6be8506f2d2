package onnx

import (
	"errors"
	"fmt"
)

// ErrNotFound is returned (wrapped) when a name does not resolve to a value;
// the wrapping error lists the closest names.
var ErrNotFound = errors.New("not found")

// FormatError reports malformed model bytes.
type FormatError struct {
	Path string // file, or "" for in-memory data
	Msg  string
	Err  error // underlying cause, if any
}

func (e *FormatError) Error() string {
	s := "invalid ONNX model"
	if e.Path != "" {
		s = e.Path + ": " + s
	}
	s += ": " + e.Msg
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *FormatError) Unwrap() error { return e.Err }

// NodeError attaches a node's identity to an error about it, printing like
// `node "/layer1/layer1.0/conv1/Conv" (Conv): attribute "pads": want 4 ints, got 2`.
type NodeError struct {
	Node string
	Op   string
	Err  error
}

func (e *NodeError) Error() string {
	return fmt.Sprintf("node %q (%s): %v", e.Node, e.Op, e.Err)
}

func (e *NodeError) Unwrap() error { return e.Err }

// NodeErrorf returns a NodeError for n with a formatted cause.
func NodeErrorf(n *Node, format string, args ...any) error {
	return &NodeError{Node: n.Name, Op: n.OpType, Err: fmt.Errorf(format, args...)}
}
