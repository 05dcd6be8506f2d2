package nern

import (
	"fmt"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Layer is one Conv weight initializer of a model, in graph order.
type Layer struct {
	Name   string        // the initializer's name
	Module string        // the PyTorch module path of its first Conv ("layer1.0.conv1"), or ""
	Shape  []int         // [F, C/group, kh, kw]
	Weight *tensor.Dense // the original values, float32

	// Index is the layer coordinate l of a represented layer (counting
	// represented layers only, from 0), or -1 for a copied one.
	Index int
	// Offset is the position of the layer's first kernel in the list of
	// all represented kernels.
	Offset int
	// Copied says why the layer is copied from the original instead of
	// predicted ("" for a represented layer).
	Copied string
}

// Represented reports whether the predictor predicts the layer's kernels.
func (l *Layer) Represented() bool { return l.Copied == "" }

// Kernels returns the number of kernels (F·C) of the layer.
func (l *Layer) Kernels() int { return l.Shape[0] * l.Shape[1] }

// Pointwise reports whether the layer's kernels are 1×1.
func (l *Layer) Pointwise() bool { return l.Shape[2] == 1 && l.Shape[3] == 1 }

// KernelSize is the side of the square kernels the predictor outputs.
const KernelSize = 3

// centre is the index of a 3×3 kernel's centre in its 9 values: a 1×1
// layer's kernel is the centre of a predicted 3×3 (SEEDS §4, NeRN's
// handling of ResNet shortcuts).
const centre = 4

// FindLayers returns every float32 Conv weight initializer of m in graph
// order (an initializer shared by several Convs once). 3×3 and 1×1 layers
// with group 1 are represented; any other kernel size (5×5, 7×7, 1×3) and
// grouped or depthwise convolutions are copied from the original, with the
// reason in Layer.Copied, so that a summary can list them: this package
// never skips a layer silently. Biases, BatchNormalization, Gemm and
// MatMul weights are not Conv weights and are always copied.
func FindLayers(m *onnx.Model) ([]*Layer, error) {
	var layers []*Layer
	seen := map[*onnx.Value]bool{}
	index, offset := 0, 0
	for _, n := range m.Graph.Nodes {
		if n.OpType != "Conv" || n.Domain != "" && n.Domain != "ai.onnx" {
			continue
		}
		w := n.Input(1)
		if w == nil || w.Const == nil || seen[w] {
			continue
		}
		seen[w] = true
		d, err := w.Const.Dense()
		if err != nil {
			return nil, fmt.Errorf("nern: conv weight %q: %w", w.Name, err)
		}
		if d.DType != tensor.Float32 {
			return nil, fmt.Errorf("nern: conv weight %q is %s; want float32", w.Name, d.DType)
		}
		l := &Layer{Name: w.Name, Module: onnx.ModulePath(n.Name), Shape: append([]int(nil), d.Shape...), Weight: d, Index: -1}
		switch {
		case d.Rank() != 4:
			l.Copied = fmt.Sprintf("rank %d weight, not a 2-D convolution", d.Rank())
		case n.AttrInt("group", 1) != 1:
			l.Copied = fmt.Sprintf("grouped convolution (group %d)", n.AttrInt("group", 1))
		case !(d.Shape[2] == 3 && d.Shape[3] == 3) && !(d.Shape[2] == 1 && d.Shape[3] == 1):
			l.Copied = fmt.Sprintf("%dx%d kernels (the predictor outputs 3x3; 1x1 takes the centre)", d.Shape[2], d.Shape[3])
		}
		if l.Represented() {
			l.Index, l.Offset = index, offset
			index++
			offset += l.Kernels()
		}
		layers = append(layers, l)
	}
	if index == 0 {
		return nil, fmt.Errorf("nern: model has no 3x3 or 1x1 Conv weight initializer to represent")
	}
	return layers, nil
}

// represented returns the represented layers of layers.
func represented(layers []*Layer) []*Layer {
	var out []*Layer
	for _, l := range layers {
		if l.Represented() {
			out = append(out, l)
		}
	}
	return out
}

// countKernels returns the number of represented kernels.
func countKernels(layers []*Layer) int {
	n := 0
	for _, l := range represented(layers) {
		n += l.Kernels()
	}
	return n
}

// kernelValues returns the 9 values the predictor is trained to output for
// kernel k (0 <= k < F·C) of l, with the mask of those that count: all of
// a 3×3 kernel, the centre of a 1×1 one.
func kernelValues(l *Layer, k int, val, mask []float32) {
	clear(val)
	clear(mask)
	if l.Pointwise() {
		val[centre], mask[centre] = l.Weight.F32[k], 1
		return
	}
	copy(val, l.Weight.F32[k*9:(k+1)*9])
	for i := range mask {
		mask[i] = 1
	}
}
