package ops

import (
	"math"
	"sort"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Detection ops (ONNX operator docs): NonMaxSuppression (opset 11) and
// RoiAlign (opsets 10 and 16). Both follow ONNX Runtime's CPU kernels where
// the spec leaves details open: NMS takes boxes in descending score order
// (the lower index first among equal scores), keeps a box unless its IoU
// with a kept box exceeds iou_threshold, and never suppresses with a box of
// zero area; RoiAlign samples bilinearly as Detectron does (points more
// than one pixel outside the map read 0, the others are clamped in).

func init() {
	register(
		&Op{Name: "NonMaxSuppression", Since: 10, Infer: nmsInfer, Run: nmsRun, NoGrad: "the output is integer indices"},
		&Op{Name: "RoiAlign", Since: 10, Infer: roiAlignInfer, Run: roiAlignRun, NoGrad: "no rule yet"},
	)
}

func nmsInfer(c *InferCtx) ([]onnx.Type, error) {
	return []onnx.Type{{DType: tensor.Int64, HasShape: true, Dims: []onnx.Dim{onnx.UnknownDim, {Value: 3}}}}, nil
}

// nmsScalar reads an optional scalar input as float64.
func nmsScalar(c *RunCtx, i int, def float64) (float64, error) {
	t := c.Input(i)
	if t == nil || t.Len() == 0 {
		return def, nil
	}
	if t.Len() != 1 {
		return 0, shapeError(c.Node, "input %d: want a scalar, got shape %v", i, t.Shape)
	}
	return t.Float64s()[0], nil
}

func nmsRun(c *RunCtx) ([]*tensor.Dense, error) {
	boxes, scores := c.Input(0), c.Input(1)
	if boxes == nil || scores == nil || !boxes.DType.IsFloat() || !scores.DType.IsFloat() {
		return nil, onnx.NodeErrorf(c.Node, "boxes and scores: want float tensors")
	}
	if boxes.Rank() != 3 || boxes.Shape[2] != 4 || scores.Rank() != 3 ||
		scores.Shape[0] != boxes.Shape[0] || scores.Shape[2] != boxes.Shape[1] {
		return nil, shapeError(c.Node, "boxes %v and scores %v: want (batch, boxes, 4) and (batch, classes, boxes)", boxes.Shape, scores.Shape)
	}
	maxOut, err := nmsScalar(c, 2, 0)
	if err != nil {
		return nil, err
	}
	iouTh, err := nmsScalar(c, 3, 0)
	if err != nil {
		return nil, err
	}
	scoreTh, err := nmsScalar(c, 4, math.Inf(-1))
	if err != nil {
		return nil, err
	}
	center := attrInt(c.Node, "center_point_box", 0)
	if center != 0 && center != 1 {
		return nil, onnx.NodeErrorf(c.Node, "attribute \"center_point_box\": want 0 or 1, got %d", center)
	}
	nb, nc, n := scores.Shape[0], scores.Shape[1], scores.Shape[2]
	bv, sv := boxes.Float64s(), scores.Float64s()
	// corners returns box i of batch b as (y1, x1, y2, x2) with y1 <= y2
	// and x1 <= x2.
	corners := func(b, i int) [4]float64 {
		p := bv[(b*n+i)*4:]
		if center == 1 {
			xc, yc, w, h := p[0], p[1], p[2], p[3]
			return [4]float64{yc - h/2, xc - w/2, yc + h/2, xc + w/2}
		}
		return [4]float64{min(p[0], p[2]), min(p[1], p[3]), max(p[0], p[2]), max(p[1], p[3])}
	}
	suppress := func(a, b [4]float64) bool {
		areaA := (a[2] - a[0]) * (a[3] - a[1])
		areaB := (b[2] - b[0]) * (b[3] - b[1])
		if areaA <= 0 || areaB <= 0 {
			return false
		}
		ih := max(0, min(a[2], b[2])-max(a[0], b[0]))
		iw := max(0, min(a[3], b[3])-max(a[1], b[1]))
		inter := ih * iw
		return inter/(areaA+areaB-inter) > iouTh
	}
	var sel []int64
	limit := int(min(maxOut, float64(n)))
	for b := range nb {
		for cl := range nc {
			s := sv[(b*nc+cl)*n:]
			var cand []int
			for i := range n {
				if s[i] > scoreTh {
					cand = append(cand, i)
				}
			}
			sort.SliceStable(cand, func(x, y int) bool { return s[cand[x]] > s[cand[y]] })
			var kept [][4]float64
			for _, i := range cand {
				if len(kept) >= limit {
					break
				}
				box, ok := corners(b, i), true
				for _, k := range kept {
					if suppress(box, k) {
						ok = false
						break
					}
				}
				if ok {
					kept = append(kept, box)
					sel = append(sel, int64(b), int64(cl), int64(i))
				}
			}
		}
	}
	return []*tensor.Dense{tensor.FromI64([]int{len(sel) / 3, 3}, sel)}, nil
}

// ---------------------------------------------------------------------------
// RoiAlign

func roiAlignInfer(c *InferCtx) ([]onnx.Type, error) {
	x, _ := c.Input(0)
	r, _ := c.Input(1)
	ph, pw := attrInt(c.Node, "output_height", 1), attrInt(c.Node, "output_width", 1)
	ch := convDimOr(x, 1)
	return []onnx.Type{{DType: x.DType, HasShape: true, Dims: []onnx.Dim{convDimOr(r, 0), ch, {Value: ph}, {Value: pw}}}}, nil
}

func roiAlignRun(c *RunCtx) ([]*tensor.Dense, error) {
	n := c.Node
	x, rois, idx := c.Input(0), c.Input(1), c.Input(2)
	if x == nil || rois == nil || idx == nil || !x.DType.IsFloat() || !rois.DType.IsFloat() || idx.I64 == nil && idx.Len() > 0 {
		return nil, onnx.NodeErrorf(n, "want float X and rois and integer batch_indices")
	}
	if x.Rank() != 4 || rois.Rank() != 2 || rois.Shape[1] != 4 || idx.Rank() != 1 || idx.Shape[0] != rois.Shape[0] {
		return nil, shapeError(n, "X %v, rois %v, batch_indices %v: want (N, C, H, W), (R, 4), (R)", x.Shape, rois.Shape, idx.Shape)
	}
	mode := attrString(n, "mode", "avg")
	if mode != "avg" && mode != "max" {
		return nil, onnx.NodeErrorf(n, "attribute \"mode\": want avg or max, got %q", mode)
	}
	offset := 0.0
	if c.Opset >= 16 {
		switch m := attrString(n, "coordinate_transformation_mode", "half_pixel"); m {
		case "half_pixel":
			offset = 0.5
		case "output_half_pixel":
		default:
			return nil, onnx.NodeErrorf(n, "attribute \"coordinate_transformation_mode\": %q", m)
		}
	}
	ph, pw := int(attrInt(n, "output_height", 1)), int(attrInt(n, "output_width", 1))
	ratio := int(attrInt(n, "sampling_ratio", 0))
	scale := float64(attrFloat(n, "spatial_scale", 1))
	if ph < 1 || pw < 1 || ratio < 0 {
		return nil, onnx.NodeErrorf(n, "output %dx%d and sampling_ratio %d: want positive sizes", ph, pw, ratio)
	}
	nb, ch, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	nr := rois.Shape[0]
	y, err := shapeNew(n, x.DType, []int{nr, ch, ph, pw})
	if err != nil {
		return nil, err
	}
	xv, rv := x.Float64s(), rois.Float64s()
	out := make([]float64, y.Len())
	for r := range nr {
		b := int(idx.I64[r])
		if b < 0 || b >= nb {
			return nil, shapeError(n, "batch index %d outside [0, %d)", b, nb)
		}
		x0, y0 := rv[r*4]*scale-offset, rv[r*4+1]*scale-offset
		rw, rh := rv[r*4+2]*scale-offset-x0, rv[r*4+3]*scale-offset-y0
		if offset == 0 {
			rw, rh = max(rw, 1), max(rh, 1)
		}
		bh, bw := rh/float64(ph), rw/float64(pw)
		gh, gw := ratio, ratio
		if ratio == 0 {
			gh, gw = int(math.Ceil(rh/float64(ph))), int(math.Ceil(rw/float64(pw)))
		}
		count := float64(max(gh*gw, 1))
		for cc := range ch {
			plane := xv[(b*ch+cc)*h*w:]
			for i := range ph {
				for j := range pw {
					acc, first := 0.0, true
					for iy := range gh {
						sy := y0 + float64(i)*bh + (float64(iy)+0.5)*bh/float64(gh)
						for ix := range gw {
							sx := x0 + float64(j)*bw + (float64(ix)+0.5)*bw/float64(gw)
							v := roiBilinear(plane, h, w, sy, sx, mode == "max")
							if mode == "max" {
								if first || v > acc {
									acc = v
								}
								first = false
							} else {
								acc += v
							}
						}
					}
					if mode == "avg" {
						acc /= count
					}
					out[((r*ch+cc)*ph+i)*pw+j] = acc
				}
			}
		}
	}
	switch {
	case y.F64 != nil:
		copy(y.F64, out)
	default:
		for i, v := range out {
			y.F32[i] = float32(v)
		}
		elemNarrow(y)
	}
	return []*tensor.Dense{y}, nil
}

// roiBilinear samples plane (h×w) at (y, x) as Detectron's RoIAlign: 0
// beyond one pixel outside, clamped within. In max mode it returns the
// largest of the four weighted corners, as ONNX Runtime does.
func roiBilinear(plane []float64, h, w int, y, x float64, maxMode bool) float64 {
	if y < -1 || y > float64(h) || x < -1 || x > float64(w) {
		return 0
	}
	y, x = max(y, 0), max(x, 0)
	yl, xl := int(y), int(x)
	yh, xh := yl+1, xl+1
	if yl >= h-1 {
		yl, yh, y = h-1, h-1, float64(h-1)
	}
	if xl >= w-1 {
		xl, xh, x = w-1, w-1, float64(w-1)
	}
	ly, lx := y-float64(yl), x-float64(xl)
	hy, hx := 1-ly, 1-lx
	v1, v2 := hy*hx*plane[yl*w+xl], hy*lx*plane[yl*w+xh]
	v3, v4 := ly*hx*plane[yh*w+xl], ly*lx*plane[yh*w+xh]
	if maxMode {
		return max(v1, v2, v3, v4)
	}
	return v1 + v2 + v3 + v4
}
