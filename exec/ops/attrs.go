package ops

import (
	"fmt"

	"github.com/graft-ml/graft/onnx"
)

// attrInt returns the int attribute name of n, or def if absent.
func attrInt(n *onnx.Node, name string, def int64) int64 {
	if a := n.Attr(name); a != nil {
		return a.I
	}
	return def
}

// attrFloat returns the float attribute name of n, or def if absent.
func attrFloat(n *onnx.Node, name string, def float32) float32 {
	if a := n.Attr(name); a != nil {
		return a.F
	}
	return def
}

// attrString returns the string attribute name of n, or def if absent.
func attrString(n *onnx.Node, name string, def string) string {
	if a := n.Attr(name); a != nil {
		return a.S
	}
	return def
}

// attrInts returns the ints attribute name of n, or nil if absent.
func attrInts(n *onnx.Node, name string) []int64 {
	if a := n.Attr(name); a != nil {
		return a.Ints
	}
	return nil
}

// attrIntsLen returns the ints attribute name, checking its length when
// present (want < 0 accepts any length); def is returned when absent.
func attrIntsLen(n *onnx.Node, name string, want int, def []int64) ([]int64, error) {
	a := n.Attr(name)
	if a == nil {
		return def, nil
	}
	if want >= 0 && len(a.Ints) != want {
		return nil, onnx.NodeErrorf(n, "attribute %q: want %d ints, got %d", name, want, len(a.Ints))
	}
	return a.Ints, nil
}

// normAxis maps a possibly negative axis into [0, rank), or errors.
func normAxis(n *onnx.Node, axis int64, rank int) (int, error) {
	if axis < 0 {
		axis += int64(rank)
	}
	if axis < 0 || axis >= int64(rank) {
		return 0, onnx.NodeErrorf(n, "axis %d out of range for rank %d", axis, rank)
	}
	return int(axis), nil
}

// shapeError reports inconsistent input shapes for a node.
func shapeError(n *onnx.Node, format string, args ...any) error {
	return onnx.NodeErrorf(n, "%s", fmt.Sprintf(format, args...))
}
