package ops

import (
	"fmt"

	"github.com/graft-ml/graft/onnx"
)

// Short names for onnx.Node's attribute getters, which kernels call often.

func attrInt(n *onnx.Node, name string, def int64) int64 { return n.AttrInt(name, def) }

func attrFloat(n *onnx.Node, name string, def float32) float32 { return n.AttrFloat(name, def) }

func attrString(n *onnx.Node, name string, def string) string { return n.AttrString(name, def) }

func attrInts(n *onnx.Node, name string) []int64 { return n.AttrInts(name) }

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
