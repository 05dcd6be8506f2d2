package ops

import (
	"fmt"
	"slices"
	"strings"

	"github.com/graft-ml/graft/exec/internal/gemm"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Einsum (ONNX operator docs, opset 12): the sum over all label values of
// the product of the operands, indexed by the equation's labels. The
// equation is "term,term...->output" or, implicitly, "term,term..." whose
// output is "..." followed by the labels used once, in ASCII order. "..."
// stands for the broadcast leading dims; a label repeated within one term
// takes a diagonal; a label missing from the output is summed.
//
// The kernel plans the contraction rather than looping over every label
// combination: each operand first loses its repeated labels (a strided
// view of the diagonal) and the labels no one else needs (a sum); then
// operands combine left to right, each pair by transposing to
// [batch, free, contracted] and [batch, contracted, free] and running one
// GEMM per batch (gemm.SgemmParallel in float32, a plain loop in float64
// and int64); the last result is summed and transposed to the output.
//
// The gradient of operand i is an Einsum of dy and the other operands
// whose output is operand i's term; labels of operand i that appear
// nowhere else, or where its size is 1 (broadcast), are summed out there
// and restored by Unsqueeze and Expand. An operand with a repeated label
// enters through its diagonal, a gather: its gradient is that of the
// diagonal, scattered back by GradCtx.IndexGrad.

func init() {
	register(&Op{Name: "Einsum", Since: 12, Infer: einsumInfer, Run: einsumRun, Grad: einsumGrad})
}

// einsumEllipsis is the label of the first ellipsis dim; letters are their
// ASCII codes, below it.
const einsumEllipsis = 256

// einsumEq is a parsed equation. A term lists labels, with -1 marking
// where the ellipsis stands; out is nil for an implicit output.
type einsumEq struct {
	terms    [][]int
	out      []int
	explicit bool
}

// einsumParse parses the equation attribute.
func einsumParse(n *onnx.Node) (*einsumEq, error) {
	a := n.Attr("equation")
	if a == nil {
		return nil, onnx.NodeErrorf(n, "missing attribute \"equation\"")
	}
	eq := strings.ReplaceAll(a.S, " ", "")
	lhs, rhs, explicit := strings.Cut(eq, "->")
	term := func(s string) ([]int, error) {
		var t []int
		dots := false
		for i := 0; i < len(s); i++ {
			ch := s[i]
			switch {
			case ch == '.' && strings.HasPrefix(s[i:], "...") && !dots:
				t = append(t, -1)
				dots = true
				i += 2
			case ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z':
				t = append(t, int(ch))
			default:
				return nil, onnx.NodeErrorf(n, "attribute \"equation\" %q: unexpected %q in term %q", a.S, ch, s)
			}
		}
		return t, nil
	}
	e := &einsumEq{explicit: explicit}
	for _, s := range strings.Split(lhs, ",") {
		t, err := term(s)
		if err != nil {
			return nil, err
		}
		e.terms = append(e.terms, t)
	}
	if explicit {
		t, err := term(rhs)
		if err != nil {
			return nil, err
		}
		if len(slices.Compact(slices.Sorted(slices.Values(t)))) != len(t) {
			return nil, onnx.NodeErrorf(n, "attribute \"equation\" %q: output repeats a label", a.S)
		}
		e.out = t
	}
	if len(e.terms) != len(n.Inputs) {
		return nil, onnx.NodeErrorf(n, "attribute \"equation\" %q has %d terms for %d inputs", a.S, len(e.terms), len(n.Inputs))
	}
	return e, nil
}

// expand returns each term's labels with the ellipsis replaced by
// einsumEllipsis+j labels (aligned right, as broadcasting aligns dims),
// and the output's labels, given the operands' ranks.
func (e *einsumEq) expand(n *onnx.Node, ranks []int) (terms [][]int, out []int, err error) {
	ell := 0 // the broadcast ellipsis rank
	dotsRank := make([]int, len(e.terms))
	for i, t := range e.terms {
		letters := len(t)
		if slices.Contains(t, -1) {
			letters--
			dotsRank[i] = ranks[i] - letters
		}
		if (slices.Contains(t, -1) && ranks[i] < letters) || (!slices.Contains(t, -1) && ranks[i] != letters) {
			return nil, nil, shapeError(n, "operand %d of rank %d for term of %d labels", i, ranks[i], letters)
		}
		ell = max(ell, dotsRank[i])
	}
	dots := func(r int) []int {
		l := make([]int, r)
		for j := range l {
			l[j] = einsumEllipsis + ell - r + j
		}
		return l
	}
	count := map[int]int{}
	for i, t := range e.terms {
		var x []int
		for _, l := range t {
			if l == -1 {
				x = append(x, dots(dotsRank[i])...)
				continue
			}
			x = append(x, l)
			count[l]++
		}
		terms = append(terms, x)
	}
	if !e.explicit {
		out = dots(ell)
		var once []int
		for l, k := range count {
			if k == 1 {
				once = append(once, l)
			}
		}
		slices.Sort(once)
		return terms, append(out, once...), nil
	}
	for _, l := range e.out {
		if l == -1 {
			out = append(out, dots(ell)...)
			continue
		}
		if count[l] == 0 {
			return nil, nil, onnx.NodeErrorf(n, "attribute \"equation\": output label %q is in no input", rune(l))
		}
		out = append(out, l)
	}
	return terms, out, nil
}

func einsumInfer(c *InferCtx) ([]onnx.Type, error) {
	n := c.Node
	e, err := einsumParse(n)
	if err != nil {
		return nil, err
	}
	x, _ := c.Input(0)
	out := onnx.Type{DType: x.DType}
	ranks := make([]int, len(n.Inputs))
	for i := range n.Inputs {
		t, _ := c.Input(i)
		if !t.HasShape {
			return []onnx.Type{out}, nil
		}
		ranks[i] = len(t.Dims)
	}
	terms, labels, err := e.expand(n, ranks)
	if err != nil {
		return nil, err
	}
	size := map[int]onnx.Dim{}
	for i, t := range terms {
		in, _ := c.Input(i)
		for j, l := range t {
			d := in.Dims[j]
			prev, seen := size[l]
			switch {
			case !seen || (prev.Known() && prev.Value == 1):
				size[l] = d
			case d.Known() && prev.Known() && d.Value != prev.Value && d.Value != 1:
				return nil, shapeError(n, "label %s has sizes %d and %d", einsumLabel(l), prev.Value, d.Value)
			case !prev.Known() && d.Known() && d.Value != 1:
				size[l] = d
			}
		}
	}
	out.HasShape = true
	for _, l := range labels {
		out.Dims = append(out.Dims, size[l])
	}
	return []onnx.Type{out}, nil
}

// einsumLabel names a label for messages.
func einsumLabel(l int) string {
	if l >= einsumEllipsis {
		return fmt.Sprintf("...[%d]", l-einsumEllipsis)
	}
	return fmt.Sprintf("%q", rune(l))
}

// einsumTerm is an operand during the contraction: its labels, shape and
// row-major data.
type einsumTerm[T scatterNumber] struct {
	labels []int
	shape  []int
	data   []T
}

func einsumRun(c *RunCtx) ([]*tensor.Dense, error) {
	n := c.Node
	e, err := einsumParse(n)
	if err != nil {
		return nil, err
	}
	ranks := make([]int, len(n.Inputs))
	var dt tensor.DType
	for i := range n.Inputs {
		x, err := shapeInput(c, i)
		if err != nil {
			return nil, err
		}
		if i > 0 && x.DType != dt {
			return nil, shapeError(n, "operands of dtypes %s and %s", dt, x.DType)
		}
		dt, ranks[i] = x.DType, x.Rank()
	}
	terms, out, err := e.expand(n, ranks)
	if err != nil {
		return nil, err
	}
	// Check label sizes agree (or broadcast from 1) before any work.
	size := map[int]int{}
	for i, t := range terms {
		for j, l := range t {
			d := c.In[i].Shape[j]
			if p, ok := size[l]; ok && p != d && p != 1 && d != 1 {
				return nil, shapeError(n, "label %s has sizes %d and %d", einsumLabel(l), p, d)
			}
			if p, ok := size[l]; !ok || p == 1 {
				size[l] = d
			}
		}
	}
	shape := make([]int, len(out))
	for i, l := range out {
		shape[i] = size[l]
	}
	res, err := shapeNew(n, dt, shape)
	if err != nil {
		return nil, err
	}
	switch k, _ := shapeStore(dt); k {
	case shapeF32:
		in := make([][]float32, len(c.In))
		for i, x := range c.In {
			in[i] = x.F32
		}
		res.F32 = einsumContract(in, c.In, terms, out, func(m, nn, k int, a, b, dst []float32) {
			gemm.SgemmParallel(c.Threads, false, false, m, nn, k, 1, a, k, b, nn, 0, dst, nn)
		})
	case shapeF64:
		in := make([][]float64, len(c.In))
		for i, x := range c.In {
			in[i] = x.F64
		}
		res.F64 = einsumContract(in, c.In, terms, out, einsumMatMul[float64])
	default:
		in := make([][]int64, len(c.In))
		for i, x := range c.In {
			in[i] = x.I64
		}
		res.I64 = einsumContract(in, c.In, terms, out, einsumMatMul[int64])
		elemNarrow(res)
	}
	return []*tensor.Dense{res}, nil
}

// einsumMatMul is dst = a·b for row-major m×k and k×n matrices: the plain
// loop that float64 and integer operands use.
func einsumMatMul[T scatterNumber](m, n, k int, a, b, dst []T) {
	for i := range m {
		row := dst[i*n : (i+1)*n]
		clear(row)
		for p := range k {
			av := a[i*k+p]
			for j, bv := range b[p*n : (p+1)*n] {
				row[j] += av * bv
			}
		}
	}
}

// einsumContract evaluates the expanded equation (terms, out) on data
// whose shapes the tensors give; mm multiplies matrices.
func einsumContract[T scatterNumber](data [][]T, x []*tensor.Dense, terms [][]int, out []int, mm func(m, n, k int, a, b, dst []T)) []T {
	ops := make([]einsumTerm[T], len(data))
	for i := range data {
		ops[i] = einsumDiagonal(einsumTerm[T]{labels: terms[i], shape: x[i].Shape, data: data[i]})
	}
	// needed reports whether a label is used by the output or by an
	// operand other than skip (or than skip2).
	needed := func(l int, skip, skip2 int, from int) bool {
		if slices.Contains(out, l) {
			return true
		}
		for j := from; j < len(ops); j++ {
			if j != skip && j != skip2 && slices.Contains(ops[j].labels, l) {
				return true
			}
		}
		return false
	}
	for i := range ops {
		ops[i] = einsumKeep(ops[i], func(l int) bool { return needed(l, i, i, 0) })
	}
	acc := ops[0]
	for i := 1; i < len(ops); i++ {
		b := ops[i]
		// a label of size 1 on one side only broadcasts: drop it there
		var dropA, dropB []int
		for ja, l := range acc.labels {
			jb := slices.Index(b.labels, l)
			switch {
			case jb < 0 || acc.shape[ja] == b.shape[jb]:
			case acc.shape[ja] == 1:
				dropA = append(dropA, l)
			default:
				dropB = append(dropB, l)
			}
		}
		acc = einsumKeep(acc, func(l int) bool { return !slices.Contains(dropA, l) })
		b = einsumKeep(b, func(l int) bool { return !slices.Contains(dropB, l) })
		keep := func(l int) bool { return needed(l, -1, -1, i+1) }
		acc = einsumKeep(acc, func(l int) bool { return keep(l) || slices.Contains(b.labels, l) })
		b = einsumKeep(b, func(l int) bool { return keep(l) || slices.Contains(acc.labels, l) })
		acc = einsumPair(acc, b, keep, mm)
	}
	acc = einsumKeep(acc, func(l int) bool { return slices.Contains(out, l) })
	res := einsumPermute(acc, out).data
	if len(res) > 0 && len(data[0]) > 0 && &res[0] == &data[0][0] {
		res = slices.Clone(res) // "ij->ij": never hand out an input's storage
	}
	return res
}

// einsumStrided copies the elements src[Σ i_k·strides[k]] for every index
// tuple i within shape, in row-major order.
func einsumStrided[T any](src []T, shape, strides []int) []T {
	total := shapeProd(shape)
	dst := make([]T, total)
	if total == 0 {
		return dst
	}
	idx := make([]int, len(shape))
	off := 0
	for j := range dst {
		dst[j] = src[off]
		for k := len(shape) - 1; k >= 0; k-- {
			idx[k]++
			off += strides[k]
			if idx[k] < shape[k] {
				break
			}
			off -= idx[k] * strides[k]
			idx[k] = 0
		}
	}
	return dst
}

// einsumDiagonal merges repeated labels, keeping the diagonal.
func einsumDiagonal[T scatterNumber](t einsumTerm[T]) einsumTerm[T] {
	var labels, shape, strides []int
	st := tensor.Strides(t.shape)
	for j, l := range t.labels {
		if k := slices.Index(labels, l); k >= 0 {
			strides[k] += st[j]
			shape[k] = min(shape[k], t.shape[j])
			continue
		}
		labels, shape, strides = append(labels, l), append(shape, t.shape[j]), append(strides, st[j])
	}
	if len(labels) == len(t.labels) {
		return t
	}
	return einsumTerm[T]{labels: labels, shape: shape, data: einsumStrided(t.data, shape, strides)}
}

// einsumKeep sums out the labels keep rejects.
func einsumKeep[T scatterNumber](t einsumTerm[T], keep func(int) bool) einsumTerm[T] {
	var labels, shape []int
	for j, l := range t.labels {
		if keep(l) {
			labels, shape = append(labels, l), append(shape, t.shape[j])
		}
	}
	if len(labels) == len(t.labels) {
		return t
	}
	// out strides for the kept axes, 0 for the summed ones
	ost := tensor.Strides(shape)
	strides := make([]int, len(t.labels))
	k := 0
	for j, l := range t.labels {
		if keep(l) {
			strides[j] = ost[k]
			k++
		}
	}
	dst := make([]T, shapeProd(shape))
	idx := make([]int, len(t.shape))
	off := 0
	for _, v := range t.data {
		dst[off] += v
		for a := len(t.shape) - 1; a >= 0; a-- {
			idx[a]++
			off += strides[a]
			if idx[a] < t.shape[a] {
				break
			}
			off -= idx[a] * strides[a]
			idx[a] = 0
		}
	}
	return einsumTerm[T]{labels: labels, shape: shape, data: dst}
}

// einsumPermute reorders t's axes to the label order want (a permutation
// of t's labels).
func einsumPermute[T scatterNumber](t einsumTerm[T], want []int) einsumTerm[T] {
	if slices.Equal(t.labels, want) {
		return t
	}
	st := tensor.Strides(t.shape)
	shape, strides := make([]int, len(want)), make([]int, len(want))
	for k, l := range want {
		j := slices.Index(t.labels, l)
		shape[k], strides[k] = t.shape[j], st[j]
	}
	return einsumTerm[T]{labels: slices.Clone(want), shape: shape, data: einsumStrided(t.data, shape, strides)}
}

// einsumPair contracts a and b: labels in both that keep rejects are
// summed by a batched matrix product, labels in both that it accepts are
// the batch; each operand's own labels become the matrix rows and
// columns.
func einsumPair[T scatterNumber](a, b einsumTerm[T], keep func(int) bool, mm func(m, n, k int, a, b, dst []T)) einsumTerm[T] {
	var batch, con, free, bfree []int
	sizeOf := func(t einsumTerm[T], l int) int { return t.shape[slices.Index(t.labels, l)] }
	for _, l := range a.labels {
		switch {
		case !slices.Contains(b.labels, l):
			free = append(free, l)
		case keep(l):
			batch = append(batch, l)
		default:
			con = append(con, l)
		}
	}
	for _, l := range b.labels {
		if !slices.Contains(a.labels, l) {
			bfree = append(bfree, l)
		}
	}
	prod := func(t einsumTerm[T], ls []int) int {
		p := 1
		for _, l := range ls {
			p *= sizeOf(t, l)
		}
		return p
	}
	nb, m, k, nn := prod(a, batch), prod(a, free), prod(a, con), prod(b, bfree)
	pa := einsumPermute(a, slices.Concat(batch, free, con))
	pb := einsumPermute(b, slices.Concat(batch, con, bfree))
	dst := make([]T, nb*m*nn)
	if m*nn*k > 0 {
		for i := range nb {
			mm(m, nn, k, pa.data[i*m*k:(i+1)*m*k], pb.data[i*k*nn:(i+1)*k*nn], dst[i*m*nn:(i+1)*m*nn])
		}
	}
	var shape []int
	for _, l := range slices.Concat(batch, free) {
		shape = append(shape, sizeOf(a, l))
	}
	for _, l := range bfree {
		shape = append(shape, sizeOf(b, l))
	}
	return einsumTerm[T]{labels: slices.Concat(batch, free, bfree), shape: shape, data: dst}
}

func einsumGrad(c *GradCtx) ([]*onnx.Value, error) {
	n := c.Node
	e, err := einsumParse(n)
	if err != nil {
		return nil, err
	}
	ranks := make([]int, len(n.Inputs))
	for i, v := range n.Inputs {
		if ranks[i] = v.Type.Rank(); ranks[i] < 0 {
			return nil, c.Errorf("needs the rank of input %q", v.Name)
		}
	}
	terms, out, err := e.expand(n, ranks)
	if err != nil {
		return nil, err
	}
	// Spell every label, ellipsis dims included, as a letter no term uses.
	letter := map[int]byte{}
	free := byte('A')
	spell := func(ls []int) string {
		var b strings.Builder
		for _, l := range ls {
			if l < einsumEllipsis {
				b.WriteByte(byte(l))
				continue
			}
			if _, ok := letter[l]; !ok {
				for slices.ContainsFunc(terms, func(t []int) bool { return slices.Contains(t, int(free)) }) {
					free++
				}
				letter[l] = free
				free++
			}
			b.WriteByte(letter[l])
		}
		return b.String()
	}
	res := make([]*onnx.Value, len(n.Inputs))
	for i, x := range n.Inputs {
		if !c.Needs(i) {
			continue
		}
		// An operand with a repeated label is used through its diagonal
		// view, a gather: differentiate with respect to the view, then
		// scatter back with GradCtx.IndexGrad.
		ti, view := terms[i], x
		var unique []int
		var dims []onnx.Dim // the view's, where x's are known
		for j, l := range terms[i] {
			if !slices.Contains(unique, l) {
				unique = append(unique, l)
				if x.Type.HasShape {
					dims = append(dims, x.Type.Dims[j])
				}
			}
		}
		diag := spell(ti) + "->" + spell(unique)
		if len(unique) < len(ti) {
			ti = unique
			view = c.Emit("Einsum", []*onnx.Value{x}, onnx.StringAttr("equation", diag))
		}
		others := [][]int{out}
		ins := []*onnx.Value{c.DY[0]}
		for j, v := range n.Inputs {
			if j != i {
				others = append(others, terms[j])
				ins = append(ins, v)
			}
		}
		// Labels computed by the einsum, and those restored afterwards.
		var keep []int
		var restore []int64
		for j, l := range ti {
			one := x.Type.HasShape && dims[j].Known() && dims[j].Value == 1
			if one || !slices.ContainsFunc(others, func(t []int) bool { return slices.Contains(t, l) }) {
				restore = append(restore, int64(j))
				continue
			}
			keep = append(keep, l)
		}
		lhs := make([]string, len(others))
		for j, t := range others {
			lhs[j] = spell(t)
		}
		eq := strings.Join(lhs, ",") + "->" + spell(keep)
		g := c.Emit("Einsum", ins, onnx.StringAttr("equation", eq))
		if len(restore) > 0 {
			g = c.Op1("Expand", c.Unsqueeze(g, restore...), c.Shape(view))
		}
		if view != x {
			g = c.IndexGrad(x, g, func(iota *onnx.Value) *onnx.Value {
				return c.Emit("Einsum", []*onnx.Value{iota}, onnx.StringAttr("equation", diag))
			})
		}
		res[i] = g
	}
	return res, nil
}
