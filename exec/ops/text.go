package ops

import (
	"math"
	"strconv"
	"strings"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Text: string tensors (tensor.Dense.Str) through Cast and CastLike, and
// StringNormalizer (ONNX operator docs, opset 10). Numbers are written as
// NumPy's str() writes them, which ONNX's reference and test data use:
// the shortest digits that read back to the same value, positional from
// 1e-4 to 1e16 with ".0" on whole numbers, exponential outside it.
// Strings are read with strconv.ParseFloat, which also takes NaN, INF,
// +INF and -INF in any case.

func init() {
	register(&Op{Name: "StringNormalizer", Since: 10, Strings: true, Infer: strNormInfer, Run: strNormRun,
		NoGrad: "its input and output are text"})
}

// castText converts to or from a string tensor.
func castText(n *onnx.Node, x *tensor.Dense, dt tensor.DType) (*tensor.Dense, error) {
	if x.DType == tensor.String {
		if dt == tensor.String {
			return x, nil
		}
		vals := make([]float64, len(x.Str))
		for i, s := range x.Str {
			v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			if err != nil {
				return nil, onnx.NodeErrorf(n, "element %d %q is not a number", i, s)
			}
			vals[i] = v
		}
		return castTo(tensor.FromF64(x.Shape, vals), dt), nil
	}
	out := tensor.New(tensor.String, x.Shape...)
	bits := 64
	if x.DType == tensor.Float32 {
		bits = 32
	}
	switch {
	case x.DType.IsFloat():
		for i, v := range x.Float64s() {
			out.Str[i] = numpyFloatString(v, bits)
		}
	case x.DType == tensor.Bool:
		for i, v := range x.I64 {
			out.Str[i] = "False"
			if v != 0 {
				out.Str[i] = "True"
			}
		}
	case x.DType == tensor.Uint64:
		for i, v := range x.I64 {
			out.Str[i] = strconv.FormatUint(uint64(v), 10)
		}
	default:
		for i, v := range x.I64 {
			out.Str[i] = strconv.FormatInt(v, 10)
		}
	}
	return out, nil
}

// numpyFloatString writes v as NumPy's str() writes a float of the given
// width (32 or 64 bits).
func numpyFloatString(v float64, bits int) string {
	switch {
	case math.IsNaN(v):
		return "nan"
	case math.IsInf(v, 1):
		return "inf"
	case math.IsInf(v, -1):
		return "-inf"
	}
	if a := math.Abs(v); a == 0 || (a >= 1e-4 && a < 1e16) {
		s := strconv.FormatFloat(v, 'f', -1, bits)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	return strconv.FormatFloat(v, 'e', -1, bits)
}

// strNormAttrs reads the normaliser's settings.
func strNormAttrs(n *onnx.Node) (action string, caseSensitive bool, stop map[string]bool, err error) {
	action = attrString(n, "case_change_action", "NONE")
	if action != "NONE" && action != "LOWER" && action != "UPPER" {
		return "", false, nil, onnx.NodeErrorf(n, "case_change_action %q: want NONE, LOWER or UPPER", action)
	}
	caseSensitive = attrInt(n, "is_case_sensitive", 0) == 1
	stop = map[string]bool{}
	if a := n.Attr("stopwords"); a != nil {
		for _, w := range a.Strings {
			if !caseSensitive {
				w = strings.ToLower(w)
			}
			stop[w] = true
		}
	}
	return action, caseSensitive, stop, nil
}

func strNormInfer(c *InferCtx) ([]onnx.Type, error) {
	if _, _, _, err := strNormAttrs(c.Node); err != nil {
		return nil, err
	}
	x, _ := c.Input(0)
	if x.DType != tensor.Undefined && x.DType != tensor.String {
		return nil, shapeError(c.Node, "input is %s, want strings", x.DType)
	}
	out := onnx.Type{DType: tensor.String}
	if x.HasShape {
		if len(x.Dims) != 1 && !(len(x.Dims) == 2 && x.Dims[0].Value == 1) {
			return nil, shapeError(c.Node, "input %s: want [C] or [1, C]", x)
		}
		// Stopwords removed leave an unknown count.
		out.HasShape, out.Dims = true, shapeUnknownDims(len(x.Dims))
		if len(x.Dims) == 2 {
			out.Dims[0] = onnx.Dim{Value: 1}
		}
	}
	return []onnx.Type{out}, nil
}

// strNormRun drops the stopwords (compared case-insensitively unless
// is_case_sensitive) and changes case; when nothing is left the output
// holds one empty string, as the operator's spec says.
func strNormRun(c *RunCtx) ([]*tensor.Dense, error) {
	n := c.Node
	action, caseSensitive, stop, err := strNormAttrs(n)
	if err != nil {
		return nil, err
	}
	x := c.Input(0)
	if x == nil || x.DType != tensor.String {
		return nil, shapeError(n, "want a string input")
	}
	if x.Rank() != 1 && !(x.Rank() == 2 && x.Shape[0] == 1) {
		return nil, shapeError(n, "input shape %v: want [C] or [1, C]", x.Shape)
	}
	var kept []string
	for _, s := range x.Str {
		key := s
		if !caseSensitive {
			key = strings.ToLower(s)
		}
		if stop[key] {
			continue
		}
		switch action {
		case "LOWER":
			s = strings.ToLower(s)
		case "UPPER":
			s = strings.ToUpper(s)
		}
		kept = append(kept, s)
	}
	if len(kept) == 0 {
		kept = []string{""}
	}
	shape := []int{len(kept)}
	if x.Rank() == 2 {
		shape = []int{1, len(kept)}
	}
	return []*tensor.Dense{{DType: tensor.String, Shape: shape, Str: kept}}, nil
}
