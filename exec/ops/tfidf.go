package ops

import (
	"encoding/binary"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// TfIdfVectorizer (ONNX operator docs, opset 9): counts, in each row of an
// integer input ([C] or [N, C]), the n-grams listed in a pool, and writes
// the count of pool n-gram i to column ngram_indexes[i] of a float32 output
// with max(ngram_indexes)+1 columns.
//
// The pool (pool_int64s) holds the 1-grams, then the 2-grams, and so on:
// ngram_counts[n-1] is where the n-grams start in it, so the n-grams of
// length n are pool[ngram_counts[n-1]:ngram_counts[n]] in runs of n. An
// n-gram of length n ≥ 2 takes its items d apart, for every d from 1 to
// max_skip_count+1; 1-grams are counted once (they have no gaps to skip).
// Lengths min_gram_length..max_gram_length are counted. Mode TF writes the
// counts, IDF writes weights[i] where the n-gram occurs at all, and TFIDF
// the counts times weights[i] (weights default to 1). String pools need
// string tensors, which graft does not have.

func init() {
	register(&Op{Name: "TfIdfVectorizer", Since: 9, Infer: tfIdfInfer, Run: tfIdfRun,
		NoGrad: "the input is integer token ids"})
}

// tfIdf is a node's attributes, checked.
type tfIdf struct {
	minGram, maxGram, maxSkip int
	mode                      string
	pool                      map[string]int // n-gram bytes → pool n-gram number
	column                    []int          // pool n-gram number → output column
	weights                   []float32      // per pool n-gram; nil means 1
	width                     int            // output columns
}

// tfIdfKey encodes an n-gram as a map key.
func tfIdfKey(buf []byte, gram []int64) []byte {
	buf = buf[:0]
	for _, v := range gram {
		buf = binary.LittleEndian.AppendUint64(buf, uint64(v))
	}
	return buf
}

func tfIdfAttrs(n *onnx.Node) (*tfIdf, error) {
	if a := n.Attr("pool_strings"); a != nil && len(a.Strings) > 0 {
		return nil, unsupportedf(n, "pool_strings (string tensors)")
	}
	t := &tfIdf{
		minGram: int(attrInt(n, "min_gram_length", 0)),
		maxGram: int(attrInt(n, "max_gram_length", 0)),
		maxSkip: int(attrInt(n, "max_skip_count", 0)),
		mode:    attrString(n, "mode", ""),
	}
	switch {
	case t.mode != "TF" && t.mode != "IDF" && t.mode != "TFIDF":
		return nil, onnx.NodeErrorf(n, "mode %q: want TF, IDF or TFIDF", t.mode)
	case t.minGram < 1 || t.maxGram < t.minGram:
		return nil, onnx.NodeErrorf(n, "gram lengths %d..%d: want 1 ≤ min_gram_length ≤ max_gram_length", t.minGram, t.maxGram)
	case t.maxSkip < 0:
		return nil, onnx.NodeErrorf(n, "max_skip_count %d: want at least 0", t.maxSkip)
	}
	pool := attrInts(n, "pool_int64s")
	starts := attrInts(n, "ngram_counts")
	indexes := attrInts(n, "ngram_indexes")
	if len(starts) < t.maxGram {
		return nil, onnx.NodeErrorf(n, "ngram_counts has %d entries, want one per length up to max_gram_length %d", len(starts), t.maxGram)
	}
	t.pool = make(map[string]int)
	var buf []byte
	for length, start := range starts {
		end := int64(len(pool))
		if length+1 < len(starts) {
			end = starts[length+1]
		}
		size := int64(length + 1)
		if start < 0 || end < start || end > int64(len(pool)) || (end-start)%size != 0 {
			return nil, onnx.NodeErrorf(n, "ngram_counts %v: the %d-grams' range [%d, %d) does not split pool_int64s (%d items) into %d-grams", starts, size, start, end, len(pool), size)
		}
		for p := start; p < end; p += size {
			buf = tfIdfKey(buf, pool[p:p+size])
			t.pool[string(buf)] = len(t.column)
			t.column = append(t.column, -1)
		}
	}
	if len(indexes) != len(t.column) {
		return nil, onnx.NodeErrorf(n, "ngram_indexes has %d entries, the pool %d n-grams", len(indexes), len(t.column))
	}
	for i, c := range indexes {
		if c < 0 || c >= 1<<31 {
			return nil, onnx.NodeErrorf(n, "ngram_indexes[%d] = %d: want a column index ≥ 0", i, c)
		}
		t.column[i] = int(c)
		t.width = max(t.width, int(c)+1)
	}
	if a := n.Attr("weights"); a != nil && len(a.Floats) > 0 {
		if len(a.Floats) != len(t.column) {
			return nil, onnx.NodeErrorf(n, "weights has %d entries, the pool %d n-grams", len(a.Floats), len(t.column))
		}
		t.weights = a.Floats
	}
	return t, nil
}

func tfIdfInfer(c *InferCtx) ([]onnx.Type, error) {
	t, err := tfIdfAttrs(c.Node)
	if err != nil {
		return nil, err
	}
	x, _ := c.Input(0)
	out := onnx.Type{DType: tensor.Float32}
	if x.HasShape {
		switch len(x.Dims) {
		case 1:
			out.Dims = []onnx.Dim{{Value: int64(t.width)}}
		case 2:
			out.Dims = []onnx.Dim{x.Dims[0], {Value: int64(t.width)}}
		default:
			return nil, shapeError(c.Node, "input %s: want [C] or [N, C]", x)
		}
		out.HasShape = true
	}
	return []onnx.Type{out}, nil
}

func tfIdfRun(c *RunCtx) ([]*tensor.Dense, error) {
	n := c.Node
	t, err := tfIdfAttrs(n)
	if err != nil {
		return nil, err
	}
	x := c.Input(0)
	if x == nil || x.I64 == nil {
		return nil, unsupportedf(n, "input: want int32 or int64 token ids")
	}
	rows, cols := 1, 0
	switch x.Rank() {
	case 1:
		cols = x.Shape[0]
	case 2:
		rows, cols = x.Shape[0], x.Shape[1]
	default:
		return nil, shapeError(n, "input shape %v: want [C] or [N, C]", x.Shape)
	}
	shape := []int{t.width}
	if x.Rank() == 2 {
		shape = []int{rows, t.width}
	}
	out, err := shapeNew(n, tensor.Float32, shape)
	if err != nil {
		return nil, err
	}
	counts := make([]int, len(t.column))
	gram := make([]int64, t.maxGram)
	var buf []byte
	for r := range rows {
		row := x.I64[r*cols : (r+1)*cols]
		clear(counts)
		for length := t.minGram; length <= t.maxGram; length++ {
			gaps := t.maxSkip + 1
			if length == 1 {
				gaps = 1
			}
			for d := 1; d <= gaps; d++ {
				for start := 0; start+(length-1)*d < cols; start++ {
					for k := range length {
						gram[k] = row[start+k*d]
					}
					buf = tfIdfKey(buf, gram[:length])
					if i, ok := t.pool[string(buf)]; ok {
						counts[i]++
					}
				}
			}
		}
		dst := out.F32[r*t.width : (r+1)*t.width]
		for i, k := range counts {
			w := float32(1)
			if t.weights != nil {
				w = t.weights[i]
			}
			switch {
			case k == 0:
			case t.mode == "TF":
				dst[t.column[i]] = float32(k)
			case t.mode == "IDF":
				dst[t.column[i]] = w
			default:
				dst[t.column[i]] = float32(k) * w
			}
		}
	}
	return []*tensor.Dense{out}, nil
}
