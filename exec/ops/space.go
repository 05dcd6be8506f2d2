package ops

import (
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// DepthToSpace and SpaceToDepth (ONNX operator docs, opset 13): move
// blocksize×blocksize blocks between the channel axis and the spatial
// axes of an NCHW tensor. DepthToSpace's DCR mode (the default) reads the
// channel as (block row, block column, output channel); CRD (what
// nn.PixelShuffle exports) as (output channel, block row, block column).
// SpaceToDepth is DCR's inverse. Each output element's source position is
// computed directly (spacePos) and copied by indexTake; the gradient is
// shape_grad.go's indexGrad.

func init() {
	register(
		&Op{Name: "DepthToSpace", Since: 1, Infer: spaceInfer, Run: spaceRun, Grad: indexGrad},
		&Op{Name: "SpaceToDepth", Since: 1, Infer: spaceInfer, Run: spaceRun, Grad: indexGrad},
	)
}

// spaceAttrs returns the block size and whether the channel order is CRD.
func spaceAttrs(n *onnx.Node) (b int, crd bool, err error) {
	bs := attrInt(n, "blocksize", 0)
	if bs < 1 || bs > 1<<16 {
		return 0, false, onnx.NodeErrorf(n, "attribute \"blocksize\": want a positive size, got %d", bs)
	}
	crd = false
	if n.OpType == "DepthToSpace" {
		switch m := attrString(n, "mode", "DCR"); m {
		case "DCR":
		case "CRD":
			crd = true
		default:
			return 0, false, onnx.NodeErrorf(n, "attribute \"mode\": want DCR or CRD, got %q", m)
		}
	}
	return int(bs), crd, nil
}

// spaceShape returns the output shape for input shape x, or an error.
func spaceShape(n *onnx.Node, x []int64, b int64) ([]int64, error) {
	if len(x) != 4 {
		return nil, shapeError(n, "input of rank %d, want 4 (NCHW)", len(x))
	}
	c, h, w := x[1], x[2], x[3]
	if n.OpType == "DepthToSpace" {
		if c >= 0 && c%(b*b) != 0 {
			return nil, shapeError(n, "channels %d not divisible by blocksize² %d", c, b*b)
		}
		return []int64{x[0], c / (b * b), h * b, w * b}, nil
	}
	if (h >= 0 && h%b != 0) || (w >= 0 && w%b != 0) {
		return nil, shapeError(n, "spatial size %dx%d not divisible by blocksize %d", h, w, b)
	}
	return []int64{x[0], c * b * b, h / b, w / b}, nil
}

func spaceInfer(c *InferCtx) ([]onnx.Type, error) {
	n := c.Node
	b, _, err := spaceAttrs(n)
	if err != nil {
		return nil, err
	}
	x, _ := c.Input(0)
	out := onnx.Type{DType: x.DType}
	if !x.HasShape {
		return []onnx.Type{out}, nil
	}
	in := make([]int64, len(x.Dims))
	for i, d := range x.Dims {
		in[i] = -1
		if d.Known() {
			in[i] = d.Value
		}
	}
	s, err := spaceShape(n, in, int64(b))
	if err != nil {
		return nil, err
	}
	// The batch dim passes through; each other dim is known when the
	// input dim it derives from is.
	out.HasShape, out.Dims = true, []onnx.Dim{x.Dims[0], onnx.UnknownDim, onnx.UnknownDim, onnx.UnknownDim}
	for i := 1; i < 4; i++ {
		if in[i] >= 0 {
			out.Dims[i] = onnx.Dim{Value: s[i]}
		}
	}
	return []onnx.Type{out}, nil
}

func spaceRun(c *RunCtx) ([]*tensor.Dense, error) {
	n := c.Node
	b, crd, err := spaceAttrs(n)
	if err != nil {
		return nil, err
	}
	x, err := shapeInput(c, 0)
	if err != nil {
		return nil, err
	}
	in := make([]int64, x.Rank())
	for i, d := range x.Shape {
		in[i] = int64(d)
	}
	s, err := spaceShape(n, in, int64(b))
	if err != nil {
		return nil, err
	}
	shape := []int{int(s[0]), int(s[1]), int(s[2]), int(s[3])}
	out, err := indexTake(n, x, shape, spacePos(n.OpType == "DepthToSpace", crd, x.Shape, b))
	return []*tensor.Dense{out}, err
}

// spacePos returns, for each output element, its position in the input.
// For DepthToSpace the output (n, c, h·b+i, w·b+j) reads input channel
// (i·b+j)·C'+c in DCR and c·b²+i·b+j in CRD, at (h, w); SpaceToDepth is
// the DCR map read backwards.
func spacePos(toSpace, crd bool, x []int, b int) []int {
	N, C, H, W := x[0], x[1], x[2], x[3]
	pos := make([]int, 0, N*C*H*W)
	if toSpace {
		oc := C / (b * b)
		for nn := range N {
			for c := range oc {
				for oh := range H * b {
					for ow := range W * b {
						h, i, w, j := oh/b, oh%b, ow/b, ow%b
						ch := (i*b+j)*oc + c
						if crd {
							ch = c*b*b + i*b + j
						}
						pos = append(pos, ((nn*C+ch)*H+h)*W+w)
					}
				}
			}
		}
		return pos
	}
	oc := C * b * b
	for nn := range N {
		for ch := range oc {
			blk, c := ch/C, ch%C
			i, j := blk/b, blk%b
			for h := range H / b {
				for w := range W / b {
					pos = append(pos, ((nn*C+c)*H+h*b+i)*W+w*b+j)
				}
			}
		}
	}
	return pos
}
